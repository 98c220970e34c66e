"""The runner: import, diff, apply, report, for one datastore.

Reporting goes through the reporting hooks only; nothing here prints.
"""

from __future__ import annotations

import datetime as dt
import os
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .actions import ERROR, FAILED_STATUSES, Result, Status
from .errors import ConfigurationError, DssError, GateError
from .gates import Allowances, check_limits, check_source, source_snapshots

if TYPE_CHECKING:
    import pluggy

    from .config import Config
    from .handlers import Handler
    from .state import SourceSnapshot, StateDir
    from .trees import Tree

PLAN, APPLY = "plan", "apply"


@dataclass
class Run:
    """One invocation of a sync: its identity, mode and options."""

    id: str
    mode: str  # "plan" or "apply"
    plugins: pluggy.PluginManager
    config: Config
    datastore: str = ""
    started: str = ""
    stop_on_failure: bool = False
    report_path: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    verbose: int = 0
    allow: Allowances = field(default_factory=Allowances)  # --accept, --allow-deletions
    state: StateDir | None = None  # where the last accepted source is kept; None: no source gates

    @classmethod
    def create(cls, mode: str, plugins: pluggy.PluginManager, config: Config, **kwargs: Any) -> Run:
        """A new run with a fresh id and the current time."""
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        return cls(uuid.uuid4().hex, mode, plugins, config, started=started,
                   options=dict(config.options), **kwargs)

    @property
    def dry_run(self) -> bool:
        return self.mode == PLAN


@dataclass
class Summary:
    """What a run did: counts per tree, branch, kind and status, plus what no handler implements."""

    counts: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    not_implemented: Counter[str] = field(default_factory=Counter)
    results: list[Result] = field(default_factory=list)
    imported: dict[tuple[str, str], int] = field(default_factory=dict)  # records read
    objects: dict[tuple[str, str], int] = field(default_factory=dict)  # objects kept
    stopped: bool = False
    error: str | None = None  # what stopped the run before it was done (exit code 2 or 3)
    error_code: int = 0
    gates: list[str] = field(default_factory=list)  # the guards that tripped, one line each
    sources: dict[str, SourceSnapshot] = field(default_factory=dict)  # tonight's source

    def add(self, result: Result) -> None:
        a = result.action
        self.counts[(a.tree, a.branch, a.kind, result.status.value)] += 1
        if result.status is Status.NOT_IMPLEMENTED:
            self.not_implemented[a.method] += 1
        self.results.append(result)

    @property
    def actions(self) -> list[Any]:
        """Every action of the run, in order."""
        return [r.action for r in self.results]

    @property
    def failed(self) -> int:
        """Actions whose handler failed or raised."""
        return sum(1 for r in self.results if r.status in FAILED_STATUSES)

    @property
    def errors(self) -> int:
        """Model error actions (err_no_attr, err_integrity)."""
        return sum(1 for r in self.results if r.action.kind == ERROR)

    def count(self, *, kind: str | None = None, status: str | None = None,
              branch: str | None = None) -> int:
        """Number of results matching the given kind, status and branch."""
        return sum(n for (_, b, k, s), n in self.counts.items()
                   if (kind is None or k == kind) and (status is None or s == status)
                   and (branch is None or b == branch))

    def by_branch(self) -> dict[str, dict[str, int]]:
        """Counts per ``tree.branch`` and kind."""
        table: dict[str, dict[str, int]] = {}
        for (tree, branch, kind, _), n in sorted(self.counts.items()):
            row = table.setdefault(f"{tree}.{branch}", {})
            row[kind] = row.get(kind, 0) + n
        return table

    @property
    def exit_code(self) -> int:
        """0 all done (or planned); 1 some actions failed; 2 bad configuration or input
        (a model error included); 3 stopped by a gate or limit."""
        if self.error_code:
            return self.error_code
        if self.gates:
            return 3
        if self.errors:
            return 2
        return 1 if (self.failed or self.stopped) else 0


def handle(run: Run, destination: Tree, handler: Any, action: Any) -> Result:
    """Hand one action to the ``dss_handle_action`` hook; exceptions become a result."""
    try:
        result = run.plugins.hook.dss_handle_action(
            action=action, destination=destination, handler=handler, run=run)
    except Exception as exc:
        return Result(action, Status.EXCEPTION, f"{type(exc).__name__}: {exc}",
                      details={"traceback": traceback.format_exc()})
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


