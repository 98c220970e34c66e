"""Handlers: the destination's code that acts on each difference (the seed's "template").

Subclass :class:`Handler` and name methods after action methods::

    class LMSHandler(Handler):
        def new_users(self, action):          # create the account
            ...
        def update_name(self, action):        # any branch's `name` changed
            ...
        def old_users(self, action):
            return action.dropped("accounts are never deleted")

Dispatch order for one action, first method found wins:

* ``new_<branch>``, ``new``
* ``update_<branch>_<attribute>``, ``update_<attribute>``, ``update``
* ``add_<attribute>_to_<branch>``, ``add``
* ``remove_<attribute>_from_<branch>``, ``remove``
* ``old_<branch>``, ``old``
* ``err_no_attr`` / ``err_integrity``, ``err``
* then the catch-all ``default``.

What a method returns becomes the action's result: ``None`` or ``True`` is
success, ``False`` failure, a :class:`~dss_core.Result` (``action.failed(...)``,
``action.dropped(...)``) is taken as it is. An exception raised inside is
caught and reported for that action only. An action with no method is
counted as not implemented and listed at the end of the run.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .actions import FAILED_STATUSES, Action, Result, Status
from .settings import Setting

if TYPE_CHECKING:
    from .declaration import TreeDeclaration
    from .runs import Run


@dataclass
class ObjectUnit:
    """The changes of one object being applied: whether they are all-or-nothing, and whether one failed."""

    atomic: bool
    failed: bool = False


class Handler:
    """Base class of a destination's handlers: one method per action method name.

    ``declared_settings`` lists the :class:`~dss_core.Setting` objects the
    handler reads from its tree's table (``url``, ``batch_size``...).
    """

    declared_settings: ClassVar[tuple[Setting, ...]] = ()

    def __init__(self, tree: TreeDeclaration, run: Run | None = None) -> None:
        self.tree = tree
        self.run = run
        self.config = tree.config
        self.settings = tree.settings()

    def verify(self) -> None:
        """Check the destination is ready without changing it (tables, columns, access).

        ``dss check`` calls this; raise :class:`~dss_core.ConfigurationError`
        naming what is missing. The default checks nothing.
        """

    def begin(self) -> None:
        """Called once before the first action of a run is handled (open connections here)."""

    def end(self, failed: bool) -> None:
        """Called once after the last action; ``failed`` tells whether the run stopped on an error."""

    @contextlib.contextmanager
    def object_unit(self, actions: Sequence[Action]) -> Iterator[ObjectUnit]:
        """Apply the changes of one object (``actions``) as one unit, where the destination allows.

        The runner hands each action of the unit to the handler inside this
        context and sets ``unit.failed`` when one fails; the rest of the unit
        is then not attempted. A destination that can undo (a database)
        overrides this to make the unit all-or-nothing and yields
        ``ObjectUnit(atomic=True)``; the default cannot undo what it did.
        """
        yield ObjectUnit(atomic=False)

    #: the most actions :meth:`handle_batch` is given at once (0: no batching); a class value,
    #: or set per run on the instance (from a setting)
    batch_actions: int = 0

    #: None (the default): a change is durable once its result is given. A handler whose
    #: changes become durable only when it commits (a database transaction of many actions)
    #: counts here the commits made so far this run (0 at :meth:`begin`); the journal records
    #: a success only once a commit (or :meth:`end`) has made it durable
    commits: int | None = None

    #: with :attr:`commits`: how many applied actions the open transaction holds now (0: every
    #: change so far is committed). None (unknown): a commit is taken to make durable only the
    #: units of actions handled before the one during which it was made, as a handler may commit
    #: part-way through a unit (a batch retried one action at a time) and leave the rest open
    uncommitted: int | None = None

    def batchable(self, action: Action) -> bool:
        """True when ``action`` may be applied in a batch with others of its method.

        The runner then gathers consecutive actions of one method (each the
        whole change of its object, none waiting on another) and hands them
        to :meth:`handle_batch`, up to :attr:`batch_actions` at a time; the
        ``dss_handle_action`` hook is not called for them. The default:
        never (every action goes through :meth:`handle`).
        """
        return False

    def handle_batch(self, actions: Sequence[Action]) -> list[Result]:
        """Apply ``actions`` (of one method) together; one :class:`Result` per action, in order.

        A destination that can write many rows at once (a multi-row insert,
        a SCIM Bulk request) overrides this. When the batch fails as a whole
        it must find the failing action and report it alone (retry one by
        one), never fail every action of the batch for one bad row. The
        default handles them one by one.
        """
        return [self.handle(action) for action in actions]

    #: True: the runner hands :meth:`handle_units` runs of whole units of one branch (an
    #: object's several changes as well as single actions, of any methods), up to
    #: :attr:`batch_actions` actions, instead of runs of one method to :meth:`handle_batch`
    batch_units: bool = False

    def handle_units(self, units: Sequence[Sequence[Action]]) -> list[list[Result]]:
        """Apply several units (each the changes of one object, or one action) together.

        Called instead of :meth:`handle_batch` when :attr:`batch_units` is
        True, for runs of units of one branch whose every action is
        :meth:`batchable` and none waits on another of the run. Returns one
        list of results per unit, one result per action, in order. Each unit
        keeps its own outcome, as if applied alone through
        :meth:`handle_unit`: when one of its actions fails, the unit fails
        whole (the rest not attempted, and where the destination can undo,
        what it did rolled back), and only that unit. The default applies the
        units one by one.
        """
        return [self.handle_unit(unit) if len(unit) > 1 else [self.guarded(unit[0])]
                for unit in units]

    def handle_unit(self, unit: Sequence[Action],
                    handle: Callable[[Action], Result] | None = None) -> list[Result]:
        """The changes of one object as one unit, inside :meth:`object_unit`; one result per action.

        Each action goes through ``handle`` (default :meth:`guarded`) in turn;
        after one fails, the rest are not attempted (skipped, saying which
        failed), and where the unit is atomic the ones already done are
        reported rolled back. An action ``handle`` reports skipped does not
        fail the unit.
        """
        attempt = handle or self.guarded
        results: list[Result] = []
        failure = ""
        with self.object_unit(unit) as state:
            for action in unit:
                if state.failed:
                    results.append(Result(action, Status.SKIPPED, f"not attempted: {failure}"))
                    continue
                result = attempt(action)
                results.append(result)
                if result.status in FAILED_STATUSES:
                    state.failed = True
                    failure = f"{action.method} of this object failed ({result.message})"
        if state.failed and state.atomic:
            results = [r if r.status in FAILED_STATUSES or r.status is Status.SKIPPED else
                       Result(r.action, Status.SKIPPED, f"rolled back: {failure}", r.handler)
                       for r in results]
        return results

    def guarded(self, action: Action) -> Result:
        """:meth:`handle`, an exception raised inside becoming the action's result (as the runner makes it)."""
        try:
            return self.handle(action)
        except Exception as exc:
            return exception_result(action, exc)

    def find_method(self, action: Action) -> tuple[str, Callable[[Action], Any]] | None:
        """The handler method for ``action`` by the dispatch order, or None."""
        for name in (*action.handler_names(), "default"):
            method = getattr(self, name, None)
            if method is not None and callable(method):
                return name, method
        return None

    def handle(self, action: Action) -> Result:
        """Dispatch ``action`` to its method and turn what it returns into a :class:`Result`."""
        found = self.find_method(action)
        if found is None:
            return Result(action, Status.NOT_IMPLEMENTED, f"no handler for {action.method}")
        name, method = found
        return as_result(action, method(action), name)


def exception_result(action: Action, exc: BaseException) -> Result:
    """The result of an action whose handler raised ``exc`` (call it inside the ``except``)."""
    return Result(action, Status.EXCEPTION, f"{type(exc).__name__}: {exc}",
                  details={"traceback": traceback.format_exc()})


def as_result(action: Action, value: Any, handler: str | None = None) -> Result:
    """Turn a handler's return value into a :class:`Result`."""
    if isinstance(value, Result):
        if value.handler is None:
            value.handler = handler
        return value
    if value is None or value is True:
        return Result(action, Status.SUCCESS, "", handler)
    if value is False:
        return Result(action, Status.FAILURE, "handler returned False", handler)
    if isinstance(value, Status):
        return Result(action, value, "", handler)
    return Result(action, Status.SUCCESS, str(value), handler)
