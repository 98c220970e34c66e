"""No silent waits (issue 10.4): connect, lock and statement timeouts, per tree, on every database.

The settings, what each driver and server is given, and what a timeout
looks like: one line naming the table, not a run that hangs. PostgreSQL's
own (which session holds the lock) are in dss-postgres's test_pg_timeouts.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from typing import Any

import pytest
import sqlalchemy as sa
from dss_sql import SQLHandler, SQLImporter, dispose_engines
from dss_sql.engine import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_LOCK_TIMEOUT,
    TimedOut,
    Timeouts,
    connect,
    get_engine,
    timeout_connect_args,
)

from dss_core import Branch, Config, ConfigurationError, Datastore, Model, Status, Tree


class Student(Model):
    name: str


def _names(settings: Any) -> dict[str, Any]:
    return {s.name: s.default for s in settings}


def test_the_timeouts_are_declared_settings_of_handler_and_importer() -> None:
    expected = {"connect_timeout": 10.0, "lock_timeout": 30.0, "statement_timeout": 0.0}
    for declared in (SQLHandler.declared_settings, SQLImporter.declared_settings):
        assert _names(declared).items() >= expected.items()
    assert (DEFAULT_CONNECT_TIMEOUT, DEFAULT_LOCK_TIMEOUT) == (10.0, 30.0)


def test_timeouts_from_settings_and_the_environment() -> None:
    assert Timeouts.of({}) == Timeouts(10, 30, 0)
    assert Timeouts.of({"lock_timeout": "2.5", "connect_timeout": 3}) == Timeouts(3, 2.5, 0)
    with pytest.raises(ConfigurationError, match=r"lms: lock_timeout must be a number of seconds, "
                                                 r"0 or more \(0: no limit\), not '-1'"):
        Timeouts.of({"lock_timeout": "-1"}, "lms")


def test_each_driver_gets_the_timeouts_its_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGOPTIONS", raising=False)
    t = Timeouts(connect=4, lock=2.5, statement=60)
    pg = sa.make_url("postgresql+psycopg://u@h/db?options=-csearch_path%3Ds")
    assert timeout_connect_args(pg, t) == {
        "connect_timeout": 4,
        # the URL's own options come last: they win over the settings
        "options": "-c lock_timeout=2500 -c statement_timeout=60000 -csearch_path=s"}
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=64MB")  # kept: options given replace PGOPTIONS
    assert timeout_connect_args(sa.make_url("postgresql://u@h/db"), Timeouts(lock=1, statement=0)) \
        == {"connect_timeout": 10, "options": "-c lock_timeout=1000 -c work_mem=64MB"}
    assert timeout_connect_args(sa.make_url("postgresql://u@h/db?connect_timeout=3"),
                                Timeouts(connect=9, lock=0)) == {}
    assert timeout_connect_args(sa.make_url("mysql+pymysql://u@h/db"), t) == {
        "connect_timeout": 4, "read_timeout": 4}  # the read timeout: the handshake only
    assert timeout_connect_args(sa.make_url("mariadb+pymysql://u@h/db?read_timeout=30"), t) == {
        "connect_timeout": 4}
    assert timeout_connect_args(sa.make_url("sqlite:///x.db"), t) == {"timeout": 2.5}
    assert timeout_connect_args(sa.make_url("sqlite:///x.db"), Timeouts(lock=0))["timeout"] > 1e6


# -- SQLite: the busy timeout is the lock timeout -----------------------------------------

def _tree(url: str, **settings: Any) -> Tree:
    class Students(SQLImporter):
        table = "students"
        key = "sid"

    class SIS(Tree):
        name = "sis"
        users = Branch(Student, importer=Students)

    return SIS(config=Config({"trees": {"sis": {"url": url, **settings}}}, environ={}))


def _students(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("create table students (sid varchar(20) primary key, name varchar(50))")
        conn.exec_driver_sql("insert into students values ('1', 'Ann')")
    engine.dispose()


def test_a_locked_sqlite_database_fails_the_read_within_the_lock_timeout(dss_sqlite_url: str) -> None:
    _students(dss_sqlite_url)
    holder = sqlite3.connect(sa.make_url(dss_sqlite_url).database or "", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    try:
        with pytest.raises(TimedOut) as caught:
            _tree(dss_sqlite_url, lock_timeout=1).load()
    finally:
        holder.rollback()
        holder.close()
    assert time.monotonic() - started < 5
    assert str(caught.value).startswith(  # SQLite waits already to read the table's columns
        "reading the columns of 'students': waited 1 s for a lock on the database (another "
        "connection is writing to it; SQLite cannot tell which), then gave up (lock_timeout, "
        "settable per tree; sqlite:///")
    assert caught.value.exit_code == 2
    assert len(_tree(dss_sqlite_url, lock_timeout=1).load().users) == 1  # released: it reads


def test_a_lock_timeout_fails_one_action_and_skips_the_rest_of_its_table(
        dss_sqlite_url: str, kit: Any) -> None:
    """The first write that times out names the table; the others on it are not left to wait."""
    kit.create_schema(dss_sqlite_url)
    sis, lms = kit.make_trees(kit.SOURCE, kit.make_mapping())
    config = Config({"trees": {"lms": {"url": dss_sqlite_url, "lock_timeout": 1}}}, environ={})
    source, (dest,) = Datastore("t", sis, [lms]).open(config)
    source.load()
    dest.load()
    holder = sqlite3.connect(sa.make_url(dss_sqlite_url).database or "", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # readers go on; a writer waits
    started = time.monotonic()
    try:
        summary = kit.apply(source, dest)
    finally:
        holder.rollback()
        holder.close()
        dispose_engines()
    assert time.monotonic() - started < 6  # one wait per table group, not one per action
    failed = [r for r in summary.results if r.status is Status.FAILURE]
    skipped = [r for r in summary.results if r.status is Status.SKIPPED]
    assert 1 <= len(failed) <= 2 and skipped
    assert failed[0].message.startswith(
        "writing accounts: waited 1 s for a lock on the database (another connection is writing "
        "to it; SQLite cannot tell which), then gave up (lock_timeout")
    assert any(r.message == "not attempted: table accounts is locked by another session "
               f"({failed[0].action.method}({failed[0].action.idnumber!r}) waited lock_timeout "
               "for it and gave up)" for r in skipped)
    assert not summary.count(status="success")


# -- MySQL / MariaDB ----------------------------------------------------------------------

def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.postgres
def test_a_mysql_url_at_the_postgres_port_fails_within_the_connect_timeout() -> None:
    """PostgreSQL waits for the client to speak first, PyMySQL for the server: each for a minute."""
    if not _reachable(5432):
        pytest.skip("nothing listens on 127.0.0.1:5432")
    pytest.importorskip("pymysql")
    url = "mysql+pymysql://root@127.0.0.1:5432/test"
    started = time.monotonic()
    try:
        with pytest.raises(ConfigurationError) as caught:
            connect(url, timeouts=Timeouts(connect=2))
    finally:
        dispose_engines(url)
    assert time.monotonic() - started < 6
    assert str(caught.value).startswith(f"cannot connect to {url}: ")
    assert str(caught.value).endswith(
        "(no answer within connect_timeout = 2 s: is 127.0.0.1:5432 a mysql server?)")


@pytest.mark.mariadb
def test_mariadb_sessions_get_the_lock_and_statement_timeouts(dss_mariadb_url: str) -> None:
    conn = connect(dss_mariadb_url, timeouts=Timeouts(lock=7, statement=4.5))
    try:
        row = conn.exec_driver_sql(
            "select @@innodb_lock_wait_timeout, @@lock_wait_timeout, @@max_statement_time").one()
        assert tuple(row) == (7, 7, 4.5)
        # PyMySQL's read timeout covered the handshake only: a long statement is not cut short
        assert getattr(conn.connection.driver_connection, "_read_timeout", None) is None
    finally:
        conn.close()
        dispose_engines(dss_mariadb_url)


@pytest.mark.mariadb
def test_a_locked_mariadb_table_fails_the_read_within_the_lock_timeout(dss_mariadb_url: str) -> None:
    _students(dss_mariadb_url)
    locker = get_engine(dss_mariadb_url, timeouts=Timeouts(lock=0), poolclass=sa.pool.NullPool)
    started = 0.0
    try:
        with locker.connect() as held:
            held.exec_driver_sql("LOCK TABLES students WRITE")
            started = time.monotonic()
            with pytest.raises(TimedOut) as caught:
                _tree(dss_mariadb_url, lock_timeout=1).load()
            held.exec_driver_sql("UNLOCK TABLES")
    finally:
        dispose_engines(dss_mariadb_url)
    assert time.monotonic() - started < 5
    assert str(caught.value).startswith(
        "sis.users: reading students: waited 1 s for a lock on table students, then gave up "
        "(lock_timeout, settable per tree; mysql+pymysql://")
