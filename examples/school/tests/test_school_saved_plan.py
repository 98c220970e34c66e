"""A saved plan on the school example with SQLite: `dss plan --out`, then `dss apply`.

Two sites generated alike: one synced by `dss run`, the other by a saved plan;
their LMS databases end equal, table by table. Applied a second time, the
plan is refused as drifted (exit 3) and the database stays as it was.
"""

from __future__ import annotations

from pathlib import Path

from school_sync.testing import dss, generate_site, sqlite_tables


def test_a_saved_plan_applies_as_run_does_and_is_refused_on_drift(tmp_path: Path) -> None:
    ran, saved = generate_site(tmp_path / "ran"), generate_site(tmp_path / "saved")
    assert sqlite_tables(ran / "lms.sqlite") == sqlite_tables(saved / "lms.sqlite")
    dss("--config", str(ran / "dss.toml"), "run", "school", "-q", cwd=tmp_path)

    plan = saved / "tonight.plan"
    dss("--config", str(saved / "dss.toml"), "plan", "school", "-q",
        "--out", str(plan), cwd=tmp_path)
    applied = dss("--config", str(saved / "dss.toml"), "apply", str(plan), "-q",
                  cwd=tmp_path)
    assert applied.returncode == 0
    assert sqlite_tables(saved / "lms.sqlite") == sqlite_tables(ran / "lms.sqlite")

    again = dss("--config", str(saved / "dss.toml"), "apply", str(plan),
                cwd=tmp_path, check=False)
    assert again.returncode == 3, again.stderr
    assert "since the plan was made" in again.stderr
    assert sqlite_tables(saved / "lms.sqlite") == sqlite_tables(ran / "lms.sqlite")
