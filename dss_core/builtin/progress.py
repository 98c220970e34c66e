"""The live progress display of the console reporter: one row per tree and branch, on stderr.

While importing, each branch shows the records read and the rate; while applying, each
destination branch shows the actions done of the total and the failures so far. The
reporting hooks only note numbers here (a few integer additions per event); rich's
:class:`~rich.live.Live` draws them from its own thread a few times a second, so a run of a
million actions pays next to nothing for it.

Without :func:`~dss_core.hookspecs.dss_import_progress` (a runner that does not call it) a
branch shows a spinner until its import is done; without
:func:`~dss_core.hookspecs.dss_apply_start` the actions done are counted without a total.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..actions import FAILED_STATUSES, Result

if TYPE_CHECKING:  # rich is imported when a display is drawn: `dss --help` stays fast
    from rich.console import Console, RenderableType
    from rich.spinner import Spinner

#: how often the display is drawn, per second (a drawing costs about 5 ms of the run's CPU)
REFRESH = 4


@dataclass
class Row:
    """One tree.branch being imported or applied: what the display shows of it."""

    name: str
    started: float
    count: int = 0  # records read, or actions done
    total: int | None = None  # actions to apply (None: not known)
    failed: int = 0
    finished: float | None = None
    latest: float | None = None  # the last action applied (a branch without a total)
    objects: int | None = None  # objects kept, once imported

    def rate(self, now: float) -> float | None:
        """Records (or actions) per second so far; None before there is anything to measure."""
        elapsed = (self.finished or self.latest or now) - self.started
        return self.count / elapsed if self.count and elapsed > 0.05 else None


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 action``, ``2 actions``, ``1,000 records`` (thousands separated)."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def seconds(elapsed: float) -> str:
    """A duration as people read it: ``0.04 s``, ``2.3 s``, ``1 min 05 s``, ``2 h 03 min``."""
    if elapsed < 10:
        return f"{elapsed:.2f} s"
    if elapsed < 60:
        return f"{elapsed:.1f} s"
    minutes, secs = divmod(round(elapsed), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _per_second(rate: float | None) -> str:
    return "" if rate is None else f"{rate:,.0f}/s"


class ProgressView:
    """What the live display shows; rich renders it (``__rich__``) from its refresh thread."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.imports: dict[str, Row] = {}
        self.applies: dict[str, Row] = {}
        self.applying = False
        self.last = clock()  # the last branch imported: where the next one started, at the latest
        self._spinners: dict[str, Spinner] = {}
        self._lock = threading.Lock()  # rows are added by the run, read by the refresh thread

    # -- what the hooks tell -------------------------------------------------------------
    def import_progress(self, tree: str, branch: str, count: int) -> None:
        """A branch is being imported and has read ``count`` records (0: it starts now)."""
        row = self._import_row(f"{tree}.{branch}")
        if count == 0:
            row.started = self.clock()
        row.count = count

    def import_done(self, tree: str, branch: str, count: int, objects: int,
                    later: Sequence[str] = ()) -> None:
        """A branch is imported; ``later``: the branches of its tree still to come."""
        row = self._import_row(f"{tree}.{branch}")
        row.count, row.objects, row.finished = count, objects, self.clock()
        self.last = row.finished
        if later:  # without dss_import_progress, the next branch is known to be next
            self._import_row(f"{tree}.{later[0]}")

    def apply_start(self, totals: dict[str, int]) -> None:
        """Applying starts, with the number of actions of each destination tree.branch."""
        now = self.clock()
        with self._lock:
            self.applying = True
            for name, total in totals.items():
                self.applies[name] = Row(name, now, total=total)

    def result(self, result: Result) -> None:
        """One applied action's result (held and planned results are not applied)."""
        action = result.action
        name = f"{action.tree}.{action.branch}"
        row = self.applies.get(name)
        if row is None:
            with self._lock:
                self.applying = True
                row = self.applies[name] = Row(name, self.clock())
        row.count += 1
        row.latest = self.clock()
        if result.status in FAILED_STATUSES:
            row.failed += 1

    def _import_row(self, name: str) -> Row:
        row = self.imports.get(name)
        if row is None:  # its start: now (dss_import_progress), else when the last one ended
            with self._lock:
                row = self.imports[name] = Row(name, self.last)
        return row

    # -- what rich draws -----------------------------------------------------------------
    def _spinner(self, name: str) -> Spinner:
        from rich.spinner import Spinner

        spinner = self._spinners.get(name)
        if spinner is None:
            spinner = self._spinners[name] = Spinner("dots", style="cyan")
        return spinner

    def __rich__(self) -> RenderableType:
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        now = self.clock()
        with self._lock:
            imports, applies = list(self.imports.values()), list(self.applies.values())
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=1)  # spinner or tick
        grid.add_column(no_wrap=True)  # import/apply tree.branch
        grid.add_column(justify="right", no_wrap=True)  # records read, actions done
        grid.add_column(no_wrap=True)  # objects kept, or the bar
        grid.add_column(no_wrap=True)  # failures so far
        grid.add_column(justify="right", no_wrap=True)  # rate, or the time it took
        for row in imports:
            if row.finished is None:
                what = plural(row.count, "record") if row.count else "importing"
                grid.add_row(self._spinner(row.name), f"import {row.name}", what, "", "",
                             _per_second(row.rate(now)))
            else:
                kept = "" if row.objects is None else plural(row.objects, "object")
                grid.add_row(Text("✓", style="green"), f"import {row.name}",
                             plural(row.count, "record"), kept, "",
                             seconds(row.finished - row.started))
        if imports and not self.applying and all(r.finished is not None for r in imports):
            grid.add_row(self._spinner(""), Text("working", style="dim"), "", "", "", "")
        for row in applies:
            done = row.total is not None and row.count >= row.total
            mark: RenderableType = Text("✓", style="green") if done else self._spinner(row.name)
            failed = Text(f"{row.failed:,} failed", style="red") if row.failed else ""
            if row.total is None:
                grid.add_row(mark, f"apply {row.name}", f"{row.count:,} done", "", failed,
                             _per_second(row.rate(now)))
            else:
                bar = ProgressBar(total=max(row.total, 1), completed=row.count, width=30)
                grid.add_row(mark, f"apply {row.name}", f"{row.count:,}/{row.total:,}", bar,
                             failed, _per_second(row.rate(now)))
        return grid


