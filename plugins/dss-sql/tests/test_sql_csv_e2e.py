"""End to end with the real `dss` command: CSV (dss-csv) -> SQLite and -> PostgreSQL.

Users and group memberships, no handler code beyond the mapping. The `csv`, `sql` and
`postgres` importers come from their installed entry points; only the datastore of this test
is handed to the plugin manager directly (it is not an installed package).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import dss_core.plugins
from dss_core import Branch, Datastore, Model, Tree, hookimpl
from dss_core.cli import cli

pytest.importorskip("dss_csv", reason="dss-csv is not installed")


class User(Model):
    name: str
    email: str = ""


class Group(Model):
    title: str
    members: set[str] = set()


def datastore(kind: str) -> Datastore:
    if kind == "postgres":
        from dss_postgres import PostgresMapping as Mapping
    else:
        from dss_sql import SQLMapping as Mapping
    from dss_sql import LinkMap, TableMap

    mapping = Mapping(
        users=TableMap("accounts", key="username", columns={"name": "full_name"},
                       retire={"suspended": True}),
        groups=TableMap("cohorts", key="code",
                        links={"members": LinkMap("cohort_members", owner="cohort",
                                                  member="username")}),
    )

    class SIS(Tree):
        name = "sis"
        users = Branch(User, importer="csv")
        groups = Branch(Group, importer="csv")

    class LMS(Tree):
        name = "lms"
        handler = mapping.handler()
        users = Branch(User, importer=mapping.importer("users"))
        groups = Branch(Group, importer=mapping.importer("groups"))

    return Datastore("csv2sql", SIS, [LMS])


class SchoolPlugin:
    def __init__(self, kind: str) -> None:
        self.kind = kind

    @hookimpl
    def dss_datastores(self, config: Any) -> list[Datastore]:
        return [datastore(self.kind)]


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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def school(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    kind = request.param
    if kind == "postgres":
        pytest.importorskip("dss_postgres", reason="dss-postgres is not installed")
    url = request.getfixturevalue(f"{kind}_url")
    run_sql(url, *DDL)
    real = dss_core.plugins.build_plugin_manager

    def build(**kwargs: Any) -> Any:
        return real(**{**kwargs, "extra": [SchoolPlugin(kind)]})

    monkeypatch.setattr(dss_core.plugins, "build_plugin_manager", build)
    (tmp_path / "users.csv").write_text(
        "id,full name,email\n1,Ann Archer,ann@school\n2,Bob Baker,bob@school\n3,Cy Cole,cy@school\n")
    (tmp_path / "memberships.csv").write_text(  # one row per membership, merged by the core
        "group,title,member\nmath,Math,1\nmath,Math,2\nart,Art,3\nart,Art,1\n")
    (tmp_path / "dss.toml").write_text(
        '[trees.sis.users]\npath = "users.csv"\n'
        'rename = { id = "idnumber", "full name" = "name" }\n'
        '[trees.sis.groups]\npath = "memberships.csv"\n'
        'rename = { group = "idnumber", member = "members" }\n')
    monkeypatch.setenv("DSS_LMS_URL", url)

    def dss(*args: str) -> Any:
        plugins = ["--plugin", "csv", "--plugin", "sql"] + (
            ["--plugin", "postgres"] if kind == "postgres" else [])
        return CliRunner().invoke(cli, ["--config", str(tmp_path / "dss.toml"), *plugins, *args])

    return dss, url, tmp_path


def test_csv_to_sql_users_and_memberships(school):
    dss, url, folder = school
    result = dss("plan", "csv2sql")
    assert result.exit_code == 0, result.output
    assert "new_users(idnumber='1')" in result.output
    assert "new_groups(idnumber='art')" in result.output
    result = dss("run", "csv2sql")
    assert result.exit_code == 0, result.output
    assert run_sql(url, "select username, full_name, email from accounts order by 1") == [
        ("1", "Ann Archer", "ann@school"), ("2", "Bob Baker", "bob@school"),
        ("3", "Cy Cole", "cy@school")]
    assert run_sql(url, "select cohort, username from cohort_members order by 1, 2") == [
        ("art", "1"), ("art", "3"), ("math", "1"), ("math", "2")]
    result = dss("plan", "csv2sql")
    assert "Nothing to do" in result.output, result.output

    # Bob leaves, Cy is renamed, Ann leaves art
    (folder / "users.csv").write_text(
        "id,full name,email\n1,Ann Archer,ann@school\n3,Cy Cole-Smith,cy@school\n")
    (folder / "memberships.csv").write_text("group,title,member\nmath,Math,1\nart,Art,3\n")
    result = dss("run", "csv2sql")
    assert result.exit_code == 0, result.output
    assert run_sql(url, "select username, full_name, suspended from accounts order by 1") == [
        ("1", "Ann Archer", False), ("2", "Bob Baker", True), ("3", "Cy Cole-Smith", False)]
    assert run_sql(url, "select cohort, username from cohort_members order by 1, 2") == [
        ("art", "3"), ("math", "1")]
    assert "Nothing to do" in dss("plan", "csv2sql").output


def test_configuration_errors_exit_2_with_one_line(school, monkeypatch):
    dss, url, folder = school
    run_sql(url, "alter table cohorts rename column title to name")
    result = dss("run", "csv2sql")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "has no column 'title'" in result.stderr and "Traceback" not in result.output
    assert run_sql(url, "select count(*) from accounts") == [(0,)]

    bad = ("postgresql://sync:hunter22@127.0.0.1:1/lms" if url.startswith("postgresql")
           else "mysql+pymysql://sync:hunter22@127.0.0.1:1/lms")
    monkeypatch.setenv("DSS_LMS_URL", bad)
    result = dss("run", "csv2sql")
    assert result.exit_code == 2
    assert "cannot connect to" in result.stderr and "***" in result.stderr
    assert "hunter22" not in result.output + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
