"""A saved plan on the school example with SQLite: `dss plan --out`, then `dss apply`.

Two sites generated alike: one synced by `dss run`, the other by a saved plan;
their LMS databases end equal, table by table. Applied a second time, the
plan is refused as drifted (exit 3) and the database stays as it was.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


def dss_command() -> list[str]:
    script = Path(sys.executable).with_name("dss")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dss_core"]


def run(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_")}
    done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def site(folder: Path) -> Path:
    run(sys.executable, "-m", "school_sync.generate", "--users", "200", "--out", str(folder),
        cwd=folder.parent)
    return folder


def tables(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(db) as con:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {n: sorted(con.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr)
                for n in names}


def test_a_saved_plan_applies_as_run_does_and_is_refused_on_drift(tmp_path: Path) -> None:
    ran, saved = site(tmp_path / "ran"), site(tmp_path / "saved")
    assert tables(ran / "lms.sqlite") == tables(saved / "lms.sqlite")
    run(*dss_command(), "--config", str(ran / "dss.toml"), "run", "school", "-q", cwd=tmp_path)

    plan = saved / "tonight.plan"
    run(*dss_command(), "--config", str(saved / "dss.toml"), "plan", "school", "-q",
        "--out", str(plan), cwd=tmp_path)
    applied = run(*dss_command(), "--config", str(saved / "dss.toml"), "apply", str(plan), "-q",
                  cwd=tmp_path)
    assert applied.returncode == 0
    assert tables(saved / "lms.sqlite") == tables(ran / "lms.sqlite")

    again = run(*dss_command(), "--config", str(saved / "dss.toml"), "apply", str(plan),
                cwd=tmp_path, check=False)
    assert again.returncode == 3, again.stderr
    assert "since the plan was made" in again.stderr
    assert tables(saved / "lms.sqlite") == tables(ran / "lms.sqlite")
