"""Where branches are stored: :class:`TableMap`, :class:`LinkMap`, :class:`TableMapping`.

Plain declarations and the type rules that check them against a database.
The handler and the mapped importers read these; :class:`~dss_sql.SQLMapping`
(in :mod:`dss_sql.mapping`) makes both from them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dss_core import SCALAR, ConfigurationError, Model

from .engine import redact_url


@dataclass(frozen=True)
class LinkMap:
    """A link table holding one membership attribute: one row per (owner, member).

    ``owner`` is the column holding the owner's key (its idnumber),
    ``member`` the column holding one element of the set.
    """

    table: str
    owner: str
    member: str


@dataclass
class TableMap:
    """One branch stored in one table.

    ``table``
        the table name (``schema.table`` allowed).
    ``key``
        the column holding the idnumber (unique), default ``"idnumber"``.
    ``columns``
        ``{attribute: column}`` for attributes stored under another name; every
        other tracked scalar attribute is stored in the column of its own name.
        A list of attribute names is also accepted (same names).
    ``links``
        ``{attribute: LinkMap(...)}``, or ``{attribute: (table, owner, member)}``:
        where each membership attribute (a set or list) is stored.
    ``retire``
        ``None`` (default): ``old`` deletes the row (and its link rows).
        ``{column: value}``: ``old`` sets these columns instead (``{"suspended": True}``);
        such rows are skipped when the table is read back, and ``new`` on a
        retired row brings it back (setting the ``active`` values).
    ``active``
        the values of the ``retire`` columns for a live row; defaults to the
        negation of boolean retire values and NULL for any other.
    ``ignore``
        tracked attributes that are not stored (never written, never read).
    """

    table: str
    key: str = "idnumber"
    columns: Mapping[str, str] | Sequence[str] | None = None
    links: Mapping[str, LinkMap | tuple[str, str, str]] = field(default_factory=dict)
    retire: Mapping[str, Any] | None = None
    active: Mapping[str, Any] | None = None
    ignore: Sequence[str] = ()

    def __post_init__(self) -> None:
        self.links = {a: (v if isinstance(v, LinkMap) else LinkMap(*v))
                      for a, v in dict(self.links).items()}
        if self.retire is not None and not self.retire:
            raise ConfigurationError(f"table {self.table}: retire needs at least one column")

    @property
    def retires(self) -> bool:
        """True when ``old`` marks rows retired instead of deleting them."""
        return bool(self.retire)

    def active_values(self) -> dict[str, Any]:
        """The values of the retire columns on a live row."""
        if not self.retire:
            return {}
        given = dict(self.active or {})
        out: dict[str, Any] = {}
        for column, value in self.retire.items():
            if column in given:
                out[column] = given[column]
            elif isinstance(value, bool):
                out[column] = not value
            else:
                out[column] = None
        return out

    def columns_for(self, model: type[Model]) -> dict[str, str]:
        """``{attribute: column}`` for every stored scalar attribute of ``model``."""
        schema = model.schema()
        named: dict[str, str]
        if self.columns is None:
            named = {}
        elif isinstance(self.columns, Mapping):
            named = dict(self.columns)
        else:
            named = {a: a for a in self.columns}
        ignored = set(self.ignore)
        out: dict[str, str] = {}
        for attr in schema.tracked:
            if attr in ignored or schema.types[attr][0] != SCALAR:
                continue
            out[attr] = named.get(attr, attr)
        unknown = [a for a in named if a not in out]
        if unknown:
            raise ConfigurationError(
                f"table {self.table}: columns maps {unknown} but {model.__name__} has no such "
                "scalar attribute")
        return out

    def links_for(self, model: type[Model]) -> dict[str, LinkMap]:
        """``{attribute: LinkMap}`` for every membership attribute of ``model``.

        A membership attribute without a link table is a ConfigurationError.
        """
        schema = model.schema()
        ignored = set(self.ignore)
        membership = [a for a in schema.tracked
                      if schema.types[a][0] != SCALAR and a not in ignored]
        links = dict(self.links)
        missing = [a for a in membership if a not in links]
        if missing:
            raise ConfigurationError(
                f"table {self.table}: {model.__name__}.{missing[0]} is a set or list; map it to "
                f"a link table: links={{{missing[0]!r}: LinkMap(table, owner=..., member=...)}}")
        extra = [a for a in links if a not in membership]
        if extra:
            raise ConfigurationError(
                f"table {self.table}: links maps {extra} but {model.__name__} has no such set or "
                "list attribute")
        return links  # type: ignore[return-value]


class TableMapping:
    """Branch name -> :class:`TableMap`: where each branch is stored (the data of a :class:`~dss_sql.SQLMapping`).

    ``SQLMapping(users=TableMap(...), groups=TableMap(...))``. ``url`` is a
    fallback database URL (the tree setting ``url`` wins); ``batch_size`` the
    number of actions committed per transaction.
    """

    def __init__(self, branches: Mapping[str, TableMap] | None = None, *, url: str | None = None,
                 batch_size: int = 500, **tables: TableMap) -> None:
        self.tables: dict[str, TableMap] = {**dict(branches or {}), **tables}
        for branch, tmap in self.tables.items():
            if not isinstance(tmap, TableMap):
                raise ConfigurationError(f"mapping of branch {branch!r} is not a TableMap: {tmap!r}")
        self.url = url
        self.batch_size = batch_size

    def __getitem__(self, branch: str) -> TableMap:
        return self.tables[branch]

    def __contains__(self, branch: object) -> bool:
        return branch in self.tables

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{b}={t.table!r}' for b, t in self.tables.items())})"


def check_columns(table: Any, columns: Sequence[str], url: str) -> None:
    """Raise ConfigurationError naming the first of ``columns`` that ``table`` lacks."""
    for column in columns:
        if column not in table.c:
            raise ConfigurationError(
                f"table {table.fullname!r} has no column {column!r} ({redact_url(url)}); "
                f"it has {', '.join(table.c.keys())}")


#: The Python types whose fit with a column's type dss checks (any other is taken on trust).
SIMPLE_TYPES: tuple[type, ...] = (bool, int, float, str)

#: What a column of each Python type is called in a hint ("make the column BOOLEAN").
_SQL_NAMES = {bool: "BOOLEAN", int: "INTEGER", float: "REAL or NUMERIC", str: "VARCHAR or TEXT"}


def column_python_type(column: Any) -> type | None:
    """The Python type of ``column``'s values when it is bool, int, float or str, else None."""
    try:
        pytype = column.type.python_type
    except (NotImplementedError, AttributeError):
        return None
    return pytype if pytype in SIMPLE_TYPES else None


