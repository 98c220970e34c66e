"""Builtin plugin: the HTML report asked for with ``--html FILE`` (``dss run``, ``dss plan``).

One self-contained file an administrator can open from an e-mail: no
network at all (the CSS, the script and the charts are inline; a Content
Security Policy in the file allows nothing else, not even an inline script
other than its own). It holds:

* the summary: the run, its exit code and what it means, why it stopped
  (the error, each gate), the times, records imported, a table of branches x
  action kinds, failures, actions held back and the quarantined records,
  methods no handler implements and model errors;
* a chart of the actions per branch and kind (inline SVG drawn here; a click
  on a bar filters the list);
* the trend of actions per run and kind from the datastore's history
  (:mod:`dss_core.builtin.history`), tonight last, with a kind that jumped
  (at least 10 and more than 3 times the median of the runs before it) marked;
* every action (up to :data:`MAX_ROWS`), failures first, with its values
  before and after (an update's old and new value, a new object's tracked
  values, a retired object's last values, the element added or removed), its
  origin and its result; a search box and filters by kind, branch and result.

Every value goes through the template engine's escaping (Jinja2 with
autoescape) and secret redaction. The file is written 0600, atomically: it
holds personal data. It is written for every run that reaches the runner,
a stopped one included (it then says why).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import click

from ..actions import ADD, ERROR, FAILED_STATUSES, KINDS, NEW, OLD, REMOVE, UPDATE, Result
from ..actions import jsonable as to_json
from ..errors import ConfigurationError
from ..hookspecs import hookimpl
from ..private_files import write_private
from ..redaction import redact
from ..runner import Run, Summary
from .history import RunEntry, history_of, keep_count, report_of

#: Actions listed one by one (failures first); the rest are counted, and all are in --report.
MAX_ROWS = 5_000
#: Elements of a set or list shown in a value; the rest are counted.
MAX_ELEMENTS = 25
#: Characters of one value shown.
MAX_TEXT = 400
#: Quarantined records named one by one.
MAX_REJECTS = 200
#: A kind "jumped" when its count is at least SPIKE_FLOOR and more than SPIKE_FACTOR times the
#: median of the (at least SPIKE_RUNS) runs before it.
SPIKE_FLOOR, SPIKE_FACTOR, SPIKE_RUNS = 10, 3, 3

KIND_LABELS = {NEW: "new", UPDATE: "update", ADD: "add", REMOVE: "remove", OLD: "old",
               ERROR: "model error"}
KIND_COLOURS = {NEW: "#2e7d32", UPDATE: "#1565c0", ADD: "#00897b", REMOVE: "#ef6c00",
                OLD: "#c62828", ERROR: "#6a1b9a"}
EXIT_MEANINGS = {
    0: "all done", 1: "some actions failed or were held back; the others were applied",
    2: "bad configuration or input: nothing was applied",
    3: "stopped by a gate, a limit or the lock: nothing was applied",
    130: "interrupted (Ctrl-C): what was done is committed",
    143: "interrupted (SIGTERM): what was done is committed",
}
PLAN_MEANINGS = {0: "all planned", 1: "planned; some records are quarantined"}


# -- the option and the hooks --------------------------------------------------------------

@hookimpl(trylast=True)
def dss_cli_options() -> list[click.Parameter]:
    return [click.Option(
        ["--html"], type=click.Path(dir_okay=False, path_type=Path), default=None,
        metavar="FILE",
        help="Write a self-contained HTML report (summary, charts, every action with its "
             "values before and after; mode 0600) to FILE.")]


def _html_path(run: Run) -> Path | None:
    value = run.options.get("html")
    return Path(value) if value else None


def _problem(path: Path) -> str | None:
    """Why the report cannot be written to ``path``, or None."""
    import os

    if path.is_dir():
        return "it is a directory"
    if not path.parent.is_dir():
        return f"folder {os.fspath(path.parent)!r} does not exist"
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        return "permission denied"
    return None


@hookimpl
def dss_report_start(run: Run) -> None:
    """A report that cannot be written stops the run before anything is imported (exit 2)."""
    path = _html_path(run)
    if path is not None and (why := _problem(path)):
        raise ConfigurationError(f"--html {path}: cannot write the HTML report there ({why})")


@hookimpl(trylast=True)
def dss_report_finish(run: Run, summary: Summary) -> None:
    path = _html_path(run)
    if path is None or _problem(path):
        return  # said at the start, where it stopped the run
    try:
        write_private(path, render(run, summary))
    except OSError as exc:
        print(redact(f"dss: warning: the HTML report was not written to {path}: "
                     f"{exc.strerror or exc}"), file=sys.stderr)


# -- what the page shows -------------------------------------------------------------------

@dataclass
class Bar:
    """One rectangle of a chart, with what a click on it filters."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str
    kind: str = ""
    branch: str = ""
    spike: bool = False


