"""PostgresHandler (``INSERT ... ON CONFLICT``) writes through bound parameters only, and
PostgresImporter reads back what it wrote, whatever SQL metacharacters the values hold.

The retire value itself holds metacharacters too: the raw reads (``cursor``, ``copy``)
inline it into their SQL text, so it must be quoted and its ``%`` escaped for psycopg.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from dss_postgres import PostgresImporter, PostgresMapping
from dss_sql import LinkMap, TableMap, get_engine

from dss_core import Branch, Config, Datastore, Model, Status, Tree
from dss_core.runner import Run, execute

pytestmark = pytest.mark.postgres

BOBBY = "Robert'); DROP TABLE accounts;--"
GONE = "gone'); DROP TABLE accounts;-- 100% %s \\"

MAPPING = PostgresMapping(
    users=TableMap("accounts", key="username", columns={"name": "full_name"},
                   links={"courses": LinkMap("account_courses", "username", "course")},
                   retire={"status": GONE}, active={"status": "live"}),
    groups=TableMap("cohorts", key="code", links={"members": ("cohort_members", "cohort", "username")}),
)

FIRST = {
    "users": [
        {"idnumber": BOBBY, "name": "Little Bobby Tables",
         "courses": ["math'); DROP TABLE account_courses;--", "back\\slash", "50%"]},
        {"idnumber": "o'brien", "name": "O'Brien \"the\" C:\\temp\\", "courses": ["it's"]},
        {"idnumber": "pct%", "name": "100% sure %s %(name)s %% :name ? $1 {0}"},
        {"idnumber": "zoë-张", "name": "Zoë Ångström 张伟 😀", "courses": ["Ωμέγα"]},
    ],
    "groups": [{"idnumber": "g'1", "title": "x'); DROP TABLE cohorts;--",
                "members": [BOBBY, "zoë-张"]}],
}
SECOND = {
    "users": [
        {"idnumber": BOBBY, "name": "'; UPDATE accounts SET full_name = 'pwned",
         "courses": ["back\\slash", "new'); DROP TABLE cohort_members;--"]},
        {"idnumber": "o'brien", "name": "O'Brien \"the\" C:\\temp\\", "courses": ["it's"]},
        {"idnumber": "zoë-张", "name": "Zoë Ångström 张伟 😀 ✓", "courses": ["Ωμέγα"]},
    ],
    "groups": [{"idnumber": "g'1", "title": "x'); DROP TABLE cohorts;--",
                "members": [BOBBY, "o'brien"]}],
}


class Person(Model):
    name: str
    courses: set[str] = set()


class Group(Model):
    title: str
    members: set[str] = set()


def run_sql(url: str, *statements: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    out: list[tuple[Any, ...]] = []
    with engine.begin() as conn:
        for statement in statements:
            result = conn.execute(sa.text(statement))
            if result.returns_rows:
                out = sorted(tuple(r) for r in result)
    engine.dispose()
    return out


def opened(records: dict[str, list[dict[str, Any]]], url: str, method: str) -> tuple[Tree, Tree]:
    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer=list(records["users"]))
        groups = Branch(Group, importer=list(records["groups"]))

    class LMS(Tree):
        name = "lms"
        handler = MAPPING.handler()
        users = Branch(Person, importer=MAPPING.importer("users"))
        groups = Branch(Group, importer=MAPPING.importer("groups"))

    config = Config({"trees": {"lms": {"url": url, "users": {"method": method},
                                       "groups": {"method": method}}}}, environ={})
    source, (dest,) = Datastore("pg", SIS, [LMS]).open(config)
    return source.load(), dest.load()


def apply(source: Tree, dest: Tree) -> Any:
    run = Run.create("apply", source.plugins, source.config)
    run.options["quiet"] = True
    return execute(run, source, [dest], load=False)


def accounts(records: dict[str, list[dict[str, Any]]]) -> list[tuple[Any, ...]]:
    return sorted((u["idnumber"], u["name"], "live") for u in records["users"])


def links(records: dict[str, list[dict[str, Any]]]) -> list[tuple[Any, ...]]:
    return sorted((u["idnumber"], c) for u in records["users"] for c in u.get("courses", []))


@pytest.mark.parametrize("method", ["cursor", "copy", "stream"])
def test_metacharacters_round_trip_through_on_conflict_writes(dss_postgres_url, method):
    run_sql(dss_postgres_url,
            "create table accounts (username text primary key, full_name text not null, "
            "status text not null default 'live')",
            "create table account_courses (username text, course text, primary key (username, course))",
            "create table cohorts (code text primary key, title text not null)",
            "create table cohort_members (cohort text, username text, primary key (cohort, username))")
    statements: list[str] = []
    sa.event.listen(get_engine(dss_postgres_url), "before_cursor_execute",
                    lambda conn, cursor, statement, *args: statements.append(statement))

    source, dest = opened(FIRST, dss_postgres_url, method)
    summary = apply(source, dest)
    assert [r.status for r in summary.results] == [Status.SUCCESS] * 5, [
        r.message for r in summary.results]
    assert run_sql(dss_postgres_url, "select username, full_name, status from accounts") == \
        accounts(FIRST)
    assert run_sql(dss_postgres_url, "select * from account_courses") == links(FIRST)
    assert run_sql(dss_postgres_url, "select * from cohorts") == [("g'1", "x'); DROP TABLE cohorts;--")]
    source, dest = opened(FIRST, dss_postgres_url, method)
    assert list(source - dest) == []

    # pct% is retired (status = GONE), then read back as absent: GONE is inlined in the read
    source, dest = opened(SECOND, dss_postgres_url, method)
    assert apply(source, dest).failed == 0
    assert run_sql(dss_postgres_url, "select username, full_name, status from accounts") == sorted(
        [*accounts(SECOND), ("pct%", FIRST["users"][2]["name"], GONE)])
    assert run_sql(dss_postgres_url, "select * from account_courses") == links(SECOND)
    assert run_sql(dss_postgres_url, "select * from cohort_members") == sorted(
        [("g'1", "o'brien"), ("g'1", BOBBY)])
    source, dest = opened(SECOND, dss_postgres_url, method)
    assert "pct%" not in dest.users
    assert list(source - dest) == []

    # pct% comes back: INSERT ... ON CONFLICT (username) DO UPDATE
    source, dest = opened(FIRST, dss_postgres_url, method)
    assert apply(source, dest).failed == 0
    assert any("ON CONFLICT (username) DO UPDATE" in s for s in statements)
    assert run_sql(dss_postgres_url, "select username, full_name, status from accounts") == \
        accounts(FIRST)
    source, dest = opened(FIRST, dss_postgres_url, method)
    assert list(source - dest) == []

    assert run_sql(dss_postgres_url, "select tablename from pg_tables where schemaname = "
                                 "current_schema()") == [
        ("account_courses",), ("accounts",), ("cohort_members",), ("cohorts",)]
    texts = [v for u in FIRST["users"] + SECOND["users"] for v in (u["idnumber"], u["name"])]
    inlined = [(v, s) for v in texts for s in statements if v in s]
    assert not inlined, f"source values written into the SQL text: {inlined[:3]}"


@pytest.mark.parametrize("method", ["cursor", "copy", "stream"])
def test_a_percent_sign_in_a_query_means_the_same_with_every_method(dss_postgres_url, method):
    run_sql(dss_postgres_url, "create table t (k text primary key, v text)",
            "insert into t values ('a', '50%'), ('b', '50%%'), ('c', '50')")

    class Percent(PostgresImporter):
        query = "select k as idnumber, v as name from t where v = '50%'"

    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer=Percent)

    config = Config({"trees": {"sis": {"url": dss_postgres_url, "users": {"method": method}}}},
                    environ={})
    assert {i: o.name for i, o in SIS(config=config).load().users.items()} == {"a": "50%"}
