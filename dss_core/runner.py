"""The runner: import, gate, diff, limit, apply, report, for one datastore.

Reporting goes through the reporting hooks only; nothing here prints.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

try:  # pluggy's own dispatch: _listeners calls the implementations straight where it is in use
    from pluggy import _callers
    _MULTICALL: object = _callers._multicall
except (ImportError, AttributeError):  # pragma: no cover - another pluggy: results go through the hook
    _MULTICALL = None

from .actions import ERROR, FAILED_STATUSES, Action, Result, Status, units
from .declaration import TreeDeclaration
from .dependencies import Dependencies
from .diff import diff_in_workers
from .errors import ConfigurationError, DssError, GateError
from .gates import check_limits, check_source, source_snapshots
from .handlers import Handler, exception_result
from .importers import raw_rows
from .interrupts import Interrupted
from .loading import importer_class, importer_for, load_tree
from .quarantine import Quarantine, check_quarantine, rejects_path, write_rejects
from .rejects import BadRecord
from .runs import APPLY, PLAN, Run, Summary

log = logging.getLogger(__name__)

__all__ = ["APPLY", "PLAN", "Run", "SavedPlan", "Summary", "check_report_path", "execute", "handle"]

#: ``dss apply``: each destination's actions, made once the destinations are imported.
SavedPlan = Callable[[], list[tuple[TreeDeclaration, list[Action]]]]


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


def check_report_path(path: Path) -> None:
    """Raise :class:`ConfigurationError` unless a report can be written to ``path``.

    Checked before anything is imported or applied: a run must not change the
    destination and only then find it cannot say what it did.
    """
    folder = path.parent
    if path.is_dir():
        problem = "it is a directory"
    elif not folder.is_dir():
        problem = f"folder {os.fspath(folder)!r} does not exist"
    elif not os.access(path if path.exists() else folder, os.W_OK):
        problem = "permission denied"
    else:
        return
    raise ConfigurationError(f"cannot write the report to {os.fspath(path)}: {problem}")


def _verify(run: Run, dest: TreeDeclaration) -> None:
    """Ask the destination's handler to check the destination before it is read.

    A mapping the destination cannot hold (a boolean retire value on a
    SMALLINT column) is then named as such, not as the error reading it gives.
    """
    if dest.handler is not None:
        dest.handler(dest, run).verify()


def _begin_handlers(run: Run, destinations: Sequence[TreeDeclaration]) -> list[Handler]:
    """Make and begin every destination's handler before any action is applied.

    A destination that cannot begin (its database is down) stops the run
    with nothing applied anywhere; the handlers already begun are ended.
    """
    begun: list[Handler] = []
    try:
        for dest in destinations:
            handler = (dest.handler or Handler)(dest, run)
            handler.begin()
            begun.append(handler)
    except BaseException:
        for handler in begun:
            handler.end(True)
        raise
    return begun


def execute(run: Run, source: TreeDeclaration, destinations: Sequence[TreeDeclaration], load: bool = True,
            saved: SavedPlan | None = None) -> Summary:
    """Import (when ``load``), gate, diff, limit, apply or plan, and report, for each destination.

    ``saved`` (``dss apply``) gives the actions instead of the diff, once the
    destinations are imported (it may refuse them, raising); the source is
    then neither imported nor gated.

    The report hooks hear the end of every run, one that stopped included:
    then ``summary.error`` says why (and ``summary.gates`` which guards
    tripped), and the error is raised again for the caller.
    """
    hook = run.plugins.hook
    summary = Summary()
    if run.report_path is not None:
        check_report_path(run.report_path)
    log.info("%s %s: run %s, source %s, destinations %s", run.mode, run.datastore or "-", run.id,
             source.name, ", ".join(d.name for d in destinations))
    try:
        with run.stop.catching():
            _execute(run, source, destinations, load, summary, saved)
    except Exception as exc:
        log.info("run %s stopped: %s (exit %s)", run.id, type(exc).__name__,
                 exc.exit_code if isinstance(exc, DssError) else 2)
        summary.error = str(exc) if isinstance(exc, DssError) else f"{type(exc).__name__}: {exc}"
        summary.error_code = exc.exit_code if isinstance(exc, DssError) else 2
        if isinstance(exc, GateError):
            summary.gates = list(exc.trips)
        exc.dss_reported = True  # type: ignore[attr-defined]
        _write_rejects(run, summary)
        hook.dss_report_finish(run=run, summary=summary)
        raise
    _write_rejects(run, summary)
    log.info("run %s done: %d actions, %d failed, %d held back, %d left out; exit %d", run.id,
             len(summary.results), summary.failed, summary.held, summary.left_out,
             summary.exit_code)
    hook.dss_report_finish(run=run, summary=summary)
    return summary


def _write_rejects(run: Run, summary: Summary) -> None:
    """Write the quarantined records to the rejects file (beside the report, else in the state
    folder); a stale rejects file of an earlier run there is removed."""
    path = rejects_path(run.report_path, run.state.folder if run.state is not None else None,
                        run.datastore)
    if path is None:
        return
    if summary.quarantined:
        write_rejects(path, summary.quarantined)
        summary.rejects_path = path
    elif path.is_file():
        path.unlink()


def _model_errors(actions: list[Any]) -> ConfigurationError:
    """One line: how many model errors, then each (``err_no_attr: ...``), ``; ``-separated."""
    shown = "; ".join(f"{a.method}: {a.error}" for a in actions)
    return ConfigurationError(
        f"{len(actions)} model error{'s' if len(actions) > 1 else ''} (the source and destination "
        f"models do not match; nothing was applied): {shown}")


def _execute(run: Run, source: TreeDeclaration, destinations: Sequence[TreeDeclaration], load: bool,
             summary: Summary, saved: SavedPlan | None = None) -> None:
    hook = run.plugins.hook
    run.destinations = [d.name for d in destinations]
    run.allow.check_names([source, *destinations])
    run.select.check_names(source, destinations)
    for dest in destinations:
        source.check_mirror(dest)
        for branch in dest.branch_order:
            dest.mode_of(branch)  # a bad mode setting fails before the import, not after it
    if run.journal is not None:  # runs the journal saw start and never end: said first
        run.notes.extend(str(i) for i in run.journal.interruptions(run.datastore))
    hook.dss_report_start(run=run)

    def import_tree(tree: TreeDeclaration) -> None:
        started = time.perf_counter()
        try:
            _import_tree(tree)
        finally:
            summary.phases["import"] = (summary.phases.get("import", 0.0)
                                        + time.perf_counter() - started)

    def _import_tree(tree: TreeDeclaration) -> None:
        def done(branch: str, count: int) -> None:
            summary.imported[(tree.name, branch)] = count
            summary.objects[(tree.name, branch)] = len(tree.branch(branch))
            log.info("imported %s.%s: %d records, %d objects, %d bad", tree.name, branch, count,
                     len(tree.branch(branch)), len(tree.branch(branch).rejects))
            hook.dss_import_done(run=run, tree=tree, branch=branch, count=count)
        def progress(branch: str, count: int) -> None:
            hook.dss_import_progress(run=run, tree=tree, branch=branch, count=count)

        if ahead is not None and tree is ahead.tree:
            ahead.join(done, progress)
        else:
            load_tree(tree, on_branch=done, on_progress=progress)

    quarantine = Quarantine()
    summary.quarantined = quarantine.records
    # a destination read only from local files is read while the source is (in a thread);
    # what it read is used, its hooks heard and its error raised only where it is imported
    ahead = (_ReadAhead(destinations[0]) if load and saved is None and destinations
             and _reads_ahead(destinations[0]) else None)
    try:
        if saved is None:  # the source gates: before any destination is used
            if load:
                import_tree(source)
            _quarantine_imported(source, quarantine)
            trips = check_quarantine(source, quarantine, summary.imported, run.allow)
            if load and run.state is not None:
                summary.sources = source_snapshots(source)
                trips += check_source(source, summary.sources, run.state.accepted_sources(), run.allow)
            if trips:
                raise GateError(trips)
        for dest in destinations:
            if load:
                if ahead is not None and dest is ahead.tree:  # the handler's check reads a whole tree
                    summary.phases["import"] = summary.phases.get("import", 0.0) + ahead.wait()
                _verify(run, dest)
                import_tree(dest)
            _quarantine_imported(dest, quarantine)
    finally:
        if ahead is not None:
            ahead.finish()
    # every diff is computed before any handler begins: data a derived property cannot
    # compute, in any branch of any destination, stops the run with nothing changed
    # (or, where the branch quarantines, holds back that object)
    started_diff = time.perf_counter()
    before = len(quarantine)
    plans = (saved() if saved is not None else
             list(zip(destinations, diff_in_workers(source, destinations, quarantine,
                                                    int(run.options.get("workers") or 1)), strict=True)))
    if len(quarantine) > before:
        _raw_rows_of(quarantine.records[before:], [source, *destinations])
        trips = [line for tree in (source, *destinations)
                 for line in check_quarantine(tree, quarantine, summary.imported, run.allow)]
        if trips:
            raise GateError(trips)
    quarantine.note_order(source.branch_order)
    held = [(action, why) for dest, actions in plans for action, why in quarantine.split(actions)[1]]
    plans = [(dest, quarantine.split(actions)[0]) for dest, actions in plans]
    for action, why in held:
        result = Result(action, Status.HELD, why)
        summary.add(result)
        hook.dss_report_result(run=run, result=result)
    plans, summary.left_out = run.select.pick(plans)  # --only, --limit, --id
    for dest, actions in plans:
        log.info("plan for %s: %d actions", dest.name, len(actions))
    if quarantine:
        log.info("quarantined %d bad records; %d actions held back", len(quarantine), len(held))
    model_errors = [a for _, actions in plans for a in actions if a.kind == ERROR]
    trips = [line for dest, actions in plans for line in check_limits(dest, actions, run.allow)]
    if run.dry_run:
        debug = log.isEnabledFor(logging.DEBUG)
        tell, add, planned = _listeners(run), summary.add, Status.PLANNED  # (26,533 in peers_csv at 1M)
        for _, actions in plans:
            for action in actions:
                if debug:
                    log.debug("%s: planned", action.message)
                result = Result(action, planned)
                add(result)
                tell(result)
    if model_errors:
        raise _model_errors(model_errors)
    if trips:
        raise GateError(trips)
    summary.phases["diff"] = time.perf_counter() - started_diff
    if run.dry_run:
        return
    hook.dss_apply_start(run=run, actions=[a for _, actions in plans for a in actions])
    started_apply = time.perf_counter()
    handlers = _begin_handlers(run, destinations)
    if run.journal is not None:
        run.journal.start(run.id, run.datastore, run.mode, run.started,
                          sum(len(actions) for _, actions in plans))
    run.stop.applying = True  # from here a signal stops the run after the current object
    for handler, (dest, actions) in zip(handlers, plans, strict=True):
        failed = True  # until every action went through: end() must not commit a broken run
        try:
            _apply(run, source, dest, handler, actions, summary)
            failed = summary.stopped  # an interrupted run commits what it did
        finally:
            handler.end(failed)
    summary.phases["apply"] = time.perf_counter() - started_apply
    if run.journal is not None:
        from .journal import DONE, INTERRUPTED

        run.journal.finish(INTERRUPTED if summary.interrupted else DONE, summary.exit_code)
    if summary.interrupted:
        return  # an interrupted run's source is not accepted: the next run checks it again
    if run.state is not None and summary.sources:
        run.state.accept(summary.sources)


def _reads_ahead(tree: TreeDeclaration) -> bool:
    """True when every branch of ``tree`` is read by an importer that reads only local files
    (``read_ahead``) or branches of its own tree (``derived``), one of them the former."""
    try:
        classes = [importer_class(tree, branch) for branch in tree.branch_order]
    except Exception:  # said when the tree is imported, in its turn
        return False
    return (any(c.read_ahead is True for c in classes)
            and all(c.read_ahead is True or c.derived is True for c in classes))


class _ReadAhead:
    """A destination tree read in a thread while the source is imported.

    Only a tree :func:`_reads_ahead` allows is read so: reading local files
    early changes nothing anyone sees, and polars releases the GIL while it
    parses, so the two sides are read on two cores. What the thread did is
    heard in the main thread when the tree's turn comes (:meth:`join`): its
    log lines and its hooks in the order they came, then its error, raised
    there. So a run's messages, their order and its first error are what
    they are when the tree is read in its turn; when the run stops before
    (a source gate), nothing of it is heard.
    """

    def __init__(self, tree: TreeDeclaration) -> None:
        self.tree = tree
        self.heard: list[logging.LogRecord | tuple[bool, str, int]] = []  # (done?, branch, count)
        self.error: BaseException | None = None
        self._name = f"dss-read-ahead-{tree.name}-{id(self):x}"
        self._handlers = _log_handlers()
        for handler in self._handlers:
            handler.addFilter(self._hold)
        self._thread = threading.Thread(target=self._read, name=self._name, daemon=True)
        self._thread.start()

    def _hold(self, record: logging.LogRecord) -> bool:
        """A handler's filter: the thread's log records are kept for later, not emitted."""
        if record.threadName != self._name:
            return True
        if not self.heard or self.heard[-1] is not record:  # once, whichever handler sees it first
            self.heard.append(record)
        return False

    def _read(self) -> None:
        try:
            load_tree(self.tree, on_branch=lambda branch, count: self.heard.append((True, branch, count)),
                      on_progress=lambda branch, count: self.heard.append((False, branch, count)))
        except BaseException as exc:  # raised in the main thread, in the tree's turn
            self.error = exc

    def wait(self) -> float:
        """Wait for the thread to finish; the seconds waited."""
        started = time.perf_counter()
        self._thread.join()
        return time.perf_counter() - started

    def join(self, done: Callable[[str, int], None], progress: Callable[[str, int], None]) -> None:
        """What the thread did, as :func:`~dss_core.loading.load_tree` would have done it here."""
        self.wait()
        self._unhook()
        for item in self.heard:
            if isinstance(item, logging.LogRecord):
                logging.getLogger(item.name).handle(item)
            else:
                (done if item[0] else progress)(item[1], item[2])
        self.heard = []
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        """The run goes on or stops: the thread is waited for (not after a signal); what it did
        and was not heard is dropped."""
        stopping = sys.exc_info()[1]
        if not isinstance(stopping, (Interrupted, KeyboardInterrupt)):
            self._thread.join()
            self._unhook()
        self.heard = []

    def _unhook(self) -> None:
        for handler in self._handlers:
            handler.removeFilter(self._hold)
        self._handlers = []


def _log_handlers() -> list[logging.Handler]:
    """Every handler of the root logger and of the loggers that have their own."""
    loggers = [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger) and logger.handlers)]
    return list({id(h): h for logger in loggers for h in logger.handlers}.values())


def _quarantine_imported(tree: TreeDeclaration, quarantine: Quarantine) -> None:
    """Collect the records the import of ``tree`` set aside (branches with on_bad_record)."""
    for branch in tree.branch_order:
        quarantine.add_all(tree.branch(branch).rejects)


def _raw_rows_of(records: Sequence[BadRecord], trees: Sequence[TreeDeclaration]) -> None:
    """The raw rows of records quarantined after the import (a derived property failing)."""
    by_tree = {tree.name: tree for tree in trees}
    groups: dict[tuple[str, str], list[BadRecord]] = {}
    for record in records:
        groups.setdefault((record.tree, record.branch), []).append(record)
    for (tree_name, branch), group in groups.items():
        tree = by_tree.get(tree_name)
        if tree is None or tree.branches[branch].importer is None:
            continue
        try:
            raw_rows(importer_for(tree, branch), group)
        except DssError:
            continue  # the raw row is a help, not a need: the record is in the rejects file anyway


def _apply(run: Run, source: TreeDeclaration, dest: TreeDeclaration, handler: Handler,
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
    """:func:`_apply`, the work."""
    deps = Dependencies(source, dest, actions)
    tell = _listeners(run)
    record, add, success = deps.record, summary.add, Status.SUCCESS

    def report(result: Result) -> None:
        if result.status is not success:  # a success never blocks another action
            record(result)
        add(result)
        tell(result)

    journal = run.journal
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
            journal.record(numbers, results)
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


def _listeners(run: Run) -> Callable[[Result], None]:
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
