"""Engines and errors: one SQLAlchemy engine per URL per process, and one-line error messages.

No silent waits: every engine gets connect, lock and statement timeouts
(:class:`Timeouts`, the settings ``connect_timeout``, ``lock_timeout`` and
``statement_timeout``) in the form its database takes them; a statement
that waits for a lock on PostgreSQL for more than a few seconds is said on
stderr, naming the table and the session holding it (:class:`LockWatch`),
and a lock or statement timeout becomes one line naming the table
(:func:`database_error`, :func:`timeout_message`).

SQLAlchemy is imported inside the functions, never when this module is
imported, so that ``dss list`` and ``dss --help`` stay fast.
"""

from __future__ import annotations

import atexit
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dss_core import (
    ConfigurationError,
    DssError,
    InputError,
    Setting,
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
    """Let pysqlite run SAVEPOINTs correctly (the workaround from SQLAlchemy's SQLite docs),
    and enforce foreign keys on every connection."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        # SQLite checks foreign keys only when a connection asks: a row pointing at a
        # missing parent must fail here as it does on every other database
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


def get_engine(url: str, *, timeouts: Timeouts | None = None, **options: Any) -> Engine:
    """The process-wide engine for ``url`` with ``timeouts`` (created on first use, disposed at exit).

    ``timeouts`` default to :class:`Timeouts`' defaults; they are given to
    the database as its driver and server take them (:func:`apply_timeouts`).
    A bad URL or a missing driver is a :class:`~dss_core.ConfigurationError`.
    """
    timeouts = timeouts or Timeouts()
    key = f"{url}#{timeouts!r}" + (f"#{sorted(options.items())!r}" if options else "")
    with _lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        import sqlalchemy as sa
        from sqlalchemy import exc as sa_exc

        try:
            parsed = sa.make_url(url)
            connect_args = {**timeout_connect_args(parsed, timeouts),
                            **options.pop("connect_args", {})}
            engine = sa.create_engine(url, connect_args=connect_args, **options)
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
        apply_timeouts(engine, timeouts)
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


def database_error(exc: BaseException, url: str, doing: str, connection: Any = None,
                   tables: Iterable[str] = ()) -> DssError:
    """Turn a database error raised while ``doing`` something into one clear line.

    A lock or statement timeout names the table (``tables``, or what the
    lock wait on ``connection`` was for) and, on PostgreSQL, the sessions
    holding the lock (:func:`timeout_message`). Connection problems and
    missing tables or columns are configuration errors; anything else is an
    input error. The URL's password is redacted. Works for SQLAlchemy's
    errors and for a driver's own (psycopg's).
    """
    timed_out = timeout_message(exc, doing, url, connection, tables)
    if timed_out is not None:
        return TimedOut(timed_out)
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


def connect(url: str, doing: str = "connecting", *, timeouts: Timeouts | None = None,
            **options: Any) -> Any:
    """Open a connection to ``url`` (cached engine); failures become one ConfigurationError line.

    ``doing`` says what the connection is for (``lms.users: reading lms_users``):
    a lock wait on it is said with it. A connection that found no answer
    within ``connect_timeout`` says so.
    """
    from sqlalchemy import exc as sa_exc

    engine = get_engine(url, timeouts=timeouts, **options)
    if engine.dialect.name == "sqlite":
        _sqlite_file_exists(engine, url)
    started = time.monotonic()
    try:
        conn = engine.connect()
    except sa_exc.DBAPIError as exc:
        limit = timeouts_of(engine).connect
        late = ""
        if limit and time.monotonic() - started >= 0.9 * limit:
            place = f"{engine.url.host or 'localhost'}:{engine.url.port}" if engine.url.port \
                else engine.url.host or "the server"
            late = (f" (no answer within connect_timeout = {limit:g} s: is {place} a "
                    f"{engine.dialect.name} server?)")
        raise ConfigurationError(f"cannot connect to {redact_url(url)}: {one_line(exc)}{late}") from None
    LOCK_WATCH.add(engine, conn, doing)
    return conn


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


# -- timeouts ------------------------------------------------------------------------

#: Seconds to wait for a database to accept a connection (a wrong host or port fails in this time).
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Seconds a statement waits for a lock another session holds (a table locked by a
#: migration, a long transaction) before it fails, naming the table and the holder.
DEFAULT_LOCK_TIMEOUT = 30.0
#: Seconds a statement may run before the database cancels it: none by default, since
#: reading a large table is one long statement.
DEFAULT_STATEMENT_TIMEOUT = 0.0
#: A lock wait is said on stderr after this many seconds (or half the lock timeout if shorter).
LOCK_NOTE_AFTER = 5.0
#: SQLite takes a busy timeout only: "no limit" is this many seconds (about 23 days).
_SQLITE_FOREVER = 2_000_000.0

TIMEOUT_SETTINGS: tuple[Setting, ...] = (
    Setting("connect_timeout", float, DEFAULT_CONNECT_TIMEOUT,
            "seconds to wait for the database to accept a connection (0: the driver's default)"),
    Setting("lock_timeout", float, DEFAULT_LOCK_TIMEOUT,
            "seconds a statement waits for a lock another session holds, then fails naming the "
            "table (0: no limit); a wait is said on stderr after a few seconds (PostgreSQL)"),
    Setting("statement_timeout", float, DEFAULT_STATEMENT_TIMEOUT,
            "seconds a statement may run before the database cancels it (0: no limit)"),
)


@dataclass(frozen=True)
class Timeouts:
    """How long a connection waits, in seconds: to connect, for a lock, for one statement.

    0 means no limit of dss's own (the driver's or the server's default
    applies). Read from the settings ``connect_timeout``, ``lock_timeout``
    and ``statement_timeout`` (:data:`TIMEOUT_SETTINGS`) by :meth:`of`.
    """

    connect: float = DEFAULT_CONNECT_TIMEOUT
    lock: float = DEFAULT_LOCK_TIMEOUT
    statement: float = DEFAULT_STATEMENT_TIMEOUT

    @classmethod
    def of(cls, settings: Mapping[str, Any], where: str = "") -> Timeouts:
        """The timeouts set in ``settings`` (values from the environment are text), else the defaults."""
        values: dict[str, float] = {}
        for field, setting in zip(("connect", "lock", "statement"), TIMEOUT_SETTINGS, strict=True):
            raw = settings.get(setting.name)
            if raw is None or raw == "":
                values[field] = float(setting.default)
                continue
            try:
                value = float(raw)
            except (TypeError, ValueError):
                value = -1.0
            if not value >= 0 or math.isinf(value):
                raise ConfigurationError(
                    f"{where + ': ' if where else ''}{setting.name} must be a number of seconds, "
                    f"0 or more (0: no limit), not {raw!r}")
            values[field] = value
        return cls(**values)


def _seconds(value: float) -> int:
    """Whole seconds, at least 1 (drivers and servers that take seconds take integers)."""
    return max(1, math.ceil(value))


def _query_has(url: Any, key: str) -> bool:
    return key in url.query


def timeout_connect_args(url: Any, timeouts: Timeouts) -> dict[str, Any]:
    """The driver's connect arguments for ``timeouts`` on ``url`` (a SQLAlchemy URL).

    * PostgreSQL: ``connect_timeout``, and ``options=-c lock_timeout=... -c
      statement_timeout=...`` (before the URL's own ``options`` and
      ``PGOPTIONS``, which therefore win);
    * MySQL/MariaDB: ``connect_timeout`` (and, for PyMySQL, a read timeout
      during the handshake only: a MySQL URL at a port where another kind of
      server waits for the client to speak first fails within it, not after
      that server's own minute); the lock and statement timeouts are session
      variables set on connect (:func:`apply_timeouts`);
    * SQLite: ``timeout``, its busy timeout, is the lock timeout.

    A value the URL sets itself (``?connect_timeout=5``) is left alone.
    """
    backend = url.get_backend_name()
    driver = url.get_driver_name()
    args: dict[str, Any] = {}
    if backend == "postgresql":
        if timeouts.connect and not _query_has(url, "connect_timeout"):
            args["connect_timeout"] = max(2, _seconds(timeouts.connect))  # libpq takes 2 at least
        ours = []
        if timeouts.lock:
            ours.append(f"-c lock_timeout={math.ceil(timeouts.lock * 1000)}")
        if timeouts.statement:
            ours.append(f"-c statement_timeout={math.ceil(timeouts.statement * 1000)}")
        if ours:
            given = url.query.get("options") or ()
            given = [given] if isinstance(given, str) else list(given)
            env = [os.environ["PGOPTIONS"]] if os.environ.get("PGOPTIONS") else []
            args["options"] = " ".join([*ours, *env, *given])
    elif backend in ("mysql", "mariadb"):
        if timeouts.connect and not _query_has(url, "connect_timeout"):
            args["connect_timeout"] = _seconds(timeouts.connect)
            if driver == "pymysql" and not _query_has(url, "read_timeout"):
                args["read_timeout"] = timeouts.connect  # the handshake only: see apply_timeouts
    elif backend == "sqlite" and not _query_has(url, "timeout"):
        args["timeout"] = timeouts.lock or _SQLITE_FOREVER
    return args


_engine_timeouts: weakref.WeakKeyDictionary[Engine, Timeouts] = weakref.WeakKeyDictionary()


def timeouts_of(engine: Engine) -> Timeouts:
    """The timeouts an engine made by :func:`get_engine` applies."""
    return _engine_timeouts.get(engine) or Timeouts()


def apply_timeouts(engine: Engine, timeouts: Timeouts) -> None:
    """Set what connect arguments cannot: MySQL/MariaDB session variables, on every new connection.

    ``innodb_lock_wait_timeout`` (row locks) and ``lock_wait_timeout``
    (table and metadata locks, ``LOCK TABLES``) take the lock timeout;
    ``max_statement_time`` (MariaDB, seconds) or ``max_execution_time``
    (MySQL, milliseconds, SELECT only) the statement timeout. PyMySQL's
    read timeout, set to the connect timeout for the handshake, is lifted.
    """
    from sqlalchemy import event

    _engine_timeouts[engine] = timeouts
    if engine.dialect.name == "postgresql":
        @event.listens_for(engine, "checkin")
        def _checkin(dbapi_connection: Any, record: Any) -> None:
            LOCK_WATCH.discard(dbapi_connection)  # back in the pool: no statement of ours
        return
    if engine.dialect.name not in ("mysql", "mariadb"):
        return
    handshake = "read_timeout" not in engine.url.query and engine.dialect.driver == "pymysql"

    @event.listens_for(engine, "connect")
    def _session(dbapi_connection: Any, record: Any) -> None:
        sets = []
        if timeouts.lock:
            wait = _seconds(timeouts.lock)
            sets += [f"SESSION innodb_lock_wait_timeout = {wait}", f"SESSION lock_wait_timeout = {wait}"]
        if timeouts.statement:
            if getattr(engine.dialect, "is_mariadb", False):
                sets.append(f"SESSION max_statement_time = {timeouts.statement:g}")
            else:
                sets.append(f"SESSION max_execution_time = {math.ceil(timeouts.statement * 1000)}")
        if sets:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SET " + ", ".join(sets))
            finally:
                cursor.close()
        if handshake and hasattr(dbapi_connection, "_read_timeout"):
            # PyMySQL has no public way to change it: without this, a slow query would fail
            dbapi_connection._read_timeout = None


# -- lock and statement timeouts as one line ---------------------------------------------


class TimedOut(InputError):
    """A statement waited past the lock timeout, or ran past the statement timeout (one line).

    Checking a mapping stops at the first: every other table would wait as long.
    """


LOCK, STATEMENT = "lock", "statement"
_MYSQL_LOCK = {1205}  # Lock wait timeout exceeded (row locks and metadata locks alike)
_MYSQL_STATEMENT = {3024, 1969}  # MySQL max_execution_time, MariaDB max_statement_time


def timeout_kind(exc: BaseException) -> str | None:
    """:data:`LOCK` when ``exc`` is a lock timeout, :data:`STATEMENT` for a statement timeout, else None.

    PostgreSQL SQLSTATE 55P03 (lock_not_available) and 57014 (cancelled by
    the statement timeout); MySQL/MariaDB errors 1205, 3024 and 1969; SQLite
    "database is locked" (its busy timeout passed).
    """
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    text = str(orig).lower()
    if state == "55P03":
        return LOCK
    if state == "57014" and "statement timeout" in text:
        return STATEMENT
    args = getattr(orig, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    if code in _MYSQL_LOCK:
        return LOCK
    if code in _MYSQL_STATEMENT:
        return STATEMENT
    if type(orig).__module__.startswith("sqlite3") and (
            "database is locked" in text or "database table is locked" in text):
        return LOCK
    return None


@dataclass(frozen=True)
class LockWait:
    """What a PostgreSQL session waits for: a table (or a row), held by other sessions."""

    table: str
    holders: tuple[str, ...]
    mode: str = ""

    def describe(self) -> str:
        what = f"table {self.table}" if self.table else "a row lock"
        held = f" held by {', '.join(self.holders)}" if self.holders else ""
        return f"{what}{held}"


def _session_line(pid: Any, application: Any, user: Any, client: Any) -> str:
    parts = [f"application {application!r}"] if application else []
    if user:
        parts.append(f"user {user}")
    if client:
        parts.append(f"from {client}")
    return f"pid {pid}" + (f" ({', '.join(parts)})" if parts else "")


_WAITING_FOR = """
SELECT COALESCE(w.relation::regclass::text, ''), w.mode, b.pid, b.application_name,
       b.usename::text, host(b.client_addr)
FROM pg_locks w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid)
JOIN pg_stat_activity b ON b.pid = bp.pid
WHERE w.pid = :pid AND NOT w.granted
ORDER BY b.pid
"""

_HOLDING = """
SELECT l.relation::regclass::text, l.mode, a.pid, a.application_name, a.usename::text,
       host(a.client_addr)
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.granted AND l.mode <> 'AccessShareLock'
  AND l.pid <> pg_backend_pid() AND l.pid <> :pid
  AND l.relation IN (SELECT to_regclass(t) FROM unnest(CAST(:tables AS text[])) AS t)
