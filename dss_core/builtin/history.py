"""Builtin plugin: the history of a datastore's runs, and ``dss history``.

Every run that reaches the report (``dss run``, ``dss plan``, ``dss apply``,
``dss undo``; a run stopped by a gate, a model error or a signal included)
leaves its JSON report, the same data as ``--report`` writes
(:func:`~dss_core.builtin.json_report.report_data`), in the datastore's state
folder::

    <state_dir>/<datastore>.history/20250514T020731.104213Z-apply-<run id>.json

(named by the time the run ended, to the microsecond: sorted by name is sorted by time),

in files 0600 in a folder 0700 (they hold personal data). The top-level setting
``history`` (``DSS_HISTORY``; default 60) says how many are kept: the newest
60 runs that applied (``apply``) and, counted apart, the newest 60 plans
(``plan``), so an afternoon of ``dss plan`` by hand never pushes last month's
nights out. ``history = 0`` keeps none (and removes what is there at the next
run). A run stopped before it reached the runner (a typo in ``dss.toml``)
has no report to keep.

``dss history [DATASTORE]`` lists the kept runs, oldest first: when, mode,
actions per kind, failed, held back, exit code and why it stopped;
``--json`` gives the same as JSON. The HTML report (``--html``) draws the
trend of actions per run and kind from it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from ..actions import KINDS
from ..config import Config
from ..errors import ConfigurationError, DssError
from ..hookspecs import hookimpl
from ..private_files import private_folder, write_private
from ..redaction import redact
from ..runner import PLAN, Run, Summary
from ..state import state_folder
from .json_report import report_of

SETTING = "history"
ENVIRONMENT = "DSS_HISTORY"
DEFAULT_KEEP = 60
MODES = ("apply", PLAN)
#: characters per line of ``dss history`` written into a file or a pipe
WIDE = 200

#: ``20250514T020731.104213Z-apply-<run id>.json``: sorted by name is sorted by when it ended
_NAME = re.compile(
    r"^(?P<stamp>\d{8}T\d{6}(\.\d{6})?Z)-(?P<mode>[a-z]+)-(?P<id>[0-9a-zA-Z]+)\.json$")


def keep_count(config: Config) -> int:
    """How many runs of each mode to keep: ``history`` (or ``DSS_HISTORY``), default 60."""
    raw = config.environ.get(ENVIRONMENT)
    where = f"environment variable {ENVIRONMENT}"
    if raw is None:
        raw = config.data.get(SETTING, DEFAULT_KEEP)
        where = f"{config.path.name if config.path else 'configuration'}: {SETTING}"
    try:
        value = int(raw) if isinstance(raw, str) else raw
    except ValueError:
        value = None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigurationError(f"{where}: {raw!r} is not a number of runs to keep "
                                 "(a whole number, 0 keeps none)")
    return value


def stamp(when: dt.datetime | None = None) -> str:
    """``when`` (default now) as ``20250514T020731.104213Z`` (UTC), for a file name."""
    when = when or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")


@dataclass
class RunEntry:
    """One kept run, as ``dss history`` shows it."""

    started: str
    mode: str
    id: str
    exit_code: int | None
    kinds: dict[str, int] = field(default_factory=dict)  # actions per kind, every status
    actions: int = 0
    failed: int = 0
    held: int = 0
    quarantined: int = 0
    seconds: float | None = None  # from start to finish
    why: str = ""  # what stopped it (the error's first line), or "interrupted by SIGTERM"
    finished: str = ""
    file: str = ""

    @classmethod
    def of(cls, data: Mapping[str, Any], file: str = "") -> RunEntry:
        """The entry of one report (as written by ``--report`` or kept here)."""
        run = data.get("run") or {}
        kinds: dict[str, int] = {}
        for per_kind in (data.get("counts") or {}).values():
            for kind, statuses in per_kind.items():
                kinds[kind] = kinds.get(kind, 0) + sum(statuses.values())
        totals = data.get("totals") or {}
        why = ""
        if data.get("interrupted"):
            why = f"interrupted by {data['interrupted']}"
        elif data.get("error"):
            why = str(data["error"]).splitlines()[0]
        return cls(str(run.get("started") or ""), str(run.get("mode") or ""),
                   str(run.get("id") or ""), run.get("exit_code"), kinds,
                   int(totals.get("actions", sum(kinds.values()))), int(totals.get("failed", 0)),
                   int(totals.get("held", 0)), int(totals.get("quarantined", 0)),
                   _seconds(run.get("started"), run.get("finished")), why,
                   str(run.get("finished") or ""), file)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _seconds(started: Any, finished: Any) -> float | None:
    try:
        return (dt.datetime.fromisoformat(str(finished))
                - dt.datetime.fromisoformat(str(started))).total_seconds()
    except (TypeError, ValueError):
        return None


#: a kept report's actions encoded at once (a piece of its text; see :func:`_compact_pieces`)
PIECE = 20_000
_COMPACT = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":"))


def _compact_pieces(data: Mapping[str, Any]) -> Iterator[str]:
    """``json.dumps`` of the report, compact, its actions last (see :func:`_head`), then a newline:
    the same text in pieces of :data:`PIECE` actions, so that a report of millions of actions
    is never one string (compact: 100,000 actions are written in 0.7 s, not 2.6 s as with indent).
    """
    head = {k: v for k, v in data.items() if k != "actions"}
    actions = data.get("actions")
    if not isinstance(actions, list) or not actions or not head:
        if "actions" in data:
            head["actions"] = actions
        yield _COMPACT.encode(head) + "\n"
        return
    text = _COMPACT.encode(head)
    yield text[:-1] + ',"actions":['
    for start in range(0, len(actions), PIECE):
        yield ("" if start == 0 else ",") + _COMPACT.encode(actions[start:start + PIECE])[1:-1]
    yield "]}\n"


class History:
    """The kept reports of one datastore, in ``<state folder>/<datastore>.history/``."""

    def __init__(self, state_dir: Path, datastore: str) -> None:
        self.folder = state_dir / f"{datastore}.history"
        self.datastore = datastore

    def files(self, mode: str | None = None) -> list[Path]:
        """The kept reports, oldest first (of one mode, or all)."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = _NAME.match(path.name)
            if match and (mode is None or match["mode"] == mode):
                found.append(path)
        return sorted(found, key=lambda p: p.name)

    def record(self, data: Mapping[str, Any], keep: int) -> Path | None:
        """Keep one run's report (secrets redacted, 0600), then drop the oldest past ``keep``."""
        run = data["run"]
        path: Path | None = None
        if keep > 0:
            private_folder(self.folder)
            path = self.folder / f"{stamp()}-{run['mode']}-{run['id']}.json"
            write_private(path, (redact(piece) for piece in _compact_pieces(data)))
        self.rotate(keep)
        return path

    def rotate(self, keep: int) -> list[Path]:
        """Remove all but the newest ``keep`` reports of each mode; the removed ones."""
        by_mode: dict[str, list[Path]] = {}
        for path in self.files():
            match = _NAME.match(path.name)
            if match:
                by_mode.setdefault(match["mode"], []).append(path)
        removed: list[Path] = []
        for files in by_mode.values():
            for path in files[:max(len(files) - keep, 0)]:
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed

    def reports(self, mode: str | None = None, actions: bool = True
                ) -> Iterator[tuple[Path, dict[str, Any] | None]]:
        """Each kept report, oldest first, read (None: the file cannot be read as a report).

        ``actions=False`` leaves out the list of actions, which is most of a big run's report:
        what ``dss history`` and the trend need is parsed, not the rest.
        """
        for path in self.files(mode):
            try:
                text = path.read_text(encoding="utf-8")
                data = json.loads(text if actions else _head(text))
            except (OSError, ValueError):
                data = None
            yield path, data if isinstance(data, dict) else None

    def entries(self, mode: str | None = None) -> tuple[list[RunEntry], list[Path]]:
        """The kept runs, oldest first, and the files that could not be read."""
        entries: list[RunEntry] = []
        unreadable: list[Path] = []
        for path, data in self.reports(mode, actions=False):
            if data is None:
                unreadable.append(path)
                continue
            try:
                entries.append(RunEntry.of(data, path.name))
            except (AttributeError, TypeError, ValueError):
                unreadable.append(path)
        return entries, unreadable


