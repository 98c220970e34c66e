"""dss-postgres's COPY reading through libpq (:func:`dss_postgres.columnar.copy_out`).

It gives psycopg's ``Copy`` bytes and row count; a server error is psycopg's
own error class (its SQLSTATE kept: a statement timeout stays a timeout), an
interrupt cancels the command, and either way the connection is usable after
it. Real PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import psycopg
import pytest
from dss_postgres.columnar import copy_out

pytestmark = pytest.mark.postgres

ROWS = "COPY (SELECT g, 'x' || g, CASE WHEN g % 3 = 0 THEN NULL ELSE '' END FROM generate_series(1, {n}) g) " \
       "TO STDOUT (FORMAT csv, FORCE_QUOTE *)"


def connect(url: str) -> Any:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


@pytest.mark.parametrize("n", [0, 1, 2500])
def test_the_bytes_and_count_are_psycopgs(dss_postgres_url: str, n: int) -> None:
    with connect(dss_postgres_url) as conn:
        got, count = copy_out(conn, ROWS.format(n=n))
        with conn.cursor() as cur, cur.copy(ROWS.format(n=n)) as copy:
            want = b"".join(bytes(block) for block in copy)
        assert (got, count) == (want, n)
        assert conn.execute("SELECT 42").fetchone() == (42,)


def test_a_server_error_is_psycopgs_and_the_connection_recovers(dss_postgres_url: str) -> None:
    with connect(dss_postgres_url) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            copy_out(conn, "COPY (SELECT 1 / (g - 3000) FROM generate_series(1, 5000) g) TO STDOUT")
        conn.rollback()
        conn.execute("SET statement_timeout = '50ms'")
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            copy_out(conn, "COPY (SELECT pg_sleep(5)) TO STDOUT")
        conn.rollback()
        assert conn.execute("SELECT 42").fetchone() == (42,)


def test_an_interrupt_cancels_the_copy_and_the_connection_recovers(dss_postgres_url: str) -> None:
    with connect(dss_postgres_url) as conn:
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))  # Ctrl-C while it waits
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                copy_out(conn, "COPY (SELECT pg_sleep(0.1) FROM generate_series(1, 100)) TO STDOUT")
        finally:
            timer.cancel()
        conn.rollback()
        assert conn.execute("SELECT 42").fetchone() == (42,)
