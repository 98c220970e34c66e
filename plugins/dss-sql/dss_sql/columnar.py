"""dss-sql's columnar reader: a table or query read into text columns for the core's columnar store.

:func:`read_columns` gives the core (``dss_core``'s columnar store: a polars
frame of text columns named as the record fields, the line column, ``source``,
``lists``) the rows the object path (:meth:`SQLImporter.readin
<dss_sql.SQLImporter.readin>`) would read, or None whenever the two could
differ, in which case the core reads the branch the ordinary way. It runs the
importer's own statements (:meth:`~dss_sql.SQLImporter.statements`, so a
``TableMap``'s scope, retired rows and link joins are those of the object
path) on the same connection, and serves only what it can prove equal:

* ``readin``, ``rows``, ``stream``, ``records`` and ``reader`` are dss-sql's
  own (a subclass reading otherwise keeps the object path), and SQLAlchemy
  converts no value of any selected column (no result processor: the values
  are the driver's, as the object path gets them);
* every value is None, a str, an int, a float or a bool; its text is
  ``str(value)``, which is what the model's coercers make of it or, for an
  ``int``, ``float`` or ``bool`` field, a text they convert to the same value
  (an ``int`` field holding ``1.5`` gives a text they refuse: the core then
  keeps the object path, which says so);
* NULL only where the object path gives what the text ``""`` gives: an
  optional ``int``, ``float`` or ``bool`` field (None both ways), a list
  column (no element), a column no field reads; a NULL idnumber (a bad
  record), a NULL in a ``str`` field (None, not ``""``) or in a required one
  keeps the object path;
* rows of the same idnumber (a link table's rows, one row per membership)
  are merged as the core merges records: the first row's line and values,
  every other row's scalar values the same text (else the object path, which
  compares them), the members in row order, each once, NULL and ``""``
  dropped, and no member with surrounding whitespace or the separator.

A row's line is its number among the rows of every statement, as the object
path numbers them (``Origin(table, n, "row")``: ``users row 5``).

On SQLite, a statement's rows are read by ADBC's SQLite driver straight into
Arrow where :func:`sqlite_arrow_part` can prove them the rows sqlite3 gives
(``adbc-driver-sqlite``, in the ``columnar`` extra); else through SQLAlchemy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from dss_core import SCALAR, Importer

from .engine import TimedOut, database_error

if TYPE_CHECKING:
    import polars as pl
    from sqlalchemy.engine import Connection

    from .importer import SQLImporter

LINE = "_dss_line"  # the line column the core reads (dss_core.columnar.LINE)
UNIT = "row"  # a SQL record's position is a row: "users row 5"
SEP = "\x1f"  # joins the members of one object (refused when a member holds it)
CHUNK = 100_000  # rows fetched and turned into columns at a time (bounded Python objects)
# a member with one of these at an end would be stripped by the core's split (str.strip):
# every character whose str.isspace() is true (a test checks the list against Python's)
SPACES = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
          "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_EDGE = f"^[{re.escape(SPACES)}]|[{re.escape(SPACES)}]$"
_TEXT = (str, int, float, bool)


class Part:
    """The rows of one statement: each column's text (None: a value of another type), str-only flags."""

    def __init__(self, names: list[str], columns: list[pl.Series | None], only_str: list[bool],
                 height: int) -> None:
        self.names = names
        self.columns = columns
        self.only_str = only_str
        self.height = height


Fetch = Callable[["Connection", Any], "Part | None"]


def own_reading(importer: SQLImporter, stream: Callable[..., Any]) -> bool:
    """True when ``importer`` reads its rows as dss-sql does (``stream`` being the expected one)."""
    from .importer import SQLImporter

    kind = type(importer)
    return (kind.readin is SQLImporter.readin and kind.rows is SQLImporter.rows
            and kind.stream is stream and kind.records is Importer.records
            and kind.reader is Importer.reader)


