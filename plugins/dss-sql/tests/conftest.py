"""Shared helpers of dss-sql's tests: models, the schema, and the trees of a users+groups sync."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
import sqlalchemy as sa
from dss_sql import LinkMap, SQLMapping, TableMap

from dss_core import Branch, Config, Datastore, Model, Tree

# the test plugin packages under plugins/ are installed by the tests, not collected as tests
collect_ignore = ["plugins"]


class Person(Model):
    name: str
    email: str = ""
    courses: set[str] = set()


class Group(Model):
    title: str
    members: set[str] = set()


def create_schema(url: str) -> None:
    """The destination's tables: accounts (+ courses link), cohorts (+ members link)."""
    md = sa.MetaData()
    sa.Table("accounts", md,
             sa.Column("username", sa.String(64), primary_key=True),
             sa.Column("full_name", sa.String(200), nullable=False),
             sa.Column("email", sa.String(200), nullable=False, server_default=""),
             sa.Column("suspended", sa.Boolean, nullable=False, server_default=sa.false()))
    sa.Table("account_courses", md,
             sa.Column("username", sa.String(64), primary_key=True),
             sa.Column("course", sa.String(64), primary_key=True))
    sa.Table("cohorts", md,
             sa.Column("code", sa.String(64), primary_key=True),
             sa.Column("title", sa.String(200), nullable=False))
    sa.Table("cohort_members", md,
             sa.Column("cohort", sa.String(64), primary_key=True),
             sa.Column("username", sa.String(64), primary_key=True))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    md.create_all(engine)
    engine.dispose()


def make_mapping(retire: bool = True) -> SQLMapping:
    return SQLMapping(
        users=TableMap("accounts", key="username", columns={"name": "full_name"},
                       links={"courses": LinkMap("account_courses", owner="username",
                                                 member="course")},
                       retire={"suspended": True} if retire else None),
        groups=TableMap("cohorts", key="code",
                        links={"members": ("cohort_members", "cohort", "username")}),
    )


def make_trees(source_records: dict[str, Iterable[Any]], mapping: SQLMapping,
               handler: type | None = None) -> tuple[type[Tree], type[Tree]]:
    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer=list(source_records.get("users", [])))
        groups = Branch(Group, importer=list(source_records.get("groups", [])))

    class LMS(Tree):
        name = "lms"
        handler = None
        users = Branch(Person, importer=mapping.importer("users"))
        groups = Branch(Group, importer=mapping.importer("groups"))

    LMS.handler = handler or mapping.handler()
    return SIS, LMS


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        out = [tuple(r) for r in conn.exec_driver_sql(sql)]
    engine.dispose()
    return out


@pytest.fixture
def sync() -> Callable[..., Any]:
    """``sync(url, records, mapping=None, handler=None)`` -> (source, dest) loaded trees."""

    def make(url: str, records: dict[str, Iterable[Any]], mapping: SQLMapping | None = None,
             handler: type | None = None) -> tuple[Tree, Tree]:
        SIS, LMS = make_trees(records, mapping or make_mapping(), handler)
        config = Config({"trees": {"lms": {"url": url}}}, environ={})
        source, (dest,) = Datastore("t", SIS, [LMS]).open(config)
        source.load()
        dest.load()
        return source, dest

    return make


SOURCE = {
    "users": [
        {"idnumber": "ann", "name": "Ann A", "email": "ann@x", "courses": "math"},
        {"idnumber": "ann", "name": "Ann A", "email": "ann@x", "courses": "art"},
        {"idnumber": "bob", "name": "Bob B", "email": "bob@x"},
    ],
    "groups": [
        {"idnumber": "g1", "title": "Group 1", "members": ["ann", "bob"]},
        {"idnumber": "g2", "title": "Group 2", "members": []},
    ],
}


@pytest.fixture
def kit() -> Any:
    """This module: the models, schema and helpers above (test files cannot import conftest)."""
    import sys

    return sys.modules[__name__]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("mariadb", marks=pytest.mark.mariadb)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh, empty database: SQLite, then PostgreSQL and MariaDB (skipped when down)."""
    return str(request.getfixturevalue(f"dss_{request.param}_url"))


def plan(source: Tree, dest: Tree) -> list[str]:
    return [a.message for a in source - dest]


def apply(source: Tree, dest: Tree) -> Any:
    from dss_core import Run
    from dss_core.runner import execute

    run = Run.create("apply", source.plugins, source.config)
    run.options["quiet"] = True
    return execute(run, source, [dest], load=False)