#: where the actions begin in a kept report (compact JSON, its actions last): a quote inside a
#: string is always escaped, so this is never inside one, and no other key "actions" is a list
_ACTIONS = ',"actions":['


def _head(text: str) -> str:
    """A kept report without its actions (the whole report when they are not where expected)."""
    at = text.rfind(_ACTIONS)
    return text[:at] + "}" if at > 0 else text


def history_of(run: Run) -> History | None:
    """Where ``run``'s history is kept, or None (a run without a state folder keeps none)."""
    if run.state is None or not run.datastore:
        return None
    return History(run.state.folder, run.datastore)


# -- the hooks ----------------------------------------------------------------------------

@hookimpl
def dss_report_start(run: Run) -> None:
    """A bad ``history`` setting stops the run before anything is imported (exit 2)."""
    if run.state is not None:
        keep_count(run.config)


@hookimpl(trylast=True)
def dss_report_finish(run: Run, summary: Summary) -> None:
    """Keep this run's report. A history that cannot be written is a warning, never a failure:
    the destination has changed by now, and the run's own exit code must say how."""
    history = history_of(run)
    if history is None:
        return
    try:
        keep = keep_count(run.config)
    except ConfigurationError:
        return  # said at the start, where it stopped the run
    try:
        history.record(report_of(run, summary), keep)
    except OSError as exc:
        print(redact(f"dss: warning: the run's history was not kept in {history.folder}: "
                     f"{exc.strerror or exc}"), file=sys.stderr)


