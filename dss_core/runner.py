"""The runner: import, gate, diff, limit, apply, report, for one datastore.

Reporting goes through the reporting hooks only; nothing here prints.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .actions import ERROR, Action, Result, Status
from .applying import apply_plan, handle, listeners
from .declaration import TreeDeclaration
from .diff import diff_in_workers
from .errors import ConfigurationError, DssError, GateError
from .gates import check_limits, check_source, source_snapshots
from .handlers import Handler
from .importers import raw_rows
from .loading import importer_for, load_tree
from .quarantine import Quarantine, check_quarantine, rejects_path, write_rejects
from .read_ahead import ReadAhead, reads_ahead
from .rejects import BadRecord
from .runs import APPLY, PLAN, Run, Summary

log = logging.getLogger(__name__)

__all__ = ["APPLY", "PLAN", "Run", "SavedPlan", "Summary", "check_report_path", "execute", "handle"]

#: ``dss apply``: each destination's actions, made once the destinations are imported.
SavedPlan = Callable[[], list[tuple[TreeDeclaration, list[Action]]]]


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
    ahead = (ReadAhead(destinations[0]) if load and saved is None and destinations
             and reads_ahead(destinations[0]) else None)
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
        tell, add, planned = listeners(run), summary.add, Status.PLANNED  # (26,533 in peers_csv at 1M)
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
            apply_plan(run, source, dest, handler, actions, summary)
            failed = summary.stopped  # an interrupted run commits what it did
        finally:
            handler.end(failed)
        if run.journal is not None:
            run.journal.release()  # end() committed: what the handler held back is durable
    summary.phases["apply"] = time.perf_counter() - started_apply
    if run.journal is not None:
        from .journal import DONE, INTERRUPTED

        run.journal.finish(INTERRUPTED if summary.interrupted else DONE, summary.exit_code)
    if summary.interrupted:
        return  # an interrupted run's source is not accepted: the next run checks it again
    if run.state is not None and summary.sources:
        run.state.accept(summary.sources)


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
