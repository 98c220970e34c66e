"""A run and what it did: :class:`Run` (identity, mode, options) and :class:`Summary` (counts, results).

Both are plain data that the engine fills and the reporting hooks read.
"""

from __future__ import annotations

import datetime as dt
import signal
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .actions import ERROR, FAILED_STATUSES, Result, Status
from .config import Config
from .gates import Allowances
from .interrupts import StopRequest
from .journal import Journal
from .rejects import BadRecord
from .selection import Selection
from .state import SourceSnapshot, StateDir

if TYPE_CHECKING:
    import pluggy

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
    select: Selection = field(default_factory=Selection)  # --only, --limit, --id
    state: StateDir | None = None  # where the last accepted source is kept; None: no source gates
    journal: Journal | None = None  # where each action's intent and outcome go (dss run)
    stop: StopRequest = field(default_factory=StopRequest)  # Ctrl-C / SIGTERM while applying
    notes: list[str] = field(default_factory=list)  # said at the start (an earlier run killed)
    destinations: list[str] = field(default_factory=list)  # the trees it syncs to (set by the runner)

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
    interrupted: str = ""  # the signal that stopped the run while applying (SIGINT, SIGTERM)
    sources: dict[str, SourceSnapshot] = field(default_factory=dict)  # tonight's source
    quarantined: list[BadRecord] = field(default_factory=list)  # bad records set aside
    rejects_path: Path | None = None  # where they were written (the rejects file)
    left_out: int = 0  # actions of the plan --only, --limit or --id left for another run
    phases: dict[str, float] = field(default_factory=dict)  # seconds: import, diff, apply

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
    def held(self) -> int:
        """Actions held back because their object (or one they need) is quarantined."""
        return sum(1 for r in self.results if r.status is Status.HELD)

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
        """0 all done (or planned); 1 some actions failed, or records were quarantined (the
        run did its work, but not all of it); 2 bad configuration or input (a model error
        included); 3 stopped by a gate or limit; 130 / 143 stopped by Ctrl-C / SIGTERM
        (what was done is committed)."""
        if self.error_code:
            return self.error_code
        if self.interrupted:
            return 128 + int(getattr(signal.Signals, self.interrupted))
        if self.gates:
            return 3
        if self.errors:
            return 2
        return 1 if (self.failed or self.stopped or self.quarantined) else 0