def read_columns(importer: SQLImporter) -> dict[str, Any] | None:
    """The rows as text columns (``{"frame", "source", "lists", "unit", "columns"}``), or None."""
    from .importer import SQLImporter

    if not own_reading(importer, SQLImporter.stream):
        return None
    return read_with(importer, fetch_any)


def fetch_any(conn: Connection, stmt: Any) -> Part | None:
    """One statement's rows: through ADBC's SQLite driver where :func:`sqlite_arrow_part` can
    serve it, else through SQLAlchemy (:func:`fetch_rows`)."""
    if conn.dialect.name == "sqlite" and conn.dialect.driver == "pysqlite":
        part = sqlite_arrow_part(conn, stmt)
        if part is not None:
            return part
    return fetch_rows(conn, stmt)


def read_with(importer: SQLImporter, fetch: Fetch) -> dict[str, Any] | None:
    """Run the importer's statements through ``fetch`` and make the core's columns of their rows."""
    lists = importer.list_columns_setting()
    renames = importer.renames()
    parts: list[Part] = []
    with importer.connection() as conn:
        try:
            for stmt in importer.statements(conn):
                part = fetch(conn, stmt)
                if part is None:
                    return None
                part.names = [renames.get(n, n) for n in part.names]
                if len(set(part.names)) != len(part.names):
                    return None  # two columns of one name: the record keeps one of them
                parts.append(part)
        except importer.database_errors() as exc:
            source = importer.describe()
            error = database_error(exc, importer.database_url,
                                   f"{importer.tree.name}.{importer.branch}: reading {source}",
                                   conn, (source,))
            if isinstance(error, TimedOut):
                raise error from None  # as the object path would, after the same wait (not two)
            return None  # the object path reads it again and says what is wrong
    model = importer.tree.branches[importer.branch].model
    return assemble(parts, model, lists, importer.describe())


# -- fetching -----------------------------------------------------------------------
def unprocessed(stmt: Any, dialect: Any, codes: Sequence[Any]) -> bool:
    """True when SQLAlchemy hands over every selected column's values as the driver gives them.

    ``codes``: the driver's type code of each column (the cursor's description).
    """
    columns = getattr(stmt, "selected_columns", None)
    if columns is None:
        return hasattr(stmt, "text")  # sa.text(): untyped columns, no processing
    if len(columns) != len(codes):
        return False
    for column, code in zip(columns, codes, strict=True):
        try:
            if column.type.dialect_impl(dialect).result_processor(dialect, code) is not None:
                return False
        except Exception:  # a type that cannot say: not proven
            return False
    return True


def fetch_rows(conn: Connection, stmt: Any) -> Part | None:
    """One statement's rows through SQLAlchemy (as the object path runs it), fetched in chunks."""
    result = conn.execute(stmt)
    try:
        cursor = result.cursor
        if not unprocessed(stmt, conn.dialect, [d[1] for d in cursor.description or ()]):
            return None
        names = list(result.keys())
        if type(result.cursor_strategy).__name__ != "CursorFetchStrategy":
            # a strategy buffering rows ahead (one row at least): read through the result
            return from_chunks(names, iter(lambda: result.fetchmany(CHUNK), []))
        return from_chunks(names, iter(lambda: cursor.fetchmany(CHUNK), []))
    finally:
        result.close()


def from_chunks(names: list[str], chunks: Iterator[Sequence[Sequence[Any]]]) -> Part | None:
    """A :class:`Part` from chunks of row tuples (each column made text, chunk by chunk)."""
    import polars as pl

    width = len(names)
    made: list[list[pl.Series | None]] = [[] for _ in range(width)]
    only_str = [True] * width
    height = 0
    for rows in chunks:
        if not rows:
            break
        height += len(rows)
        for index, values in enumerate(zip(*rows, strict=True)):
            series, plain = text_series(values)
            made[index].append(series)
            only_str[index] = only_str[index] and plain
        if len(rows[0]) != width:
            return None
    columns: list[pl.Series | None] = []
    for pieces in made:
        whole = [p for p in pieces if p is not None]
        if len(whole) != len(pieces):
            columns.append(None)
        elif not whole:
            columns.append(pl.Series([], dtype=pl.String))
        else:
            columns.append(pl.concat(whole, rechunk=True) if len(whole) > 1 else whole[0])
    return Part(names, columns, only_str, height)


