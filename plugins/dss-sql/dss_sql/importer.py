"""SQLImporter: stream the rows of a table or a query into a branch."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from dss_core import BadRecord, ConfigurationError, Importer, Origin, Record, Setting

from .engine import (
    TIMEOUT_SETTINGS,
    Timeouts,
    connect,
    database_error,
    get_engine,
    redact_url,
    resolve_url,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.orm import Session


class SQLImporter(Importer):
    """Reads one branch from a database table or query, streaming the rows.

    Class attributes (each may also be given as a setting of the same name,
    which wins):

    ``url``
        the SQLAlchemy database URL; usually a tree setting
        (``[tool.dss.trees.<tree>] url = ...``, or ``DSS_<TREE>_URL``).
    ``table``
        a table name (``schema.table`` allowed) -- or ``query``:
    ``query``
        SQL text or a SQLAlchemy ``select()``; one row per object, or one
        row per membership (a join): rows of the same idnumber are merged
        into the model's set and list attributes by the core.
    ``key``
        the column holding the idnumber (default: a column named ``idnumber``).
    ``rename``
        ``{column: attribute}`` for columns named differently from the model.
    ``yield_per``
        rows fetched per round trip while streaming (default 1000).
    ``list_columns``
        ``{"groups": ";"}``: a column (or its attribute after ``rename``)
        holding a list as text, with its separator; its value becomes the
        non-empty, stripped elements (NULL: none), as dss-csv's
        ``list_columns``.
    ``connect_timeout``, ``lock_timeout``, ``statement_timeout``
        seconds to wait for a connection (10), for a lock another session
        holds (30) and for one statement (0: no limit); usually set on the
        tree, for its importers and its handler alike.

    A subclass may override :meth:`readin` and use :meth:`dbsession` (an ORM
    session committed on success, rolled back on an exception) instead.
    """

    name = "sql"
    declared_settings: ClassVar[tuple[Setting, ...]] = (
        Setting("url", str, None, "the SQLAlchemy database URL (DSS_<TREE>_URL)", secret=True),
        Setting("table", str, None, "the table to read (or query)"),
        Setting("query", str, None, "SQL text to read (or table)"),
        Setting("key", str, None, "the column holding the idnumber"),
        Setting("rename", dict[str, str], {}, "column -> model attribute"),
        Setting("yield_per", int, 1000, "rows fetched per round trip"),
        Setting("list_columns", dict[str, str], {}, "column -> separator of a list held as text"),
        *TIMEOUT_SETTINGS,
    )
    url: ClassVar[str | None] = None
    table: ClassVar[str | None] = None
    query: ClassVar[Any] = None
    key: ClassVar[str | None] = None
    rename: ClassVar[Mapping[str, str]] = {}
    yield_per: ClassVar[int] = 1000
    list_columns: ClassVar[Mapping[str, str]] = {}

    # -- settings --------------------------------------------------------------
    def option(self, key: str) -> Any:
        """A setting, falling back to the class attribute of the same name."""
        value = self.settings.get(key)
        return value if value is not None else getattr(type(self), key, None)

    @property
    def database_url(self) -> str:
        """The database URL this importer reads (settings first, then the class attribute)."""
        return resolve_url(self.option("url"), self.tree.config,
                           where=f"{self.tree.name}.{self.branch}")

    @property
    def timeouts(self) -> Timeouts:
        """The connect, lock and statement timeouts of this branch (settings, else the defaults)."""
        return Timeouts.of(self.settings, f"{self.tree.name}.{self.branch}")

    @property
    def engine(self) -> Engine:
        """The process-wide engine for :attr:`database_url` (with :attr:`timeouts`)."""
        return get_engine(self.database_url, timeouts=self.timeouts)

    def describe(self) -> str:
        return str(self.option("table") or "query")

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection to the database; connection failures are one ConfigurationError line."""
        conn = connect(self.database_url, f"{self.tree.name}.{self.branch}: reading "
                       f"{self.describe()}", timeouts=self.timeouts)
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def dbsession(self) -> Iterator[Session]:
        """An ORM session: committed when the block ends, rolled back on an exception."""
        from sqlalchemy.orm import Session

        with self.connection() as conn, Session(bind=conn) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    # -- reading ---------------------------------------------------------------
    def statement(self, conn: Connection) -> Any:
        """The statement to run: the ``query``, or every row of ``table``."""
        import sqlalchemy as sa

        query = self.option("query")
        table = self.option("table")
        if query is not None and table is not None:
            raise ConfigurationError(
                f"{self.tree.name}.{self.branch}: give either table or query, not both")
        if query is not None:
            return sa.text(query) if isinstance(query, str) else query
        if table is None:
            raise ConfigurationError(
                f"{self.tree.name}.{self.branch}: {type(self).__name__} needs a table or a query")
        return sa.select(reflect_table(conn, str(table), self.database_url))

    def renames(self) -> dict[str, str]:
        """Column -> attribute: ``rename`` plus ``key`` -> ``idnumber``."""
        out = dict(self.option("rename") or {})
        key = self.option("key")
        if key:
            out[str(key)] = "idnumber"
        return out

    def list_columns_setting(self) -> dict[str, str]:
        """``{attribute: separator}`` of the list columns (``list_columns``, renaming applied)."""
        given = self.option("list_columns") or {}
        renames = self.renames()
        out: dict[str, str] = {}
        for column, sep in dict(given).items():
            if not isinstance(sep, str) or not sep:
                raise ConfigurationError(
                    f"{self.tree.name}.{self.branch}: list_columns: the separator of {column!r} "
                    f"must be a non-empty string, not {sep!r}")
            out[renames.get(str(column), str(column))] = sep
        return out

    def read_columns(self) -> dict[str, Any] | None:
        """The rows as text columns for the core's columnar store, or None (see :mod:`dss_sql.columnar`).

        None also when polars is not installed (``dss-sql[columnar]``): the
        object path reads the branch.
        """
        try:
            import polars  # noqa: F401
        except ImportError:
            return None
        from .columnar import read_columns

        return read_columns(self)

    def statements(self, conn: Connection) -> list[Any]:
        """Every statement whose rows this importer yields, in order (one by default)."""
        return [self.statement(conn)]

    def stream(self, conn: Connection, stmt: Any) -> Iterator[Mapping[str, Any]]:
        """Stream the rows of one statement as mappings (no full fetch into memory)."""
        per = int(self.option("yield_per") or 1000)
        result = conn.execution_options(stream_results=True, yield_per=per).execute(stmt)
        try:
            for row in result:
                yield row._mapping  # type: ignore[misc]
        finally:
            result.close()

    def rows(self, conn: Connection) -> Iterator[Mapping[str, Any]]:
        """The rows of every statement, streamed."""
        for stmt in self.statements(conn):
            yield from self.stream(conn, stmt)

    def database_errors(self) -> tuple[type[BaseException], ...]:
        """The exception classes of a failing database (turned into one line by :meth:`readin`)."""
        from sqlalchemy import exc as sa_exc

        return (sa_exc.SQLAlchemyError,)

    def readin(self) -> Iterable[Record | BadRecord]:
        """Yield one :class:`~dss_core.Record` per row, its origin the table (or query) and row number.

        A row whose idnumber column is NULL is a :class:`~dss_core.BadRecord`
        (the core stops on it, or quarantines it): numbering it would make a
        new object of it every night.
        """
        source = self.describe()
        renames = self.renames()
        lists = self.list_columns_setting()
        url = self.database_url
        key = next((column for column, attr in renames.items() if attr == "idnumber"), "idnumber")
        with self.connection() as conn:
            number = 0
            try:
                for number, row in enumerate(self.rows(conn), 1):  # noqa: B007
                    if renames:
                        values = {renames.get(k, k): v for k, v in row.items()}
                    else:
                        values = dict(row)
                    for attr, sep in lists.items():
                        value = values.get(attr)
                        if value is not None:
                            text = value if type(value) is str else str(value)
                            values[attr] = [e for e in map(str.strip, text.split(sep)) if e]
                    if "idnumber" in values and values["idnumber"] is None:
                        yield BadRecord(f"column {key!r} (the idnumber) is NULL",
                                        Origin(source, number, "row"), column=key,
                                        raw=json.dumps(dict(row), default=str, ensure_ascii=False))
                        continue
                    yield Record(values, Origin(source, number, "row"))
            except self.database_errors() as exc:
                raise database_error(
                    exc, url, f"{self.tree.name}.{self.branch}: reading {source}", conn,
                    (source,)) from None


def reflect_table(conn: Connection, name: str, url: str, metadata: Any = None) -> Any:
    """The table ``name`` (``schema.table`` allowed) as reflected from the database.

    A missing table is a :class:`~dss_core.ConfigurationError` naming it; a
    lock timeout a :class:`~dss_sql.engine.TimedOut` error naming it.
    """
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc

    schema, _, table = name.rpartition(".")
    try:
        return sa.Table(table, metadata if metadata is not None else sa.MetaData(),
                        schema=schema or None, autoload_with=conn)
    except sa_exc.NoSuchTableError:
        raise ConfigurationError(f"table {name!r} does not exist in {redact_url(url)}") from None
    except sa_exc.SQLAlchemyError as exc:
        error = database_error(exc, url, f"reading the columns of {name!r}", conn, (name,))
        raise error from None


__all__ = ["SQLImporter", "reflect_table"]
