"""Dependencies between actions: what an action needs, and the units an object is changed in.

A branch declares which of its values name objects of another branch::

    groups = Branch(Cohort, importer=..., references={"members": "users"})
    enrolments = Branch(Enrolment, importer=..., references={"idnumber": "users"})

An action that needs an object that will not be there is skipped with the
reason, rather than attempted (which would leave an orphan row, or fail on a
misleading "duplicate key" every night after): the object's own ``new``
failed or was skipped, it is retired in this run, or it is in neither the
source nor the destination.

:func:`~dss_core.actions.units` cuts a plan into the units a handler applies whole: one
``new`` or ``old``, or all the updates of one object (see
:meth:`dss_core.Handler.object_unit`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .actions import ADD, NEW, OLD, REMOVE, Action, Result, Status
from .declaration import TreeDeclaration
from .store import BranchData

_FAILED = (Status.FAILURE, Status.EXCEPTION, Status.SKIPPED, Status.NOT_IMPLEMENTED)


class Dependencies:
    """Which objects of a destination will not be there, and the actions that need them."""

    def __init__(self, source: TreeDeclaration, dest: TreeDeclaration,
                 actions: Iterable[Action]) -> None:
        self.source = source
        self.dest = dest
        self.references = {
            name: dict(dest.branches[name].references or source.branches[name].references or {})
            for name in dest.branch_order}
        #: branches naming objects of their own kind (nested groups): their actions wait on each other
        self.own = frozenset(name for name, refs in self.references.items() if name in refs.values())
        #: branches naming objects of another (or their own): only their actions may be blocked
        self.waiting = frozenset(name for name, refs in self.references.items() if refs)
        self.retired = {(a.branch, a.idnumber) for a in actions if a.kind == OLD}
        self.failed: dict[tuple[str, str], str] = {}  # (branch, idnumber) -> why it is not there
        # each branch's data in the source and the destination, looked up once (the same
        # objects all run long: a tree's store keeps them): checked for every action waiting
        self._data: dict[tuple[bool, str], BranchData] = {}  # (in the source?, branch) -> its data

    def _branch(self, tree: TreeDeclaration, branch: str) -> BranchData:
        key = (tree is self.source, branch)
        data = self._data.get(key)
        if data is None:
            data = self._data[key] = tree.branch(branch)
        return data

    def record(self, result: Result) -> None:
        """Remember an object whose ``new`` did not go through."""
        action = result.action
        if action.kind == NEW and action.idnumber is not None and result.status in _FAILED:
            self.failed[(action.branch, action.idnumber)] = (
                f"{action.method}({action.idnumber!r}) {'was skipped' if result.status is Status.SKIPPED else 'failed'}")

    def missing(self, branch: str, idnumber: Any) -> str | None:
        """Why object ``idnumber`` of ``branch`` will not be in the destination, or None."""
        name = idnumber if type(idnumber) is str else str(idnumber)
        key = (branch, name)
        if key in self.failed:
            return self.failed[key]
        if key in self.retired:
            return f"{branch} {name!r} is retired in this run"
        if name in self._branch(self.source, branch):
            return None
        if name in self._branch(self.dest, branch):
            return None  # kept in the destination (its mode does not retire)
        return (f"{branch} {key[1]!r} is in neither {self.source.name}.{branch} nor "
                f"{self.dest.name}.{branch}")

    def blocked(self, action: Action) -> str | None:
        """Why ``action`` must be skipped (``skipped: new_users('1') failed``), or None."""
        refs = self.references.get(action.branch)
        if not refs or action.kind in (OLD, REMOVE):
            return None
        target = refs.get("idnumber")
        if target is not None and action.idnumber is not None:
            why = self.missing(target, action.idnumber)
            if why:
                return f"skipped: {why}"
        if action.kind == ADD and action.attribute in refs:
            why = self.missing(refs[action.attribute], action.value)
            return f"skipped: {why}" if why else None
        if action.kind == NEW and action.source is not None:
            for attribute, target in refs.items():
                if attribute == "idnumber":
                    continue
                elements = getattr(action.source, attribute, ()) or ()
                # the first element (in order) that will not be there; most are in the source
                # and neither failed nor retired, which is checked here the quick way
                there, failed, retired = self._branch(self.source, target), self.failed, self.retired
                for element in sorted(e for e in map(str, elements) if e not in there
                                      or (target, e) in failed or (target, e) in retired):
                    why = self.missing(target, element)
                    if why:
                        return f"skipped: {attribute} names {element!r}: {why}"
        return None