# -- SQLite through ADBC: Arrow columns, no Python object per value ----------------------------
#: rows per Arrow batch of ADBC's SQLite driver (it infers a column's type from the first batch)
ARROW_BATCH = 1 << 16
ODD = "_dss_odd"  # 1 on a row holding a value that is neither text nor NULL (dss's own column)


def sqlite_arrow_part(conn: Connection, stmt: Any) -> Part | None:
    """One statement's rows read by ADBC's SQLite driver (``adbc-driver-sqlite``), or None.

    The same rows as :func:`fetch_rows`, each column the text of its values,
    three times faster at 1M rows (no Python object per value). Served only
    when that is certain, else None (then :func:`fetch_rows`):

    * the driver is installed, the connection's database is a file, ``text_factory``
      is ``str``, the statement has no bound parameters and SQLAlchemy converts
      no value (:func:`unprocessed`);
    * the rows come in the same order: SQLite's plan for the statement
      (``EXPLAIN QUERY PLAN``) is the same in the driver's SQLite as in
      Python's, and uses no temporary B-tree (no sort, whose ties could be
      broken otherwise);
    * every value is text or NULL (a column :data:`ODD` computed in the same
      pass: the driver would make an int, a real or a blob text its own way)
      and valid UTF-8 (Python's ``sqlite3`` refuses any other; the driver
      does not check).

    The driver opens the file read-only on its own connection.
    """
    try:
        import adbc_driver_sqlite.dbapi as adbc
    except ImportError:
        return None
    import polars as pl

    dbapi: Any = conn.connection.driver_connection
    if getattr(dbapi, "text_factory", None) is not str:
        return None
    databases = {row[1]: row[2] for row in dbapi.execute("PRAGMA database_list")}
    path = databases.get("main") or ""
    if not path or set(databases) - {"main", "temp"}:
        return None  # in memory, a temporary database, an attached one: no other connection sees it
    if (dbapi.execute("SELECT count(*) FROM sqlite_temp_schema").fetchone()[0]
            or dbapi.execute("PRAGMA reverse_unordered_selects").fetchone()[0]):
        return None  # a temporary table or view (shadowing one of the file's), the rows reversed
    compiled = stmt.compile(dialect=conn.dialect)
    if compiled.params:
        return None
    sql = str(compiled)
    ours = [row[3] for row in dbapi.execute(f"EXPLAIN QUERY PLAN {sql}")]
    if any("TEMP B-TREE" in step for step in ours):
        return None
    result = conn.execute(stmt)  # the names and types as fetch_rows gets them (no row fetched)
    try:
        description = result.cursor.description or ()
        if (result.context.statement != sql
                or not unprocessed(stmt, conn.dialect, [d[1] for d in description])):
            return None
        names = list(result.keys())
    finally:
        result.close()
    raw = [d[0] for d in description]
    if not raw or len(set(raw)) != len(raw) or ODD in raw:
        return None
    text = _text_affinity(dbapi, stmt, len(raw))  # (no number stored there: only blobs to find)
    odd = " OR ".join(f"+{c} >= x''" if t else f"+{c} < '' OR +{c} >= x''"
                      for c, t in zip(map(_quoted, raw), text, strict=True))
    wrapped = f"SELECT *, ({odd}) AS {ODD} FROM ({sql})"  # +x: no affinity; text sorts between
    from urllib.parse import quote  # numbers (below '') and blobs (from x'' up)

    try:
        with adbc.connect(f"file:{quote(path)}?mode=ro") as db, db.cursor() as cur:
            cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(ARROW_BATCH)})
            cur.execute(f"EXPLAIN QUERY PLAN {wrapped}")
            theirs = pl.DataFrame(cur.fetch_arrow()).get_column("detail").to_list()
            if theirs != ours:
                return None  # another plan (another SQLite version): maybe another order
            cur.execute(wrapped)
            frame = pl.DataFrame(cur.fetch_arrow())
    except Exception:  # the driver's refusal (a type it did not expect, a lock): fetch_rows reads
        return None
    if frame.columns != [*raw, ODD] or frame.get_column(ODD).max() == 1:
        return None
    columns: list[pl.Series | None] = []
    for name in raw:
        series = frame.drop_in_place(name)  # (one column held twice at a time, not the frame)
        if series.dtype != pl.String:
            if series.null_count() != len(series):
                return None
            series = series.cast(pl.String)  # every value NULL: typed int64 by the driver
        try:  # invalid UTF-8 refused here, as Python's sqlite3 refuses it
            series = series.cast(pl.Binary).cast(pl.String)
        except Exception:
            return None
        columns.append(series)
    return Part(names, columns, [True] * len(raw), frame.height)


