"""Builtin plugin: the console reporter.

A dry run prints every action's message, one per line. A real run prints
each failure with where its object came from, then a summary table of
branches x action kinds and the action methods no handler implements.
"""

from __future__ import annotations

import sys

from ..actions import KINDS, Result, Status
from ..declaration import TreeDeclaration
from ..hookspecs import hookimpl
from ..redaction import redact
from ..runner import Run, Summary

_LOUD = (Status.FAILURE, Status.EXCEPTION)


def _echo(text: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    print(redact(text), file=stream)


def _quiet(run: Run) -> bool:
    return bool(run.options.get("quiet"))


@hookimpl(trylast=True)
def dss_report_start(run: Run) -> None:
    """Notes from earlier runs (one was killed), then with ``-v`` which run starts, on stderr."""
    for note in run.notes:
        _echo(f"dss: note: {note}", err=True)
    if run.verbose and not _quiet(run):
        _echo(f"dss {run.mode} {run.datastore}: run {run.id[:12]} started {run.started}", err=True)


@hookimpl(trylast=True)
def dss_import_done(run: Run, tree: TreeDeclaration, branch: str, count: int) -> None:
    """With ``-v``: each branch as it is imported, records read and objects kept, on stderr."""
    if run.verbose and not _quiet(run):
        objects = len(tree.branch(branch))
        _echo(f"imported {tree.name}.{branch}: {count:,} record{'' if count == 1 else 's'}, "
              f"{objects:,} object{'' if objects == 1 else 's'}", err=True)


@hookimpl(trylast=True)
def dss_report_result(run: Run, result: Result) -> None:
    if _quiet(run):
        return
    action = result.action
    if result.status is Status.PLANNED:
        _echo(action.message)
    elif result.status is Status.HELD:
        _echo(f"{action.message}: {result.message}")
    elif result.status in _LOUD:
        origin = f" [{action.origin}]" if action.origin is not None else ""
        _echo(f"{result.status.value.upper()}: {action.message}{origin}: {result.message}")
        if run.verbose and result.details.get("traceback"):
            _echo(result.details["traceback"])
    elif run.verbose:
        _echo(f"{result.status.value}: {action.message}")


#: quarantined records named one by one in the summary; the rest are in the rejects file
SHOWN_REJECTS = 20


def _quarantine_lines(summary: Summary) -> list[str]:
    """The quarantined records: how many, where the rejects file is, the first few."""
    records = summary.quarantined
    n = len(records)
    held = summary.held
    lines = [f"Quarantined {n} bad record{'' if n == 1 else 's'}: "
             f"{held} action{'' if held == 1 else 's'} held back, the destination keeps what it "
             f"has for {'it' if n == 1 else 'them'}"
             + (f"; rows in {summary.rejects_path}" if summary.rejects_path else "")]
    lines += [f"  {r.where}: {r.message}" for r in records[:SHOWN_REJECTS]]
    if n > SHOWN_REJECTS:
        lines.append(f"  ... and {n - SHOWN_REJECTS} more (all of them are in the rejects file)")
    return lines


@hookimpl(trylast=True)
def dss_report_finish(run: Run, summary: Summary) -> None:
    if summary.quarantined and not _quiet(run):
        for line in _quarantine_lines(summary):
            _echo(line, err=True)
    if _quiet(run) or (summary.error and not summary.results):
        return  # a run that stopped before any action: the command prints why
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    from rich import box

    table = Table(box=box.SIMPLE_HEAD, title=f"{'plan' if run.dry_run else 'run'} {run.datastore}".strip(),
                  title_justify="left")
    table.add_column("branch")
    for kind in KINDS:
        table.add_column(kind, justify="right")
    rows = summary.by_branch()
    for branch, counts in rows.items():
        table.add_row(branch, *(str(counts.get(k, 0) or "") for k in KINDS))
    total = len(summary.results)
    if rows:
        console.print(table)
    statuses: dict[str, int] = {}
    for (_, _, _, status), n in summary.counts.items():
        statuses[status] = statuses.get(status, 0) + n
    done = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(statuses.items()))
    if total == 0:
        console.print("Nothing to do: the destination matches the source.")
    else:
        console.print(f"{total} actions: {done}")
    if summary.not_implemented:
        names = ", ".join(f"{m} ({n})" for m, n in sorted(summary.not_implemented.items()))
        console.print(f"Not implemented by any handler: {names}")
    if summary.interrupted:
        console.print(f"Interrupted by {summary.interrupted}: what was done is committed; the "
                      "rest was not attempted (run again to finish).")
    elif summary.stopped:
        console.print("Stopped at the first failure (--fail-fast); later actions were skipped.")