@dataclass
class Chart:
    """An SVG chart: its size, its bars and its text labels (x, y, text, anchor)."""

    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    labels: list[tuple[float, float, str, str]] = field(default_factory=list)
    lines: list[tuple[float, float, float, float]] = field(default_factory=list)
    marks: list[tuple[float, float, str]] = field(default_factory=list)  # stopped runs


def _text(value: Any) -> str:
    """A JSON value as one readable line: lists elided past MAX_ELEMENTS, text past MAX_TEXT."""
    if value is None:
        return ""
    if isinstance(value, list):
        shown = ", ".join(_text(v) for v in value[:MAX_ELEMENTS])
        more = len(value) - MAX_ELEMENTS
        text = f"{shown} … and {more:,} more" if more > 0 else shown
    elif isinstance(value, dict):
        text = "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def _tracked(obj: Any) -> list[tuple[str, str]]:
    if obj is None:
        return []
    try:
        values = obj.values()
    except Exception:  # a derived property that cannot compute: the message says why
        return []
    return [(name, _text(to_json(value))) for name, value in values.items()]


def before_after(result: Result) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """What the destination held, and what it holds (or would hold) after the action."""
    a = result.action
    attr = a.attribute or ""
    if a.kind == UPDATE:
        return [(attr, _text(to_json(a.old_value)))], [(attr, _text(to_json(a.value)))]
    if a.kind == ADD:
        return [], [(attr, "+ " + _text(to_json(a.value)))]
    if a.kind == REMOVE:
        return [(attr, "− " + _text(to_json(a.value)))], []
    if a.kind == NEW:
        return [], _tracked(a.source)
    if a.kind == OLD:
        return _tracked(a.dest), []
    return [], []


def _row(index: int, result: Result) -> dict[str, Any]:
    a = result.action
    before, after = before_after(result)
    origin = a.origin
    return {
        "n": index + 1, "kind": a.kind, "kind_label": KIND_LABELS.get(a.kind, a.kind),
        "branch": f"{a.tree}.{a.branch}", "idnumber": a.idnumber or "", "method": a.method,
        "status": result.status.value, "failed": result.status in FAILED_STATUSES,
        "message": result.message or (a.error or ""), "origin": str(origin) if origin else "",
        "before": before, "after": after,
    }


def _order(results: Sequence[Result]) -> list[tuple[int, Result]]:
    """Failures first, then actions held back, then the rest; each group in the run's order."""
    def rank(item: tuple[int, Result]) -> tuple[int, int]:
        status = item[1].status
        return (0 if status in FAILED_STATUSES else 1 if status.value == "held" else 2, item[0])
    return sorted(enumerate(results), key=rank)


def _per_branch(counts: Mapping[str, Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, int]]:
    return {branch: {kind: sum(statuses.values()) for kind, statuses in kinds.items()}
            for branch, kinds in counts.items()}


def branch_chart(per_branch: Mapping[str, Mapping[str, int]]) -> Chart | None:
    """Horizontal stacked bars: one per branch, one colour per kind."""
    totals = {b: sum(k.values()) for b, k in per_branch.items()}
    if not totals or not any(totals.values()):
        return None
    left, width, row = 170, 520, 28
    top = max(totals.values())
    chart = Chart(left + width + 90, row * len(totals) + 10)
    for i, (branch, kinds) in enumerate(per_branch.items()):
        y = 5 + i * row
        chart.labels.append((left - 8, y + 15, branch, "end"))
        x = float(left)
        for kind in KINDS:
            n = kinds.get(kind, 0)
            if not n:
                continue
            w = max(width * n / top, 1.5)
            chart.bars.append(Bar(x, y, w, row - 8, KIND_COLOURS[kind],
                                  f"{branch}: {n:,} {KIND_LABELS[kind]}", kind, branch))
            x += w
        chart.labels.append((x + 6, y + 15, f"{totals[branch]:,}", "start"))
    return chart