def _text_affinity(dbapi: Any, stmt: Any, count: int) -> list[bool]:
    """For each selected column: True when it is a column of a table of the file whose declared
    type gives it TEXT affinity (SQLite then stores text, NULL or a blob there, never a number)."""
    import sqlalchemy as sa

    columns = list(getattr(stmt, "selected_columns", None) or ())
    if len(columns) != count:
        return [False] * count
    declared: dict[str, dict[str, str]] = {}
    out = []
    for column in columns:
        table = getattr(column, "table", None)
        if not isinstance(column, sa.Column) or not isinstance(table, sa.Table) or table.schema:
            out.append(False)
            continue
        if table.name not in declared:
            kind = dbapi.execute("SELECT type, upper(sql) LIKE 'CREATE VIRTUAL%' FROM sqlite_schema "
                                 "WHERE name = ? COLLATE NOCASE", (table.name,)).fetchall()
            declared[table.name] = ({row[1]: str(row[2]).upper() for row in dbapi.execute(
                f"PRAGMA main.table_info({_quoted(table.name)})")} if kind == [("table", 0)] else {})
        decl = declared[table.name].get(column.name, "INT")  # (none: not proven)
        # SQLite's rules in their order: INT anywhere gives INTEGER, then CHAR, CLOB or TEXT gives TEXT
        out.append("INT" not in decl and any(k in decl for k in ("CHAR", "CLOB", "TEXT")))
    return out


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def text_series(values: Sequence[Any]) -> tuple[pl.Series | None, bool]:
    """``str(value)`` of every value (None kept) and whether all were str; (None, False) for other types."""
    import polars as pl

    try:  # the usual case, all str (or None): polars refuses any other type here
        return pl.Series(values, dtype=pl.String, strict=True), True
    except TypeError:
        pass
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if not kinds <= set(_TEXT):
        return None, False
    if kinds == {int}:
        try:
            return pl.Series(values, dtype=pl.Int64).cast(pl.String), False
        except Exception:  # beyond 64 bits: made one by one below
            pass
    return pl.Series([v if v is None or type(v) is str else str(v) for v in values],
                     dtype=pl.String), False


