"""Importers: read records from somewhere and turn them into a branch's objects.

One importer serves one tree x branch. Subclass :class:`Importer` and give it
*either* form:

* a generator: ``def readin(self): yield {"idnumber": "1", "name": "Ann"}``
* a context-managed reader: ``def reader(self)`` returning a context manager
  that gives an iterable of records (a file, a database session).

Records are mappings (or :class:`Record` objects carrying their origin). A
record the importer cannot read is yielded as a :class:`~dss_core.BadRecord`
in its place: the branch's ``on_bad_record`` setting then stops the run on
it or quarantines it (see :mod:`dss_core.quarantine`). Per importer, ``filter_out(record)`` skips a record and
``preprocess(record)`` rewrites it (or drops it by returning ``None``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .columnar_load import load_columnar
from .errors import ConfigurationError, DuplicateIdError, InputError
from .gc_pause import gc_paused
from .model import SCALAR, Model
from .origin import Origin
from .quarantine import STOP, bad_record_policy
from .rejects import BadRecord
from .settings import CORE_SETTINGS, DUPLICATE_POLICIES, Setting, validate

if TYPE_CHECKING:
    from .declaration import TreeDeclaration
    from .store import BranchData


class Record:
    """A record together with where it came from (file and line, table row)."""

    __slots__ = ("values", "origin")

    def __init__(self, values: Mapping[str, Any], origin: Origin) -> None:
        self.values = values
        self.origin = origin


class Importer:
    """Base class of every importer: reads one branch of one tree.

    Class attributes a subclass may set:

    ``name``
        registers the importer under this name (``dss list`` shows it, and a
        branch may name it instead of giving the class).
    ``on_duplicate``
        what to do with a second record of the same idnumber that cannot be
        merged: ``"error"`` (default), ``"first"`` (keep the first) or
        ``"last"`` (keep the last). The setting ``on_duplicate`` overrides it.
    ``read_ahead``
        True for an importer that reads nothing but local files (no server, no
        side effect: dss-csv's): a destination whose branches all have such
        importers (or derived ones) is read in a thread while the source is
        imported; what it read is used, and its hooks and errors heard, only
        once the source gates passed, as if it were read then. A subclass
        that reads otherwise sets it back to False.
    ``derived``
        True for an importer that reads only branches of its own tree imported
        before it (groups from users). A tree filled from literal records
        (``Tree.load_records``, the ``dss_tree`` fixture) still runs it.
    ``declared_settings``
        the :class:`~dss_core.Setting` objects this importer reads with
        :meth:`setting`; a configured key that no importer, handler or the
        core declares is an error. Extend the parent's:
        ``declared_settings = CSVImporter.declared_settings + (Setting(...),)``.
    """

    name: ClassVar[str | None] = None
    on_duplicate: ClassVar[str] = "error"
    read_ahead: ClassVar[bool] = False
    derived: ClassVar[bool] = False
    declared_settings: ClassVar[tuple[Setting, ...]] = ()

    def __init__(self, tree: TreeDeclaration, branch: str, settings: Mapping[str, Any] | None = None) -> None:
        self.tree = tree
        self.branch = branch
        self.settings: dict[str, Any] = dict(settings or {})

    # -- the two forms ------------------------------------------------------
    def readin(self) -> Iterable[Mapping[str, Any] | Record | BadRecord]:
        """Yield the records (generator form). Override this or :meth:`reader`."""
        raise ConfigurationError(
            f"{type(self).__name__} (importer of {self.tree.name}.{self.branch}) defines "
            "neither readin() nor reader()"
        )

    def reader(self) -> contextlib.AbstractContextManager[
            Iterable[Mapping[str, Any] | Record | BadRecord]] | None:
        """Return a context manager giving the records (reader form), or None."""
        return None

    # -- per-record hooks ---------------------------------------------------
    def filter_out(self, record: Mapping[str, Any]) -> bool:
        """Return True to skip ``record`` (a withdrawn student, say)."""
        return False

    def preprocess(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """Rewrite ``record`` before it becomes an object; return None to drop it."""
        return record

    # -- provenance ---------------------------------------------------------
    def describe(self) -> str:
        """A short name of what this importer reads, used in origins and messages."""
        return type(self).__name__

    @property
    def quarantines(self) -> bool:
        """True when this branch sets bad records aside (``on_bad_record = "quarantine"``).

        An importer that can read on after a bad record only in that mode (a
        CSV file read with undecodable bytes kept) asks this; every importer
        yields a :class:`~dss_core.BadRecord` either way.
        """
        return bad_record_policy(self.tree, self.branch) != STOP

    def setting(self, key: str, default: Any = None) -> Any:
        """One declared setting for this importer (from configuration or the environment).

        A key that neither this importer's ``declared_settings`` nor the core
        declares is a ConfigurationError: an undeclared setting could never
        be checked for typos.
        """
        if not any(s.name == key for s in (*type(self).declared_settings, *CORE_SETTINGS)):
            raise ConfigurationError(
                f"{type(self).__name__} reads setting {key!r} but does not declare it: add "
                f"Setting({key!r}, ...) to its declared_settings")
        return self.settings.get(key, default)

    def raw_rows(self, origins: Sequence[Origin]) -> list[str | None]:
        """The records at ``origins`` as the source holds them (a CSV row), for the rejects file.

        Called only for quarantined records whose importer did not give the
        raw row itself; None where it is not known (the default).
        """
        return [None] * len(origins)

    def records(self) -> Iterator[Mapping[str, Any] | Record | BadRecord]:
        """All records of this importer, whichever form it has."""
        reader = self.reader()
        if reader is not None:
            with reader as rows:
                yield from rows
        else:
            yield from self.readin()


class GeneratorImporter(Importer):
    """An importer over literal records or any callable returning records.

    ``GeneratorImporter.of(records)`` makes an importer class over a list;
    handy for derived branches and tests.
    """

    name = "generator"
    source: ClassVar[Any] = ()

    def readin(self) -> Iterable[Mapping[str, Any] | Record]:
        src = type(self).source
        return src(self) if callable(src) else src

    @classmethod
    def of(cls, records: Any, name: str = "literal records") -> type[GeneratorImporter]:
        """A GeneratorImporter subclass over ``records`` (a list, or a callable taking the importer)."""
        return type(name.title().replace(" ", ""), (cls,), {
            "source": records, "name": None, "describe": lambda self: name,
            "derived": callable(records)})


def duplicate_policy(importer: Importer, declared: str | None = None) -> str:
    """The duplicate policy of ``importer``'s branch, checked.

    Configuration overrides the declaration (the Branch argument), which
    overrides the importer class, as for a branch's mode.
    """
    policy = importer.setting("on_duplicate") or declared or importer.on_duplicate
    if policy not in DUPLICATE_POLICIES:
        raise ConfigurationError(
            f"{importer.tree.name}.{importer.branch}: on_duplicate must be one of "
            f"{', '.join(DUPLICATE_POLICIES)}, not {policy!r}")
    return str(policy)


#: records between two calls of a load's ``progress`` (the ``dss_import_progress`` hook)
PROGRESS_EVERY = 1000


def load_branch(importer: Importer, data: BranchData, on_duplicate: str | None = None,
                progress: Callable[[int], None] | None = None) -> int:
    """Run ``importer`` and put its objects into ``data``; return the number of records read.

    ``progress(count)`` is called with 0 as the branch starts, then every
    :data:`PROGRESS_EVERY` records (a live display's feed).

    Records without idnumber get a running number. Records with the same
    idnumber are merged when the model has membership attributes (their
    lists and sets are joined) and the other values agree; any other
    duplicate follows the duplicate policy.

    The cyclic garbage collector is paused while a branch loads: imported
    objects live until the tree is cleared, and collecting over millions of
    them as they are made would cost more than the import itself.
    """
    if progress is not None:
        progress(0)
    with gc_paused():
        # the columnar path first (dss_core.columnar_load): None when it cannot give the same branch
        if (type(importer).filter_out is Importer.filter_out
                and type(importer).preprocess is Importer.preprocess
                and (count := load_columnar(importer, data, on_duplicate)) is not None):
            return count
        return _load_branch(importer, data, on_duplicate, progress)


def _load_branch(importer: Importer, data: BranchData, on_duplicate: str | None,
                 progress: Callable[[int], None] | None = None) -> int:
    declared = next(s for s in CORE_SETTINGS if s.name == "strip_idnumber")
    strip = importer.settings.get("strip_idnumber")
    strip = declared.default if strip is None else validate(
        declared, strip, f"{data.tree}.{data.name}: strip_idnumber", from_env=True)
    columns = data.columns
    model = data.model
    schema = model.schema()
    build = model.builder()
    membership = [n for n, f in schema.fields.items() if f.kind != SCALAR]
    scalars = [n for n, f in schema.fields.items() if f.kind == SCALAR]
    policy = duplicate_policy(importer, on_duplicate)
    quarantining = importer.quarantines
    rejects = data.rejects
    made: list[BadRecord] = []  # the bad records the core found (the importer read them fine)

    def reject(bad: BadRecord) -> None:
        if not quarantining:
            raise InputError(bad.reason, bad.origin, column=bad.column)
        bad.tree, bad.branch = data.tree, data.name
        rejects.append(bad)

    describe = importer.describe()
    importer_name = type(importer).__name__
    filter_out = importer.filter_out
    preprocess = importer.preprocess
    # skip the per-record calls an importer does not override (the hot path at a million rows)
    filters = type(importer).filter_out is not Importer.filter_out
    preprocesses = type(importer).preprocess is not Importer.preprocess
    running = 0
    count = 0
    objects = data._objects
    # Objects keep their origin compact: one template Origin per source (position None),
    # shared, plus the object's own position (Model.dss_origin rebuilds the Origin on use).
    templates: dict[tuple[str, str, str], Origin] = {}
    template = Origin(describe, None, "record", importer_name)  # for plain mappings
    records_template = template
    source: Any = None
    unit: Any = None
    by: Any = None
    origin: Origin | None
    tick = PROGRESS_EVERY if progress is not None else -1
    for count, item in enumerate(importer.records(), 1):  # noqa: B007
        if count == tick:
            progress(count)  # type: ignore[misc]  # tick is -1 without it
            tick += PROGRESS_EVERY
        if isinstance(item, Record):
            origin = item.origin
            if not origin.importer:
                origin.importer = importer_name
            record: Any = item.values
            line = origin.position
            if line is None or type(origin) is not Origin:  # kept as given
                shared = origin
                line = None
                if not columns:
                    columns.update(record)
            else:
                if origin.source is not source or origin.unit is not unit or origin.importer is not by:
                    source, unit, by = origin.source, origin.unit, origin.importer
                    columns.update(record)  # once per file: its columns
                    template = templates.get((source, unit, by)) or templates.setdefault(
                        (source, unit, by), Origin(source, None, unit, by))
                shared = template
        elif isinstance(item, BadRecord):
            reject(item)
            continue
        else:
            origin = None  # made only for a message
            record = item
            shared = records_template
            line = count
            if count == 1:
                columns.update(record)
        if filters and filter_out(record):
            continue
        if preprocesses:
            record = preprocess(dict(record))
            if record is None:
                continue
        idnumber = record.get("idnumber")
        if idnumber is None:
            running += 1
            idnumber = str(running)
        elif type(idnumber) is not str:
            idnumber = str(idnumber)
        if strip:
            idnumber = idnumber.strip()
        if idnumber == "":
            where = origin or Origin(describe, count, "record", importer_name)
            if not quarantining:
                raise InputError(f"{data.tree}.{data.name}: empty idnumber", where)
            made.append(BadRecord("empty idnumber", where, column="idnumber", raw=_raw(record)))
            reject(made[-1])
            continue
        try:
            obj = build(record, shared, idnumber, line)
        except InputError as exc:
            if not quarantining:
                raise
            reason = exc.detail.removeprefix(f"idnumber {idnumber!r}: ")
            made.append(BadRecord(reason, origin or Origin(describe, count, "record", importer_name),
                                  idnumber=idnumber, column=exc.column, raw=_raw(record)))
            reject(made[-1])
            continue
        existing = objects.get(idnumber)
        if existing is None:
            data.put(obj)
            continue
        conflict = [n for n in scalars if getattr(existing, n) != getattr(obj, n)]
        if membership and not conflict:
            _merge(existing, obj, membership)
            continue
        first = existing.dss_origin
        if policy == "error":
            what = (f"differs in {', '.join(conflict)}" if membership
                    else "appears more than once")
            raise DuplicateIdError(
                f"{data.tree}.{data.name}: duplicate idnumber {idnumber!r} {what} "
                f"(first at {first}); set on_duplicate to 'first' or 'last' to allow it",
                obj.dss_origin,
            )
        if policy == "last":
            if membership:
                _merge(obj, existing, membership)
            data.put(obj)
        elif membership:
            _merge(existing, obj, membership)
    _refuse_lookalike_ids(data, policy)
    if made:
        raw_rows(importer, made)
    return count


def _raw(record: Mapping[str, Any]) -> str:
    """A record's values as one line (until the importer gives its raw row)."""
    import json

    return json.dumps(dict(record), default=str, ensure_ascii=False)


def raw_rows(importer: Importer, records: list[BadRecord]) -> None:
    """Fill the raw rows of ``records`` (read by ``importer``) from :meth:`Importer.raw_rows`."""
    asked = [r for r in records if r.origin is not None and r.origin.position is not None]
    if not asked:
        return
    rows = importer.raw_rows([r.origin for r in asked if r.origin is not None])
    for record, raw in zip(asked, rows, strict=True):
        if raw is not None:
            record.raw = raw


def _refuse_lookalike_ids(data: BranchData, policy: str) -> None:
    """Two idnumbers of one branch that differ only in case or surrounding whitespace.

    They would be two accounts for one person. Under the ``error`` policy
    that is a :class:`DuplicateIdError`; ``first`` and ``last`` keep one.
    Ids made only of digits (the usual case) cannot differ in case: skipped
    with one check over all of them.
    """
    objects = data._objects
    if not objects or "".join(objects).isdigit():
        return
    folded: dict[str, str] = {}
    for idnumber in list(objects):
        key = idnumber.strip().casefold()
        other = folded.get(key)
        if other is None:
            folded[key] = idnumber
            continue
        if policy == "error":
            raise DuplicateIdError(
                f"{data.tree}.{data.name}: idnumbers {other!r} (at {objects[other].dss_origin}) "
                f"and {idnumber!r} differ only in case or whitespace; set on_duplicate to "
                "'first' or 'last' to keep one", objects[idnumber].dss_origin)
        if policy == "first":
            data.remove(idnumber)
        else:
            data.remove(other)
            folded[key] = idnumber


def _merge(into: Model, other: Model, membership: list[str]) -> None:
    for name in membership:
        target = getattr(into, name)
        extra = getattr(other, name)
        if isinstance(target, set):
            target |= extra
        else:
            target.extend(x for x in extra if x not in target)
