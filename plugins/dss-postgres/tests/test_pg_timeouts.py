"""No silent waits on PostgreSQL (issue 10.4): a held table lock is said, then fails, naming who holds it.

Another connection (``application_name`` dss-test-locker) locks a table;
``dss run`` of the school example, and the PostgreSQL importer's own
server-side cursor, give up within the lock timeout with one line naming
the table and that session, after a note on stderr while they wait.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from dss_postgres import PostgresImporter
from dss_sql import dispose_engines
from dss_sql.engine import TimedOut, Timeouts, connect

from dss_core import Branch, Config, Model, Status, Tree

pytestmark = pytest.mark.postgres

LOCKER = "dss-test-locker"


@contextmanager
def locked(url: str, table: str, mode: str) -> Iterator[int]:
    """``LOCK TABLE table IN mode MODE`` held by another session; yields its pid."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool,
                              connect_args={"application_name": LOCKER})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"LOCK TABLE {table} IN {mode} MODE")
            yield int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            conn.rollback()
    finally:
        engine.dispose()


def test_the_session_gets_the_timeouts_and_keeps_the_urls_options(dss_postgres_url: str) -> None:
    conn = connect(dss_postgres_url, timeouts=Timeouts(connect=3, lock=7, statement=4.5))
    try:
        show = [conn.exec_driver_sql(f"SHOW {name}").scalar_one()
                for name in ("lock_timeout", "statement_timeout", "search_path")]
    finally:
        conn.close()
        dispose_engines(dss_postgres_url)
    assert show[:2] == ["7s", "4500ms"]
    assert show[2].startswith("dss_test_")  # the fixture's options=-csearch_path=... still holds


def test_a_statement_past_the_statement_timeout_is_cancelled_with_one_line(
        dss_postgres_url: str) -> None:
    class Slow(PostgresImporter):
        query = "SELECT '1' AS idnumber, 'x' AS name FROM pg_sleep(5)"

    class Src(Tree):
        name = "src"
        users = Branch(Model, importer=Slow)

    started = time.monotonic()
    try:
        with pytest.raises(TimedOut, match=r"^src\.users: reading query: the database cancelled "
                                           r"the statement after 1 s \(statement_timeout, "
                                           r"settable per tree; postgresql\+psycopg://"):
            Src(config=Config({"trees": {"src": {"url": dss_postgres_url,
                                                 "statement_timeout": 1}}}, environ={})).load()
    finally:
        dispose_engines(dss_postgres_url)
    assert time.monotonic() - started < 4


def test_the_importers_cursor_read_gives_up_naming_the_holder(
        dss_postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The server-side cursor (psycopg, not SQLAlchemy) is covered by the session's lock_timeout."""
    engine = sa.create_engine(dss_postgres_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE people (idnumber text PRIMARY KEY, name text)")
        conn.exec_driver_sql("INSERT INTO people VALUES ('1', 'Ann')")
    engine.dispose()

    class Person(Model):
        name: str

    class People(PostgresImporter):
        query = "SELECT idnumber, name FROM people"

    class Src(Tree):
        name = "src"
        users = Branch(Person, importer=People)

    config = Config({"trees": {"src": {"url": dss_postgres_url, "lock_timeout": 2}}}, environ={})
    started = time.monotonic()
    try:
        with locked(dss_postgres_url, "people", "ACCESS EXCLUSIVE") as pid, \
                pytest.raises(TimedOut) as caught:
            Src(config=config).load()
    finally:
        dispose_engines(dss_postgres_url)
    assert time.monotonic() - started < 6
    held = f"table people held by pid {pid} (application '{LOCKER}', user postgres"
    assert str(caught.value).startswith(f"src.users: reading query: waited 2 s for a lock on {held}")
    assert "then gave up (lock_timeout, settable per tree; postgresql+psycopg://" in str(caught.value)
    err = capsys.readouterr().err
    assert f"dss: note: src.users: reading query: waiting 1 s for a lock on {held}" in err
    assert "it gives up after 2 s (lock_timeout)" in err


# -- dss run of the school example -------------------------------------------------------------

@pytest.fixture
def school(tmp_path: Path, dss_postgres_url: str) -> Iterator[Path]:
    generate = pytest.importorskip("school_sync.generate",
                                   reason="the school example is installed by .ci/setup-venv")
    generate.generate(tmp_path, users=100, seed=3, url=dss_postgres_url)
    with (tmp_path / "dss.toml").open("a") as toml:
        toml.write("lock_timeout = 2\n")  # [trees.lms]: the last table of the file
    yield tmp_path
    dispose_engines()


def _run(folder: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_") and k != "PYTHONPATH"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "dss_core", "run", "--report", "report.json"],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    return done, time.monotonic() - started


def test_a_table_locked_by_another_session_fails_dss_run_naming_it(
        school: Path, dss_postgres_url: str) -> None:
    with locked(dss_postgres_url, "lms_users", "ACCESS EXCLUSIVE") as pid:
        done, took = _run(school)
    assert done.returncode == 2, done.stderr
    assert took < 15  # the lock timeout (2 s) and the start of a Python process, not a hang
    held = f"table lms_users held by pid {pid} (application '{LOCKER}', user postgres"
    lines = done.stderr.splitlines()
    assert any(line.startswith(f"dss: note: lms.users: reading lms_users: waiting 1 s for a lock "
                               f"on {held}") for line in lines), done.stderr
    assert lines[-1].startswith(
        f"dss: error: lms.users: reading lms_users: waited 2 s for a lock on {held}"), done.stderr


def test_a_table_locked_against_writes_fails_one_action_and_skips_the_rest(
        school: Path, dss_postgres_url: str) -> None:
    """EXCLUSIVE mode lets the run read the LMS, not write to it."""
    import json

    with locked(dss_postgres_url, "lms_users", "EXCLUSIVE") as pid:
        done, took = _run(school)
    assert done.returncode == 1, done.stderr
    assert took < 20
    report = json.loads((school / "report.json").read_text())
    failed = [a for a in report["actions"] if a["result"] == Status.FAILURE]
    skipped = [a for a in report["actions"] if a["result"] == Status.SKIPPED]
    assert failed and len(failed) <= 3 and skipped
    assert failed[0]["result_message"].startswith(
        f"writing lms_users: waited 2 s for a lock on table lms_users held by pid {pid} "
        f"(application '{LOCKER}'")
    assert not [a for a in report["actions"] if a["result"] == Status.SUCCESS]