# -- the core's columns -----------------------------------------------------------------
def assemble(parts: list[Part], model: Any, lists: dict[str, str],
             source: str) -> dict[str, Any] | None:
    """The core's mapping from the statements' rows, or None where the object path could differ."""
    import polars as pl

    schema = model.schema()
    fields = schema.fields
    membership = {n for n, f in fields.items() if f.kind != SCALAR}
    first = next((p for p in parts if p.height), parts[0] if parts else None)
    if first is None:
        return None
    # columns read as members (one row per membership): a membership field's column, not a list column
    members = {n for p in parts for n in p.names if n in membership and n not in lists}
    scalars = [n for n in first.names if n not in members]
    if "idnumber" not in scalars:
        return None  # running numbers: the object path's
    if members and not all(_empty_default(fields[n].default) for n in membership):
        return None  # a record without the members gets the default, which merging keeps
    frames = []
    offset = 0
    for part in parts:
        if [n for n in part.names if n not in members] != scalars:
            return None  # statements of different columns: records of different keys
        columns = {}
        for name, series, plain in zip(part.names, part.columns, part.only_str, strict=True):
            if series is None:
                if name in fields or name == "idnumber" or name in lists:
                    return None
                series = pl.Series([""] * part.height, dtype=pl.String)  # no field reads it
            elif name in members and schema.fields[name].type is not str and not plain:
                return None  # elements kept as they are (Any): only str ones are text already
            columns[name] = series.alias(name)
        frame = pl.DataFrame(columns).with_columns(
            pl.int_range(offset + 1, offset + part.height + 1, dtype=pl.Int64).alias(LINE))
        offset += part.height
        frames.append(frame)
    filled = _nulls(pl.concat(frames, how="diagonal") if len(frames) > 1 else frames[0],
                    fields, scalars, lists)
    if filled is None:
        return None
    frame = filled
    if members:
        for name in members:
            elements = frame.get_column(name).drop_nulls()
            if (elements.str.contains(SEP, literal=True).any()
                    or elements.str.contains(_EDGE).any()):
                return None
    ids = frame.get_column("idnumber")
    if members or (membership and not _unique(ids)):
        merged = _merged(frame, scalars, sorted(members), fields)
        if merged is None:
            return None
        frame = merged
    for name in members:
        if name not in lists:
            lists = {**lists, name: SEP}
    return {"frame": frame.select(*scalars, *sorted(members), LINE), "source": source,
            "lists": lists, "unit": UNIT, "columns": list(first.names)}


def _unique(values: pl.Series) -> bool:
    """True when no value is there twice (distinct 64-bit hashes first: 0.06 s CPU for 1M ids
    against 0.28 s to count the texts; equal hashes are counted again as texts)."""
    return bool(values.hash(0).n_unique() == len(values) or values.n_unique() == len(values))


def _empty_default(value: Any) -> bool:
    """True for a membership field's default that gives no member (none declared, or empty)."""
    return value is None or type(value) is object or (
        isinstance(value, (set, frozenset, list, tuple)) and not value)


def _nulls(frame: pl.DataFrame, fields: dict[str, Any], scalars: list[str],
           lists: dict[str, str]) -> pl.DataFrame | None:
    """NULLs made ``""`` where that gives the object path's value; None where it would not."""
    import polars as pl

    counts = frame.select(pl.col(scalars).null_count()).row(0)
    fill = []
    for name, nulls in zip(scalars, counts, strict=True):
        if not nulls:
            continue
        f = fields.get(name)
        if name == "idnumber":
            return None  # a bad record (NULL idnumber)
        if f is not None and f.kind == SCALAR and (f.type is str or not f.optional):
            return None  # None in a str field is not "", a required field's None no text
        fill.append(name)  # an optional int/float/bool, a list column, a column no field reads
    return frame.with_columns(pl.col(fill).fill_null("")) if fill else frame


def _merged(frame: pl.DataFrame, scalars: list[str], members: list[str],
            fields: dict[str, Any]) -> pl.DataFrame | None:
    """One row per idnumber, as the core merges the records of one idnumber; None on a conflict."""
    import polars as pl

    compared = [n for n in scalars if n != "idnumber" and n in fields]
    aggs = [pl.col(LINE).first(), *(pl.col(n).first() for n in scalars if n != "idnumber"),
            *(pl.col(n).n_unique().alias(f"_dss_n{i}") for i, n in enumerate(compared))]
    for name in members:
        kept = pl.col(name).filter(pl.col(name).is_not_null() & (pl.col(name) != ""))
        aggs.append(kept.unique(maintain_order=True).str.join(SEP).alias(name))
    merged = frame.group_by("idnumber", maintain_order=True).agg(aggs)
    checks = [f"_dss_n{i}" for i in range(len(compared))]
    if checks and merged.select(pl.max_horizontal(*checks).max()).item() not in (None, 1):
        return None  # rows of one idnumber differ: the object path compares their values
    return merged.drop(checks)
