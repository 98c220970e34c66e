"""Builtin plugin: writes the JSON report asked for with ``--report FILE``."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..actions import Result
from ..errors import DssError, GateError
from ..gc_pause import gc_paused
from ..hookspecs import hookimpl
from ..json_text import dict_encoder
from ..private_files import write_private
from ..redaction import redact
from ..runner import Run, Summary


def report_data(run: Run, summary: Summary) -> dict[str, object]:
    """The report of one run as JSON-ready values."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for (tree, branch, kind, status), n in sorted(summary.counts.items()):
        per_kind = counts.setdefault(f"{tree}.{branch}", {}).setdefault(kind, {})
        per_kind[status] = per_kind.get(status, 0) + n
    return {
        "run": {
            "id": run.id,
            "datastore": run.datastore,
            "mode": run.mode,
            "started": run.started,
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "exit_code": summary.exit_code,
        },
        "error": summary.error,
        "gates": summary.gates,
        "interrupted": summary.interrupted or None,
        "notes": list(run.notes),
        "sources": {name: snap.to_json() for name, snap in summary.sources.items()},
        "imported": {f"{t}.{b}": {"records": n, "objects": summary.objects.get((t, b), n)}
                     for (t, b), n in summary.imported.items()},
        "counts": counts,
        "totals": {
            "actions": len(summary.results),
            "failed": summary.failed,
            "errors": summary.errors,
            "held": summary.held,
            "quarantined": len(summary.quarantined),
        },
        "quarantined": [r.to_dict() for r in summary.quarantined],
        "rejects_file": str(summary.rejects_path) if summary.rejects_path else None,
        "left_out": summary.left_out,  # actions --only, --limit or --id left for another run
        "phases": {name: round(seconds, 3) for name, seconds in summary.phases.items()},
        "not_implemented": dict(sorted(summary.not_implemented.items())),
        "actions": _action_dicts(summary.results),
    }


def _action_dicts(results: list[Result]) -> list[dict[str, Any]]:
    """Each result's :meth:`~dss_core.actions.Result.to_dict`, the cyclic collector paused.

    The dicts (and the origins made on first use) live until the report is written; young
    collections while they are made would walk the run's other long-lived objects too: a
    plan of 26,533 actions at a million rows a side took 0.29 s here, 0.14 s paused.
    """
    with gc_paused():
        return [r.to_dict() for r in results]


_last_report: list[tuple[tuple[str, int, int], dict[str, Any]]] = []


def report_of(run: Run, summary: Summary) -> dict[str, Any]:
    """:func:`report_data` of the run, made once for the JSON report, the history and the HTML
    report (a run of 100,000 actions takes a second to turn into a report)."""
    key = (run.id, id(summary), len(summary.results))
    if not _last_report or _last_report[0][0] != key:
        _last_report[:] = [(key, report_data(run, summary))]
    return _last_report[0][1]


@hookimpl(trylast=True)
def dss_report_finish(run: Run, summary: Summary) -> None:
    if run.report_path is None:
        return
    write_report(run.report_path, report_of(run, summary))


def write_report(path: Path, data: dict[str, object]) -> None:
    """Write a report: secrets redacted, readable by its owner only (it holds personal data).

    Written in pieces of :data:`PIECE` actions, each redacted alone (a piece ends between two
    actions, and no secret spans two): at 100M rows a side the report is 1.4 GB of text,
    which as one string was made, redacted and ended with a newline in three copies.
    """
    write_private(path, (redact(piece) for piece in _indented_pieces(data, end="\n")))


_SCALARS = frozenset((str, int, float, bool, type(None)))
_KEYS = frozenset((str,))
#: an action at the report's second level, one key a line, by the C encoder (made once)
_ITEM = dict_encoder(",\n      ")


def dumps_indented(data: dict[str, object]) -> str:
    """``json.dumps(data, indent=2, default=str)``, the same text, made faster for the actions.

    With ``indent``, :mod:`json` encodes in Python (3.5 s for 40,000 actions); each action
    whose values are all scalars is encoded here by the C encoder, its separators
    carrying the indentation, and the text around them by ``json.dumps`` itself.
    """
    return "".join(_indented_pieces(data))


#: actions encoded into one piece of the report's text (see :func:`write_report`)
PIECE = 20_000


def _indented_pieces(data: dict[str, object], end: str = "") -> Iterator[str]:
    """:func:`dumps_indented`'s text followed by ``end``, in pieces of :data:`PIECE` actions."""
    actions = data.get("actions")
    if not isinstance(actions, list) or not actions or list(data)[-1] != "actions" or len(data) < 2:
        yield json.dumps(data, indent=2, default=str) + end
        return
    head = json.dumps({k: v for k, v in data.items() if k != "actions"}, indent=2, default=str)
    opening = head[:-2] + ',\n  "actions": [\n'
    for start in range(0, len(actions), PIECE):
        items = []
        for item in actions[start:start + PIECE]:
            if type(item) is dict and item and _SCALARS.issuperset(map(type, item.values())) \
                    and _KEYS.issuperset(map(type, item)):
                items.append("    {\n      " + _ITEM(item)[1:-1] + "\n    }")
            else:  # nested values: json's own layout, moved two levels in
                items.append("    " + json.dumps(item, indent=2, default=str).replace("\n", "\n    "))
        yield (opening if start == 0 else ",\n") + ",\n".join(items)
    yield "\n  ]\n}" + end


def write_failure_report(path: Path, mode: str, datastore: str | None, exc: BaseException) -> None:
    """The report of a run that stopped before it began (configuration, plugins, a bad path)."""
    code = exc.exit_code if isinstance(exc, DssError) else 2
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with contextlib.suppress(OSError):  # refused before anything ran: that error is the one
        write_report(path, {
            "run": {"id": None, "datastore": datastore, "mode": mode, "started": now,
                    "finished": now, "exit_code": code},
            "error": str(exc) if isinstance(exc, DssError) else f"{type(exc).__name__}: {exc}",
            "gates": list(exc.trips) if isinstance(exc, GateError) else [],
            "imported": {}, "counts": {}, "totals": {"actions": 0, "failed": 0, "errors": 0},
            "not_implemented": {}, "actions": [],
        })
