"""Helpers for the school example's end-to-end tests: a generated site, the real `dss`, the tables.

The tests run the installed ``dss`` command in a subprocess, as a user does, in
an environment without the caller's ``DSS_*`` settings (so a developer's
``DSS_PLUGINS`` or ``DSS_LMS_URL`` cannot leak into a test).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from dss_core.testing import dss_command


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any ``DSS_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_")}
    env.update(extra)
    return env


def run(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in ``cwd`` (clean environment); with ``check``, fail the test on a non-zero exit."""
    done = subprocess.run(list(args), cwd=cwd, env=clean_environ(), capture_output=True,
                          text=True, timeout=300)
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def dss(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real ``dss`` command with ``args`` (see :func:`run`)."""
    return run(*dss_command(), *args, cwd=cwd, check=check)


def generate_site(folder: Path, users: int = 200) -> Path:
    """A school site in ``folder``: the SIS exports, ``lms.sqlite`` out of date, ``dss.toml``."""
    run(sys.executable, "-m", "school_sync.generate", "--users", str(users), "--out", str(folder),
        cwd=folder.parent)
    return folder


def sqlite_tables(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table of the SQLite file ``db``, its rows in a stable order."""
    with sqlite3.connect(db) as con:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {n: sorted(con.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr)
                for n in names}