def _verify(run: Run, dest: Tree) -> None:
    """Ask the destination's handler to check the destination before it is read.

    A mapping the destination cannot hold (a boolean retire value on a
    SMALLINT column) is then named as such, not as the error reading it gives.
    """
    if dest.handler is not None:
        dest.handler(dest, run).verify()


def _begin_handlers(run: Run, destinations: list[Tree]) -> list[Handler]:
    """Make and begin every destination's handler before any action is applied.

    A destination that cannot begin (its database is down) stops the run
    with nothing applied anywhere; the handlers already begun are ended.
    """
    from .handlers import Handler

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


def execute(run: Run, source: Tree, destinations: list[Tree], load: bool = True) -> Summary:
    """Import (when ``load``), gate, diff, limit, apply or plan, and report, for each destination.

    The report hooks hear the end of every run, one that stopped included:
    then ``summary.error`` says why (and ``summary.gates`` which guards
    tripped), and the error is raised again for the caller.
    """
    hook = run.plugins.hook
    summary = Summary()
    if run.report_path is not None:
        check_report_path(run.report_path)
    try:
        _execute(run, source, destinations, load, summary)
    except Exception as exc:
        summary.error = str(exc) if isinstance(exc, DssError) else f"{type(exc).__name__}: {exc}"
        summary.error_code = exc.exit_code if isinstance(exc, DssError) else 2
        if isinstance(exc, GateError):
            summary.gates = list(exc.trips)
        exc.dss_reported = True  # type: ignore[attr-defined]
        hook.dss_report_finish(run=run, summary=summary)
        raise
    hook.dss_report_finish(run=run, summary=summary)
    return summary


def _model_errors(actions: list[Any]) -> ConfigurationError:
    """One line: how many model errors, then each (``err_no_attr: ...``), ``; ``-separated."""
    shown = "; ".join(f"{a.method}: {a.error}" for a in actions)
    return ConfigurationError(
        f"{len(actions)} model error{'s' if len(actions) > 1 else ''} (the source and destination "
        f"models do not match; nothing was applied): {shown}")


def _execute(run: Run, source: Tree, destinations: list[Tree], load: bool,
             summary: Summary) -> None:
    hook = run.plugins.hook
    run.allow.check_names([source, *destinations])
    for dest in destinations:
        source.check_mirror(dest)
        for branch in dest.branch_order:
            dest.mode_of(branch)  # a bad mode setting fails before the import, not after it
    hook.dss_report_start(run=run)

    def import_tree(tree: Tree) -> None:
        def done(branch: str, count: int) -> None:
            summary.imported[(tree.name, branch)] = count
            summary.objects[(tree.name, branch)] = len(tree.branch(branch))
            hook.dss_import_done(run=run, tree=tree, branch=branch, count=count)
        tree.load(on_branch=done)

    if load:
        import_tree(source)
        if run.state is not None:  # the source gates: before any destination is read
            summary.sources = source_snapshots(source)
            trips = check_source(source, summary.sources, run.state.accepted_sources(), run.allow)
            if trips:
                raise GateError(trips)
        for dest in destinations:
            _verify(run, dest)
            import_tree(dest)
    # every diff is computed before any handler begins: data a derived property cannot
    # compute, in any branch of any destination, stops the run with nothing changed
    plans = [(dest, list(source.diff(dest))) for dest in destinations]
    model_errors = [a for _, actions in plans for a in actions if a.kind == ERROR]
    trips = [line for dest, actions in plans for line in check_limits(dest, actions, run.allow)]
    if run.dry_run:
        for _, actions in plans:
            for action in actions:
                result = Result(action, Status.PLANNED)
                summary.add(result)
                hook.dss_report_result(run=run, result=result)
    if model_errors:
        raise _model_errors(model_errors)
    if trips:
        raise GateError(trips)
    if run.dry_run:
        return
    handlers = _begin_handlers(run, destinations)
    stop = False
    for handler, (dest, actions) in zip(handlers, plans, strict=True):
        failed = True  # until every action went through: end() must not commit a broken run
        try:
            for action in actions:
                if stop:
                    result = Result(action, Status.SKIPPED, "the run stopped on an earlier failure")
                else:
                    result = handle(run, dest, handler, action)
                    if run.stop_on_failure and result.status in FAILED_STATUSES:
                        stop = True
                        summary.stopped = True
                summary.add(result)
                hook.dss_report_result(run=run, result=result)
            failed = stop
        finally:
            handler.end(failed)
    if run.state is not None and summary.sources:
        run.state.accept(summary.sources)
