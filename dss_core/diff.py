"""The diff: the actions that make a destination tree match the source tree.

Order, deterministic for the same data:

1. per branch in the source's branch order: the model errors of that branch
   (``err_no_attr``, ``err_integrity``), then ``new_<branch>`` by idnumber,
   then per changed idnumber its ``update_*``, ``add_*`` and ``remove_*``
   actions (attributes in declared order, elements sorted);
2. then ``old_<branch>`` by idnumber, branches in *reverse* order, so
   memberships are gone before the accounts they point at are retired.

Only idnumbers that differ are sorted; the walk over unchanged objects is
one tuple comparison each.

The diff can be split by a hash of the idnumber into K parts computed
independently (``part=Part(k, K)``, :mod:`dss_core.partition`), whose plans
:func:`~dss_core.partition.merge` puts back in this order;
:func:`diff_in_workers` computes the parts in worker processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from .actions import ADD, ERROR, NEW, OLD, REMOVE, UPDATE, Action
from .changes import object_changes, sorted_values
from .columnar_diff import diff_columnar
from .errors import DssError, InputError
from .gc_pause import gc_paused
from .model import SCALAR, Model
from .partition import Part, merge
from .quarantine import STOP, Quarantine, bad_record_policy
from .rejects import BadRecord

if TYPE_CHECKING:
    from .declaration import TreeDeclaration
    from .store import BranchData

MODE_KINDS = {
    "full": frozenset({NEW, UPDATE, ADD, REMOVE, OLD}),
    "create-only": frozenset({NEW}),
    "update-only": frozenset({UPDATE, ADD, REMOVE}),
    "no-retire": frozenset({NEW, UPDATE, ADD, REMOVE}),
}

_NUMBERS = (int, float)


@dataclass
class BranchComparison:
    """How one branch's models compare: the attributes to diff and the model errors."""

    attributes: list[str]
    membership: frozenset[str]
    errors: list[Action]


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _compatible(a: Any, b: Any) -> bool:
    if a is None or b is None or a is Any or b is Any:
        return True
    if a is b:
        return True
    return a in _NUMBERS and b in _NUMBERS


def compare_models(
    branch: str, source: type[Model], dest: type[Model], source_tree: str, dest_tree: str
) -> BranchComparison:
    """Check that two models of one branch expose the same tracked attributes with comparable types."""
    s_schema, d_schema = source.schema(), dest.schema()
    errors: list[Action] = []
    attributes: list[str] = []
    membership: set[str] = set()
    for name in s_schema.tracked:
        if name not in d_schema.types:
            errors.append(Action(ERROR, "err_no_attr", branch, None, name, tree=dest_tree,
                                 error=f"{dest_tree}.{branch} ({dest.__name__}) has no attribute {name!r}"))
            continue
        s_kind, s_type = s_schema.types[name]
        d_kind, d_type = d_schema.types[name]
        if s_kind != d_kind or not _compatible(s_type, d_type):
            s_desc = s_kind if s_kind != SCALAR else _type_name(s_type)
            d_desc = d_kind if d_kind != SCALAR else _type_name(d_type)
            if s_kind != d_kind:
                s_desc, d_desc = f"{s_kind}[{_type_name(s_type)}]", f"{d_kind}[{_type_name(d_type)}]"
            errors.append(Action(
                ERROR, "err_integrity", branch, None, name, tree=dest_tree,
                error=(f"{name!r} is {s_desc} in {source_tree}.{branch} ({source.__name__}) "
                       f"but {d_desc} in {dest_tree}.{branch} ({dest.__name__})")))
            continue
        attributes.append(name)
        if s_kind != SCALAR:
            membership.add(name)
    for name in d_schema.tracked:
        if name not in s_schema.types:
            errors.append(Action(ERROR, "err_no_attr", branch, None, name, tree=dest_tree,
                                 error=f"{source_tree}.{branch} ({source.__name__}) has no attribute {name!r}"))
    return BranchComparison(attributes, frozenset(membership), errors)


_sorted = sorted_values


def _getter(attributes: list[str]) -> Callable[[Model], tuple[Any, ...]]:
    if not attributes:
        return lambda obj: ()
    if len(attributes) == 1:
        name = attributes[0]
        return lambda obj: (getattr(obj, name),)
    return attrgetter(*attributes)


