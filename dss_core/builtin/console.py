"""Builtin plugin: the console reporter.

In a terminal, a live display on stderr shows each tree and branch while it imports (records
read, rate) and while it is applied (actions done of the total, failures so far); it is off
when stderr is not a terminal and with ``--quiet`` (see :mod:`dss_core.builtin.progress`).

A dry run prints every action's message on stdout, one per line: the plan. A real run prints
each failure with where its object came from on stderr. At the end of both, a summary on
stdout: a table of branches x action kinds (with failures, skips and held actions when there
are any), the actions by outcome and the time each phase took; what went wrong (failures by
method, methods no handler implements, model errors, an interruption) is said on stderr.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..actions import ERROR, FAILED_STATUSES, KINDS, Action, Result, Status
from ..declaration import TreeDeclaration
from ..hookspecs import hookimpl
from ..redaction import redact
from ..runner import Run, Summary
from .progress import LiveProgress, apply_totals, plural, seconds, stderr_is_terminal

_LOUD = (Status.FAILURE, Status.EXCEPTION)


def _echo(text: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    print(redact(text), file=stream)


def _quiet(run: Run) -> bool:
    return bool(run.options.get("quiet"))


@dataclass
class Watch:
    """When each phase of one run began and ended, from the reporting hooks, and its display."""

    started: float
    imported: float | None = None  # the last branch imported
    compared: float | None = None  # the diff done: the first result, or applying started
    applying: float | None = None  # applying started (the first applied result without the hook)
    finished: float | None = None
    live: LiveProgress | None = None

    def phases(self) -> dict[str, float]:
        """Seconds per phase that took place: import, diff, apply."""
        end = self.finished if self.finished is not None else time.monotonic()
        times: dict[str, float] = {}
        if self.imported is not None:
            times["import"] = self.imported - self.started
        if self.compared is not None:
            times["diff"] = self.compared - (self.imported or self.started)
        elif self.imported is not None and self.applying is None:
            times["diff"] = end - self.imported  # a plan with nothing to do, or stopped by a guard
        if self.applying is not None:
            times["apply"] = end - self.applying
        return times


#: the runs being reported, by id (a process may run several, one after the other)
_WATCHES: dict[str, Watch] = {}


def _watch(run: Run) -> Watch | None:
    return _WATCHES.get(run.id)


@hookimpl(trylast=True)
def dss_report_start(run: Run) -> None:
    """Notes from earlier runs (one was killed), with ``-v`` which run starts, then (in a
    terminal) the live display; all on stderr."""
    for note in run.notes:
        _echo(f"dss: note: {note}", err=True)
    if run.verbose and not _quiet(run):
        _echo(f"dss {run.mode} {run.datastore}: run {run.id[:12]} started {run.started}", err=True)
    watch = _WATCHES[run.id] = Watch(time.monotonic())
    if not _quiet(run) and stderr_is_terminal():
        watch.live = LiveProgress()
        watch.live.start()


@hookimpl(trylast=True)
def dss_import_progress(run: Run, tree: TreeDeclaration, branch: str, count: int) -> None:
    """The live display's records read so far."""
    watch = _WATCHES.get(run.id)
    if watch is not None and watch.live is not None:
        watch.live.view.import_progress(tree.name, branch, count)


@hookimpl(trylast=True)
def dss_import_done(run: Run, tree: TreeDeclaration, branch: str, count: int) -> None:
    """With ``-v``: each branch as it is imported, records read and objects kept, on stderr."""
    objects = len(tree.branch(branch))
    watch = _watch(run)
    if watch is not None:
        watch.imported = time.monotonic()
        if watch.live is not None:
            order = list(tree.branch_order)
            later = order[order.index(branch) + 1:] if branch in order else []
            watch.live.view.import_done(tree.name, branch, count, objects, later)
    if run.verbose and not _quiet(run):
        _echo(f"imported {tree.name}.{branch}: {plural(count, 'record')}, "
              f"{plural(objects, 'object')}", err=True)


@hookimpl(trylast=True)
def dss_apply_start(run: Run, actions: list[Action]) -> None:
    """The diff is over; the live display learns how many actions each branch will apply."""
    watch = _watch(run)
    if watch is None:
        return
    now = time.monotonic()
    watch.compared = watch.compared or now
    watch.applying = now
    if watch.live is not None:
        watch.live.view.apply_start(apply_totals(actions))


def _timing(watch: Watch, result: Result) -> None:
    """The first result ends the diff; the first applied one starts applying (without the
    ``dss_apply_start`` hook)."""
    now = time.monotonic()
    if watch.compared is None:
        watch.compared = now
    if watch.applying is None and result.status not in (Status.PLANNED, Status.HELD):
        watch.applying = now


