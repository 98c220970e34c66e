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

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from .actions import ADD, ERROR, NEW, OLD, REMOVE, UPDATE, Action
from .changes import object_changes, sorted_values
from .columnar_diff import diff_columnar
from .errors import DssError, InputError
from .gc_pause import gc_paused
from .model import SCALAR, Model
from .partition import Part
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
        gone = (k for k in ddata if sget(k) is None) if part is None else (
            k for k in ddata if k in part and sget(k) is None)
        for idnumber in _sorted(gone):
            olds.append(Action(OLD, method, branch, idnumber, dest=ddata[idnumber], tree=tree))
    return out, olds


def _items_of(data: BranchData, part: Part) -> Iterator[tuple[str, Model]]:
    """(idnumber, object) of the idnumbers of ``part``, in the branch's order; a branch stored as
    columns builds the objects of that part only."""
    if data.columnar is None:
        return ((idnumber, obj) for idnumber, obj in data.items() if idnumber in part)
    get = data.lookup()
    return ((idnumber, get(idnumber)) for idnumber in data if idnumber in part)  # type: ignore[misc]


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
