"""dss-sql's SQLite reading through ADBC gives the rows SQLAlchemy gives, or leaves them to it.

:func:`dss_sql.columnar.sqlite_arrow_part` reads a statement's rows into Arrow
with ADBC's SQLite driver; whatever it serves must equal
:func:`dss_sql.columnar.fetch_rows` (the rows as Python's ``sqlite3`` gives
them, made text), column by column and in the same order, and it must refuse
(None) whatever it cannot read so. Real SQLite files; the Arrow batch made
small so that several batches are read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dss_sql import columnar
from dss_sql.columnar import fetch_rows, sqlite_arrow_part
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

pytest.importorskip("adbc_driver_sqlite")
pytest.importorskip("polars")


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columnar, "ARROW_BATCH", 4)


@pytest.fixture
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("arrow") / "t.db"


def make(path: Path, decl: list[str], rows: list[tuple[Any, ...]], extra: str = "") -> None:
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as con:
        cols = ", ".join(f'"c{i}" {d}' for i, d in enumerate(decl))
        con.execute(f"CREATE TABLE t ({cols}){extra}")
        con.executemany(f"INSERT INTO t VALUES ({', '.join('?' * len(decl))})", rows)
    con.close()


def both(path: Path, stmt: Any) -> tuple[Any, Any]:
    """(the ADBC part or None, the SQLAlchemy part), read on one connection."""
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if isinstance(stmt, str):
                stmt = sa.text(stmt) if " " in stmt else sa.select(
                    sa.Table(stmt, sa.MetaData(), autoload_with=conn))
            return sqlite_arrow_part(conn, stmt), fetch_rows(conn, stmt)
    finally:
        engine.dispose()


def assert_same(got: Any, want: Any) -> None:
    assert want is not None
    assert got.names == want.names
    assert got.height == want.height
    assert got.only_str == want.only_str
    for a, b in zip(got.columns, want.columns, strict=True):
        assert b is not None
        assert a.to_list() == b.to_list()


VALUES = st.one_of(
    st.none(), st.text(max_size=6), st.sampled_from(["", "Ann", "é ß", "a\x00b", "日本", "1", "1.5"]),
    st.integers(-2**63, 2**63 - 1), st.sampled_from([0.1, 1e20, -0.0, 3.0]), st.binary(max_size=3))
DECLS = st.sampled_from(["TEXT", "VARCHAR(20)", "", "INTEGER", "REAL", "BLOB", "NUMERIC"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_what_it_serves_equals_sqlalchemys_rows(db: Path, small_batches: None, data: Any) -> None:
    width = data.draw(st.integers(1, 3))
    decl = data.draw(st.lists(DECLS, min_size=width, max_size=width))
    texty = data.draw(st.booleans())  # mostly text: what it serves
    values = st.one_of(st.none(), st.text(max_size=6)) if texty else VALUES
    rows = data.draw(st.lists(st.tuples(*[values] * width), max_size=14))
    make(db, decl, rows)
    got, want = both(db, "t")
    event(f"served: {got is not None}")
    if got is not None:
        assert_same(got, want)
    # the driver types a column from its first batch: all NULL there makes it an integer one,
    # and then a text later is a type it refuses
    typed = any(all(r[j] is None for r in rows[:4]) and any(r[j] is not None for r in rows[4:])
                for j in range(width))
    if texty and not typed and all(d not in ("INTEGER", "REAL", "NUMERIC") for d in decl):
        assert got is not None  # text and NULL in columns that keep them: served


def test_a_clean_table_is_read_through_arrow_in_several_batches(db: Path, small_batches: None) -> None:
    rows = [(str(n), f"name {n}" if n % 3 else None, "é;g1") for n in range(23)]
    make(db, ["TEXT PRIMARY KEY", "TEXT", "TEXT"], rows)
    got, want = both(db, "t")
    assert got is not None
    assert_same(got, want)
    assert got.columns[0].to_list() == [r[0] for r in rows]


@pytest.mark.parametrize("value", [7, 2.5, b"blob", b"x\xff"])
def test_a_value_that_is_not_text_late_in_the_table_is_refused(db: Path, small_batches: None,
                                                               value: Any) -> None:
    """The driver would make it text its own way (a real: ``2.500000e+00``; a blob: its bytes)."""
    make(db, ["", "TEXT"], [*[(str(n), "a") for n in range(9)], (value, "b")])
    got, want = both(db, "t")
    assert got is None
    assert want is not None


def test_invalid_utf8_is_refused_as_sqlite3_refuses_it(db: Path) -> None:
    make(db, ["TEXT"], [("ok",)])
    with sqlite3.connect(db) as con:
        con.execute("INSERT INTO t VALUES (CAST(x'ff41' AS TEXT))")
    con.close()
    engine = sa.create_engine(f"sqlite:///{db}", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        stmt = sa.select(sa.Table("t", sa.MetaData(), autoload_with=conn))
        assert sqlite_arrow_part(conn, stmt) is None
        with pytest.raises(sqlite3.OperationalError):
            fetch_rows(conn, stmt)
    engine.dispose()


def test_a_join_and_an_index_order_are_read_in_the_same_order(db: Path, small_batches: None) -> None:
    make(db, ["TEXT", "TEXT"], [(f"u{n % 7}", f"g{(n * 5) % 11}") for n in range(40)])
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE u (id TEXT PRIMARY KEY, name TEXT)")
        con.executemany("INSERT INTO u VALUES (?, ?)", [(f"u{n}", f"n{7 - n}") for n in range(7)])
        con.execute("CREATE INDEX t_c1 ON t (c1)")
    con.close()
    for query in ["SELECT u.id, u.name, t.c1 FROM u JOIN t ON t.c0 = u.id",
                  "SELECT c1, c0 FROM t ORDER BY c1"]:  # the index gives the order: no sort
        got, want = both(db, query)
        assert got is not None, query
        assert_same(got, want)


def test_a_sort_parameters_or_an_in_memory_database_keep_sqlalchemy(db: Path) -> None:
    make(db, ["TEXT", "TEXT"], [("b", "1"), ("a", "1")])
    got, want = both(db, "SELECT c0, c1 FROM t ORDER BY c1, c0")  # a sort (a temporary B-tree)
    assert got is None and want is not None
    engine = sa.create_engine(f"sqlite:///{db}", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        table = sa.Table("t", sa.MetaData(), autoload_with=conn)
        assert sqlite_arrow_part(conn, sa.select(table).where(table.c.c0 == "a")) is None
    engine.dispose()
    memory = sa.create_engine("sqlite://")
    with memory.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE m (a TEXT)")
        conn.exec_driver_sql("INSERT INTO m VALUES ('x')")
        assert sqlite_arrow_part(conn, sa.text("SELECT a FROM m")) is None


def test_a_temporary_table_or_an_attached_database_keeps_sqlalchemy(db: Path, tmp_path: Path) -> None:
    """The driver's own connection sees neither (a temporary table would shadow the file's)."""
    make(db, ["TEXT"], [("file",)])
    engine = sa.create_engine(f"sqlite:///{db}", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        stmt = sa.select(sa.Table("t", sa.MetaData(), autoload_with=conn))
        assert sqlite_arrow_part(conn, stmt) is not None
        conn.exec_driver_sql("CREATE TEMP TABLE t (c0 TEXT)")
        conn.exec_driver_sql("INSERT INTO temp.t VALUES ('temporary')")
        assert sqlite_arrow_part(conn, sa.text("SELECT c0 FROM t")) is None
        assert fetch_rows(conn, sa.text("SELECT c0 FROM t")).columns[0].to_list() == ["temporary"]
        conn.exec_driver_sql("DROP TABLE temp.t")
        conn.exec_driver_sql(f"ATTACH DATABASE '{tmp_path / 'other.db'}' AS other")
        assert sqlite_arrow_part(conn, sa.text("SELECT c0 FROM t")) is None
    engine.dispose()
