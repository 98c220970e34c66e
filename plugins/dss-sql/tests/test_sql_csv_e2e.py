"""End to end with the real `dss` command: CSV (dss-csv) -> SQLite and -> PostgreSQL.

Users and group memberships, no handler code beyond the mapping. Every part is a real installed
plugin found through its entry point: `csv`, `sql` and `postgres` from the dev environment, and
the sync itself from the test plugin package `plugins/dss-csv2sql-test`, which a session fixture
installs with pip into a temporary folder (put on the subprocess's PYTHONPATH). The tests run
`python -m dss_core` as a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dss_core.testing import DssResult, install_package

pytest.importorskip("dss_csv", reason="dss-csv is not installed")

PACKAGE = Path(__file__).parent / "plugins" / "dss-csv2sql-test"

DDL = [
    "create table accounts (username varchar(50) primary key, full_name varchar(200) not null, "
    "email varchar(200) not null, suspended boolean not null default false)",
    "create table cohorts (code varchar(50) primary key, title varchar(200) not null)",
    "create table cohort_members (cohort varchar(50), username varchar(50), "
    "primary key (cohort, username))",
]


def run_sql(url: str, *statements: str) -> list[tuple[Any, ...]]:
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    out: list[tuple[Any, ...]] = []
    with engine.begin() as conn:
        for s in statements:
            result = conn.execute(sa.text(s))
            out = [tuple(r) for r in result] if result.returns_rows else out
    engine.dispose()
    return out


@pytest.fixture(scope="session")
def csv2sql_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where dss-csv2sql-test is installed for real (put it on PYTHONPATH to use it)."""
    return install_package(PACKAGE, tmp_path_factory.mktemp("csv2sql"))


@dataclass
class School:
    dss: Callable[..., DssResult]  # dss(*args, url=None): the `dss` command on the test sync
    url: str
    folder: Path
    datastore: str


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def school(request: pytest.FixtureRequest, tmp_path: Path, csv2sql_site: Path) -> School:
    kind = request.param
    if kind == "postgres":
        pytest.importorskip("dss_postgres", reason="dss-postgres is not installed")
    url = request.getfixturevalue(f"dss_{kind}_url")
    run_sql(url, *DDL)
    (tmp_path / "users.csv").write_text(
        "id,full name,email\n1,Ann Archer,ann@school\n2,Bob Baker,bob@school\n3,Cy Cole,cy@school\n")
    (tmp_path / "memberships.csv").write_text(  # one row per membership, merged by the core
        "group,title,member\nmath,Math,1\nmath,Math,2\nart,Art,3\nart,Art,1\n")
    (tmp_path / "dss.toml").write_text(
        '[trees.sis.users]\npath = "users.csv"\n'
        'rename = { id = "idnumber", "full name" = "name" }\n'
        '[trees.sis.groups]\npath = "memberships.csv"\n'
        'rename = { group = "idnumber", member = "members" }\n')
    plugins = ["--plugin", "csv", "--plugin", "sql"] + (
        ["--plugin", "postgres"] if kind == "postgres" else []) + ["--plugin", "csv2sql"]

    def dss(*args: str, url: str = url) -> DssResult:
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith("DSS_") and k != "PYTHONPATH"}
        environ["PYTHONPATH"] = str(csv2sql_site)
        environ["DSS_LMS_URL"] = url
        proc = subprocess.run(
            [sys.executable, "-m", "dss_core", "--config", str(tmp_path / "dss.toml"), *plugins,
             *args],
            cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120)
        return DssResult(proc.returncode, proc.stdout, proc.stderr)

    return School(dss, url, tmp_path, "csv2pg" if kind == "postgres" else "csv2sql")


def test_csv_to_sql_users_and_memberships(school: School) -> None:
    dss, url, folder, name = school.dss, school.url, school.folder, school.datastore
    result = dss("plan", name)
    assert result.code == 0, result
    assert "new_users(idnumber='1')" in result.out
    assert "new_groups(idnumber='art')" in result.out
    result = dss("run", name)
    assert result.code == 0, result
    assert run_sql(url, "select username, full_name, email from accounts order by 1") == [
        ("1", "Ann Archer", "ann@school"), ("2", "Bob Baker", "bob@school"),
        ("3", "Cy Cole", "cy@school")]
    assert run_sql(url, "select cohort, username from cohort_members order by 1, 2") == [
        ("art", "1"), ("art", "3"), ("math", "1"), ("math", "2")]
    result = dss("plan", name)
    assert result.code == 0, result
    assert "Nothing to do" in result.out, result

    # Bob leaves, Cy is renamed, Ann leaves art
    (folder / "users.csv").write_text(
        "id,full name,email\n1,Ann Archer,ann@school\n3,Cy Cole-Smith,cy@school\n")
    (folder / "memberships.csv").write_text("group,title,member\nmath,Math,1\nart,Art,3\n")
    result = dss("run", name)  # a third of the users gone: the source gate stops it
    assert result.code == 3, result
    assert "sis.users: 2 objects, last accepted 3" in result.err
    result = dss("run", name, "--accept", "sis.users")
    assert result.code == 0, result
    assert run_sql(url, "select username, full_name, suspended from accounts order by 1") == [
        ("1", "Ann Archer", False), ("2", "Bob Baker", True), ("3", "Cy Cole-Smith", False)]
    assert run_sql(url, "select cohort, username from cohort_members order by 1, 2") == [
        ("art", "3"), ("math", "1")]
    result = dss("plan", name)
    assert "Nothing to do" in result.out, result


def test_configuration_errors_exit_2_with_one_line(school: School) -> None:
    dss, url, name = school.dss, school.url, school.datastore
    run_sql(url, "alter table cohorts rename column title to name")
    result = dss("run", name)
    assert result.code == 2, result
    assert result.err.strip().splitlines() == [result.err.strip()], result
    assert "has no column 'title'" in result.err, result
    assert "Traceback" not in result.out + result.err, result
    assert run_sql(url, "select count(*) from accounts") == [(0,)]

    bad = ("postgresql://sync:hunter22@127.0.0.1:1/lms" if url.startswith("postgresql")
           else "mysql+pymysql://sync:hunter22@127.0.0.1:1/lms")
    result = dss("run", name, url=bad)
    assert result.code == 2, result
    assert "cannot connect to" in result.err and "***" in result.err, result
    assert "hunter22" not in result.out + result.err, result
    assert len(result.err.strip().splitlines()) == 1, result
