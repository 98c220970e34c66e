"""What the builtin plugins' commands (``dss apply``, ``dss undo``) share with ``dss run``.

:func:`finish` runs a command's body and ends the process as ``dss run``
does: its own exit code, or one ``dss: error:`` line (exit 2), or the
``dss: stopped:`` lines (exit 3); a ``--report`` asked for is written
whatever the outcome.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from ..errors import DssError, GateError
from ..exits import fail, stopped
from ..runner import APPLY
from .json_report import write_failure_report


def finish(body: Callable[[], int], report: Path | None, nothing: str = "applied") -> NoReturn:
    """Run ``body`` (which returns the exit code) and exit; errors as one line, report written."""
    try:
        try:
            code = body()
        except Exception as exc:
            if report is not None and not getattr(exc, "dss_reported", False):
                write_failure_report(report, APPLY, None, exc)
            raise
    except GateError as exc:
        stopped(exc, nothing)
    except DssError as exc:
        fail(str(exc), exc.exit_code)
    except Exception as exc:
        fail(f"{type(exc).__name__}: {exc}", 2)
    sys.exit(code)