@hookimpl(trylast=True)
def dss_report_result(run: Run, result: Result) -> None:
    """The plan on stdout; failures (and their tracebacks with ``-v``) on stderr."""
    watch = _WATCHES.get(run.id)
    status = result.status
    if watch is not None:
        if watch.compared is None or (watch.applying is None and not run.dry_run):
            _timing(watch, result)
        live = watch.live
        if live is not None:
            if status is Status.PLANNED or (status is Status.HELD and run.dry_run):
                live.stop()  # the plan is listed: nothing is imported or applied any more
                watch.live = None
            elif status is not Status.HELD:
                live.view.result(result)
    action = result.action
    if status in _LOUD:  # said even with --quiet ("nothing but errors")
        origin = f" [{action.origin}]" if action.origin is not None else ""
        _echo(f"{status.value.upper()}: {_line(run, action)}{origin}: {result.message}", err=True)
        if run.verbose and result.details.get("traceback"):
            _echo(result.details["traceback"], err=True)
        return
    if _quiet(run):  # before the message is made: a quiet plan of a million rows makes none
        return
    message = _line(run, action)
    if status is Status.PLANNED:
        _echo(message)
    elif status is Status.HELD:
        _echo(f"{message}: {result.message}")
    elif run.verbose:
        _echo(f"{status.value}: {message}")


def _line(run: Run, action: Action) -> str:
    """The action's line: with two destinations or more it names the one it is for ("directory: new_users(...)")."""
    return f"{action.tree}: {action.message}" if len(run.destinations) > 1 else action.message


#: quarantined records named one by one in the summary; the rest are in the rejects file
SHOWN_REJECTS = 20
#: model errors named one by one in the summary; the rest are in the report
SHOWN_ERRORS = 10


def _quarantine_lines(summary: Summary) -> list[str]:
    """The quarantined records: how many, where the rejects file is, the first few."""
    records = summary.quarantined
    n = len(records)
    lines = [f"Quarantined {plural(n, 'bad record')}: "
             f"{plural(summary.held, 'action')} held back, the destination keeps what it "
             f"has for {'it' if n == 1 else 'them'}"
             + (f"; rows in {summary.rejects_path}" if summary.rejects_path else "")]
    lines += [f"  {r.where}: {r.message}" for r in records[:SHOWN_REJECTS]]
    if n > SHOWN_REJECTS:
        lines.append(f"  ... and {n - SHOWN_REJECTS} more (all of them are in the rejects file)")
    return lines


#: what each outcome is called in the summary, in the order it is listed
OUTCOMES = {
    Status.PLANNED: "planned", Status.SUCCESS: "done", Status.FAILURE: "failed",
    Status.EXCEPTION: "raised an exception", Status.SKIPPED: "skipped",
    Status.HELD: "held back", Status.DROPPED: "dropped by the handler",
    Status.NOT_IMPLEMENTED: "not implemented",
}
#: the table's outcome columns, shown only when a run has any: header -> statuses
COLUMNS = {"failed": FAILED_STATUSES, "skipped": {Status.SKIPPED}, "held": {Status.HELD},
           "dropped": {Status.DROPPED}, "not impl.": {Status.NOT_IMPLEMENTED}}


@dataclass
class Tally:
    """A run's results counted for the summary: model errors apart from actions."""

    kinds: dict[str, Counter[str]] = field(default_factory=dict)  # tree.branch -> kind -> n
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)  # tree.branch -> column -> n
    statuses: Counter[Status] = field(default_factory=Counter)  # actions (not model errors)
    failed: Counter[str] = field(default_factory=Counter)  # method -> failed actions
    not_implemented: Counter[str] = field(default_factory=Counter)  # method -> actions
    errors: list[Action] = field(default_factory=list)  # model errors (err_no_attr, ...)

    @classmethod
    def of(cls, results: list[Result]) -> Tally:
        tally = cls()
        columns = [(name, statuses) for name, statuses in COLUMNS.items()]
        for result in results:
            action, status = result.action, result.status
            branch = f"{action.tree}.{action.branch}"
            tally.kinds.setdefault(branch, Counter())[action.kind] += 1
            if action.kind == ERROR:
                tally.errors.append(action)
                continue
            tally.statuses[status] += 1
            for name, statuses in columns:
                if status in statuses:
                    tally.outcomes.setdefault(branch, Counter())[name] += 1
            if status in FAILED_STATUSES:
                tally.failed[action.method] += 1
            elif status is Status.NOT_IMPLEMENTED:
                tally.not_implemented[action.method] += 1
        return tally

    @property
    def actions(self) -> int:
        return sum(self.statuses.values())


