"""How a command ends on an error: one ``dss: error:`` line, or the guards' ``dss: stopped:`` lines.

Every command (the core's and the builtin plugins') ends through these, so
the exit codes and the wording are the same everywhere (README, "exit codes").
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from .errors import GateError
from .redaction import redact

#: A gate that trips on many sets prints this many lines; the report holds them all.
MAX_GATE_LINES = 12


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line on stderr and exit with ``code``."""
    click.echo(f"dss: error: {redact(message)}", err=True)
    sys.exit(code)


def stopped(exc: GateError, nothing: str = "applied") -> NoReturn:
    """Print each tripped guard on stderr, one line each, then ``nothing was <nothing>``; exit 3."""
    trips = exc.trips
    shown = trips if len(trips) <= MAX_GATE_LINES else trips[:MAX_GATE_LINES - 1]
    for line in shown:
        click.echo(f"dss: stopped: {redact(line)}", err=True)
    if len(shown) < len(trips):
        click.echo(f"dss: stopped: ... and {len(trips) - len(shown)} more (--report lists them all)",
                   err=True)
    click.echo(f"dss: nothing was {nothing}", err=True)
    sys.exit(exc.exit_code)
