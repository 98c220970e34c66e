"""The changes of one object: what the diff plans for an idnumber on both sides that differs.

Shared by the object path (:mod:`dss_core.diff`) and the columnar one
(:mod:`dss_core.columnar_diff`), so both give the same actions in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .actions import ADD, ERROR, REMOVE, UPDATE, Action
from .model import Model

_NUMBERS = (int, float)


def sorted_values(values: Iterable[Any]) -> list[Any]:
    """``values`` sorted; by ``repr`` when they do not compare (mixed types)."""
    items = list(values)
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def comparable(a: Any, b: Any) -> bool:
    """True when two values of one attribute may be compared (None, one type, or two numbers)."""
    if a is None or b is None:
        return True
    ta, tb = type(a), type(b)
    return ta is tb or (ta in _NUMBERS and tb in _NUMBERS)


def object_changes(source_name: str, tree: str, branch: str, idnumber: str,
                   sobj: Model, svals: Sequence[Any], dobj: Model, dvals: Sequence[Any],
                   attrs: Sequence[str], membership: frozenset[str],
                   kinds: frozenset[str]) -> tuple[list[Action], list[Action]]:
    """(model errors, changes) of one object: ``err_integrity`` per attribute of another type;
    ``update_*``, then ``add_*``, then ``remove_*`` (elements sorted), as ``kinds`` allows.

    ``svals`` and ``dvals`` are the tracked values of ``attrs`` on each side.
    """
    errors: list[Action] = []
    updates: list[Action] = []
    adds: list[Action] = []
    removes: list[Action] = []
    for i, name in enumerate(attrs):
        sv, dv = svals[i], dvals[i]
        if sv == dv:
            continue
        if name in membership:
            s_set, d_set = set(sv or ()), set(dv or ())
            for element in sorted_values(s_set - d_set):
                adds.append(Action(ADD, f"add_{name}_to_{branch}", branch, idnumber, name,
                                   element, None, sobj, dobj, tree))
            for element in sorted_values(d_set - s_set):
                removes.append(Action(REMOVE, f"remove_{name}_from_{branch}", branch, idnumber,
                                      name, element, None, sobj, dobj, tree))
        elif not comparable(sv, dv):
            errors.append(Action(
                ERROR, "err_integrity", branch, idnumber, name, sv, dv, sobj, dobj, tree,
                error=(f"{name!r} is {type(sv).__name__} {sv!r} in {source_name} "
                       f"({sobj.dss_origin}) but {type(dv).__name__} {dv!r} in {tree} "
                       f"({dobj.dss_origin})")))
        else:
            updates.append(Action(UPDATE, f"update_{name}", branch, idnumber, name, sv, dv,
                                  sobj, dobj, tree))
    changes: list[Action] = []
    if UPDATE in kinds:
        changes += updates
    if ADD in kinds:
        changes += adds
    if REMOVE in kinds:
        changes += removes
    return errors, changes
