"""Quarantine: a bad record holds back its own object tonight, not the whole run.

With ``on_bad_record = "quarantine"`` (per branch, per tree, or at the top
of the configuration for the whole datastore) a record an importer cannot
read or the core cannot build is set aside as a :class:`~dss_core.BadRecord`
instead of stopping the run. Then, in every destination:

* every action for its idnumber is held back, on every branch, retirement
  included: the destination keeps what it has for that object;
* a membership change whose element is a quarantined idnumber is held back
  (the group keeps the pupil whose row was bad);
* an object whose destination memberships name a quarantined idnumber is not
  retired (a derived group may exist only because of that row);
* a record whose idnumber could not be read at all holds back every
  retirement of its branch, and every retirement and member removal of the
  branches imported after it in its tree (which may be built from it: groups
  derived from users, enrolments filtered by them), since dss cannot know
  whose row it was.

Quarantined records count toward a source gate: more than
``quarantine_limit`` (default 1%) of a branch's records is a broken export,
and the run stops with exit 3 before anything is compared or written.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .actions import ADD, OLD, REMOVE, Action
from .errors import ConfigurationError
from .gates import Allowances
from .private_files import write_private
from .rejects import BadRecord
from .settings import CORE_SETTINGS, parse_percent, validate

if TYPE_CHECKING:
    from .declaration import TreeDeclaration

STOP, QUARANTINE = "stop", "quarantine"
BAD_RECORD_POLICIES = (STOP, QUARANTINE)
BadRecordPolicy = Literal["stop", "quarantine"]
DEFAULT_QUARANTINE_LIMIT = "1%"

#: the columns of the rejects file
REJECT_COLUMNS = ("file", "line", "tree", "branch", "idnumber", "column", "reason", "raw")

# control characters (but tab, CR, LF) and lone surrogates (undecodable bytes) in a raw row are
# written as \xNN escapes: the rejects file stays valid, printable UTF-8
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _datastore_value(tree: TreeDeclaration, name: str) -> Any:
    """A top-level (datastore-wide) value: ``DSS_<NAME>`` first, then the configuration file."""
    return tree.config.environ.get(f"DSS_{name.upper()}") or tree.config.data.get(name)


def _branch_value(tree: TreeDeclaration, branch: str, name: str) -> Any:
    """A core setting of ``tree.branch``, else of the whole datastore, checked; None if unset."""
    value = tree.settings(branch).get(name)
    where = f"{tree.name}.{branch}: {name}"
    if value is None:
        value = _datastore_value(tree, name)
        where = name
    if value is None:
        return None
    declared = next(s for s in CORE_SETTINGS if s.name == name)
    return validate(declared, value, where, from_env=True), where


def bad_record_policy(tree: TreeDeclaration, branch: str) -> str:
    """``"stop"`` (the default) or ``"quarantine"``: what a bad record of ``tree.branch`` does."""
    found = _branch_value(tree, branch, "on_bad_record")
    return STOP if found is None else str(found[0])


def quarantine_limit(tree: TreeDeclaration, branch: str) -> float:
    """The share of a branch's records that may be quarantined before the run stops."""
    found = _branch_value(tree, branch, "quarantine_limit")
    value, where = found if found is not None else (DEFAULT_QUARANTINE_LIMIT, "quarantine_limit")
    return parse_percent(value, where)


