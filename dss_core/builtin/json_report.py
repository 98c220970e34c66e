"""Builtin plugin: writes the JSON report asked for with ``--report FILE``."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path

from ..errors import DssError, GateError
from ..hookspecs import hookimpl
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
        "actions": [r.to_dict() for r in summary.results],
    }


@hookimpl(trylast=True)
def dss_report_finish(run: Run, summary: Summary) -> None:
    if run.report_path is None:
        return
    write_report(run.report_path, report_data(run, summary))


def write_report(path: Path, data: dict[str, object]) -> None:
    """Write a report: secrets redacted, readable by its owner only (it holds personal data)."""
    write_private(path, redact(json.dumps(data, indent=2, default=str)) + "\n")


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
