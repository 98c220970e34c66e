"""PostgresHandler's batched writes: COPY for large inserts, ON CONFLICT in batches.

Each plan is applied twice to the same starting tables, in batches and one
action at a time (``batch_actions = 0``); the rows and every result must be
the same, and the batched handler must have used COPY where it says it does.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from dss_postgres import PostgresMapping
from dss_sql import NOW, LinkMap, TableMap

from dss_core import Action, Branch, Config, Datastore, Model, Result, Status, Tree

pytestmark = pytest.mark.postgres


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
                out = sorted((tuple(r) for r in result), key=repr)
    engine.dispose()
    return out


SCHEMA = (
    "drop table if exists accounts, account_courses, cohorts, cohort_members",
    "create table accounts (username varchar(64) primary key, full_name varchar(40) not null, "
    "suspended boolean not null default false, created timestamp)",
    "create table account_courses (username text, course text, primary key (username, course))",
    "create table cohorts (code text primary key, title text not null, "
    "stamped timestamp not null)",
    "create table cohort_members (cohort text, username text, primary key (cohort, username))",
)

MAPPING = PostgresMapping(
    users=TableMap("accounts", key="username", columns={"name": "full_name"},
                   links={"courses": LinkMap("account_courses", "username", "course")},
                   retire={"suspended": True}),
    groups=TableMap("cohorts", key="code", defaults={"stamped": NOW},  # NOW: an INSERT, not COPY
                    links={"members": LinkMap("cohort_members", "cohort", "username")}),
)

QUERIES = ("select username, full_name, suspended from accounts",
           "select username, course from account_courses",
           "select code, title, stamped is not null from cohorts",
           "select cohort, username from cohort_members")


def handler(batch_actions: int, copies: list[tuple[str, int]]) -> type:
    class Recording(MAPPING.handler()):  # type: ignore[misc]
        def copy(self, table: Any, rows: list[dict[str, Any]]) -> None:
            copies.append((table.name, len(rows)))
            super().copy(table, rows)

        def handle_units(self, units: Sequence[Sequence[Action]]) -> list[list[Result]]:
            copies.append((units[0][0].method, -sum(map(len, units))))  # a batch: first method, size
            return super().handle_units(units)

    Recording.batch_actions = batch_actions
    return Recording


def apply(url: str, records: dict[str, list[dict[str, Any]]], batch_actions: int,
          copies: list[tuple[str, int]] | None = None,
          between: Callable[[str], None] | None = None) -> list[tuple[str, Status, str, str | None]]:
    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer=list(records.get("users", [])))
        groups = Branch(Group, importer=list(records.get("groups", [])))

    class LMS(Tree):
        name = "lms"
        users = Branch(Person, importer=MAPPING.importer("users"))
        groups = Branch(Group, importer=MAPPING.importer("groups"))

    LMS.handler = handler(batch_actions, copies if copies is not None else [])
    config = Config({"trees": {"lms": {"url": url}}}, environ={})
    source, (dest,) = Datastore("pg", SIS, [LMS]).open(config)
    source.load()
    dest.load()
    if between is not None:  # after the plan is made, before it is applied
        between(url)
    summary = source.apply(dest, allow_deletions=100_000)
    return [(r.action.key, r.status, r.message, r.handler) for r in summary.results]


def both(url: str, nights: list[dict[str, list[dict[str, Any]]]],
         between: Callable[[str], None] | None = None) -> tuple[Any, Any, list[tuple[str, int]]]:
    """The last night applied in batches and one at a time, after the nights before it."""
    outcomes = []
    copies: list[tuple[str, int]] = []
    for size in (500, 0):
        run_sql(url, *SCHEMA)
        for night in nights[:-1]:
            apply(url, night, 0)
        done = apply(url, nights[-1], size, copies if size else None, between)
        outcomes.append((done, [run_sql(url, q) for q in QUERIES]))
    return outcomes[0], outcomes[1], copies


def people(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"idnumber": f"p{i:04}", "name": f"Person {i}", "courses": [f"c{i % 4}", f"d{i % 3}"]}
            for i in range(start, n)]


def test_a_large_first_sync_is_copied(dss_postgres_url):
    records = {"users": people(700),
               "groups": [{"idnumber": f"g{g}", "title": f"G{g}",
                           "members": [f"p{i:04}" for i in range(g, 700, 5)]} for g in range(5)]}
    batched, plain, copies = both(dss_postgres_url, [records])
    assert batched == plain
    assert {s for _, s, _, _ in batched[0]} == {Status.SUCCESS}
    # 700 new users: two batches, each COPYing its rows and its link rows; the groups' rows hold
    # NOW (a SQL expression): inserted, their 700 link rows copied
    assert copies == [("new_users", -500), ("accounts", 500), ("account_courses", 1000),
                      ("new_users", -200), ("accounts", 200), ("account_courses", 400),
                      ("new_groups", -5), ("cohort_members", 700)]


def test_a_value_too_long_in_a_copied_batch_fails_alone(dss_postgres_url):
    records = {"users": people(300)}
    records["users"][42]["name"] = "x" * 41  # full_name is varchar(40)
    batched, plain, copies = both(dss_postgres_url, [records])
    assert batched == plain
    failed = [(key, message) for key, status, message, _ in batched[0] if status is Status.FAILURE]
    assert failed == [("lms:users:new_users:p0042",
                       "value too long for type character varying(40)")]
    assert ("accounts", 300) in copies
    assert len(batched[1][0]) == 299


def test_retired_rows_come_back_in_a_batch_of_new_ones(dss_postgres_url):
    first = {"users": people(200)}
    second = {"users": people(200, 100)}            # p0000-p0099 retired
    third = {"users": people(150) + people(400, 300)}  # p0000-p0149 back, 100 new
    batched, plain, copies = both(dss_postgres_url, [first, second, third])
    assert batched == plain
    assert {s for _, s, _, _ in batched[0]} == {Status.SUCCESS}
    assert ("new_users", -250) in copies  # one batch of the branch: 200 new (100 revived), 50 old
    assert ("accounts", 100) in copies  # the new ones; the 100 revived through ON CONFLICT, alone
    rows = batched[1][0]
    assert len(rows) == 300 and sum(1 for r in rows if r[2]) == 50  # p0150-p0199 retired


def test_adds_of_link_rows_already_there_are_harmless_in_a_batch(dss_postgres_url):
    first = {"users": people(50),
             "groups": [{"idnumber": f"g{g}", "title": "G", "members": []} for g in range(30)]}
    later = copy.deepcopy(first)
    for g, group in enumerate(later["groups"]):
        group["members"] = [f"p{g:04}"]

    def between(url: str) -> None:  # a third of them made by someone else after the plan
        run_sql(url, *(f"insert into cohort_members values ('g{g}', 'p{g:04}')" for g in range(0, 30, 3)))

    batched, plain, copies = both(dss_postgres_url, [first, later], between)
    assert batched == plain
    assert {s for _, s, _, _ in batched[0]} == {Status.SUCCESS}
    assert ("add_members_to_groups", -30) in copies
    assert len(batched[1][3]) == 30
