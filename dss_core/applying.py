"""Applying one destination's plan: whole units in batches, each result told to the reporters.

The runner (:mod:`dss_core.runner`) hands :func:`apply_plan` each
destination's actions once every diff is computed; here they are cut into
runs of whole units a handler can write together (:meth:`Handler.batch_units`),
single actions where it batches them (:meth:`Handler.handle_batch`), or one
object at a time, with the actions another branch's failure blocks skipped
(:class:`~dss_core.dependencies.Dependencies`).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

try:  # pluggy's own dispatch: listeners calls the implementations straight where it is in use
    from pluggy import _callers
    _MULTICALL: object = _callers._multicall
except (ImportError, AttributeError):  # pragma: no cover - another pluggy: results go through the hook
    _MULTICALL = None

from .actions import FAILED_STATUSES, Action, Result, Status, units
from .declaration import TreeDeclaration
from .dependencies import Dependencies
from .handlers import Handler, exception_result
from .runs import Run, Summary

log = logging.getLogger(__name__)

__all__ = ["apply_plan", "handle", "listeners"]


def handle(run: Run, destination: TreeDeclaration, handler: Any, action: Any) -> Result:
    """Hand one action to the ``dss_handle_action`` hook; exceptions become a result."""
    try:
        result = run.plugins.hook.dss_handle_action(
            action=action, destination=destination, handler=handler, run=run)
    except Exception as exc:
        return exception_result(action, exc)
    if result is None:
        return Result(action, Status.NOT_IMPLEMENTED, f"no handler for {action.method}")
    return result


def apply_plan(run: Run, source: TreeDeclaration, dest: TreeDeclaration, handler: Handler,
           actions: list[Action], summary: Summary) -> None:
    """Apply one destination's plan unit by unit (see :func:`~dss_core.dependencies.units`).

    An action whose object of another branch will not be there is skipped
    with the reason; the changes of one object go through the handler's
    :meth:`~dss_core.Handler.object_unit`: after a failure the rest of the
    object's changes are not attempted, and where the unit is atomic the
    ones already made are rolled back (reported as skipped, with the reason).
    """
    # the trees and the plan live until the run ends: frozen, no collection while applying walks
    # them (each full one took 0.1 s at 20,000 people); what applying makes is collected as usual
    freeze = gc.isenabled() and gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        _apply_plan(run, source, dest, handler, actions, summary)
    finally:
        if freeze:
            gc.unfreeze()


def _apply_plan(run: Run, source: TreeDeclaration, dest: TreeDeclaration, handler: Handler,
                actions: list[Action], summary: Summary) -> None:
    """:func:`apply_plan`, the work."""
    deps = Dependencies(source, dest, actions)
    tell = listeners(run)
    record, add, success = deps.record, summary.add, Status.SUCCESS

    def report(result: Result) -> None:
        if result.status is not success:  # a success never blocks another action
            record(result)
        add(result)
        tell(result)

    journal = run.journal
    commits = handler.commits  # None: every result is of a durable change (see Handler.commits)
    debug = log.isEnabledFor(logging.DEBUG)
    for unit in _batches(units(actions), handler, deps):
        if run.stop.requested and not summary.interrupted:
            summary.interrupted = run.stop.name
        if summary.stopped or summary.interrupted:
            why = (f"not attempted: the run was interrupted ({summary.interrupted})"
                   if summary.interrupted else "the run stopped on an earlier failure")
            for action in unit:
                report(Result(action, Status.SKIPPED, why))
            continue
        numbers = journal.intend(unit) if journal is not None else []
        if isinstance(unit, _Units):
            results = _apply_units(handler, unit)
        elif isinstance(unit, _Batch):
            results = _apply_batch(handler, unit)
        elif len(unit) == 1:
            blocked = deps.blocked(unit[0])
            results = [Result(unit[0], Status.SKIPPED, blocked) if blocked
                       else handle(run, dest, handler, unit[0])]
        else:
            results = _apply_object(run, dest, handler, unit, [deps.blocked(a) for a in unit])
        if journal is not None:
            if commits is None:
                journal.record(numbers, results)
            else:  # held until the handler's next commit makes them durable (or its end)
                committed = handler.commits != commits
                if committed:  # a commit during this unit covers every unit before it
                    commits = handler.commits
                    journal.release()
                journal.record(numbers, results, held=True)
                if committed and handler.uncommitted == 0:  # and this one's: nothing left open
                    journal.release()
        if isinstance(unit, _Units):
            log.info("%s: a batch of %d actions (%d units) applied", unit[0].branch, len(unit),
                     len(unit.units))
        elif isinstance(unit, _Batch):
            log.info("%s: a batch of %d applied", unit[0].method, len(unit))
        for result in results:
            if debug:  # the message is built only when it is logged
                log.debug("%s: %s %s", result.action.message, result.status.value, result.message)
            report(result)
        if run.stop_on_failure and any(r.status in FAILED_STATUSES for r in results):
            summary.stopped = True


def listeners(run: Run) -> Callable[[Result], None]:
    """Tell every implementation of ``dss_report_result`` one result, in pluggy's order.

    Called once per action (38,000 times in a first sync): where the
    implementations are plain functions (no wrapper, no keyword-only
    argument, no hook tracing), they are called straight, as pluggy would
    call them, without its dispatch per call; otherwise through the hook.
    The implementations are those registered when the destination starts applying.
    """
    pm = run.plugins
    caller = pm.hook.dss_report_result
    impls = caller.get_hookimpls()
    if (_MULTICALL is None or getattr(pm, "_inner_hookexec", None) is not _MULTICALL
            or any(i.hookwrapper or i.wrapper or i.kwargnames
                   or not set(i.argnames) <= {"run", "result"} for i in impls)):
        return lambda result: caller(run=run, result=result)
    calls: list[Callable[[Result], object]] = []
    for impl in reversed(impls):  # pluggy calls the last registered (and tryfirst) first
        function, names = impl.function, tuple(impl.argnames)
        if names == ("run", "result"):
            calls.append(partial(function, run))
        elif names == ("result",):
            calls.append(function)
        else:
            calls.append(partial(_call_with, function, names, run))
    if len(calls) == 1:
        return calls[0]  # type: ignore[return-value]

    def tell(result: Result) -> None:
        for call in calls:
            call(result)

    return tell


def _call_with(function: Callable[..., object], names: tuple[str, ...], run: Run,
               result: Result) -> object:
    return function(*[run if name == "run" else result for name in names])


class _Batch(list[Action]):
    """Actions of one method the handler applies together (:meth:`Handler.handle_batch`)."""


class _Units(list[Action]):
    """Whole units of one branch the handler applies together (:meth:`Handler.handle_units`):
    their actions in order, and :attr:`units` (where each unit starts and ends)."""

    def __init__(self) -> None:
        super().__init__()
        self.units: list[list[Action]] = []

    @property
    def branch(self) -> str:
        return self[0].branch

    def add(self, unit: list[Action]) -> None:
        self.units.append(unit)
        self.extend(unit)


def _batches(plan: Iterator[list[Action]], handler: Handler,
             deps: Dependencies) -> Iterator[list[Action]]:
    """The units of ``plan``, with runs of batchable single-action units of one method joined.

    An action another action of the plan is waiting for (``new_users`` before
    the members naming it) ends the batch it is in before the waiting one
    starts: a batch never holds an action whose dependency is in the same
    batch, since every action of a batch has one method. Whether an action
    is blocked is decided when the batch is made, after every earlier unit's
    results are recorded (the runner consumes this lazily).
    """
    size = handler.batch_actions
    if size <= 1:
        yield from plan
        return
    if handler.batch_units:
        yield from _unit_batches(plan, handler, deps, size)
        return
    batch = _Batch()
    for unit in plan:
        action = unit[0]
        # a branch naming objects of its own (nested groups) waits on its own kind: one at a time
        joins = len(unit) == 1 and action.branch not in deps.own and handler.batchable(action)
        if batch and (not joins or action.method != batch[0].method or len(batch) >= size):
            yield batch
            batch = _Batch()
        if not joins:
            yield unit
        elif deps.blocked(action):  # alone, in its place: the runner skips it with the reason
            if batch:
                yield batch
                batch = _Batch()
            yield unit
        else:
            batch.append(action)
    if batch:
        yield batch


def _unit_batches(plan: Iterator[list[Action]], handler: Handler, deps: Dependencies,
                  size: int) -> Iterator[list[Action]]:
    """The units of ``plan``, runs of batchable units of one branch joined (:meth:`Handler.handle_units`).

    A unit joins when every action of it is batchable and none is blocked;
    a batch holds units of one branch only, and at most ``size`` actions
    (a unit larger than that is a batch alone). Within a branch no action
    waits on another of the same branch (a branch naming objects of its own
    is never batched), so a batch never holds an action whose dependency is
    in it; whether a unit is blocked is decided once every earlier batch's
    results are recorded.
    """
    own, waiting = deps.own, deps.waiting
    batchable, blocked = handler.batchable, deps.blocked
    batch = _Units()
    for unit in plan:
        first = unit[0]
        branch = first.branch
        if branch in own:
            joins = False
        elif len(unit) == 1:
            joins = batchable(first)
        else:
            joins = all(batchable(a) for a in unit)
        if batch and (not joins or branch != batch[0].branch or len(batch) + len(unit) > size):
            yield batch
            batch = _Units()
        if not joins:
            yield unit
        elif branch in waiting and any(blocked(a) for a in unit):  # alone, in its place: skipped
            if batch:
                yield batch
                batch = _Units()
            yield unit
        else:
            batch.add(unit)
    if batch:
        yield batch


def _apply_units(handler: Handler, batch: _Units) -> list[Result]:
    """A run of units through :meth:`Handler.handle_units`; exceptions and missing results become results."""
    try:
        per_unit = handler.handle_units(batch.units)
    except Exception as exc:
        return [exception_result(a, exc) for a in batch]
    if len(per_unit) != len(batch.units) or any(
            len(results) != len(unit) or any(r.action is not a for r, a in zip(results, unit, strict=False))
            for results, unit in zip(per_unit, batch.units, strict=False)):
        return [Result(a, Status.EXCEPTION, f"{type(handler).__name__}.handle_units returned "
                       "results that are not one per action of each unit, in order")
                for a in batch]
    return [r for results in per_unit for r in results]


def _apply_batch(handler: Handler, batch: Sequence[Action]) -> list[Result]:
    """One batch through :meth:`Handler.handle_batch`; exceptions and missing results become results."""
    try:
        results = handler.handle_batch(batch)
    except Exception as exc:
        return [exception_result(a, exc) for a in batch]
    if len(results) != len(batch) or any(r.action is not a for r, a in zip(results, batch, strict=False)):
        return [Result(a, Status.EXCEPTION, f"{type(handler).__name__}.handle_batch returned "
                       f"{len(results)} results for {len(batch)} actions, not one per action in order")
                for a in batch]
    return results


def _apply_object(run: Run, dest: TreeDeclaration, handler: Handler, unit: list[Action],
                  blocked: list[str | None]) -> list[Result]:
    """The changes of one object, as one unit: all of them, or (where atomic) none
    (:meth:`Handler.handle_unit`, each action through the ``dss_handle_action`` hook)."""
    why = {id(a): w for a, w in zip(unit, blocked, strict=True) if w}

    def attempt(action: Action) -> Result:
        skipped = why.get(id(action))
        return Result(action, Status.SKIPPED, skipped) if skipped else handle(run, dest, handler, action)

    return handler.handle_unit(unit, attempt)