def stderr_is_terminal() -> bool:
    """Whether the live display can be drawn: stderr is a terminal that is not ``dumb``."""
    try:
        tty = os.isatty(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


def same_terminal() -> bool:
    """Whether stdout is the terminal stderr is (then stdout's lines are drawn above the display)."""
    try:
        out, err = sys.stdout.fileno(), sys.stderr.fileno()
        return os.isatty(out) and os.path.samestat(os.fstat(out), os.fstat(err))
    except (AttributeError, OSError, ValueError):
        return False


class LiveProgress:
    """The live display of one run on stderr (see the module's docstring).

    Lines written to stderr while it is drawn (notes, ``-v`` lines, a failure) appear above
    it; so do stdout's when stdout is the same terminal. It is transient: the summary
    replaces it when the run is over.
    """

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.view = ProgressView()
        self.console = console or Console(stderr=True, highlight=False)
        self.live = Live(self.view, console=self.console, refresh_per_second=REFRESH,
                         transient=True, redirect_stdout=same_terminal(), redirect_stderr=True)
        self.started = False
        self._handlers: list[tuple[logging.StreamHandler[Any], Any]] = []

    def start(self) -> None:
        """Start drawing; an interpreter that exits first (a second Ctrl-C) still stops it."""
        if not self.started:
            self.started = True
            atexit.register(self.stop)
            stderr = sys.stderr
            self.live.start(refresh=True)
            if sys.stderr is not stderr:  # rich drew stderr's lines above the display
                self._handlers = _redirect_log_handlers(stderr, sys.stderr)

    def stop(self) -> None:
        """Stop drawing and erase the display (the terminal's cursor is shown again)."""
        if self.started:
            self.started = False
            atexit.unregister(self.stop)
            for handler, stream in self._handlers:
                handler.setStream(stream)
            self._handlers = []
            self.live.stop()


def _redirect_log_handlers(old: Any, new: Any) -> list[tuple[logging.StreamHandler[Any], Any]]:
    """Point the logging handlers writing to ``old`` (stderr, taken when they were made) at
    ``new`` while the display is drawn, so that a log line appears above it, not through it;
    returns each handler changed with its stream, to put back."""
    loggers = [logging.getLogger(), *(logger for logger in logging.root.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    changed: list[tuple[logging.StreamHandler[Any], Any]] = []
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is old:
                changed.append((handler, handler.setStream(new)))
    return changed


def apply_totals(actions: Sequence[Any]) -> dict[str, int]:
    """The number of actions per destination ``tree.branch``, in the order they come."""
    totals: dict[str, int] = {}
    for action in actions:
        name = f"{action.tree}.{action.branch}"
        totals[name] = totals.get(name, 0) + 1
    return totals

