"""`dss undo` on the school example with SQLite: every table as it was before the run.

The LMS never deletes an account: the accounts the run created (or brought
back from suspended) are retired (``suspended``) by the undo; every other row
of every table is as before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from school_sync.testing import dss, generate_site, sqlite_tables


def test_undo_gives_back_every_table_as_before_the_run(tmp_path: Path) -> None:
    school = generate_site(tmp_path / "school")
    db = school / "lms.sqlite"
    shutil.copy(db, tmp_path / "before.sqlite")
    before = sqlite_tables(tmp_path / "before.sqlite")
    report = tmp_path / "night.json"
    dss("--config", str(school / "dss.toml"), "run", "school", "-q",
        "--report", str(report), cwd=tmp_path)
    night = json.loads(report.read_text())
    created = {a["idnumber"] for a in night["actions"] if a["method"] == "new_users"}
    assert created and any(a["method"] == "old_users" for a in night["actions"])
    assert sqlite_tables(db) != before

    planned = dss("--config", str(school / "dss.toml"), "undo",
                  night["run"]["id"][:10], "--dry-run", cwd=tmp_path)
    assert "old_users" in planned.stdout + planned.stderr
    assert sqlite_tables(db) != before  # the dry run changed nothing

    dss("--config", str(school / "dss.toml"), "undo", night["run"]["id"][:10],
        "-q", "--allow-deletions", "100", cwd=tmp_path)
    after = sqlite_tables(db)
    users = next(n for n in after if n.endswith("users"))
    retired = [row for row in after[users] if row[0] in created]
    assert len(retired) == len(created) and all(row[-1] == 1 for row in retired)
    # an account the run brought back from suspended is suspended again, as it was
    assert {row for row in before[users] if row[0] in created} <= set(retired)
    after[users] = [row for row in after[users] if row[0] not in created]
    before[users] = [row for row in before[users] if row[0] not in created]
    assert after == before