def diff_branch(source: TreeDeclaration, dest: TreeDeclaration, branch: str,
                quarantine: Quarantine | None = None,
                part: Part | None = None) -> tuple[list[Action], list[Action]]:
    """The actions of one branch: (everything but retirements, retirements).

    With ``part``, only those of the idnumbers in that part (the branch's
    model errors in part 0 only): see :mod:`dss_core.partition`.

    An object whose attributes cannot be computed (a derived property
    failing on bad data) is an :class:`~dss_core.InputError` naming it; with
    ``quarantine`` and its tree's branch set to ``on_bad_record =
    "quarantine"`` it goes to the quarantine instead, and has no action.

    Like an import, the walk pauses the cyclic garbage collector: it only
    makes short-lived tuples, and a collection would scan every object held.
    """
    if part is not None and part.whole:
        part = None
    with gc_paused():
        return _diff_branch(source, dest, branch, quarantine, part)


def _diff_branch(source: TreeDeclaration, dest: TreeDeclaration, branch: str,
                 quarantine: Quarantine | None,
                 part: Part | None) -> tuple[list[Action], list[Action]]:
    sdata, ddata = source.branch(branch), dest.branch(branch)
    kinds = MODE_KINDS[dest.mode_of(branch)]
    cmp = compare_models(branch, sdata.model, ddata.model, source.name, dest.name)
    if part is not None and part.index != 0:
        cmp.errors = []  # a branch's model errors are part 0's
    if sdata.columnar is not None and ddata.columnar is not None:  # both sides stored as columns
        done = diff_columnar(source, dest, branch, sdata.columnar, ddata.columnar, cmp.attributes,
                             cmp.membership, cmp.errors, kinds, part)
        if done is not None:
            return done
    out: list[Action] = list(cmp.errors)
    tree = dest.name
    attrs = cmp.attributes
    get = _getter(attrs)
    dget = ddata.lookup()
    new_ids: list[str] = []
    changed: list[str] = []
    sobj = dobj = None
    for idnumber, sobj in (sdata.items() if part is None else _items_of(sdata, part)):
        dobj = dget(idnumber)
        try:
            if dobj is None:
                get(sobj)  # its attributes must be computable before it is created
                new_ids.append(idnumber)
            elif get(sobj) != get(dobj):
                changed.append(idnumber)
        except DssError:
            raise  # a signal (Interrupted) or dss's own error, not the object's data
        except Exception as exc:  # a derived property failed on bad data: say which object
            error, culprit = _attribute_error(exc, sobj, dobj)
            if quarantine is None or culprit is None or bad_record_policy(
                    source if culprit is sobj else dest, branch) == STOP:
                error.dss_at = (branch, idnumber)  # type: ignore[attr-defined]  # see diff_in_workers
                raise error from exc
            quarantine.add(_bad(culprit, source if culprit is sobj else dest, branch, exc))
    if NEW in kinds:
        method = f"new_{branch}"
        for idnumber in _sorted(new_ids):
            out.append(Action(NEW, method, branch, idnumber, source=sdata[idnumber], tree=tree))
    membership = cmp.membership
    for idnumber in _sorted(changed):
        sobj, dobj = sdata[idnumber], ddata[idnumber]
        errors, changes = object_changes(source.name, tree, branch, idnumber, sobj, get(sobj),
                                         dobj, get(dobj), attrs, membership, kinds)
        out += errors
        out += changes
    olds: list[Action] = []
    if OLD in kinds:
        method = f"old_{branch}"
        sget = sdata.lookup()
        gone = (k for k in (ddata if part is None else part.ids(ddata)) if sget(k) is None)
        for idnumber in _sorted(gone):
            olds.append(Action(OLD, method, branch, idnumber, dest=ddata[idnumber], tree=tree))
    return out, olds


def _items_of(data: BranchData, part: Part) -> Iterator[tuple[str, Model]]:
    """(idnumber, object) of the idnumbers of ``part``, in the branch's order; a branch stored as
    columns builds the objects of that part only."""
    if data.columnar is None:
        return part.items(data.items())
    get = data.lookup()
    return ((idnumber, get(idnumber)) for idnumber in part.ids(data))  # type: ignore[misc]


def _attribute_error(exc: Exception, *objects: Model | None) -> tuple[InputError, Model | None]:
    """An InputError naming the object whose attribute could not be computed, and that object."""
    for obj in objects:
        if obj is None:
            continue
        try:
            obj.values()
        except Exception:
            where = "{}.{}".format(*obj._dss_where) if obj._dss_where else type(obj).__name__
            return InputError(f"{where} idnumber {obj.idnumber!r}: cannot compute its attributes: "
                              f"{type(exc).__name__}: {exc}", obj.dss_origin), obj
    return InputError(f"cannot compute attributes: {type(exc).__name__}: {exc}"), None


