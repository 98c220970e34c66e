"""dss-postgres's columnar reader gives exactly the object path's branches and plans, by every method.

:class:`~dss_postgres.PostgresImporter` reads a table as columns through
``COPY ... (FORMAT csv)`` into polars (or, for a query whose row order the
method decides, the method's own reading); the object path is the same
importer with ``read_columns`` giving None. Random tables of every column
type the COPY path serves and some it does not (real PostgreSQL).
"""

from __future__ import annotations

import os
import sys
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from dss_postgres import PostgresImporter, PostgresMapping
from dss_postgres.columnar import plain
from dss_sql import LinkMap, TableMap
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dss_core import Model
from dss_core.testing import branch_outcome, object_path

pytestmark = pytest.mark.postgres

METHODS = ["cursor", "copy", "stream"]


class Person(Model):
    """Text, numbers, a yes/no, and a list column read as a set."""

    name: str = ""
    code: str = ""
    email: str | None = None
    grade: int | None = None
    big: int | None = None
    active: bool | None = None
    score: float | None = None
    groups: set[str] = set()


class People(PostgresImporter):
    """The table ``people``, its ``groups`` a list column."""

    table = "people"
    list_columns: ClassVar[dict[str, str]] = {"groups": ";"}


def outcome(url: str, dest: type[PostgresImporter], method: str, model: type[Model] = Person,
            source: Any = None) -> dict[str, Any]:
    """The destination's objects, origins and columns, and the plan against ``source``."""
    return branch_outcome(model, dest, {"url": url, "users": {"method": method}}, source or [])


def same(url: str, fast: type[PostgresImporter], method: str, **kw: Any) -> bool:
    """Assert the columnar outcome is the object path's; True when it was columnar."""
    got = outcome(url, fast, method, **kw)
    want = outcome(url, object_path(fast), method, **kw)
    assert want.pop("columnar", False) is False
    used = bool(got.pop("columnar", False))
    assert got == want
    return used


# name, SQL type, values
COLUMNS = {
    "idnumber": "varchar(20)", "name": "text", "code": "char(4)", "email": "varchar(50)",
    "grade": "smallint", "big": "bigint", "active": "boolean", "score": "double precision",
    "groups": "text", "note": "numeric",
}
TEXT = st.one_of(st.sampled_from(["", "Ann", " pad ", "é ß", "a,b", 'say "hi"', "x\ny", "cr\rx",
                                  "\\.", "tab\tx", "NULL", "\\N", "日本"]),
                 st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8))


@st.composite
def people(draw: Any) -> tuple[list[str], list[dict[str, Any]]]:
    columns = ["idnumber", *draw(st.lists(st.sampled_from(list(COLUMNS)[1:]), unique=True))]
    clean = draw(st.integers(0, 3)) > 0
    pool = [str(n) for n in range(1, 9)] + ([] if clean else ["A1", "a1", "x y", "", None])
    values = {
        "name": TEXT, "code": st.sampled_from(["", "ab", "abcd", "é"]), "email": TEXT,
        "grade": st.integers(-32768, 32767), "big": st.integers(-2**63, 2**63 - 1),
        "active": st.booleans(), "score": st.sampled_from([0.1, -0.0, 1e20, 3.0, 2.5e-7]),
        "groups": st.sampled_from(["", "g1", "g1;g2", " g1 ; ;g3", "é;g1"]),
        "note": st.sampled_from(["1.50", "0.0000001", "7"]),
    }
    rows = []
    for idnumber in draw(st.lists(st.sampled_from(pool), max_size=8, unique=clean)):
        row = {"idnumber": idnumber}
        for name in columns[1:]:
            # NULL now and then; in a str field (never served) rarely when the ids are clean
            odds = 12 if clean and name in ("name", "code", "email") else 5
            row[name] = None if draw(st.integers(0, odds)) == 0 else draw(values[name])
        rows.append(row)
    return columns, rows