def summary_table(title: str, tally: Tally) -> Any:
    """Branches down, action kinds across and their total, then model errors and the outcome
    columns (failed, skipped, held, dropped, not implemented), each only when a run has any."""
    from rich import box
    from rich.table import Table

    kinds = [k for k in KINDS if k != ERROR]
    shown = [c for c in COLUMNS if any(o.get(c) for o in tally.outcomes.values())]
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left",
                  show_footer=len(tally.kinds) > 1)
    totals = Counter[str]()
    for counts in tally.kinds.values():
        totals.update(counts)
    outcome_totals = Counter[str]()
    for counts in tally.outcomes.values():
        outcome_totals.update(counts)
    table.add_column("branch", footer="total")
    for kind in kinds:
        table.add_column(kind, justify="right", footer=_cell(totals[kind]))
    table.add_column("total", justify="right", footer=_cell(tally.actions))
    if tally.errors:
        table.add_column(ERROR, justify="right", footer=_cell(totals[ERROR]))
    for column in shown:
        table.add_column(column, justify="right", footer=_cell(outcome_totals[column]))
    for branch, counts in tally.kinds.items():  # as the actions come: in branch order
        outcomes = tally.outcomes.get(branch, Counter())
        errors = [_cell(counts[ERROR])] if tally.errors else []
        table.add_row(branch, *(_cell(counts[k]) for k in kinds),
                      _cell(sum(counts[k] for k in kinds)), *errors,
                      *(_cell(outcomes[c]) for c in shown))
    return table


def _cell(n: int) -> str:
    return f"{n:,}" if n else ""


def outcome_line(tally: Tally) -> str:
    """``449 actions: 440 done, 9 failed``, or that there is nothing to do; then model errors."""
    n = tally.actions
    said = ", ".join(f"{tally.statuses[s]:,} {word}" for s, word in OUTCOMES.items()
                     if tally.statuses[s])
    line = (f"{plural(n, 'action')}: {said}" if n else
            "Nothing to do: the destination matches the source." if not tally.errors else
            "No actions")
    if tally.errors:
        line += f"{'; ' if n else ', '}{plural(len(tally.errors), 'model error')}"
    return line


def time_line(phases: dict[str, float]) -> str:
    """``Time: import 0.21 s, diff 0.04 s, apply 0.63 s``."""
    return "Time: " + ", ".join(f"{name} {seconds(t)}" for name, t in phases.items())


def _methods(counts: Counter[str]) -> str:
    return ", ".join(f"{method} ({plural(n, 'action')})" for method, n in sorted(counts.items()))


def problem_lines(tally: Tally, summary: Summary) -> list[str]:
    """What went wrong, each called what it is: failures, methods no handler implements,
    model errors, an interruption or --fail-fast. Said on stderr."""
    lines: list[str] = []
    if tally.failed:
        lines.append(f"Failed: {_methods(tally.failed)}")
    if tally.not_implemented:
        lines.append(f"Not implemented (no handler method, so not applied): "
                     f"{_methods(tally.not_implemented)}")
    if tally.errors:
        lines.append(f"{plural(len(tally.errors), 'model error')}: the source and destination "
                     "models do not match, so nothing can be applied until they do:")
        grouped: dict[tuple[str, str, str], list[Action]] = {}
        for a in tally.errors:
            grouped.setdefault((a.method, f"{a.tree}.{a.branch}", a.attribute or ""), []).append(a)
        for (method, branch, attribute), actions in list(grouped.items())[:SHOWN_ERRORS]:
            first = actions[0]
            if first.idnumber is None:  # the models differ: the message names no data
                lines.append(f"  {method}: {first.error}")
            else:  # values of objects differ in type: the report has each one
                lines.append(f"  {method}: {branch} {attribute!r} of "
                             f"{plural(len(actions), 'object')} is not of one type on both sides")
        if len(grouped) > SHOWN_ERRORS:
            lines.append(f"  ... and {len(grouped) - SHOWN_ERRORS} more (all of them are in "
                         "the report)")
    if summary.interrupted:
        lines.append(f"Interrupted by {summary.interrupted}: what was done is committed; the "
                     "rest was not attempted (run again to finish).")
    elif summary.stopped:
        lines.append("Stopped at the first failure (--fail-fast); later actions were skipped.")
    return lines


@hookimpl(trylast=True)
def dss_report_finish(run: Run, summary: Summary) -> None:
    """The live display ends; the summary on stdout, what went wrong on stderr."""
    watch = _WATCHES.pop(run.id, None)
    if watch is not None:
        watch.finished = time.monotonic()
        if watch.live is not None:
            watch.live.stop()
    if summary.quarantined and not _quiet(run):
        for line in _quarantine_lines(summary):
            _echo(line, err=True)
    if _quiet(run) or (summary.error and not summary.results):
        return  # a run that stopped before any action: the command prints why
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=True)
    tally = Tally.of(summary.results)
    if tally.kinds:
        out.print(summary_table(f"{'plan' if run.dry_run else 'run'} {run.datastore}".strip(),
                                tally))
    if summary.left_out and not tally.actions:
        out.print("Nothing to do in the part asked for.", markup=False)
    else:
        out.print(outcome_line(tally), markup=False)
    if summary.left_out:  # --only, --limit, --id: the rest waits for a run without them
        out.print(f"{plural(summary.left_out, 'action')} left out ({', '.join(run.select.given)}); "
                  "a run without them applies the rest.", markup=False)
    if watch is not None:
        out.print(time_line(watch.phases()), markup=False)
    for line in problem_lines(tally, summary):
        _echo(line, err=True)
