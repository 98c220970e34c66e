"""Part of a plan: ``--only BRANCH|KIND``, ``--limit N`` and ``--id BRANCH:IDNUMBER``.

For the cautious first run (``--only new --limit 50``) and for the one
person whose account is wrong today (``dss run --id users:1001``). The
selection applies after the diff and the quarantine, before the deletion
limits: the limits judge what will be applied. An object's changes are
never cut apart: ``--limit`` takes whole objects.

``--id users:1001`` selects the actions of that object in its branch, of the
objects of other branches keyed by it (``references={"idnumber": "users"}``:
its enrolments) and the membership changes naming it (``references={"members":
"users"}``, or any membership element equal to it where a branch declares no
references).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .actions import ADD, ERROR, KINDS, REMOVE, UPDATE, Action, units
from .errors import ConfigurationError
from .settings import nearest

if TYPE_CHECKING:
    from .declaration import TreeDeclaration

#: the kinds ``--only`` names (model errors are never left out)
SELECTABLE_KINDS = tuple(k for k in KINDS if k != ERROR)


@dataclass(frozen=True)
class Selection:
    """Which actions of the plan this run takes; the default takes all."""

    branches: frozenset[str] = frozenset()  # "users" (every destination) or "lms.users"
    kinds: frozenset[str] = frozenset()
    limit: int | None = None
    ids: tuple[tuple[str, str], ...] = ()  # (branch, idnumber)
    given: tuple[str, ...] = field(default=(), compare=False)  # the options, for messages

    @classmethod
    def parse(cls, only: Iterable[str] = (), limit: int | None = None,
              ids: Iterable[str] = ()) -> Selection:
        """From the options; names are checked against the trees by :meth:`check_names`."""
        only, ids = list(only), list(ids)
        kinds = frozenset(o for o in only if o in SELECTABLE_KINDS)
        branches = frozenset(o for o in only if o not in SELECTABLE_KINDS)
        pairs = []
        for item in ids:
            branch, sep, idnumber = item.partition(":")
            if not sep or not branch or not idnumber.strip():
                raise ConfigurationError(f"--id {item}: write BRANCH:IDNUMBER, e.g. users:1001")
            pairs.append((branch, idnumber.strip()))
        if limit is not None and limit < 1:
            raise ConfigurationError(f"--limit {limit}: give a number of actions, 1 or more")
        given = tuple([*(f"--only {o}" for o in only), *(f"--id {i}" for i in ids),
                       *([f"--limit {limit}"] if limit is not None else [])])
        return cls(branches, kinds, limit, tuple(pairs), given)

    @property
    def everything(self) -> bool:
        return not (self.branches or self.kinds or self.ids) and self.limit is None

    def check_names(self, source: TreeDeclaration, destinations: Sequence[TreeDeclaration]) -> None:
        """Raise ConfigurationError for ``--only`` or ``--id`` naming no branch."""
        names = set(source.branch_order)
        known = names | {f"{d.name}.{b}" for d in destinations for b in d.branch_order}
        for name in sorted(self.branches):
            if name not in known:
                raise ConfigurationError(
                    f"--only {name}: no such branch or kind{nearest(name, known | set(SELECTABLE_KINDS))} "
                    f"(branches: {', '.join(source.branch_order)}; kinds: "
                    f"{', '.join(SELECTABLE_KINDS)})")
        for branch, idnumber in self.ids:
            if branch not in names:
                raise ConfigurationError(
                    f"--id {branch}:{idnumber}: no branch {branch!r}{nearest(branch, names)} "
                    f"(branches: {', '.join(source.branch_order)})")

    def pick(self, plans: Sequence[tuple[TreeDeclaration, list[Action]]],
             ) -> tuple[list[tuple[TreeDeclaration, list[Action]]], int]:
        """(the plans with only the selected actions, how many actions were left out)."""
        if self.everything:
            return [(dest, list(actions)) for dest, actions in plans], 0
        left = self.limit
        out: list[tuple[TreeDeclaration, list[Action]]] = []
        dropped = 0
        for dest, actions in plans:
            chosen: list[Action] = []
            for unit in units(actions):
                wanted = [a for a in unit if a.kind == ERROR or self._wants(dest, a)]
                if left is not None and wanted:
                    if len(wanted) > left:
                        left = 0
                        wanted = []
                    else:
                        left -= len(wanted)
                chosen += wanted
                dropped += len(unit) - len(wanted)
            out.append((dest, chosen))
        return out, dropped

    def _wants(self, dest: TreeDeclaration, action: Action) -> bool:
        if self.kinds and action.kind not in self.kinds:
            return False
        if self.branches and not ({action.branch, f"{dest.name}.{action.branch}"} & self.branches):
            return False
        return not self.ids or any(self._about(dest, action, b, i) for b, i in self.ids)

    @staticmethod
    def _about(dest: TreeDeclaration, action: Action, branch: str, idnumber: str) -> bool:
        """True when ``action`` changes object ``branch:idnumber`` or what names it."""
        refs = dict(dest.branches[action.branch].references or {}) if action.branch in dest.branches else {}
        if action.idnumber == idnumber and (action.branch == branch or refs.get("idnumber") == branch):
            return True
        if action.kind in (ADD, REMOVE, UPDATE) and action.value == idnumber:
            target = refs.get(action.attribute or "")
            return target == branch if refs else action.kind != UPDATE
        return False