ORDER BY a.pid
"""


def _lock_wait(engine: Engine, sql: str, params: dict[str, Any]) -> LockWait | None:
    """Ask PostgreSQL, on a connection of its own, who holds the lock (None when it cannot tell)."""
    import sqlalchemy as sa

    try:
        with engine.connect() as side:
            rows = side.execute(sa.text(sql), params).fetchall()
    except Exception:  # telling who holds the lock is a courtesy
        return None
    if not rows:
        return None
    tables = list(dict.fromkeys(str(r[0]) for r in rows if r[0]))
    holders = tuple(dict.fromkeys(_session_line(*r[2:]) for r in rows))
    return LockWait(", ".join(tables), holders, str(rows[0][1]))


def lock_holders(engine: Engine, tables: Iterable[str], pid: int = 0) -> LockWait | None:
    """Who holds a lock (other than a reader's) on ``tables``, on PostgreSQL; None elsewhere."""
    names = [t for t in dict.fromkeys(tables) if t]
    if engine.dialect.name != "postgresql" or not names:
        return None
    return _lock_wait(engine, _HOLDING, {"pid": pid, "tables": names})


class LockWatch:
    """Says on stderr when a statement has waited a few seconds for a lock (PostgreSQL, psycopg).

    Connections opened by :func:`connect` are watched until they go back to
    the pool. A thread looks at each a few times a second: a statement in
    progress (libpq's transaction status, no query) for longer than
    ``min(5 s, lock_timeout / 2)`` makes it ask PostgreSQL, on a side
    connection, what that session waits for (``pg_locks``,
    ``pg_blocking_pids``, ``pg_stat_activity``); a lock wait is said once,
    naming the table and the sessions holding it, and remembered, so that
    the lock timeout's error can name them too (:meth:`take_wait`). Nothing
    runs while no statement is slow.
    """

    TICK = 0.25

    def __init__(self, note: Any = None) -> None:
        self._watched: dict[int, dict[str, Any]] = {}
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.note = note or _note

    def add(self, engine: Engine, conn: Any, doing: str) -> None:
        if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
            return
        try:
            dbapi = conn.connection.driver_connection
            pid = int(dbapi.info.backend_pid)
        except Exception:  # no watch rather than no connection
            return
        timeouts = timeouts_of(engine)
        after = min(LOCK_NOTE_AFTER, timeouts.lock / 2) if timeouts.lock else LOCK_NOTE_AFTER
        with self._guard:
            self._watched[id(dbapi)] = {"engine": engine, "dbapi": dbapi, "pid": pid, "doing": doing,
                                        "after": after, "lock": timeouts.lock, "since": None,
                                        "next": 0.0, "wait": None, "told": set()}
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="dss-lock-watch",
                                                daemon=True)
                self._thread.start()
        self._wake.set()

    def discard(self, dbapi: Any) -> None:
        with self._guard:
            self._watched.pop(id(dbapi), None)

    def take_wait(self, conn: Any) -> LockWait | None:
        """The lock wait seen on ``conn`` (a SQLAlchemy connection) since the last call, if any.

        Called when a statement failed: the next statement starts afresh.
        """
        try:
            dbapi = conn.connection.driver_connection
        except Exception:  # closed or invalidated
            return None
        with self._guard:
            entry = self._watched.get(id(dbapi))
            if entry is None:
                return None
            wait, entry["wait"], entry["since"], entry["next"] = entry["wait"], None, None, 0.0
            return wait

    def _run(self) -> None:
        from psycopg.pq import TransactionStatus

        while True:
            with self._guard:
                entries = list(self._watched.values())
            if not entries:
                self._wake.clear()
                self._wake.wait()
                continue
            now = time.monotonic()
            for entry in entries:
                try:
                    busy = entry["dbapi"].info.transaction_status == TransactionStatus.ACTIVE
                except Exception:  # closed meanwhile
                    busy = False
                if not busy:
                    entry["since"] = None
                    continue
                if entry["since"] is None:
                    entry["since"] = now
                elif now - entry["since"] >= entry["after"] and now >= entry["next"]:
                    entry["next"] = now + LOCK_NOTE_AFTER
                    self._check(entry, now - entry["since"])
            time.sleep(self.TICK)

    def _check(self, entry: dict[str, Any], waited: float) -> None:
        wait = _lock_wait(entry["engine"], _WAITING_FOR, {"pid": entry["pid"]})
        if wait is None:
            return  # a slow statement, not a lock wait
        entry["wait"] = wait
        said = (wait.table, wait.holders)
        if said in entry["told"]:
            return
        entry["told"].add(said)
        limit = (f"it gives up after {entry['lock']:g} s (lock_timeout)" if entry["lock"]
                 else "no lock_timeout is set: it waits until the lock is released")
        self.note(f"{entry['doing']}: waiting {waited:.0f} s for a lock on {wait.describe()}; "
                  f"{limit}")


