"""Engines and errors: one SQLAlchemy engine per URL per process, and one-line error messages.

SQLAlchemy is imported inside the functions, never when this module is
imported, so that ``dss list`` and ``dss --help`` stay fast.
"""

from __future__ import annotations

import atexit
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dss_core import (
    ConfigurationError,
    DssError,
    InputError,
    mask_url,
    redact,
    register_url_secrets,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from dss_core import Config

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def resolve_url(url: Any, config: Config | None = None, where: str = "") -> str:
    """``url`` as a string; a relative SQLite path is taken relative to the configuration file."""
    if url is None or str(url).strip() == "":
        raise ConfigurationError(
            f"{where + ': ' if where else ''}no database url: set `url` in [tool.dss.trees.<tree>] "
            "or the environment variable DSS_<TREE>_URL")
    text = str(url).strip()
    register_url_secrets(text)
    here = where + ": " if where else ""
    if not re.match(r"[a-zA-Z][a-zA-Z0-9+.\-]*://", text):
        raise ConfigurationError(
            f"{here}database url has no scheme (write it as postgresql+psycopg://user@host/db "
            f"or sqlite:///file): {redact_url(text)}")
    # SQLAlchemy ends the password at its first '@': the rest would be taken for the host
    # and printed in every error ("could not translate host name "ss@db.example"")
    authority = re.match(r"[^:/]*(?::[^@]*)?@([^/:?]*)", text.partition("://")[2])
    if authority and "@" in authority.group(1):
        raise ConfigurationError(
            f"{here}the password in the database url holds an '@': write it as %40 "
            f"({redact_url(text)})")
    prefix = next((p for p in ("sqlite:///", "sqlite+pysqlite:///") if text.startswith(p)), None)
    if prefix and config is not None:
        path = text[len(prefix):]
        query = ""
        if "?" in path:
            path, query = path.split("?", 1)
            query = "?" + query
        if path and path != ":memory:" and not path.startswith("/") and not path.startswith("file:"):
            text = f"{prefix}{config.resolve_path(path)}{query}"
    return text


def _sqlite_savepoints(engine: Engine) -> None:
    """Let pysqlite run SAVEPOINTs correctly (the workaround from SQLAlchemy's SQLite docs)."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


def get_engine(url: str, **options: Any) -> Engine:
    """The process-wide engine for ``url`` (created on first use, disposed at exit).

    A bad URL or a missing driver is a :class:`~dss_core.ConfigurationError`.
    """
    key = url if not options else f"{url}#{sorted(options.items())!r}"
    with _lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        import sqlalchemy as sa
        from sqlalchemy import exc as sa_exc

        try:
            engine = sa.create_engine(url, **options)
        except sa_exc.NoSuchModuleError as exc:
            raise ConfigurationError(
                f"no database driver for {redact_url(url)}: {exc} (install the driver package)") from None
        except (sa_exc.ArgumentError, ValueError) as exc:  # ValueError: a port that is no number
            raise ConfigurationError(f"not a database url: {redact_url(url)} ({redact(str(exc))})") from None
        except ImportError as exc:
            raise ConfigurationError(
                f"the database driver for {redact_url(url)} is not installed: {exc}") from None
        if engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite":
            _sqlite_savepoints(engine)
        _engines[key] = engine
        return engine


def redact_url(url: Any) -> str:
    """``url`` with its password and secret query values hidden, whatever its form.

    With or without a scheme, a password with spaces or an unencoded ``@``,
    ``?password=...``: the URL is taken apart by its structure (the password
    runs to the last ``@``), not by a pattern that stops at a space.
    """
    return mask_url(str(url))


def dispose_engines(url: str | None = None) -> None:
    """Dispose the cached engine of ``url`` (every cached engine when None)."""
    with _lock:
        keys = [k for k in _engines if url is None or k == url or k.startswith(url + "#")]
        for key in keys:
            _engines.pop(key).dispose()


atexit.register(dispose_engines)


def one_line(exc: BaseException) -> str:
    """The database's own message for ``exc`` on one line, passwords redacted.

    SQLAlchemy's own text adds the SQL and a link to its docs; the driver's
    message (``exc.orig``) is what a user needs.
    """
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line = lines[0] if lines else type(exc).__name__
    # psycopg: 'connection failed: ...' followed by details on later lines; keep the gist
    if len(lines) > 1 and line.lower().startswith(("connection to server", "connection failed")):
        line = " ".join(lines[:2])
    return redact(line)


_MISSING = ("no such table", "does not exist", "doesn't exist", "unknown table",
            "no such column", "unknown column", "has no column")
_CONNECT = ("connection refused", "connection failed", "could not connect", "password",
            "authentication", "access denied", "unable to open database", "unknown database",
            "no route to host", "timed out", "name or service not known",
            "could not translate host", "can't connect", "server closed the connection")


def database_error(exc: BaseException, url: str, doing: str) -> DssError:
    """Turn a database error raised while ``doing`` something into one clear line.

    Connection problems and missing tables or columns are configuration
    errors; anything else is an input error. The URL's password is redacted.
    Works for SQLAlchemy's errors and for a driver's own (psycopg's).
    """
    message = one_line(exc)
    where = redact_url(url)
    lowered = message.lower()
    if type(exc).__name__ == "NoSuchTableError":
        return ConfigurationError(f"{doing}: table {str(exc)!r} does not exist in {where}")
    if any(m in lowered for m in _CONNECT):
        return ConfigurationError(f"cannot connect to {where}: {message}")
    if any(m in lowered for m in _MISSING):
        return ConfigurationError(f"{doing}: {message} ({where})")
    return InputError(f"{doing}: {message} ({where})")


def connect(url: str, doing: str = "connecting", **options: Any) -> Any:
    """Open a connection to ``url`` (cached engine); failures become one ConfigurationError line."""
    from sqlalchemy import exc as sa_exc

    engine = get_engine(url, **options)
    if engine.dialect.name == "sqlite":
        _sqlite_file_exists(engine, url)
    try:
        return engine.connect()
    except sa_exc.DBAPIError as exc:
        raise ConfigurationError(f"cannot connect to {redact_url(url)}: {one_line(exc)}") from None


def _sqlite_file_exists(engine: Engine, url: str) -> None:
    """A SQLite file that is not there is an error: connecting would create it empty."""
    from pathlib import Path

    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:") \
            or engine.url.query.get("uri"):
        return
    if not Path(database).exists():
        raise ConfigurationError(
            f"cannot connect to {redact_url(url)}: the database file {database} does not exist")


def merged_settings(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Later layers override earlier ones; ``None`` values do not override."""
    out: dict[str, Any] = {}
    for layer in layers:
        for k, v in (layer or {}).items():
            if v is not None:
                out[k] = v
    return out