def create(url: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS people")
        conn.exec_driver_sql(f"CREATE TABLE people ({', '.join(f'{c} {COLUMNS[c]}' for c in columns)})")
        for row in rows:
            conn.execute(sa.text(f"INSERT INTO people ({', '.join(columns)}) VALUES "
                                 f"({', '.join(':' + c for c in columns)})"), row)
    engine.dispose()


@settings(max_examples=int(os.environ.get("COLUMNAR_EXAMPLES", "15")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.parametrize("method", METHODS)
def test_columnar_branch_and_plan_equal_the_object_path(dss_postgres_url: str, method: str,
                                                        data: Any) -> None:
    columns, rows = data.draw(people())
    create(dss_postgres_url, columns, rows)
    source = [{"idnumber": r["idnumber"], "name": "Ann", "grade": 3, "groups": ["g1"]}
              for r in rows if r["idnumber"]][:3] + [{"idnumber": "new"}]
    used = same(dss_postgres_url, People, method, source=source)
    event(f"{method} columnar: {used}")


@pytest.mark.parametrize("method", METHODS)
def test_a_plain_table_is_columnar_by_every_method(dss_postgres_url: str, method: str) -> None:
    create(dss_postgres_url, ["idnumber", "name", "code", "grade", "active", "groups"], [
        {"idnumber": "1", "name": 'a "b",\nc', "code": "ab", "grade": -3, "active": True,
         "groups": "g1; g2"},
        {"idnumber": "2", "name": "", "code": "", "grade": None, "active": None, "groups": None}])
    got = outcome(dss_postgres_url, People, method)
    assert got["columnar"] is True
    assert got["objects"] == [
        ("1", {"name": 'a "b",\nc', "code": "ab  ", "email": None, "grade": -3, "big": None,
               "active": True, "score": None, "groups": {"g1", "g2"}}, "people row 1 (People)"),
        ("2", {"name": "", "code": "    ", "email": None, "grade": None, "big": None,
               "active": None, "score": None, "groups": set()}, "people row 2 (People)")]
    assert same(dss_postgres_url, People, method)


class Noted(Person):
    """A field read from a numeric column."""

    note: str = ""


def test_numeric_keeps_the_object_path(dss_postgres_url: str) -> None:
    # psycopg's Decimal('1E-7') is not PostgreSQL's text 0.0000001: never proven, never served
    create(dss_postgres_url, ["idnumber", "name", "note"],
           [{"idnumber": "1", "name": "Ann", "note": "0.0000001"}])
    for method in METHODS:
        assert not same(dss_postgres_url, People, method, model=Noted)
        assert outcome(dss_postgres_url, People, method, model=Noted)["objects"][0][1]["note"] == "1E-7"
        assert same(dss_postgres_url, People, method)  # a column no field reads: served


def test_which_statements_are_plain() -> None:
    md = sa.MetaData()
    t = sa.Table("t", md, sa.Column("a", sa.Text), sa.Column("b", sa.Text))
    u = sa.Table("u", md, sa.Column("a", sa.Text))
    assert plain(sa.select(t)) and plain(sa.select(t.c.a.label("idnumber"), t.c.b))
    assert not plain(sa.select(t).where(t.c.a == "x"))
    assert not plain(sa.select(t).order_by(t.c.a))
    assert not plain(sa.select(t).limit(3))
    assert not plain(sa.select(t.c.a, u.c.a).select_from(t.join(u, t.c.a == u.c.a)))
    assert not plain(sa.text("SELECT * FROM t"))


# -- a PostgresMapping: scope, retired rows, link rows (joins: read by the method itself) ------
class Account(Model):
    """Scalars from the table, members from a link table (a list: the order of the rows kept)."""

    name: str
    email: str = ""
    courses: list[str] = []


def create_accounts(url: str, accounts: list[dict[str, Any]], links: list[dict[str, Any]]) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS account_courses, accounts")
        conn.exec_driver_sql("CREATE TABLE accounts (id serial PRIMARY KEY, username text, "
                             "full_name text, email text, suspended boolean)")
        conn.exec_driver_sql("CREATE TABLE account_courses (username text, course text)")
        if accounts:
            conn.execute(sa.text("INSERT INTO accounts (username, full_name, email, suspended) "
                                 "VALUES (:username, :full_name, :email, :suspended)"), accounts)
        if links:
            conn.execute(sa.text("INSERT INTO account_courses VALUES (:username, :course)"), links)
    engine.dispose()


@st.composite
def accounts(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    names = draw(st.lists(st.sampled_from(["ann", "bob", "cy", "dee", "Ann"]), max_size=4,
                          unique=True))
    rows = [{"username": n, "full_name": draw(st.sampled_from(["A", "é", "x,y"])),
             "email": draw(st.sampled_from(["e", "", None])),
             "suspended": draw(st.sampled_from([False, False, True, None]))} for n in names]
    courses = st.sampled_from(["math", "art", "é", " pad", "", None, "bio"])
    links = [{"username": draw(st.sampled_from([*names, "ghost"])) if names else "ghost",
              "course": draw(courses)} for _ in range(draw(st.integers(0, 8)))]
    return rows, links


@settings(max_examples=int(os.environ.get("COLUMNAR_EXAMPLES", "15")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.parametrize("method", METHODS)
def test_a_mapping_with_links_equals_the_object_path(dss_postgres_url: str, method: str,
                                                     data: Any) -> None:
    rows, links = data.draw(accounts())
    create_accounts(dss_postgres_url, rows, links)
    scope = data.draw(st.sampled_from([None, {"username": ["ann", "bob"]}]))
    mapping = PostgresMapping(users=TableMap(
        "accounts", key="username", columns={"name": "full_name"}, scope=scope,
        links={"courses": LinkMap("account_courses", owner="username", member="course")},
        retire={"suspended": True}))
    source = [{"idnumber": r["username"], "name": "A", "courses": ["math"]} for r in rows]
    used = same(dss_postgres_url, mapping.importer("users"), method, model=Account, source=source)
    event(f"{method} columnar: {used}")


def test_without_polars_the_object_path_reads(dss_postgres_url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    create(dss_postgres_url, ["idnumber", "name"], [{"idnumber": "1", "name": "Ann"}])
    monkeypatch.setitem(sys.modules, "polars", None)  # import polars: ImportError
    got = outcome(dss_postgres_url, People, "cursor")
    assert got["columnar"] is False and [o[0] for o in got["objects"]] == ["1"]
