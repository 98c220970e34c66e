"""Database fixtures for tests, loaded by pytest through the ``pytest11`` entry point.

Their names start with ``dss_`` so that they cannot collide with another
plugin's fixtures in a project that installs dss-sql:

* ``dss_sqlite_url``: a fresh SQLite file in its own temporary folder.
* ``dss_postgres_url``: a fresh, empty schema on PostgreSQL (127.0.0.1:5432,
  user ``postgres``, database ``test``) made the connection's search path;
  dropped after the test.
* ``dss_mariadb_url``: a fresh, empty database on MariaDB/MySQL (127.0.0.1:3306,
  user ``root``); dropped after the test.

When a server is down the fixture skips the test with the reason
("PostgreSQL not reachable on 127.0.0.1:5432"), unless the environment
variable ``DSS_REQUIRE_SERVERS=1`` is set (CI), in which case it fails.
The admin URLs can be changed with ``DSS_TEST_POSTGRES_URL`` and
``DSS_TEST_MARIADB_URL``.

Nothing heavy is imported until a fixture is used.
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from dss_core.testing import server_unavailable as _unavailable

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB_ADMIN_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _admin(env: str, default: str, what: str) -> tuple[object, str]:
    """An engine on the admin URL, or a skip/fail when the server is not there."""
    import sqlalchemy as sa

    url = sa.make_url(os.environ.get(env) or default)
    host, port = url.host or "127.0.0.1", int(url.port or 0)
    where = f"{what} not reachable on {host}:{port}"
    if not _reachable(host, port):
        _unavailable(where)
    try:
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except ImportError as exc:
        _unavailable(f"{what}: driver not installed ({exc})")
    except Exception as exc:  # wrong credentials, database missing
        from .engine import one_line

        _unavailable(f"{where}: {one_line(exc)}")
    return engine, url.render_as_string(hide_password=False)


@pytest.fixture
def dss_sqlite_url() -> Iterator[str]:
    """A fresh SQLite database file; its engine is disposed and the file removed after the test.

    (Its own temporary folder, not ``tmp_path``: pytest prunes old ``tmp_path`` roots
    when other pytest processes of the same user start, which would pull the file away.)
    """
    from .engine import dispose_engines

    with tempfile.TemporaryDirectory(prefix="dss-sql-") as folder:
        path = Path(folder) / "dss-test.db"
        path.touch()  # an empty file is an empty database (dss refuses a missing file)
        url = f"sqlite:///{path}"
        try:
            yield url
        finally:
            dispose_engines(url)


@pytest.fixture
def dss_postgres_url() -> Iterator[str]:
    """A URL to a fresh, empty PostgreSQL schema (the search path), dropped after the test."""
    from .engine import dispose_engines

    engine, admin = _admin("DSS_TEST_POSTGRES_URL", POSTGRES_ADMIN_URL, "PostgreSQL")
    schema = f"dss_test_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:  # type: ignore[attr-defined]
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in admin else "?"
    url = f"{admin}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        dispose_engines(url)
        with engine.connect() as conn:  # type: ignore[attr-defined]
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()  # type: ignore[attr-defined]


@pytest.fixture
def dss_mariadb_url() -> Iterator[str]:
    """A URL to a fresh, empty MariaDB database, dropped after the test."""
    import sqlalchemy as sa

    from .engine import dispose_engines

    engine, admin = _admin("DSS_TEST_MARIADB_URL", MARIADB_ADMIN_URL, "MariaDB")
    name = f"dss_test_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:  # type: ignore[attr-defined]
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    url = sa.make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        dispose_engines(url)
        with engine.connect() as conn:  # type: ignore[attr-defined]
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        engine.dispose()  # type: ignore[attr-defined]
