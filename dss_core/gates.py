"""Guards against a bad night: source gates before the diff, deletion limits before applying.

*Source gates* compare each source branch as imported tonight with the last
accepted one (see :mod:`dss_core.state`): an empty source, one that lost a
column, or one that shrank by more than ``shrink_limit`` stops the run
before anything is compared or written. With no state yet, an empty source
is still stopped.

*Limits* look at the planned actions: a run that would retire or delete
more than ``deletion_limit`` of a destination branch (and more than
``deletion_floor`` objects), or remove more than ``member_loss_limit`` of one
object's set (of ``member_loss_floor`` elements or more), is refused.

Each guard that trips is one line naming the branch, what changed and how
to let an intended change through (``--accept``, ``--allow-deletions``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .actions import OLD, REMOVE, Action
from .errors import ConfigurationError
from .settings import CORE_SETTINGS, nearest, parse_percent, validate
from .state import SourceSnapshot

if TYPE_CHECKING:
    from .declaration import TreeDeclaration

@dataclass
class Allowances:
    """What the operator let through for this run: ``--accept`` and ``--allow-deletions``."""

    accept: frozenset[str] = frozenset()  # "sis.users", "sis" (a whole tree) or "all"
    deletions: Mapping[str, int] = field(default_factory=dict)  # "lms.users" or "*" -> count

    @classmethod
    def parse(cls, accept: Iterable[str] = (), allow_deletions: Iterable[str] = ()) -> Allowances:
        """From the options: ``--accept NAME`` and ``--allow-deletions [TREE.BRANCH=]N``."""
        deletions: dict[str, int] = {}
        for item in allow_deletions:
            name, _, number = item.rpartition("=")
            if not number.isdigit():
                raise ConfigurationError(
                    f"--allow-deletions {item}: give a number of objects, N or TREE.BRANCH=N")
            deletions[name or "*"] = int(number)
        return cls(frozenset(accept), deletions)

    def accepts(self, tree: str, branch: str) -> bool:
        return bool({"all", tree, f"{tree}.{branch}"} & self.accept)

    def deletions_allowed(self, tree: str, branch: str) -> int | None:
        allowed = self.deletions.get(f"{tree}.{branch}")
        return self.deletions.get("*") if allowed is None else allowed

    def check_names(self, trees: Sequence[TreeDeclaration]) -> None:
        """Raise ConfigurationError for an ``--accept`` or ``--allow-deletions`` naming nothing."""
        known = {"all"} | {t.name for t in trees} | {
            f"{t.name}.{b}" for t in trees for b in t.branch_order}
        for option, names in (("--accept", self.accept), ("--allow-deletions", self.deletions)):
            for name in names:
                if name != "*" and name not in known:
                    raise ConfigurationError(
                        f"{option} {name}: no such tree or branch{nearest(name, known)} "
                        f"(write tree.branch, e.g. {trees[0].name}.{trees[0].branch_order[0]})")


def core_value(tree: TreeDeclaration, branch: str, name: str) -> Any:
    """A core setting of ``tree.branch``, converted to its type (environment text included)."""
    declared = next(s for s in CORE_SETTINGS if s.name == name)
    value = tree.settings(branch).get(name)
    if value is None:
        return declared.default
    return validate(declared, value, f"{tree.name}.{branch}: {name}", from_env=True)


def _share(tree: TreeDeclaration, branch: str, name: str) -> float:
    return parse_percent(core_value(tree, branch, name), f"{tree.name}.{branch}: {name}")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "100%"


def source_snapshots(source: TreeDeclaration) -> dict[str, SourceSnapshot]:
    """The snapshot of every branch of the (imported) source tree, by ``tree.branch``."""
    return {f"{source.name}.{b}": SourceSnapshot.of(source.branch(b)) for b in source.branch_order}


def check_source(source: TreeDeclaration, snapshots: Mapping[str, SourceSnapshot],
                 accepted: Mapping[str, SourceSnapshot], allow: Allowances) -> list[str]:
    """One line per source branch that must not be synced tonight (empty when all is well)."""
    trips: list[str] = []
    for branch in source.branch_order:
        name = f"{source.name}.{branch}"
        if allow.accepts(source.name, branch):
            continue
        now, last = snapshots[name], accepted.get(name)
        how = f"if that is right, run again with --accept {name}"
        if now.objects == 0 and (last is None or last.objects > 0):
            before = f"last accepted {last.objects:,}" if last else "and no source accepted before"
            trips.append(f"{name}: the source is empty (0 objects, {before}); {how}")
            continue
        if last is None:
            continue
        lost = [c for c in last.columns if c not in now.columns]
        if lost and now.objects:
            shown = ", ".join(repr(c) for c in lost)
            new = [c for c in now.columns if c not in last.columns]
            instead = (f"tonight's has {', '.join(repr(c) for c in new)} instead" if new else
                       f"the last accepted source had {len(last.columns)} columns, tonight's "
                       f"has {len(now.columns)}")
            trips.append(f"{name}: column{'s' if len(lost) > 1 else ''} {shown} "
                         f"{'are' if len(lost) > 1 else 'is'} gone ({instead}); {how}")
        limit = _share(source, branch, "shrink_limit")
        if last.objects and (last.objects - now.objects) / last.objects > limit:
            drop = (last.objects - now.objects) / last.objects
            trips.append(f"{name}: {now.objects:,} objects, last accepted {last.objects:,} "
                         f"(\u2212{100 * drop:.1f}%, more than shrink_limit "
                         f"{100 * limit:g}%); {how}")
    return trips


def check_limits(dest: TreeDeclaration, actions: Iterable[Action], allow: Allowances) -> list[str]:
    """One line per destination branch or object the planned actions would strip too far."""
    olds: Counter[str] = Counter()
    removed: Counter[tuple[str, str, str]] = Counter()
    for action in actions:
        if action.kind == OLD:
            olds[action.branch] += 1
        elif action.kind == REMOVE and action.idnumber is not None:
            removed[(action.branch, action.idnumber, action.attribute or "")] += 1
    trips: list[str] = []
    for branch in dest.branch_order:
        count = olds.get(branch, 0)
        if not count:
            continue
        size = len(dest.branch(branch))
        allowed = allow.deletions_allowed(dest.name, branch)
        name = f"{dest.name}.{branch}"
        if allowed is not None:
            tripped = count > allowed
        else:
            limit = _share(dest, branch, "deletion_limit")
            floor = int(core_value(dest, branch, "deletion_floor"))
            tripped = count > floor and count / max(size, 1) > limit
        if tripped:
            rule = (f"more than --allow-deletions {allowed}" if allowed is not None else
                    f"more than deletion_limit {100 * limit:g}% and deletion_floor {floor}")
            trips.append(f"{name}: {count:,} of {size:,} objects would be retired or deleted "
                         f"({_pct(count, size)}, {rule}); if intended, run with "
                         f"--allow-deletions {name}={count}")
    losses: list[str] = []
    for (branch, idnumber, attribute), count in sorted(removed.items()):
        obj = dest.branch(branch).get(idnumber)
        size = len(getattr(obj, attribute, ()) or ()) if obj is not None else 0
        name = f"{dest.name}.{branch}"
        allowed = allow.deletions_allowed(dest.name, branch)
        if allowed is not None:
            tripped = count > allowed
        else:
            limit = _share(dest, branch, "member_loss_limit")
            floor = int(core_value(dest, branch, "member_loss_floor"))
            tripped = size >= floor and count / max(size, 1) > limit
        if tripped:
            rule = (f"more than --allow-deletions {allowed}" if allowed is not None else
                    f"more than member_loss_limit {100 * limit:g}% of a set of {floor} or more")
            losses.append(f"{name} {idnumber!r}: {attribute} would lose {count:,} of {size:,} "
                          f"({_pct(count, size)}, {rule}); if intended, run with "
                          f"--allow-deletions {name}={count}")
    return trips + losses