@dataclass
class TrendPoint:
    """One run of the trend: its label, counts per kind, and what stood out."""

    label: str
    title: str
    kinds: dict[str, int]
    current: bool = False
    plan: bool = False
    stopped: str = ""
    spikes: list[str] = field(default_factory=list)  # kinds that jumped
    notes: list[str] = field(default_factory=list)  # "old: 130, the median before was 4"


def spikes(points: Sequence[TrendPoint]) -> None:
    """Mark each kind of each run that jumped against the runs before it (plans not counted)."""
    earlier: list[TrendPoint] = []
    for point in points:
        if len(earlier) >= SPIKE_RUNS:
            for kind in KINDS:
                n = point.kinds.get(kind, 0)
                median = statistics.median(p.kinds.get(kind, 0) for p in earlier)
                if n >= SPIKE_FLOOR and n > SPIKE_FACTOR * median:
                    point.spikes.append(kind)
                    point.notes.append(f"{n:,} {KIND_LABELS[kind]}, where the median of the "
                                       f"{len(earlier)} runs before was {median:g}")
        if not point.plan and not point.stopped:
            earlier.append(point)


def labels(started: Sequence[str]) -> list[str]:
    """Short x-axis labels: the day (``05-14``) when each run is on a day of its own, else the
    day and time, else (every run within a day) the time to the second."""
    whens: list[dt.datetime | None] = []
    for text in started:
        try:
            whens.append(dt.datetime.fromisoformat(text))
        except ValueError:
            whens.append(None)
    known = [w for w in whens if w is not None]
    if len({w.date() for w in known}) == len(known):
        form = "%m-%d"
    elif len({w.strftime("%Y%m%d%H%M") for w in known}) == len(known):
        form = "%m-%d %H:%M"
    else:
        form = "%H:%M:%S"
    return [w.strftime(form) if w is not None else text for w, text in zip(whens, started,
                                                                              strict=True)]


def trend_points(entries: Iterable[RunEntry], data: Mapping[str, Any]) -> list[TrendPoint]:
    """The kept runs that applied (oldest first) and this one, last."""
    runs = [e for e in entries if e.mode == "apply"]
    this = RunEntry.of(data)
    plan = this.mode != "apply"
    names = labels([e.started for e in [*runs, this]])
    points = [TrendPoint(name, f"{e.started} run {e.id[:12]}", dict(e.kinds),
                         stopped=e.why if (e.exit_code or 0) >= 2 else "")
              for name, e in zip(names, runs, strict=False)]
    points.append(TrendPoint("this plan" if plan else names[-1],
                             f"{this.started} {'plan' if plan else 'run'} {this.id[:12]} (this one)",
                             dict(this.kinds), current=True, plan=plan,
                             stopped=this.why if (this.exit_code or 0) >= 2 else ""))
    spikes(points)
    return points