# -- dss history --------------------------------------------------------------------------

def _which(ctx: click.Context, name: str | None) -> tuple[Config, str]:
    """The configuration and the datastore whose history to show."""
    session = ctx.find_root().obj  # the cli's Session: configuration, plugins, registry
    config: Config = session.config
    if name:
        return config, name
    if config.datastore:
        return config, config.datastore
    folder = state_folder(config)
    kept = sorted(p.name[:-len(".history")] for p in folder.glob("*.history") if p.is_dir()) \
        if folder.is_dir() else []
    if len(kept) == 1:
        return config, kept[0]
    return config, session.registry.datastore(None, config).name


def _when(started: str) -> str:
    try:
        return dt.datetime.fromisoformat(started).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return started


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _table(datastore: str, entries: list[RunEntry]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, title=f"history {datastore}", title_justify="left")
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("mode", no_wrap=True)
    table.add_column("run", no_wrap=True)
    for kind in KINDS:
        table.add_column(kind, justify="right")
    for column in ("failed", "held", "exit", "took"):
        table.add_column(column, justify="right")
    table.add_column("stopped by", overflow="fold")
    for e in entries:
        table.add_row(_when(e.started), "run" if e.mode == "apply" else e.mode, e.id[:8],
                      *(f"{e.kinds[k]:,}" if e.kinds.get(k) else "" for k in KINDS),
                      f"{e.failed:,}" if e.failed else "", f"{e.held:,}" if e.held else "",
                      "" if e.exit_code is None else str(e.exit_code), _duration(e.seconds),
                      e.why)
    return table


@click.command("history")
@click.argument("name", required=False, metavar="[DATASTORE]")
@click.option("--json", "as_json", is_flag=True, help="The same as JSON: one object per run.")
@click.option("--plans/--no-plans", default=True, show_default=True,
              help="Show the kept plans (dss plan) beside the runs.")
@click.option("-n", "--last", type=click.IntRange(min=1), default=None, metavar="N",
              help="Only the last N runs.")
@click.pass_context
def history(ctx: click.Context, name: str | None, as_json: bool, plans: bool,
            last: int | None) -> None:
    """Past runs of DATASTORE, oldest first: when, actions per kind, failures, exit code."""
    from ..exits import fail

    try:
        config, datastore = _which(ctx, name)
        keep_count(config)
    except DssError as exc:
        fail(str(exc), exc.exit_code)
    kept = History(state_folder(config), datastore)
    entries, unreadable = kept.entries(None if plans else "apply")
    if last is not None:
        entries = entries[-last:]
    for path in unreadable:
        click.echo(redact(f"dss: warning: {path}: not a readable report; skipped"), err=True)
    if as_json:
        click.echo(redact(json.dumps({"datastore": datastore, "folder": str(kept.folder),
                                      "runs": [e.to_json() for e in entries]}, indent=2)))
        return
    if not entries:
        click.echo(redact(f"No run of {datastore} is kept in {kept.folder} yet."))
        return
    from rich.console import Console

    if sys.stdout.isatty():
        Console(highlight=False).print(_table(datastore, entries))
        return
    # into a file or a pipe (cron's mail): wide enough for every column, no trailing blanks
    console = Console(highlight=False, width=WIDE, file=io.StringIO())
    with console.capture() as captured:
        console.print(_table(datastore, entries))
    for line in captured.get().splitlines():
        click.echo(redact(line.rstrip()))


@hookimpl
def dss_register_commands(cli: click.Group) -> None:
    cli.add_command(history)