def _bad(obj: Model, tree: TreeDeclaration, branch: str, exc: Exception) -> BadRecord:
    """The quarantined record of an object whose attributes cannot be computed."""
    bad = BadRecord(f"cannot compute its attributes: {type(exc).__name__}: {exc}", obj.dss_origin,
                    idnumber=obj.idnumber)
    bad.tree, bad.branch = tree.name, branch
    return bad


def diff(source: TreeDeclaration, dest: TreeDeclaration,
         quarantine: Quarantine | None = None, part: Part | None = None) -> Iterator[Action]:
    """All actions that make ``dest`` match ``source``, in the documented order.

    With ``quarantine``, objects of quarantining branches whose attributes
    cannot be computed are set aside there (see :func:`diff_branch`). With
    ``part``, the actions of that part's idnumbers only (:mod:`dss_core.partition`).
    """
    source.check_mirror(dest)
    retirements: list[list[Action]] = []
    for branch in source.branch_order:
        if not dest.takes(branch):
            continue  # named in the destination's skips
        actions, olds = diff_branch(source, dest, branch, quarantine, part)
        yield from actions
        retirements.append(olds)
    for olds in reversed(retirements):
        yield from olds


# -- the parts in worker processes ------------------------------------------------------
#: what a worker diffs, set in the parent just before the workers are forked (they inherit it)
_JOB: tuple[TreeDeclaration, Sequence[TreeDeclaration], list[set[str]], int] | None = None

#: an action as a worker sends it back: its fields, and whether it has a source and a destination
#: object (the parent puts back its own objects: a worker's copies are never sent)
_Sent = tuple[str, str, str, str | None, str | None, Any, Any, str | None, bool, bool]


def diff_in_workers(source: TreeDeclaration, destinations: Sequence[TreeDeclaration],
                    quarantine: Quarantine | None = None, workers: int = 1) -> list[list[Action]]:
    """Each destination's actions, as :func:`diff` gives them, computed in ``workers`` processes.

    After the import, ``workers`` processes are forked (they inherit the imported
    trees, nothing is sent to them); worker k diffs part k of ``workers``
    (:mod:`dss_core.partition`) of every branch and sends back its actions as
    plain tuples; the parent puts its own objects back in them and merges the
    parts in the diff's order. The plan is the one :func:`diff` gives, action
    for action; records a derived property could not compute go to
    ``quarantine`` in the same order, and the first such error of the whole
    diff is the one raised.

    A branch stored as columns on either side is diffed here, in the parent,
    while the workers run: polars' thread pool does not survive a fork (a join
    in a forked child waits forever, and building an object of a compact
    columnar branch reads the file again through polars), and its join uses
    every core already. The workers diff the branches held as objects on both
    sides (generator importers, derived branches without columns), where the
    walk is Python's, one core each.
    """
    global _JOB
    for dest in destinations:
        source.check_mirror(dest)
    if workers <= 1:
        return [list(diff(source, dest, quarantine)) for dest in destinations]
    import gc
    import multiprocessing

    taken = [[b for b in source.branch_order if dest.takes(b)] for dest in destinations]
    local = [{b for b in branches if source.branch(b).columnar is not None
              or dest.branch(b).columnar is not None} for dest, branches in zip(destinations, taken,
                                                                                  strict=True)]
    remote = any(set(branches) - here for branches, here in zip(taken, local, strict=True))
    rank = {b: i for i, b in enumerate(source.branch_order)}
    found: list[tuple[tuple[int, int, int], BaseException]] = []  # (where, error): the first is raised
    parts: list[Any] = []
    pool = None
    if remote:
        _JOB = (source, destinations, local, workers)
        gc.freeze()  # the objects already made: no collection in a worker touches (copies) their pages
        pool = multiprocessing.get_context("fork").Pool(workers, initializer=_worker_started)
    try:
        pending = pool.map_async(_diff_part, range(workers), chunksize=1) if pool is not None else None
        _JOB = None
        here: list[list[list[Action]]] = []
        records: list[list[BadRecord]] = []
        for i, dest in enumerate(destinations):  # the branches stored as columns, meanwhile
            mine = Quarantine()
            plans: list[list[Action]] = []
            for branch in taken[i]:
                if branch not in local[i] or found:
                    continue
                try:
                    actions, olds = diff_branch(source, dest, branch, mine)
                except Exception as exc:
                    found.append((_where(source, i, branch, exc, rank), exc))
                    break
                plans.append(actions + olds)
            here.append(plans)
            records.append(mine.records)
        if pending is not None:
            parts = pending.get()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
            gc.unfreeze()
    for part in parts:
        if part[0] == "error":
            _, i, branch, failed = part
            found.append((_where(source, i, branch, failed, rank), failed))
    if found:
        raise min(found, key=lambda f: f[0])[1]
    out: list[list[Action]] = []
    for i, dest in enumerate(destinations):
        sent = [_received(source, dest, part[1][i]) for part in parts]
        out.append(merge([*here[i], *sent], source.branch_order))
        if quarantine is not None:
            got = records[i] + [r for part in parts for r in part[2][i]]
            for record in _in_walk_order(source, got, rank):
                quarantine.add(record)
    return out