def column_type_name(column: Any, dialect: Any = None) -> str:
    """The column's SQL type as the database names it (``SMALLINT``, ``VARCHAR(200)``)."""
    try:
        return str(column.type.compile(dialect=dialect))
    except Exception:  # a type the dialect cannot render
        return type(column.type).__name__.upper()


def fits(kind: type, column: Any, dialect: Any = None) -> bool:
    """True when a value of Python type ``kind`` can be written to ``column`` and read back.

    Only bool, int, float and str are judged; any other type, or a column of
    any other type (dates, decimals, JSON), fits. An int fits a float column,
    anything fits a text column (the handler writes its text), and a bool
    fits MySQL's TINYINT, which is how MySQL spells BOOLEAN. A bool in an
    INTEGER or SMALLINT column, or a str in an INTEGER one, does not: SQLite
    takes it, PostgreSQL refuses every row.
    """
    target = column_python_type(column)
    if target is None or kind not in SIMPLE_TYPES or kind is target:
        return True
    if target is str or (kind is int and target is float):
        return True
    mysql = getattr(dialect, "name", "") in ("mysql", "mariadb")
    return kind is bool and target is int and mysql and \
        type(column.type).__name__.upper() == "TINYINT"


def converted(value: Any, target: type) -> tuple[bool, Any]:
    """``(True, value)`` rewritten as ``target`` when that is unambiguous (True -> 1), else ``(False, None)``."""
    if target is int and isinstance(value, bool):
        return True, int(value)
    if target is bool and type(value) is int and value in (0, 1):
        return True, bool(value)
    if target in (int, float) and isinstance(value, str):
        try:
            return True, target(value.strip())
        except ValueError:
            return False, None
    if target is float and type(value) is int:
        return True, float(value)
    if target is str and not isinstance(value, str):
        return True, str(value)
    return False, None


def sql_name(kind: type) -> str:
    """A column type holding values of ``kind`` (for hints)."""
    return _SQL_NAMES.get(kind, kind.__name__)