def trend_chart(points: Sequence[TrendPoint]) -> Chart | None:
    """Vertical stacked bars, one per run, oldest left; jumps outlined; stopped runs marked."""
    if len(points) < 2:
        return None
    left, height, bottom = 50, 180, 46
    step = max(min(44, 900 // len(points)), 8)
    bar = max(step - 4, 4)
    chart = Chart(left + step * len(points) + 10, height + bottom + 10)
    top = max((sum(p.kinds.values()) for p in points), default=0) or 1
    base = 10 + height
    chart.lines.append((left - 2, base, left + step * len(points), base))
    chart.labels.append((left - 6, 16, f"{top:,}", "end"))
    chart.labels.append((left - 6, base, "0", "end"))
    every = math.ceil(70 / step)  # a date label every 70 pixels at most
    for i, p in enumerate(points):
        x = left + i * step + 2
        y = float(base)
        total = sum(p.kinds.values())
        for kind in KINDS:
            n = p.kinds.get(kind, 0)
            if not n:
                continue
            h = max(height * n / top, 1.5)
            y -= h
            title = f"{p.title}: {n:,} {KIND_LABELS[kind]} of {total:,} actions"
            chart.bars.append(Bar(x, y, bar, h, KIND_COLOURS[kind], title, kind,
                                  spike=kind in p.spikes))
        if p.stopped:
            chart.marks.append((x + bar / 2, base + 8, f"{p.title}: stopped: {p.stopped}"))
        if i % every == 0 or p.current:
            chart.labels.append((x + bar / 2, base + 30, p.label, "middle"))
    return chart


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:  # started and finished are kept to the second
        return "under a second"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def page(run: Run, summary: Summary, history: Sequence[RunEntry] = ()) -> dict[str, Any]:
    """Everything the template shows, as plain values."""
    data = report_of(run, summary)
    per_branch = _per_branch(data["counts"])
    kinds_used = [k for k in KINDS if any(row.get(k) for row in per_branch.values())]
    statuses: dict[str, int] = {}
    for (_, _, _, status), n in summary.counts.items():
        statuses[status] = statuses.get(status, 0) + n
    ordered = _order(summary.results)
    rows = [_row(i, r) for i, r in ordered[:MAX_ROWS]]
    entry = RunEntry.of(data)
    code = summary.exit_code
    meanings = PLAN_MEANINGS if run.dry_run and code in PLAN_MEANINGS else EXIT_MEANINGS
    points = trend_points([e for e in history if e.id != run.id], data)
    current = points[-1]
    return {
        "run": data["run"], "plan": run.dry_run, "exit_code": code,
        "exit_meaning": meanings.get(code, ""), "duration": _duration(entry.seconds),
        "error": data["error"], "gates": data["gates"], "interrupted": data["interrupted"],
        "notes": data["notes"], "imported": data["imported"],
        "stopped": bool(summary.stopped), "left_out": int(data.get("left_out") or 0),
        "per_branch": per_branch, "kinds": kinds_used or list(KINDS[:-1]),
        "kind_totals": {k: sum(row.get(k, 0) for row in per_branch.values()) for k in KINDS},
        "statuses": dict(sorted(statuses.items())), "totals": data["totals"],
        "not_implemented": data["not_implemented"],
        "model_errors": [r.action.error or r.action.message for r in summary.results
                         if r.action.kind == ERROR],
        "quarantined": data["quarantined"][:MAX_REJECTS],
        "quarantined_more": max(len(data["quarantined"]) - MAX_REJECTS, 0),
        "rejects_file": data["rejects_file"],
        "branch_chart": branch_chart(per_branch),
        "trend": trend_chart(points), "trend_runs": len(points), "jumps": current.notes,
        "trend_kinds": [k for k in KINDS if any(p.kinds.get(k) for p in points)],
        "rows": rows, "rows_more": max(len(ordered) - MAX_ROWS, 0),
        "branches": sorted({r["branch"] for r in rows}),
        "row_kinds": [k for k in KINDS if any(r["kind"] == k for r in rows)],
        "row_statuses": sorted({r["status"] for r in rows}),
        "failed_rows": sum(1 for r in rows if r["failed"]),
        "kind_labels": KIND_LABELS, "kind_colours": KIND_COLOURS,
    }


# -- rendering -----------------------------------------------------------------------------

def _asset(name: str) -> str:
    return (resources.files("dss_core.builtin") / "templates" / name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def render_page(values: Mapping[str, Any]) -> str:
    """The HTML of a page: Jinja2 with autoescape; every value redacted before it is escaped."""
    import jinja2
    from markupsafe import Markup

    def finalize(value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, Markup):
            return redact(value)
        return value

    env = jinja2.Environment(autoescape=True, finalize=finalize, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    kinds = "".join(f".kind-{kind}{{--kind:{colour}}}\n" for kind, colour in KIND_COLOURS.items())
    style, script = _asset("report.css") + kinds, _asset("report.js")
    policy = (f"default-src 'none'; style-src {_csp_hash(style)}; "
              f"script-src {_csp_hash(script)}; img-src data:; base-uri 'none'; form-action 'none'")
    template = env.from_string(_asset("report.html.j2"))
    return redact(template.render(**values, style=Markup(style), script=Markup(script),
                                  policy=policy))


def render(run: Run, summary: Summary) -> str:
    """The HTML report of ``run``, with the trend from its datastore's history."""
    history = history_of(run)
    entries: list[RunEntry] = []
    if history is not None:
        try:
            keep = keep_count(run.config)
        except ConfigurationError:
            keep = 0
        if keep:
            entries = history.entries("apply")[0][-keep:]
    return render_page(page(run, summary, entries))