def _worker_started() -> None:
    """A worker: Ctrl-C is the parent's to handle; SIGTERM (the pool's terminate) ends it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _diff_part(index: int) -> tuple[Any, ...]:
    """Worker ``index``: part ``index`` of the branches held as objects on both sides (no polars
    here: its thread pool is the parent's, and gone in a forked child)."""
    assert _JOB is not None
    source, destinations, local, count = _JOB
    part = Part(index, count)
    sent: list[list[_Sent]] = []
    records: list[list[BadRecord]] = []
    for i, dest in enumerate(destinations):
        mine = Quarantine()
        actions: list[_Sent] = []
        for branch in source.branch_order:
            if not dest.takes(branch) or branch in local[i]:
                continue
            try:
                done, olds = diff_branch(source, dest, branch, mine, part)
            except Exception as exc:
                import pickle

                error: BaseException = exc
                try:  # sent as it is when it comes back the same; else its message and exit code
                    same = str(pickle.loads(pickle.dumps(exc))) == str(exc)
                except Exception:
                    same = False
                if not same and isinstance(exc, DssError):
                    error = DssError(str(exc))
                    error.exit_code = exc.exit_code
                elif not same:
                    error = RuntimeError(f"{type(exc).__name__}: {exc}")
                return ("error", i, branch, error)
            actions += [_sent(a) for a in done]
            actions += [_sent(a) for a in olds]
        sent.append(actions)
        records.append(mine.records)
    return ("done", sent, records)


def _sent(action: Action) -> _Sent:
    return (action.kind, action.method, action.branch, action.idnumber, action.attribute, action.value,
            action.old_value, action.error, action.source is not None, action.dest is not None)


def _received(source: TreeDeclaration, dest: TreeDeclaration, sent: list[_Sent]) -> list[Action]:
    """The actions a worker sent, with the parent's own objects."""
    out = []
    for kind, method, branch, idnumber, attribute, value, old_value, error, s, d in sent:
        sobj = source.branch(branch)[idnumber] if s and idnumber is not None else None
        dobj = dest.branch(branch)[idnumber] if d and idnumber is not None else None
        out.append(Action(kind, method, branch, idnumber, attribute, value, old_value, sobj, dobj,
                          dest.name, error))
    return out


def _where(source: TreeDeclaration, dest_index: int, branch: str, exc: BaseException,
           rank: dict[str, int]) -> tuple[int, int, int]:
    """Where the whole diff would have met ``exc``: (destination, branch, place in the walk)."""
    at = getattr(exc, "dss_at", None)
    position = -1
    if at is not None:
        for n, idnumber in enumerate(source.branch(at[0])):
            if idnumber == at[1]:
                position = n
                break
    return dest_index, rank[branch], position


def _in_walk_order(source: TreeDeclaration, records: list[BadRecord],
                   rank: dict[str, int]) -> list[BadRecord]:
    """``records`` set aside by the diff, in the order the whole diff's walk met them."""
    if len(records) < 2:
        return records
    positions: dict[str, dict[str, int]] = {}
    for record in records:
        if record.branch not in positions:
            positions[record.branch] = {k: n for n, k in enumerate(source.branch(record.branch))}

    def place(record: BadRecord) -> tuple[int, int]:
        return rank.get(record.branch, -1), positions[record.branch].get(record.idnumber or "", -1)

    return sorted(records, key=place)