class Quarantine:
    """The bad records of one run, and which actions they hold back."""

    def __init__(self) -> None:
        self.records: list[BadRecord] = []
        self._seen: set[tuple[str, str, str | None, str, str]] = set()
        self.ids: dict[str, BadRecord] = {}  # idnumber -> its first bad record
        self.blind: dict[str, BadRecord] = {}  # branch -> a record of it with no readable id
        self.blind_later: dict[str, BadRecord] = {}  # a branch imported after one -> that record

    def __bool__(self) -> bool:
        return bool(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def add(self, record: BadRecord) -> None:
        """Set ``record`` aside (once: a source object failing in two destinations is one)."""
        key = (record.tree, record.branch, record.idnumber, str(record.origin), record.reason)
        if key in self._seen:
            return
        self._seen.add(key)
        self.records.append(record)
        if record.idnumber is None:
            self.blind.setdefault(record.branch, record)
        else:
            self.ids.setdefault(record.idnumber, record)

    def add_all(self, records: Iterable[BadRecord]) -> None:
        for record in records:
            self.add(record)

    def note_order(self, order: Sequence[str]) -> None:
        """The branches after a branch with an unreadable id (in the source's ``order``) go blind too.

        A later branch may be built from it (derived groups, rows filtered by
        who is in it): with one of its records unknown, so are theirs.
        """
        for branch, record in list(self.blind.items()):
            if branch in order:
                for later in order[order.index(branch) + 1:]:
                    self.blind_later.setdefault(later, record)

    def of(self, tree: str, branch: str) -> list[BadRecord]:
        """The bad records of ``tree.branch``."""
        return [r for r in self.records if r.tree == tree and r.branch == branch]

    def hold(self, action: Action) -> str | None:
        """Why ``action`` is held back tonight, or None to let it through."""
        if action.idnumber is not None and action.idnumber in self.ids:
            return f"held back: {_because(self.ids[action.idnumber])}"
        if action.kind in (ADD, REMOVE) and isinstance(action.value, str) and action.value in self.ids:
            return (f"held back: {action.attribute} element {action.value!r} is quarantined "
                    f"({_where_why(self.ids[action.value])})")
        if action.kind == OLD:
            record = self.blind.get(action.branch) or self.blind_later.get(action.branch)
            if record is not None:
                return (f"held back: a record of {record.where} has no readable idnumber "
                        f"({record.origin}), so nothing in {action.branch} is retired tonight")
            named = _quarantined_member(action, self.ids)
            if named is not None:
                return (f"held back: its {named[0]} name {named[1].idnumber!r}, which is "
                        f"quarantined ({_where_why(named[1])})")
        if action.kind == REMOVE and action.branch in self.blind_later:
            record = self.blind_later[action.branch]
            return (f"held back: a record of {record.where} has no readable idnumber "
                    f"({record.origin}), so no member is removed from {action.branch} tonight")
        return None

    def split(self, actions: Iterable[Action]) -> tuple[list[Action], list[tuple[Action, str]]]:
        """(the actions to plan or apply, the held-back actions with the reason of each)."""
        kept: list[Action] = []
        held: list[tuple[Action, str]] = []
        if not self.records:
            return list(actions), held
        for action in actions:
            why = self.hold(action)
            if why is None:
                kept.append(action)
            else:
                held.append((action, why))
        return kept, held


def _where_why(record: BadRecord) -> str:
    """``students.csv line 7: 4 fields, but the header has 5 (...)``."""
    return f"{record.origin}: {record.reason}" if record.origin is not None else record.reason


def _because(record: BadRecord) -> str:
    """``idnumber '1042' is quarantined (students.csv line 7: 4 fields, ...)``."""
    return f"idnumber {record.idnumber!r} is quarantined ({_where_why(record)})"


def _quarantined_member(action: Action, ids: Mapping[str, BadRecord]) -> tuple[str, BadRecord] | None:
    """(attribute, bad record) of a quarantined idnumber the retiring object's sets name."""
    obj = action.dest
    if obj is None:
        return None
    for name in type(obj).schema().tracked:
        try:
            value = getattr(obj, name)
        except Exception:  # noqa: BLE001 - a derived attribute that cannot be computed names no one
            continue
        if isinstance(value, (set, list, frozenset, tuple)):
            for element in value:
                if isinstance(element, str) and element in ids:
                    return name, ids[element]
    return None


def check_quarantine(tree: TreeDeclaration, quarantine: Quarantine, imported: Mapping[tuple[str, str], int],
                     allow: Allowances) -> list[str]:
    """One line per branch of ``tree`` with more bad records than its ``quarantine_limit``."""
    trips: list[str] = []
    for branch in tree.branch_order:
        bad = len(quarantine.of(tree.name, branch))
        if not bad or allow.accepts(tree.name, branch):
            continue
        # records read (or, for a tree loaded before the run, its objects and the bad ones)
        read = imported.get((tree.name, branch)) or len(tree.branch(branch)) + bad
        read = max(read, bad)
        limit = quarantine_limit(tree, branch)
        if bad / read > limit:
            name = f"{tree.name}.{branch}"
            trips.append(
                f"{name}: {bad:,} of {read:,} records are bad ({100 * bad / read:.1f}%, more than "
                f"quarantine_limit {100 * limit:g}%): the export looks broken (see the rejects "
                f"file); if it is right, run again with --accept {name}")
    return trips


def rejects_path(report: Path | None, state_folder: Path | None, datastore: str) -> Path | None:
    """Where the rejects file goes: beside the report, else in the state folder."""
    if report is not None:
        return report.with_name(f"{report.stem}.rejects.csv")
    if state_folder is not None:
        return state_folder / f"{datastore or 'dss'}.rejects.csv"
    return None


def rejects_csv(records: Iterable[BadRecord]) -> str:
    """The rejects file's text: one row per bad record (file, line, ..., reason, raw row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REJECT_COLUMNS)
    for r in records:
        origin = r.origin
        writer.writerow([
            origin.source if origin is not None else "",
            origin.position if origin is not None and origin.position is not None else "",
            r.tree, r.branch, r.idnumber if r.idnumber is not None else "", r.column or "",
            printable(r.reason), printable(r.raw or ""),
        ])
    return out.getvalue()


def printable(text: str) -> str:
    """``text`` with control characters and undecodable bytes as ``\\xNN`` escapes."""
    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\x{code:02x}"
    return _UNPRINTABLE.sub(escape, text)


def write_rejects(path: Path, records: Sequence[BadRecord]) -> None:
    """Write the rejects file (0600: it holds the rows, personal data)."""
    if not path.parent.is_dir():
        raise ConfigurationError(f"cannot write the rejects file {path}: its folder does not exist")
    write_private(path, rejects_csv(records))
