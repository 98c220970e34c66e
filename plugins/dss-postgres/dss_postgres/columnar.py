"""dss-postgres's columnar reader: ``COPY (query) TO STDOUT (FORMAT csv)`` read by polars.

:func:`read_columns` gives the core the rows of :class:`PostgresImporter
<dss_postgres.PostgresImporter>` as text columns, or None where they could
differ from the object path's records; dss-sql's :mod:`dss_sql.columnar`
makes the core's columns of them (NULLs, merged rows, what falls back: see
there). How each statement is read:

* ``COPY (query) TO STDOUT (FORMAT csv, FORCE_QUOTE *)`` parsed by
  ``polars.read_csv`` as text, when every column is ``text``, ``varchar``,
  ``char``, ``name``, an integer or ``boolean`` (their output is the text
  ``str()`` gives of psycopg's value, a boolean's ``t``/``f`` made
  ``True``/``False``; every value quoted, so NULL is the one unquoted empty
  field), the rows copied are the rows parsed, and the statement is one whose
  rows come in the same order whichever way it runs: the ``copy`` method's
  own statement, or a plain ``SELECT`` of one table (no WHERE, join, order or
  limit) for the ``cursor`` and ``stream`` methods (no parallel plan);
* otherwise the ``cursor`` method's named cursor (``stream``: SQLAlchemy's
  execution) fetching the values the object path gets, made text by dss-sql;
  a ``copy`` read gives a column of another type as unknown values (served
  only when no field reads it: psycopg's binary loaders differ from the
  text ones for ``real``).

Measured on the peers workload (1M rows, nine text columns, see
``benchmarks/peers.py``): COPY as CSV into polars was the fastest way to get
text columns; the figures are in the commit that chose it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dss_sql.columnar import CHUNK, Part, fetch_rows, from_chunks, own_reading, read_with

from .postgres import PostgresImporter, compile_sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

TEXT_OIDS = frozenset({25, 1043, 1042, 19})  # text, varchar, bpchar, name
INT_OIDS = frozenset({20, 21, 23})  # int8, int2, int4
BOOL_OID = 16


def read_columns(importer: PostgresImporter) -> dict[str, Any] | None:
    """The rows as text columns for the core (see :mod:`dss_sql.columnar`), or None."""
    kind = type(importer)
    if (not own_reading(importer, PostgresImporter.stream)
            or kind.stream_cursor is not PostgresImporter.stream_cursor
            or kind.stream_copy is not PostgresImporter.stream_copy):
        return None
    method = importer.read_method()

    def fetch(conn: Connection, stmt: Any) -> Part | None:
        if method == "copy" or plain(stmt):
            part = copy_part(conn, stmt, partial=method == "copy")
            if part is not None or method == "copy":
                return part
        if method == "stream":
            return fetch_rows(conn, stmt)
        return cursor_part(conn, stmt)

    return read_with(importer, fetch)


def plain(stmt: Any) -> bool:
    """True for a SELECT of one table's columns, nothing else (rows in the table's order)."""
    import sqlalchemy as sa

    if not isinstance(stmt, sa.Select):
        return False
    froms = stmt.get_final_froms()
    return (len(froms) == 1 and isinstance(froms[0], sa.Table) and stmt.whereclause is None
            and not stmt._order_by_clauses and not stmt._group_by_clauses
            and stmt._limit_clause is None and stmt._offset_clause is None
            and not stmt._distinct and stmt._having_criteria == ()
            and all(isinstance(c, sa.Column) or isinstance(getattr(c, "element", None), sa.Column)
                    for c in stmt.selected_columns))


def copy_part(conn: Connection, stmt: Any, partial: bool = False) -> Part | None:
    """One statement's rows through ``COPY ... (FORMAT csv)`` into polars, or None (column types).

    With ``partial``, a column of another type is read too, its values unknown
    (None: served only when no field reads it), rather than the whole statement refused.
    """
    import polars as pl

    sql = compile_sql(conn, stmt)
    dbapi: Any = conn.connection.driver_connection
    if dbapi.info.encoding != "utf-8":
        return None
    with dbapi.cursor() as cur:
        cur.execute(f"SELECT * FROM ({sql}) AS dss_q LIMIT 0", {})
        names = [d.name for d in cur.description or ()]
        oids = [d.type_code for d in cur.description or ()]
        known = [o in TEXT_OIDS or o in INT_OIDS or o == BOOL_OID for o in oids]
        if not names or not (partial or all(known)):
            return None
        cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    # (%% is % to execute() given parameters, as compile_sql's text was made for; not to COPY)
    raw, copied = copy_out(dbapi, f"COPY ({sql.replace('%%', '%')}) TO STDOUT (FORMAT csv, FORCE_QUOTE *)")
    width = len(names)
    try:
        frame = pl.read_csv(raw, has_header=False, schema={f"c{i}": pl.String for i in range(width)},
                            quote_char='"', separator=",", eol_char="\n", infer_schema=False,
                            raise_if_empty=False,  # an unquoted empty field (NULL) is null, "" is ""
                            truncate_ragged_lines=False)
    except Exception:  # polars reads it otherwise than PostgreSQL wrote it: the object path
        return None
    del raw
    if frame.height != copied or frame.width != width:
        return None
    columns: list[pl.Series | None] = []
    for index, oid in enumerate(oids):
        series = frame.get_column(f"c{index}")
        if not known[index]:
            columns.append(None)
            continue
        if oid == BOOL_OID:
            series = series.replace({"t": "True", "f": "False"})  # NULL stays NULL
        columns.append(series)
    return Part(names, columns, [o in TEXT_OIDS for o in oids], frame.height)


def copy_out(dbapi: Any, command: str) -> tuple[bytes, int]:
    """``COPY ... TO STDOUT``'s output and its row count, through the connection's libpq (``pgconn``).

    Every row is one message: psycopg's ``Copy`` iteration spends a generator
    and a wait per row (1.4 s CPU at 1M rows); here each row libpq already
    holds is taken in one call, and the socket is waited on only when it
    holds none (0.8 s). An error (one of the server's, an interrupt) cancels
    the command and reads what is left, so the connection is usable after it.
    """
    import select

    from psycopg import OperationalError, pq
    from psycopg.errors import error_from_result

    pgconn = dbapi.pgconn
    pgconn.send_query(command.encode())
    out = bytearray()  # (one copy per row; not a million objects)
    try:
        result = _result(pgconn)
        if result is None or result.status != pq.ExecStatus.COPY_OUT:
            raise (OperationalError("COPY gave no result") if result is None  # (the server's error,
                   else error_from_result(result, encoding="utf-8"))          # SQLSTATE and all)
        get, wait, socket = pgconn.get_copy_data, select.select, pgconn.socket
        while True:
            size, data = get(1)
            if size > 0:
                out += data
            elif size == 0:  # nothing buffered: wait for the server
                wait([socket], [], [])
                pgconn.consume_input()
            elif size == -1:
                break
            else:
                raise OperationalError(f"COPY failed: {pgconn.get_error_message('utf-8')}")
        done = _result(pgconn)
        if done is None or done.status != pq.ExecStatus.COMMAND_OK:
            raise (OperationalError("COPY gave no result") if done is None
                   else error_from_result(done, encoding="utf-8"))
        while _result(pgconn) is not None:  # (none expected)
            pass
    except BaseException:
        _abandon(dbapi)
        raise
    return bytes(out), int(done.command_tuples or 0)


def _result(pgconn: Any) -> Any:
    """The next result of the command in progress (None: no more), waiting on the socket, not in libpq."""
    import select

    while pgconn.is_busy():
        select.select([pgconn.socket], [], [])
        pgconn.consume_input()
    return pgconn.get_result()


def _abandon(dbapi: Any) -> None:
    """The command in progress cancelled and its rest read (its errors too): the connection idle."""
    import contextlib

    from psycopg import pq

    with contextlib.suppress(Exception):
        dbapi.cancel()
    pgconn = dbapi.pgconn
    with contextlib.suppress(Exception):  # (raises when the COPY's first result is not read yet)
        while pgconn.get_copy_data(0)[0] > 0:
            pass
    with contextlib.suppress(Exception):
        while (result := pgconn.get_result()) is not None:
            if result.status == pq.ExecStatus.COPY_OUT:  # read now: then the rows up to the error
                while pgconn.get_copy_data(0)[0] > 0:
                    pass


def cursor_part(conn: Connection, stmt: Any) -> Part | None:
    """One statement's rows through a named cursor, as :meth:`PostgresImporter.stream_cursor` reads them."""
    sql = compile_sql(conn, stmt)
    dbapi: Any = conn.connection.driver_connection
    with dbapi.cursor(name="dss_read") as cur:
        cur.itersize = CHUNK
        cur.execute(sql, {})
        names = [d.name for d in cur.description or ()]
        return from_chunks(names, iter(lambda: cur.fetchmany(CHUNK), []))
