"""dss-sql's columnar reader gives exactly the object path's branches and plans, or falls back.

A branch read by :class:`~dss_sql.SQLImporter` (a table, a query, a
``TableMap``'s importer) is stored as columns when :mod:`dss_sql.columnar`
can prove the rows equal to the records of the object path (``readin``); the
object path is the same importer with ``read_columns`` giving None. Real
SQLite, PostgreSQL and MariaDB (the ``db_url`` fixture).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from dss_sql import LinkMap, SQLImporter, SQLMapping, TableMap
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dss_core import Model
from dss_core.testing import branch_outcome, object_path


class Person(Model):
    """Every kind of scalar the columnar path serves, and a list column read as a set."""

    name: str = ""
    email: str | None = None
    grade: int | None = None
    active: bool = True
    score: float | None = None
    groups: set[str] = set()


class Account(Model):
    """A TableMap's branch: scalars from the table, members from a link table (a list: order kept)."""

    name: str
    email: str = ""
    courses: list[str] = []


class Columns(SQLImporter):
    """The table ``people``, its ``groups`` a list column."""

    table = "people"
    list_columns: ClassVar[dict[str, str]] = {"groups": ";"}


Objects = object_path(Columns)


def outcome(url: str, dest: type[SQLImporter], model: type[Model] = Person,
            source: Any = None, settings_: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything a user sees: the destination's objects and origins, its columns, the plan."""
    return branch_outcome(model, dest, {"url": url, "users": dict(settings_ or {})}, source or [])


def same(url: str, fast: type[SQLImporter], slow: type[SQLImporter], **kw: Any) -> bool:
    """Assert the columnar reading's outcome is the object path's; True when it was columnar."""
    got = outcome(url, fast, **kw)
    want = outcome(url, slow, **kw)
    assert want.pop("columnar", False) is False
    used = bool(got.pop("columnar", False))
    assert got == want
    return used


def create_people(url: str, rows: list[dict[str, Any]], score: bool = True) -> None:
    """The table ``people`` (without ``score``: MariaDB's FLOAT values are converted by SQLAlchemy)."""
    md = sa.MetaData()
    table = sa.Table("people", md,
                     sa.Column("idnumber", sa.String(40)), sa.Column("name", sa.Text),
                     sa.Column("email", sa.String(200)), sa.Column("grade", sa.BigInteger),
                     sa.Column("active", sa.Integer),
                     *([sa.Column("score", sa.Float)] if score else []),
                     sa.Column("groups", sa.String(200)), sa.Column("note", sa.String(20)))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        md.drop_all(conn)
        md.create_all(conn)
        if rows:
            conn.execute(table.insert(), [{k: v for k, v in r.items() if k in table.c} for r in rows])
    engine.dispose()


# -- the property: random tables --------------------------------------------------------
IDS = [str(n) for n in range(1, 10)] + ["A1", "a1", "x y", "", None]
TEXT = st.one_of(st.sampled_from(["", "Ann", "ann", " Ann ", "é ß", "a;b", "line\nbreak",
                                  'say "hi"', "tab\tx", "cr\rx", "日本"]),
                 st.text(st.characters(codec="utf-8", max_codepoint=0xFFFF,
                                       exclude_characters="\x00"), max_size=8))
GROUPS = st.sampled_from([None, "", "g1", "g1;g2", " g1 ; ;g3", "é;g1", "g3;g3", ";"])


@st.composite
def people(draw: Any) -> list[dict[str, Any]]:
    clean = draw(st.integers(0, 3)) > 0  # mostly what the columnar path serves
    pool = IDS[:9] if clean else IDS
    out = []
    for idnumber in draw(st.lists(st.sampled_from(pool), max_size=8, unique=clean)):
        def maybe(values: Any, null: bool = True) -> Any:
            return None if null and draw(st.integers(0, 4)) == 0 else draw(values)
        out.append({
            "idnumber": idnumber,
            "name": maybe(TEXT, not clean),
            "email": maybe(TEXT, not clean),
            "grade": maybe(st.integers(-2**40, 2**40)),
            "active": draw(st.sampled_from([0, 1])) if clean else maybe(st.integers(0, 2)),
            "score": maybe(st.sampled_from([0.1, -0.0, 1e20, 3.0, 2.5e-7, 123456.789])),
            "groups": draw(GROUPS),
            "note": maybe(TEXT),
        })
    return out


def source_records(rows: list[dict[str, Any]], draw: Any) -> list[dict[str, Any]]:
    """A source close to the table: most rows as they are, some changed, one new."""
    out = []
    for row in rows:
        if row["idnumber"] in (None, "") or row["active"] not in (0, 1):
            continue
        record = {"idnumber": row["idnumber"], "name": row["name"] or "",
                  "email": row["email"], "grade": row["grade"], "active": bool(row["active"]),
                  "score": row["score"],
                  "groups": [g.strip() for g in (row["groups"] or "").split(";") if g.strip()]}
        if draw(st.integers(0, 3)) == 0:
            record[draw(st.sampled_from(["name", "email", "grade", "groups"]))] = draw(
                st.sampled_from(["changed", None, 7]))
        out.append(record)
    out.append({"idnumber": "new", "name": "N"})
    return out


@settings(max_examples=int(os.environ.get("COLUMNAR_EXAMPLES", "15")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_columnar_branch_and_plan_equal_the_object_path(db_url: str, data: Any) -> None:
    rows = data.draw(people())
    score = data.draw(st.booleans())
    create_people(db_url, rows, score)
    if not score:
        for row in rows:
            row["score"] = None
    source = source_records(rows, data.draw)
    used = same(db_url, Columns, Objects, source=source)
    event(f"columnar: {used}")
    if used:  # what it served holds no case it must refuse
        assert all(r["idnumber"] not in (None, "") and r["name"] is not None for r in rows)


SOURCE = [{"idnumber": "1", "name": "Ann", "email": "a@x", "grade": 4, "groups": ["g1", "g2"]}]


def test_a_clean_table_is_columnar_with_row_origins(db_url: str) -> None:
    create_people(db_url, [
        {"idnumber": "1", "name": "Ann", "email": "a@x", "grade": 3, "active": 1,
         "groups": "g1; g2", "note": None},
        {"idnumber": "2", "name": "", "email": "", "grade": None, "active": 0,
         "groups": None, "note": "x"},
    ], score=False)
    got = outcome(db_url, Columns, source=SOURCE)
    assert got["columnar"] is True
    assert got["objects"] == [
        ("1", {"name": "Ann", "email": "a@x", "grade": 3, "active": True, "score": None,
               "groups": {"g1", "g2"}}, "people row 1 (Columns)"),
        ("2", {"name": "", "email": "", "grade": None, "active": False, "score": None,
               "groups": set()}, "people row 2 (Columns)")]
    assert got["columns"] == ["active", "email", "grade", "groups", "idnumber", "name", "note"]
    assert [a[0] for a in got["actions"]] == [
        "update_grade(idnumber='1', attribute='grade', value=4)", "old_users(idnumber='2')"]
    assert same(db_url, Columns, Objects, source=SOURCE)


@pytest.mark.parametrize(("row", "why"), [
    ({"idnumber": None}, "a NULL idnumber is a bad record"),
    ({"name": None}, "None in a str field is not ''"),
    ({"email": None}, "nor in an optional one"),
    ({"active": None}, "a required bool's None"),
    ({"active": 2}, "2 is no yes/no value: the object path says so"),
    ({"idnumber": "A1 "}, "an idnumber to strip"),
])
def test_what_it_must_not_serve_falls_back(db_url: str, row: dict[str, Any], why: str) -> None:
    base = {"idnumber": "1", "name": "Ann", "email": "", "grade": 3, "active": 1, "score": None,
            "groups": "g1", "note": None}
    create_people(db_url, [base, {**base, "idnumber": "2", **row}])
    assert not same(db_url, Columns, Objects), why


def test_an_importer_reading_its_own_way_keeps_the_object_path(db_url: str) -> None:
    create_people(db_url, [{"idnumber": "1", "name": "Ann", "active": 1}])

    class Own(Columns):
        def rows(self, conn: Any) -> Iterator[Any]:
            for row in super().rows(conn):
                yield {**row, "name": "changed"}

    got = outcome(db_url, Own)
    assert got["columnar"] is False and got["objects"][0][1]["name"] == "changed"


def test_a_converted_column_type_keeps_the_object_path(dss_sqlite_url: str) -> None:
    # SQLAlchemy turns a SQLite BOOLEAN's 1 into True: the driver's value is not the record's
    engine = sa.create_engine(dss_sqlite_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE people (idnumber TEXT, name TEXT, active BOOLEAN)")
        conn.exec_driver_sql("INSERT INTO people VALUES ('1', 'Ann', 1)")
    engine.dispose()

    class Typed(SQLImporter):
        table = "people"

    Plain = object_path(Typed)

    assert not same(dss_sqlite_url, Typed, Plain)
    assert outcome(dss_sqlite_url, Plain)["objects"][0][1]["active"] is True


def test_a_query_of_any_types_in_sqlite(dss_sqlite_url: str) -> None:
    # SQLite's columns hold any type: an int in a text column is str(int), a real its repr
    engine = sa.create_engine(dss_sqlite_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id, name, grade, score)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1, 'Ann', '3', 2), (2, 5, 4, 1.5), "
                             "(3, 1.25, 5, '7')")
    engine.dispose()

    class Query(SQLImporter):
        query = "SELECT id AS idnumber, name, grade, score FROM t"

    Plain = object_path(Query)

    assert same(dss_sqlite_url, Query, Plain)
    got = outcome(dss_sqlite_url, Query)
    assert [o[1]["name"] for o in got["objects"]] == ["Ann", "5", "1.25"]
    assert [o[1]["score"] for o in got["objects"]] == [2.0, 1.5, 7.0]


# -- TableMap importers: scope, retired rows, link tables ---------------------------------
def create_accounts(url: str, accounts: list[dict[str, Any]], links: list[dict[str, Any]]) -> None:
    md = sa.MetaData()
    acc = sa.Table("accounts", md, sa.Column("id", sa.Integer, primary_key=True),
                   sa.Column("username", sa.String(40)), sa.Column("full_name", sa.String(200)),
                   sa.Column("email", sa.String(200)), sa.Column("suspended", sa.Integer))
    link = sa.Table("account_courses", md, sa.Column("username", sa.String(40)),
                    sa.Column("course", sa.String(40)))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        md.drop_all(conn)
        md.create_all(conn)
        if accounts:
            conn.execute(acc.insert(), [{"id": i, **a} for i, a in enumerate(accounts, 1)])
        if links:
            conn.execute(link.insert(), links)
    engine.dispose()


def mapped(scope: Any = None) -> tuple[type[SQLImporter], type[SQLImporter]]:
    m = SQLMapping(users=TableMap(
        "accounts", key="username", columns={"name": "full_name"}, scope=scope,
        links={"courses": LinkMap("account_courses", owner="username", member="course")},
        retire={"suspended": 1}))
    fast = m.importer("users")
    slow = m.importer("users", read_columns=lambda self: None)
    return fast, slow


COURSES = ["math", "art", "é", " pad", "", None, "x\x1fy", "bio"]


@st.composite
def accounts(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    names = draw(st.lists(st.sampled_from(["ann", "bob", "cy", "dee", "dept-1", "Ann"]),
                          max_size=5, unique=True))
    rows = [{"username": n, "full_name": draw(st.sampled_from(["A", "B", "é"])),
             "email": draw(st.sampled_from(["", "x@y", None])) if draw(st.integers(0, 4)) == 0
             else "e", "suspended": draw(st.sampled_from([0, 0, 1, None]))} for n in names]
    links = [{"username": draw(st.sampled_from([*names, "ghost"])) if names else "ghost",
              "course": draw(st.sampled_from(COURSES[:3] if draw(st.integers(0, 2)) else COURSES))}
             for _ in range(draw(st.integers(0, 8)))]
    return rows, links


@settings(max_examples=int(os.environ.get("COLUMNAR_EXAMPLES", "15")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_a_table_map_with_links_equals_the_object_path(db_url: str, data: Any) -> None:
    rows, links = data.draw(accounts())
    create_accounts(db_url, rows, links)
    scope = data.draw(st.sampled_from([None, {"username": ["ann", "bob", "dept-1"]}]))
    fast, slow = mapped(scope)
    source = [{"idnumber": r["username"], "name": "A", "courses": ["math", "bio"]} for r in rows]
    used = same(db_url, fast, slow, model=Account, source=source)
    event(f"columnar: {used}")


def test_a_table_map_merges_link_rows_in_order(db_url: str) -> None:
    create_accounts(db_url, [
        {"username": "ann", "full_name": "Ann", "email": "a", "suspended": 0},
        {"username": "bob", "full_name": "Bob", "email": "b", "suspended": 1},
        {"username": "cy", "full_name": "Cy", "email": "c", "suspended": 0}],
        [{"username": "ann", "course": "math"}, {"username": "cy", "course": "art"},
         {"username": "ann", "course": "art"}, {"username": "bob", "course": "bio"},
         {"username": "ann", "course": "math"}])
    fast, slow = mapped()
    got = outcome(db_url, fast, model=Account)
    assert got["columnar"] is True
    # each once, in the order the database gives the link rows (the object path's: same() below)
    assert [(i, sorted(v["courses"])) for i, v, _ in got["objects"]] == [
        ("ann", ["art", "math"]), ("cy", ["art"])]
    assert [o for _, _, o in got["objects"]] == [f"accounts row 1 ({fast.__name__})",
                                               f"accounts row 2 ({fast.__name__})"]
    assert got["columns"] == ["email", "idnumber", "name"]  # the first record's fields
    assert same(db_url, fast, slow, model=Account)


def test_without_polars_the_object_path_reads(dss_sqlite_url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    create_people(dss_sqlite_url, [{"idnumber": "1", "name": "Ann", "email": "", "active": 1}])
    monkeypatch.setitem(sys.modules, "polars", None)  # import polars: ImportError
    got = outcome(dss_sqlite_url, Columns)
    assert got["columnar"] is False and [o[0] for o in got["objects"]] == ["1"]


class Cohort(Model):
    """A group whose members are linked by surrogate keys (Moodle's cohort_members)."""

    title: str
    members: set[str] = set()


def test_a_link_table_of_surrogate_keys_equals_the_object_path(db_url: str) -> None:
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for sql in ("CREATE TABLE people (id INTEGER PRIMARY KEY, idnumber VARCHAR(20), "
                    "deleted INTEGER)",
                    "CREATE TABLE cohorts (id INTEGER PRIMARY KEY, code VARCHAR(20), "
                    "title VARCHAR(40))",
                    "CREATE TABLE cohort_members (cohortid INTEGER, userid INTEGER)",
                    "INSERT INTO people VALUES (1, 'u1', 0), (2, 'u2', 0), (3, 'u3', 1), (4, '', 0)",
                    "INSERT INTO cohorts VALUES (10, 'c1', 'One'), (11, 'c2', 'Two'), "
                    "(12, 'c3', 'Three')",
                    "INSERT INTO cohort_members VALUES (10, 1), (10, 2), (10, 3), (11, 2), "
                    "(11, 4), (12, 99)"):
            conn.exec_driver_sql(sql)
    engine.dispose()
    m = SQLMapping(
        users=TableMap("people", scope={"deleted": 0}),
        groups=TableMap("cohorts", key="code", links={"members": LinkMap(
            "cohort_members", owner="cohortid", member="userid", owner_id="id",
            member_table="people")}))
    fast = m.importer("groups")
    slow = m.importer("groups", read_columns=lambda self: None)
    got = outcome(db_url, fast, model=Cohort)
    assert got["columnar"] is True
    # u3 is outside the people's scope, '' is no member, 99 no row: as the object path reads them
    assert [(i, v["members"]) for i, v, _ in got["objects"]] == [
        ("c1", {"u1", "u2"}), ("c2", {"u2"}), ("c3", set())]
    assert same(db_url, fast, slow, model=Cohort,
                source=[{"idnumber": "c1", "title": "One", "members": ["u1"]}])


def test_the_whitespace_a_member_may_not_end_with_is_pythons() -> None:
    from dss_sql.columnar import SPACES

    assert "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()) == SPACES
