"""`dss undo` on the school example with SQLite: every table as it was before the run.

The LMS never deletes an account: the accounts the run created (or brought
back from suspended) are retired (``suspended``) by the undo; every other row
of every table is as before.
"""

from __future__ import annotations

import json
import os
import shutil
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


def test_undo_gives_back_every_table_as_before_the_run(tmp_path: Path) -> None:
    school = site(tmp_path / "school")
    db = school / "lms.sqlite"
    shutil.copy(db, tmp_path / "before.sqlite")
    before = tables(tmp_path / "before.sqlite")
    report = tmp_path / "night.json"
    run(*dss_command(), "--config", str(school / "dss.toml"), "run", "school", "-q",
        "--report", str(report), cwd=tmp_path)
    night = json.loads(report.read_text())
    created = {a["idnumber"] for a in night["actions"] if a["method"] == "new_users"}
    assert created and any(a["method"] == "old_users" for a in night["actions"])
    assert tables(db) != before

    planned = run(*dss_command(), "--config", str(school / "dss.toml"), "undo",
                  night["run"]["id"][:10], "--dry-run", cwd=tmp_path)
    assert "old_users" in planned.stdout + planned.stderr
    assert tables(db) != before  # the dry run changed nothing

    run(*dss_command(), "--config", str(school / "dss.toml"), "undo", night["run"]["id"][:10],
        "-q", "--allow-deletions", "100", cwd=tmp_path)
    after = tables(db)
    users = next(n for n in after if n.endswith("users"))
    retired = [row for row in after[users] if row[0] in created]
    assert len(retired) == len(created) and all(row[-1] == 1 for row in retired)
    # an account the run brought back from suspended is suspended again, as it was
    assert {row for row in before[users] if row[0] in created} <= set(retired)
    after[users] = [row for row in after[users] if row[0] not in created]
    before[users] = [row for row in before[users] if row[0] not in created]
    assert after == before
