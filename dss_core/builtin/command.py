"""What the builtin plugins' commands (``dss apply``, ``dss undo``) share with ``dss run``.

:func:`applying_options` gives both the options of a command that applies
(``--report``, ``-q``, ``--fail-fast``, ``--allow-deletions``, ``--wait``);
:func:`finish` runs a command's body and ends the process as ``dss run``
does: its own exit code, or one ``dss: error:`` line (exit 2), or the
``dss: stopped:`` lines (exit 3); a ``--report`` asked for is written
whatever the outcome.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from ..errors import DssError, GateError
from ..exits import fail, stopped
from ..runner import APPLY
from .json_report import write_failure_report

F = TypeVar("F", bound=Callable[..., object])


def applying_options(what: str) -> Callable[[F], F]:
    """The options of a command that applies actions; ``what`` names it in ``--allow-deletions``' help."""
    options = [
        click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
                     help="Write a JSON report of every action and its result."),
        click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors."),
        click.option("--fail-fast", is_flag=True, help="Stop at the first failed action."),
        click.option("--allow-deletions", "allow_deletions", multiple=True, metavar="[TREE.BRANCH=]N",
                     help=f"Let {what} retire or delete up to N objects per branch, and remove up to "
                          "N members per set, past the deletion limits (repeatable)."),
        click.option("--wait", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
                     help="When another run of the datastore is running, wait up to SECONDS for it."),
    ]

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


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
