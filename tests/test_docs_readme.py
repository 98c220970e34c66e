"""The README's walkthrough is a working plugin: build it from the README's text alone and run it."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
BLOCK = re.compile(r"```(?:python|toml)\n# (?P<path>[\w./]+)\n(?P<body>.*?)```", re.S)

pytest.importorskip("dss_csv", reason="the walkthrough uses dss-csv (installed by .ci/setup-venv)")
pytest.importorskip("dss_sql", reason="the walkthrough uses dss-sql (installed by .ci/setup-venv)")


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The README's files written out and the package installed with pip: (work folder, site)."""
    work = tmp_path_factory.mktemp("acme")
    files = {m["path"]: m["body"] for m in BLOCK.finditer(README.read_text())}
    assert {"pyproject.toml", "acme_sync/sync.py", "acme_sync/plugin.py", "dss.toml"} <= set(files)
    for path, body in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(body)
    (work / "acme_sync" / "__init__.py").write_text("")
    site = work / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                           "--no-build-isolation", "--target", str(site), str(work)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return work, site


def _data(work: Path) -> None:
    (work / "students.csv").write_text(
        "Student ID,Name,Homeroom,Status\n"
        "1001,\"Doe, Jo\",10B,active\n"
        "1002,\"Roe, Al\",10B,active\n"
        "1003,\"Poe, Ed\",11A,withdrawn\n"
        "1004,\"Lee, Kim\",11A,active\n")
    db = work / "lms.sqlite"
    db.unlink(missing_ok=True)
    with sqlite3.connect(db) as conn:
        conn.executescript("""
            CREATE TABLE accounts (idnumber TEXT PRIMARY KEY, name TEXT, homeroom TEXT,
                                   suspended BOOLEAN NOT NULL DEFAULT 0);
            CREATE TABLE cohorts (idnumber TEXT PRIMARY KEY);
            CREATE TABLE cohort_members (cohort TEXT, account TEXT, PRIMARY KEY (cohort, account));
            INSERT INTO accounts VALUES ('1001', 'Jo Do', '10B', 0), ('1003', 'Ed Poe', '11A', 0);
            INSERT INTO cohorts VALUES ('10B'), ('11A');
            INSERT INTO cohort_members VALUES ('10B', '1001'), ('11A', '1003');
        """)


def _dss(work: Path, site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_")}
    env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "dss_core", "--plugin", "acme", *args],
                          cwd=work, env=env, capture_output=True, text=True, timeout=120)


def test_walkthrough_plugin_checks_plans_runs_and_converges(plugin):
    work, site = plugin
    _data(work)
    check = _dss(work, site, "check", "acme")
    assert check.returncode == 0, check.stderr + check.stdout
    plan = _dss(work, site, "plan", "acme")
    assert plan.returncode == 0, plan.stderr
    lines = [line for line in plan.stdout.splitlines() if "(idnumber=" in line]
    assert lines == [
        "new_users(idnumber='1002')",
        "new_users(idnumber='1004')",
        "update_name(idnumber='1001', attribute='name', value='Jo Doe')",
        "add_members_to_groups(idnumber='10B', attribute='members', value='1002')",
        "add_members_to_groups(idnumber='11A', attribute='members', value='1004')",
        "remove_members_from_groups(idnumber='11A', attribute='members', value='1003')",
        "old_users(idnumber='1003')",
    ]
    run = _dss(work, site, "run", "acme")
    assert run.returncode == 0, run.stderr + run.stdout
    assert "renaming 1001: Jo Do -> Jo Doe" in run.stdout
    with sqlite3.connect(work / "lms.sqlite") as conn:
        accounts = dict(conn.execute("SELECT idnumber, name FROM accounts WHERE NOT suspended"))
        suspended = [r[0] for r in conn.execute("SELECT idnumber FROM accounts WHERE suspended")]
        members = sorted(conn.execute("SELECT cohort, account FROM cohort_members"))
    assert accounts == {"1001": "Jo Doe", "1002": "Al Roe", "1004": "Kim Lee"}
    assert suspended == ["1003"]
    assert members == [("10B", "1001"), ("10B", "1002"), ("11A", "1004")]
    again = _dss(work, site, "plan", "acme")
    assert again.returncode == 0 and "Nothing to do" in again.stdout, again.stdout


def test_walkthrough_test_snippet_passes(plugin):
    work, site = plugin
    snippet = re.search(r"```python\n(from dss_core.testing import messages\n.*?)```",
                        README.read_text(), re.S)
    assert snippet is not None
    test_file = work / "test_snippet.py"
    test_file.write_text("from acme_sync.sync import LMS, SIS\n" + snippet.group(1))
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(test_file)], cwd=work, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_configuration_example_reads_as_documented(tmp_path):
    from dss_core import Config

    section = README.read_text().split("## Configuration", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.S)
    assert block is not None
    (tmp_path / "pyproject.toml").write_text(block.group(1))
    config = Config.load(cwd=tmp_path)
    config.environ = {"DSS_LMS_URL": "postgresql://sync:pw@db/lms"}
    assert config.datastore == "school"
    assert config.settings_for("lms", "users", ["users", "groups"]) == {
        "url": "postgresql://sync:pw@db/lms", "mode": "no-retire"}
    assert config.settings_for("sis", "users", ["users"]) == {
        "path": "exports/students.csv", "delimiter": "\t", "on_duplicate": "error"}
