"""Builtin plugin: writes the JSON report asked for with ``--report FILE``."""

from __future__ import annotations

import datetime as dt
import json

from ..hookspecs import hookimpl
from ..redact import redact
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
        "imported": {f"{t}.{b}": {"records": n, "objects": summary.objects.get((t, b), n)}
                     for (t, b), n in summary.imported.items()},
        "counts": counts,
        "totals": {
            "actions": len(summary.results),
            "failed": summary.failed,
            "errors": summary.errors,
        },
        "not_implemented": dict(sorted(summary.not_implemented.items())),
        "actions": [r.to_dict() for r in summary.results],
    }


@hookimpl(trylast=True)
def dss_report_finish(run: Run, summary: Summary) -> None:
    if run.report_path is None:
        return
    text = json.dumps(report_data(run, summary), indent=2, default=str)
    run.report_path.write_text(redact(text) + "\n", encoding="utf-8")