def _note(line: str) -> None:
    import click

    click.echo(f"dss: note: {redact(line)}", err=True)


LOCK_WATCH = LockWatch()


def timeout_message(exc: BaseException, doing: str, url: str, connection: Any = None,
                    tables: Iterable[str] = ()) -> str | None:
    """One line for a lock or statement timeout raised while ``doing`` something, else None.

    The line names the table (the lock wait seen on ``connection``, else
    ``tables``) and, on PostgreSQL, the sessions holding the lock.
    """
    kind = timeout_kind(exc)
    if kind is None:
        return None
    where = redact_url(url)
    engine = getattr(connection, "engine", None)
    timeouts = timeouts_of(engine) if engine is not None else Timeouts()
    if kind == STATEMENT:
        return (f"{doing}: the database cancelled the statement after {timeouts.statement:g} s "
                f"(statement_timeout, settable per tree; {where})")
    wait = LOCK_WATCH.take_wait(connection) if connection is not None else None
    if wait is None and engine is not None:
        try:
            pid = int(connection.connection.driver_connection.info.backend_pid)
        except Exception:  # not psycopg, or closed
            pid = 0
        wait = lock_holders(engine, tables, pid)
    names = [t for t in dict.fromkeys(tables) if t]
    if wait is not None:
        what = wait.describe()
    elif engine is not None and engine.dialect.name == "sqlite":
        what = "the database (another connection is writing to it; SQLite cannot tell which)"
    else:
        what = f"table {', '.join(names)}" if names else "a table"
    waited = f"{timeouts.lock:g} s" if timeouts.lock else "the database's own lock timeout"
    return (f"{doing}: waited {waited} for a lock on {what}, then gave up (lock_timeout, "
            f"settable per tree; {where})")
