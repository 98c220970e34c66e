"""PostgreSQL through psycopg 3: URL and libpq settings, fast reads, ON CONFLICT writes."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from dss_sql import BoundLink, BoundTable, SQLHandler, SQLImporter, SQLMapping

from dss_core import ConfigurationError, Setting

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

#: How :class:`PostgresImporter` reads: ``cursor`` (a psycopg server-side named cursor,
#: fetched ``yield_per`` rows at a time), ``copy`` (``COPY (query) TO STDOUT``, binary,
#: typed by psycopg), ``stream`` (dss-sql's SQLAlchemy ``stream_results`` streaming).
#: ``cursor`` measured fastest on 1,000,000 rows (see ``benchmarks/postgres_read.py``):
#: psycopg parses COPY output row by row in Python-facing calls, while a named cursor
#: hands over whole batches.
READ_METHODS = ("cursor", "copy", "stream")
DEFAULT_READ_METHOD = "cursor"

DRIVER = "postgresql+psycopg"
_REWRITE = ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+pg8000",
            "postgresql+asyncpg", "postgresql+psycopg")
_LIBPQ = {"PGHOST": "host", "PGPORT": "port", "PGUSER": "username", "PGDATABASE": "database"}


def postgres_url(url: Any = None, environ: Mapping[str, str] | None = None) -> str:
    """The SQLAlchemy URL for psycopg 3.

    A ``postgresql://`` (or ``postgres://``, or another driver's) URL is
    rewritten to ``postgresql+psycopg://``. Without a URL, the libpq
    environment is used: ``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGDATABASE``
    (``PGPASSWORD`` and the rest are read by libpq itself, so no password is
    ever put into the URL).
    """
    if url is not None and str(url).strip():
        text = str(url).strip()
        scheme, sep, rest = text.partition("://")
        if not sep:
            raise ConfigurationError(f"not a PostgreSQL url: {text.split('@')[-1]!r}")
        if scheme.lower() in _REWRITE:
            return f"{DRIVER}://{rest}"
        if not scheme.lower().startswith("postgres"):
            raise ConfigurationError(
                f"not a PostgreSQL url (scheme {scheme!r}); use postgresql://... or dss-sql's "
                "`sql` importer for other databases")
        return text
    import sqlalchemy as sa

    env = os.environ if environ is None else environ
    parts: dict[str, Any] = {}
    for var, part in _LIBPQ.items():
        if env.get(var):
            parts[part] = env[var]
    if "port" in parts:
        try:
            parts["port"] = int(parts["port"])
        except ValueError:
            raise ConfigurationError(f"PGPORT is not a port number: {parts['port']!r}") from None
    return sa.URL.create(DRIVER, **parts).render_as_string(hide_password=False)


def compile_sql(conn: Connection, stmt: Any) -> str:
    """``stmt`` as SQL text for psycopg with bound values inlined (for COPY and raw cursors).

    The text is meant to be run with an empty parameter dict, so ``%`` is escaped.
    """
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


class PostgresImporter(SQLImporter):
    """Reads a table or a query from PostgreSQL with psycopg 3 (importer name ``postgres``).

    Everything :class:`~dss_sql.SQLImporter` takes (``table``, ``query``,
    ``key``, ``rename``, ``yield_per``), plus:

    ``url``
        ``postgresql://...`` (rewritten for psycopg 3); when no URL is set,
        the libpq environment (``PGHOST``, ``PGPORT``, ``PGUSER``,
        ``PGDATABASE``, ``PGPASSWORD``, ...).
    ``method``
        ``cursor`` (default, measured fastest: a server-side named cursor
        fetching ``yield_per`` rows at a time), ``copy`` (``COPY ... TO
        STDOUT``) or ``stream`` (dss-sql's SQLAlchemy streaming); see
        ``benchmarks/postgres_read.py``.

    ``dbsession()`` gives an ORM session (commit on success, rollback on an
    exception) for importers that override ``readin()``.
    """

    name = "postgres"
    declared_settings: ClassVar[tuple[Setting, ...]] = (
        *SQLImporter.declared_settings,
        Setting("method", str, DEFAULT_READ_METHOD, "how to read: cursor, copy or stream"),
    )
    method: ClassVar[str] = DEFAULT_READ_METHOD

    @property
    def database_url(self) -> str:
        return postgres_url(self.option("url"), self.tree.config.environ)

    def database_errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (*super().database_errors(), psycopg.Error)

    def read_method(self) -> str:
        method = str(self.option("method") or DEFAULT_READ_METHOD).lower()
        if method not in READ_METHODS:
            raise ConfigurationError(
                f"{self.tree.name}.{self.branch}: method must be one of {', '.join(READ_METHODS)}, "
                f"not {method!r}")
        return method

    def read_columns(self) -> dict[str, Any] | None:
        """The rows as text columns for the core's columnar store, or None (see :mod:`dss_postgres.columnar`).

        None also when polars is not installed (``dss-postgres[columnar]``):
        the object path reads the branch.
        """
        try:
            import polars  # noqa: F401
        except ImportError:
            return None
        from .columnar import read_columns

        return read_columns(self)

    def stream(self, conn: Connection, stmt: Any) -> Iterator[Mapping[str, Any]]:
        method = self.read_method()
        if method == "stream":
            return super().stream(conn, stmt)
        if method == "cursor":
            return self.stream_cursor(conn, stmt)
        return self.stream_copy(conn, stmt)

    def stream_cursor(self, conn: Connection, stmt: Any) -> Iterator[dict[str, Any]]:
        """Rows through a psycopg server-side (named) cursor, ``yield_per`` at a time."""
        sql = compile_sql(conn, stmt)
        dbapi = conn.connection.driver_connection
        with dbapi.cursor(name="dss_read") as cur:  # type: ignore[union-attr]
            per = int(self.option("yield_per") or 1000)
            cur.itersize = per
            cur.execute(sql, {})
            names = [d.name for d in cur.description or ()]
            while batch := cur.fetchmany(per):
                for row in batch:
                    yield dict(zip(names, row, strict=True))

    def stream_copy(self, conn: Connection, stmt: Any) -> Iterator[dict[str, Any]]:
        """Rows through ``COPY (query) TO STDOUT``, binary when psycopg can load every column type."""
        from psycopg.pq import Format

        sql = compile_sql(conn, stmt)
        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(f"SELECT * FROM ({sql}) AS dss_q LIMIT 0", {})
            names = [d.name for d in cur.description or ()]
            types = [d.type_code for d in cur.description or ()]
            binary = all(cur.adapters.get_loader(oid, Format.BINARY) is not None for oid in types)
            fmt = " (FORMAT BINARY)" if binary else ""
            # copy() unescapes ``%%`` only when given parameters (execute() does with {}): undo it
            with cur.copy(f"COPY ({sql.replace('%%', '%')}) TO STDOUT{fmt}") as copy:
                copy.set_types(types)
                for row in copy.rows():
                    yield dict(zip(names, row, strict=True))


class PostgresHandler(SQLHandler):
    """:class:`~dss_sql.SQLHandler` for PostgreSQL: psycopg 3, ``INSERT ... ON CONFLICT`` and ``COPY``.

    ``new`` on a row that exists retired is one ``INSERT ... ON CONFLICT (key)
    DO UPDATE`` (when the key column is unique), and ``add`` inserts its link
    row with ``ON CONFLICT DO NOTHING``. A batch of new rows (or of their
    link rows) of at least :attr:`copy_rows` rows is written with ``COPY ...
    FROM STDIN`` (measured 3-4 times faster than a multi-row INSERT from 100
    rows up), unless a value is a SQL expression (NOW in a timestamp
    column), which only an INSERT can hold. The URL follows the same rules
    as :class:`PostgresImporter` (libpq environment when no ``url`` is set).
    """

    #: this class's own versions of the mapping's generic methods (batched like SQLHandler's)
    generic_methods: ClassVar[frozenset[str]] = frozenset({"upsert"})
    #: the fewest rows a batch inserts with COPY (fewer: a multi-row INSERT)
    copy_rows: ClassVar[int] = 100

    @property
    def database_url(self) -> str:
        url = self.settings.get("url") or (self.mapping.url if self.mapping else None) or self.url
        return postgres_url(url, self.config.environ)

    @staticmethod
    def unique_key(b: BoundTable) -> bool:
        """True when the key column alone is the primary key or has a unique constraint or index."""
        key = b.map.key
        if [c.name for c in b.table.primary_key.columns] == [key]:
            return True
        for constraint in b.table.constraints:
            if type(constraint).__name__ == "UniqueConstraint" and [
                    c.name for c in constraint.columns] == [key]:
                return True
        return any(ix.unique and [c.name for c in ix.columns] == [key] for ix in b.table.indexes)

    def _upserts(self, b: BoundTable) -> bool:
        """True when ``new`` on ``b`` is ``INSERT ... ON CONFLICT`` (a retiring mapping with a unique key)."""
        known: dict[int, bool] = self.__dict__.setdefault("_upserting", {})
        if id(b) not in known:
            known[id(b)] = bool(b.map.retires) and self.unique_key(b)
        return known[id(b)]

    def upsert(self, b: BoundTable, values: dict[str, Any]) -> None:
        """``INSERT ... ON CONFLICT (key) DO UPDATE`` (portable fallback without a unique key)."""
        if not self.unique_key(b):
            super().upsert(b, values)
            return
        from sqlalchemy.dialects.postgresql import insert

        stmt = insert(b.table).values(**values)
        rest = {k: stmt.excluded[k] for k in values if k != b.map.key}
        if rest:
            stmt = stmt.on_conflict_do_update(index_elements=[b.key], set_=rest)
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=[b.key])
        self.execute(stmt)

    def new_rows(self, b: BoundTable, objs: Sequence[Any]) -> list[dict[str, Any]]:
        """What :meth:`upsert` inserts: with ON CONFLICT, every live value too."""
        rows = super().new_rows(b, objs)
        if not self._upserts(b):
            return rows
        live = b.revive_values()
        return [{**row, **live} for row in rows]

    def link_insert(self, bl: BoundLink) -> Any:
        """The INSERT of ``add``'s link rows: one that is there already is left alone (``ON CONFLICT DO NOTHING``)."""
        from sqlalchemy.dialects.postgresql import insert

        return insert(bl.table).on_conflict_do_nothing()

    # insert_rows and copy are SQLHandler's: through psycopg 3 (always, here) a plain insert of
    # copy_rows rows or more is a COPY


class PostgresMapping(SQLMapping):
    """:class:`~dss_sql.SQLMapping` whose importers and handler are the PostgreSQL ones."""

    importer_base = PostgresImporter

    def handler_base(self) -> type[SQLHandler]:
        return PostgresHandler
