"""dss-postgres: URLs and libpq settings, the three read methods, ON CONFLICT writes, a full sync."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import pytest
import sqlalchemy as sa
from dss_postgres import PostgresImporter, PostgresMapping, postgres_url
from dss_sql import LinkMap, TableMap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dss_core import (
    Branch,
    Config,
    ConfigurationError,
    Datastore,
    Model,
    Status,
    Tree,
)
from dss_core.runner import Run, execute
from dss_core.testing import check_conformance, snapshot


class Person(Model):
    name: str
    year: int = 0
    active: bool = True
    courses: set[str] = set()


class Group(Model):
    title: str
    members: set[str] = set()


def run_sql(url: str, *statements: str, params: Any = None) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    out: list[tuple[Any, ...]] = []
    with engine.begin() as conn:
        for statement in statements:
            result = conn.execute(sa.text(statement), params or {})
            if result.returns_rows:
                out = [tuple(r) for r in result]
    engine.dispose()
    return out


def create_schema(url: str) -> None:
    run_sql(url,
            "create table accounts (username text primary key, full_name text not null, "
            "year integer not null default 0, active boolean not null default true, "
            "suspended boolean not null default false, email text unique)",
            "create table account_courses (username text, course text, primary key (username, course))",
            "create table cohorts (code text primary key, title text not null)",
            "create table cohort_members (cohort text, username text, primary key (cohort, username))")


MAPPING = PostgresMapping(
    users=TableMap("accounts", key="username", columns={"name": "full_name"},
                   links={"courses": LinkMap("account_courses", "username", "course")},
                   retire={"suspended": True}),
    groups=TableMap("cohorts", key="code", links={"members": ("cohort_members", "cohort", "username")}),
)


def trees(records: dict[str, list[dict[str, Any]]], mapping: PostgresMapping = MAPPING,
          handler: type | None = None) -> Datastore:
    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer=list(records.get("users", [])))
        groups = Branch(Group, importer=list(records.get("groups", [])))

    class LMS(Tree):
        name = "lms"
        users = Branch(Person, importer=mapping.importer("users"))
        groups = Branch(Group, importer=mapping.importer("groups"))

    LMS.handler = handler or mapping.handler()
    return Datastore("pg", SIS, [LMS])


def opened(datastore: Datastore, url: str, **lms: Any) -> tuple[Tree, Tree]:
    config = Config({"trees": {"lms": {"url": url, **lms}}}, environ={})
    source, (dest,) = datastore.open(config)
    return source.load(), dest.load()


def apply(source: Tree, dest: Tree) -> Any:
    run = Run.create("apply", source.plugins, source.config)
    run.options["quiet"] = True
    return execute(run, source, [dest], load=False)


SOURCE = {
    "users": [
        {"idnumber": "ann", "name": "Ann", "year": 10, "courses": ["math", "art"]},
        {"idnumber": "bob", "name": "Bob", "year": 11, "active": False},
    ],
    "groups": [{"idnumber": "g1", "title": "One", "members": ["ann", "bob"]}],
}


# -- URLs --------------------------------------------------------------------------

def test_plain_urls_are_rewritten_for_psycopg():
    assert postgres_url("postgresql://u:p@h:5/db") == "postgresql+psycopg://u:p@h:5/db"
    assert postgres_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert postgres_url("postgresql+psycopg2://h/db") == "postgresql+psycopg://h/db"
    with pytest.raises(ConfigurationError, match="not a PostgreSQL url"):
        postgres_url("mysql://h/db")


def test_libpq_environment_when_no_url_is_set():
    env = {"PGHOST": "db.example", "PGPORT": "6543", "PGUSER": "sync", "PGDATABASE": "lms",
           "PGPASSWORD": "s3cr3t"}
    url = postgres_url(None, env)
    assert url == "postgresql+psycopg://sync@db.example:6543/lms"
    assert "s3cr3t" not in url  # libpq reads PGPASSWORD itself
    assert postgres_url(None, {}) == "postgresql+psycopg://"


@pytest.mark.postgres
def test_reads_through_the_libpq_environment(dss_postgres_url, monkeypatch):
    url = sa.make_url(dss_postgres_url)
    create_schema(dss_postgres_url)
    run_sql(dss_postgres_url, "insert into accounts (username, full_name) values ('x', 'X')")

    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer=PostgresImporter)

    monkeypatch.setenv("PGOPTIONS", url.query["options"])  # the test schema as search path
    environ = {"PGHOST": url.host, "PGPORT": str(url.port), "PGUSER": url.username,
               "PGDATABASE": url.database}
    config = Config({"trees": {"sis": {"users": {"table": "accounts", "key": "username",
                                                  "rename": {"full_name": "name"}}}}},
                    environ=environ)
    assert list(SIS(config=config).load().users) == ["x"]


# -- reading -------------------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.parametrize("method", ["copy", "cursor", "stream"])
def test_every_read_method_gives_the_same_records(dss_postgres_url, method):
    create_schema(dss_postgres_url)
    run_sql(dss_postgres_url,
            "insert into accounts (username, full_name, year, active) values "
            "('a', 'A 100%', 1, true), ('b', 'B', 2, false), ('c', 'C''s', 3, true)",
            "insert into account_courses values ('a', 'x'), ('a', 'y'), ('c', 'z')")

    class Joined(PostgresImporter):
        query = ("select a.username as idnumber, a.full_name as name, a.year, a.active, "
                 "c.course as courses from accounts a left join account_courses c "
                 "using (username) where a.full_name like '%' order by 1, 5")

    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer=Joined)

    config = Config({"trees": {"sis": {"url": dss_postgres_url, "users": {"method": method}}}},
                    environ={})
    users = SIS(config=config).load().users
    assert {i: (o.name, o.year, o.active, o.courses) for i, o in users.items()} == {
        "a": ("A 100%", 1, True, {"x", "y"}), "b": ("B", 2, False, set()),
        "c": ("C's", 3, True, {"z"})}
    assert str(users["a"].dss_origin) == "query row 1"


@pytest.mark.postgres
def test_the_registered_importer_and_an_unknown_method(dss_postgres_url):
    from dss_core.plugins import build_plugin_manager

    create_schema(dss_postgres_url)
    run_sql(dss_postgres_url, "insert into accounts (username, full_name) values ('x', 'X')")

    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer="postgres")

    settings_ = {"table": "accounts", "key": "username", "rename": {"full_name": "name"}}
    pm = build_plugin_manager(only=["postgres"])
    plain = dss_postgres_url.replace("postgresql+psycopg://", "postgresql://")
    config = Config({"trees": {"sis": {"url": plain, "users": settings_}}}, environ={})
    assert list(SIS(config=config, plugins=pm).load().users) == ["x"]
    config = Config({"trees": {"sis": {"url": plain, "users": {**settings_, "method": "fast"}}}},
                    environ={})
    with pytest.raises(ConfigurationError, match="method must be one of cursor, copy, stream"):
        SIS(config=config, plugins=pm).load()


@pytest.mark.postgres
@pytest.mark.parametrize("method", ["copy", "cursor"])
def test_missing_column_in_a_raw_read_is_one_line(dss_postgres_url, method):
    create_schema(dss_postgres_url)

    class Bad(PostgresImporter):
        query = "select username as idnumber, fullname as name from accounts"

    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer=Bad)

    config = Config({"trees": {"sis": {"url": dss_postgres_url, "users": {"method": method}}}},
                    environ={})
    with pytest.raises(ConfigurationError, match='column "fullname" does not exist') as info:
        SIS(config=config).load()
    assert "\n" not in str(info.value)


def test_unreachable_server_does_not_print_the_password():
    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer=PostgresImporter)

    config = Config({"trees": {"sis": {"url": "postgresql://sync:hunter22@127.0.0.1:1/lms",
                                       "users": {"table": "accounts"}}}}, environ={})
    with pytest.raises(ConfigurationError, match="cannot connect to") as info:
        SIS(config=config).load()
    assert "hunter22" not in str(info.value) and "sync:***@" in str(info.value)


def test_plugin_module_imports_neither_sqlalchemy_nor_psycopg():
    code = ("import sys\n"
            "from dss_core.plugins import build_plugin_manager, find_importer\n"
            "pm = build_plugin_manager(only=['postgres'])\n"
            "assert find_importer(pm, 'postgres').__name__ == 'PostgresImporter'\n"
            "heavy = [m for m in ('sqlalchemy', 'psycopg') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- writing -------------------------------------------------------------------------

@pytest.mark.postgres
def test_full_sync_retire_and_come_back_with_on_conflict(dss_postgres_url):
    create_schema(dss_postgres_url)
    source, dest = opened(trees(SOURCE), dss_postgres_url)
    summary = apply(source, dest)
    assert summary.failed == 0
    assert run_sql(dss_postgres_url, "select username, full_name, year, active, suspended from accounts "
                                 "order by 1") == [("ann", "Ann", 10, True, False),
                                                   ("bob", "Bob", 11, False, False)]
    source, dest = opened(trees(SOURCE), dss_postgres_url)
    assert list(source - dest) == []
    gone = {"users": SOURCE["users"][:1], "groups": [dict(SOURCE["groups"][0], members=["ann"])]}
    source, dest = opened(trees(gone), dss_postgres_url)
    assert [a.message for a in source - dest] == [
        "remove_members_from_groups(idnumber='g1', attribute='members', value='bob')",
        "old_users(idnumber='bob')"]
    assert apply(source, dest).failed == 0
    source, dest = opened(trees(gone), dss_postgres_url)
    assert list(source - dest) == []
    back = copy.deepcopy(SOURCE)
    back["users"][1].update(name="Bob again", courses=["bio"])
    statements: list[str] = []
    from dss_sql import get_engine

    engine = get_engine(dss_postgres_url)
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cur, stmt, *a: statements.append(stmt))
    source, dest = opened(trees(back), dss_postgres_url)
    assert apply(source, dest).failed == 0
    assert any("ON CONFLICT (username) DO UPDATE" in s for s in statements)
    assert run_sql(dss_postgres_url, "select full_name, suspended from accounts where username = 'bob'") \
        == [("Bob again", False)]
    source, dest = opened(trees(back), dss_postgres_url)
    assert list(source - dest) == []


@pytest.mark.postgres
def test_a_violated_constraint_fails_one_action_only(dss_postgres_url):
    create_schema(dss_postgres_url)
    run_sql(dss_postgres_url, "alter table accounts add constraint year_ok check (year < 100)")
    records = copy.deepcopy(SOURCE)
    records["users"].append({"idnumber": "cy", "name": "Cy", "year": 500})
    source, dest = opened(trees(records), dss_postgres_url, batch_size=1)
    summary = apply(source, dest)
    failed = [r for r in summary.results if r.failed]
    assert [(r.action.message, r.status) for r in failed] == [("new_users(idnumber='cy')",
                                                              Status.FAILURE)]
    assert "year_ok" in failed[0].message and "\n" not in failed[0].message
    assert run_sql(dss_postgres_url, "select username from accounts order by 1") == [("ann",), ("bob",)]
    assert len(run_sql(dss_postgres_url, "select * from cohort_members")) == 2


@pytest.mark.postgres
def test_missing_column_stops_before_any_write(dss_postgres_url):
    create_schema(dss_postgres_url)
    bad = PostgresMapping(users=TableMap("accounts", key="login"), groups=MAPPING["groups"])
    source, dest = opened(trees(SOURCE, handler=bad.handler()), dss_postgres_url)
    with pytest.raises(ConfigurationError, match="table 'accounts' has no column 'login'"):
        apply(source, dest)
    assert run_sql(dss_postgres_url, "select count(*) from accounts") == [(0,)]


@pytest.mark.postgres
def test_add_of_an_existing_link_row_is_harmless(dss_postgres_url):
    create_schema(dss_postgres_url)
    source, dest = opened(trees(SOURCE), dss_postgres_url)
    apply(source, dest)
    handler = MAPPING.handler()(dest)
    handler.begin()
    from dss_core import Action

    result = handler.handle(Action("add", "add_members_to_groups", "groups", "g1", "members", "ann"))
    handler.end(False)
    assert result.status is Status.SUCCESS
    assert len(run_sql(dss_postgres_url, "select * from cohort_members")) == 2


# -- property ------------------------------------------------------------------------

IDS = ["a", "b", "c", "d"]
people = st.dictionaries(st.sampled_from(IDS), st.tuples(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00", exclude_categories=["Cs"]),
            max_size=6), st.integers(0, 99), st.booleans(), st.sets(st.sampled_from(["x", "y"]))))
cohorts = st.dictionaries(st.sampled_from(["g1", "g2"]), st.sets(st.sampled_from(IDS)))


@pytest.mark.postgres
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=people, after=people, groups_before=cohorts, groups_after=cohorts)
def test_property_postgres_converges(dss_postgres_url, before, after, groups_before, groups_after):
    run_sql(dss_postgres_url, "drop table if exists accounts, account_courses, cohorts, cohort_members")
    create_schema(dss_postgres_url)

    def records(users: dict[str, Any], groups: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        return {"users": [{"idnumber": i, "name": n, "year": y, "active": a, "courses": c}
                          for i, (n, y, a, c) in users.items()],
                "groups": [{"idnumber": g, "title": g.upper(), "members": m}
                           for g, m in groups.items()]}

    config = Config({"trees": {"lms": {"url": dss_postgres_url}}}, environ={})
    check_conformance(trees(records(before, groups_before)), config=config)
    datastore = trees(records(after, groups_after))
    check_conformance(datastore, config=config)
    source, (dest,) = datastore.open(config)
    assert snapshot(dest.load()) == snapshot(source.load())
