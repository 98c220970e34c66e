"""Where branches are stored: :class:`TableMap`, :class:`LinkMap`, :class:`TableMapping`.

Plain declarations and the type rules that check them against a database.
The handler and the mapped importers read these; :class:`~dss_sql.SQLMapping`
(in :mod:`dss_sql.mapping`) makes both from them.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dss_core import SCALAR, ConfigurationError, Model

from .engine import redact_url


class _Now:
    """The current time, written when a row is retired or inserted (:data:`NOW`)."""

    _instance: _Now | None = None

    def __new__(cls) -> _Now:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOW"

    def __reduce__(self) -> str:
        return "NOW"


#: The current time as a column's value: ``retire={"deleted_at": NOW}``. A date or
#: time column gets the database's ``CURRENT_TIMESTAMP`` (``CURRENT_DATE``), an
#: INTEGER or BIGINT column Unix seconds (Moodle's ``timemodified``), a text column
#: ISO 8601 (UTC); a smaller or other column cannot hold it (``dss check`` says so).
#: On a date or time column the string ``"now"`` means the same.
NOW = _Now()


@dataclass(frozen=True)
class LinkMap:
    """A link table holding one membership attribute: one row per (owner, member).

    ``owner`` is the column holding the owner's key, ``member`` the column
    holding one element of the set. By default both hold what the objects
    know: the owner's idnumber and the element itself. Real application
    schemas link rows by surrogate key instead (Moodle's
    ``mdl_cohort_members(cohortid, userid)``); then:

    ``owner_id``
        the column of the owner's table that ``owner`` holds (``"id"``): the
        link row names the owner by that column, found through the owner's
        key (its idnumber) in the owner's table.
    ``member_table``
        the table whose rows the elements are (``"mdl_user"``): ``member``
        holds that table's ``member_id`` column of the row whose
        ``member_key`` column holds the element.
    ``member_id``
        that column (default ``"id"``).
    ``member_key``
        the column of ``member_table`` holding the elements (default: the key
        of the branch mapped to ``member_table``, else ``"idnumber"``). The
        scope of that branch holds for the members too.
    ``defaults``
        ``{column: value}`` written in every new link row (``{"timeadded": NOW}``).

    An element (or owner) whose row is not there, or outside its table's
    scope, makes its action fail naming it; nothing is written.
    """

    table: str
    owner: str
    member: str
    owner_id: str | None = None
    member_table: str | None = None
    member_id: str = "id"
    member_key: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def surrogate(self) -> bool:
        """True when the owner or the member column holds a surrogate key, not an idnumber."""
        return self.owner_id is not None or self.member_table is not None


class Condition:
    """One column's condition in a :class:`TableMap` ``scope`` (see :func:`starts_with`, ...)."""

    def __init__(self, kind: str, values: Sequence[Any] = ()) -> None:
        self.kind = kind
        self.values = tuple(values)

    def clause(self, column: Any) -> Any:
        """The SQLAlchemy condition on ``column`` (values bound as parameters, adapted to its type)."""
        import sqlalchemy as sa

        values = [adapt(v, column) for v in self.values]
        if self.kind == "not_empty":
            return sa.and_(column.is_not(None), column != "")
        if self.kind == "prefix":
            return sa.or_(*(column.startswith(v, autoescape=True) for v in values))
        known = [v for v in values if v is not None]
        if self.kind == "one_of":
            parts = [column.in_(known)] if known else []
            if None in values:
                parts.append(column.is_(None))
            return sa.or_(*parts) if parts else sa.false()
        # none_of: NULL is none of the values when None is not one of them
        part = sa.or_(column.not_in(known), column.is_(None)) if known else sa.true()
        return sa.and_(part, column.is_not(None)) if None in values else part

    def describe(self, name: str) -> str:
        shown = " or ".join(repr(v) for v in self.values)
        return {"not_empty": f"{name} is not empty",
                "prefix": f"{name} starts with {shown}",
                "one_of": f"{name} is {shown}",
                "none_of": f"{name} is not {shown}"}[self.kind]

    def __repr__(self) -> str:
        return f"Condition({self.kind!r}, {self.values!r})"


def not_empty() -> Condition:
    """The column is neither NULL nor the empty string (Moodle's admin has ``idnumber = ''``)."""
    return Condition("not_empty")


def starts_with(*prefixes: str) -> Condition:
    """The column starts with one of ``prefixes`` (``LIKE 'dept-%'``, ``%`` and ``_`` escaped)."""
    if not prefixes:
        raise ConfigurationError("starts_with() needs at least one prefix")
    return Condition("prefix", prefixes)


def one_of(*values: Any) -> Condition:
    """The column holds one of ``values`` (None: NULL)."""
    return Condition("one_of", values)


def none_of(*values: Any) -> Condition:
    """The column holds none of ``values`` (NULL passes unless None is one of them)."""
    return Condition("none_of", values)


#: What a scope may be: ``{column: condition}``, a function of the reflected table
#: returning a SQLAlchemy expression, or raw SQL text.
Scope = Mapping[str, Any] | Callable[[Any], Any] | str


def scope_columns(scope: Scope | None) -> list[str]:
    """The columns a ``{column: condition}`` scope names (none for the other forms)."""
    return list(scope) if isinstance(scope, Mapping) else []


def scope_clause(scope: Scope | None, table: Any) -> Any:
    """The WHERE condition selecting the rows ``scope`` owns in ``table`` (None: every row)."""
    import sqlalchemy as sa

    if scope is None:
        return None
    if isinstance(scope, str):
        return sa.text(f"({scope})")
    if callable(scope):
        return scope(table)
    parts = []
    for name, condition in scope.items():
        column = table.c[name]
        if isinstance(condition, Condition):
            parts.append(condition.clause(column))
        elif isinstance(condition, (list, tuple, set, frozenset)):
            parts.append(one_of(*condition).clause(column))
        elif condition is None:
            parts.append(column.is_(None))
        else:
            parts.append(column == adapt(condition, column))
    return sa.and_(*parts) if parts else None


def describe_scope(scope: Scope | None) -> str:
    """The scope in words, for messages (``idnumber starts with 'dept-'``)."""
    if scope is None:
        return "every row"
    if isinstance(scope, str):
        return scope
    if callable(scope):
        doc = getattr(scope, "__doc__", None)
        return str(doc or getattr(scope, "__name__", "a SQLAlchemy expression")).strip()
    out = []
    for name, condition in scope.items():
        if isinstance(condition, Condition):
            out.append(condition.describe(name))
        elif isinstance(condition, (list, tuple, set, frozenset)):
            out.append(one_of(*condition).describe(name))
        else:
            out.append(f"{name} is {condition!r}")
    return " and ".join(out)


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
        the values of the ``retire`` columns on a live row, written when
        ``new`` brings a retired row back, and on insert where the column has
        no default. Undeclared, a column's value is its default (a literal
        default such as Moodle's ``suspended DEFAULT 0``), else the negation
        of a boolean or 0/1 retire value, else NULL (a :data:`NOW` column).
        Values are adapted to the column's type (``True`` -> 1 in SMALLINT).
    ``scope``
        which rows of the table this branch owns; the others are never read,
        updated, retired or deleted, and a new object whose row would fall
        outside is a failed action. ``{column: condition}`` (all must hold):
        a value (equality, None: NULL), a list (one of them), or
        :func:`not_empty`, :func:`starts_with`, :func:`one_of`,
        :func:`none_of`; or a function of the reflected ``sqlalchemy.Table``
        returning a SQLAlchemy condition; or raw SQL text (the escape hatch:
        written by you, put into the WHERE clause as it is).
    ``defaults``
        ``{column: value}`` written in every new row (Moodle's
        ``{"auth": "manual", "mnethostid": 1, "confirmed": 1}``), adapted to
        the column's type; :data:`NOW` for the current time.
    ``ignore``
        tracked attributes that are not stored (never written, never read).
    ``links_only``
        True: the rows belong to another branch, this one owns only its link
        rows (a student's class enrolments, kept in a link table beside the
        accounts). ``new`` writes the object's link rows (its row must be
        there, in the scope), ``old`` deletes them; the row itself is never
        inserted, retired or deleted. No ``retire`` nor ``defaults`` then.
        Read such a branch with your own query (the owners that have link
        rows): the generated importer reads every row of the table.
    """

    table: str
    key: str = "idnumber"
    columns: Mapping[str, str] | Sequence[str] | None = None
    links: Mapping[str, LinkMap | tuple[str, str, str]] = field(default_factory=dict)
    retire: Mapping[str, Any] | None = None
    active: Mapping[str, Any] | None = None
    ignore: Sequence[str] = ()
    scope: Scope | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    links_only: bool = False

    def __post_init__(self) -> None:
        self.links = {a: (v if isinstance(v, LinkMap) else LinkMap(*v))
                      for a, v in dict(self.links).items()}
        if self.retire is not None and not self.retire:
            raise ConfigurationError(f"table {self.table}: retire needs at least one column")
        unknown = [c for c in (self.active or {}) if c not in (self.retire or {})]
        if unknown:
            raise ConfigurationError(
                f"table {self.table}: active names {unknown}, which retire does not")
        if self.scope is not None and not isinstance(self.scope, (str, Mapping)) and \
                not callable(self.scope):
            raise ConfigurationError(
                f"table {self.table}: scope must be {{column: condition}}, a function of the "
                f"table returning a SQLAlchemy condition, or SQL text, not {self.scope!r}")
        if self.links_only and (self.retire or self.defaults or not self.links):
            raise ConfigurationError(
                f"table {self.table}: links_only writes link rows only: it needs links=, and "
                "takes no retire= or defaults= (the rows belong to another branch)")
        clash = [c for c in self.defaults if c == self.key or c in (self.retire or {})]
        if clash:
            raise ConfigurationError(
                f"table {self.table}: defaults names {clash}, which the mapping writes itself "
                "(the key, or a retire column: give its live value in active=)")

    @property
    def retires(self) -> bool:
        """True when ``old`` marks rows retired instead of deleting them."""
        return bool(self.retire)

    def live_values(self, table: Any) -> dict[str, tuple[Any, str]]:
        """``{retire column: (value on a live row, where it comes from)}`` for the reflected ``table``.

        Where: ``"declared"`` (``active``), ``"default"`` (the column's literal
        default), ``"negation"`` (of a boolean or 0/1 retire value) or
        ``"unknown"`` (the value is None: NULL). Values are adapted to the
        column's type.
        """
        given = dict(self.active or {})
        out: dict[str, tuple[Any, str]] = {}
        for name, retired in (self.retire or {}).items():
            column = table.c[name]
            if name in given:
                out[name] = (adapt(given[name], column), "declared")
                continue
            if is_now(retired, column):
                out[name] = (None, "unknown")  # a live row has no time in it: NULL
                continue
            retired = adapt(retired, column)
            found, default = literal_default(column)
            if found and default is not None and default != retired:
                out[name] = (default, "default")
            elif isinstance(retired, bool):
                out[name] = (not retired, "negation")
            elif type(retired) in (int, float) and retired in (0, 1):
                out[name] = (type(retired)(1 - retired), "negation")
            else:
                out[name] = (None, "unknown")
        return out

    def retired_values(self, table: Any) -> dict[str, Any]:
        """``{column: value}`` that ``old`` writes, adapted to the columns of the reflected ``table``."""
        return {c: adapt(v, table.c[c]) for c, v in (self.retire or {}).items()}

    def live_clause(self, table: Any) -> Any:
        """The condition a live (not retired) row meets; None when nothing is retired.

        A row is retired when every retire column holds its retire value (a
        :data:`NOW` column: any time, that is NOT NULL).
        """
        import sqlalchemy as sa

        if not self.retire:
            return None
        parts = []
        for name, value in self.retire.items():
            column = table.c[name]
            if is_now(value, column):
                parts.append(column.is_(None))
            else:
                parts.append(column.is_distinct_from(adapt(value, column)))
        return sa.or_(*parts)

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
    number of actions committed per transaction (None: the handler's default, 500, on SQLite
    5,000 or one second's worth, see :attr:`~dss_sql.SQLHandler.sqlite_batch_size`).
    """

    def __init__(self, branches: Mapping[str, TableMap] | None = None, *, url: str | None = None,
                 batch_size: int | None = None, **tables: TableMap) -> None:
        self.tables: dict[str, TableMap] = {**dict(branches or {}), **tables}
        for branch, tmap in self.tables.items():
            if not isinstance(tmap, TableMap):
                raise ConfigurationError(f"mapping of branch {branch!r} is not a TableMap: {tmap!r}")
        self.url = url
        self.batch_size = batch_size

    def __getitem__(self, branch: str) -> TableMap:
        return self.tables[branch]

    def of_table(self, table: str) -> TableMap | None:
        """The :class:`TableMap` of a branch stored in ``table`` (the first), or None."""
        for tmap in self.tables.values():
            if tmap.table == table:
                return tmap
        return None

    def member_key(self, link: LinkMap) -> str:
        """The column of ``link.member_table`` holding the elements (see :class:`LinkMap`)."""
        if link.member_key:
            return link.member_key
        found = self.of_table(link.member_table or "")
        return found.key if found is not None else "idnumber"

    def member_scope(self, link: LinkMap) -> Scope | None:
        """The scope of the branch stored in ``link.member_table`` (members outside are not read)."""
        found = self.of_table(link.member_table or "")
        return found.scope if found is not None else None

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
    any other type (decimals, JSON), fits, except that a date or timestamp
    column takes no bool or number (a str may be an ISO date; the current
    time is :data:`NOW`). An int fits a float column,
    anything fits a text column (the handler writes its text), and a bool
    fits MySQL's TINYINT, which is how MySQL spells BOOLEAN. A bool in an
    INTEGER or SMALLINT column, or a str in an INTEGER one, does not: SQLite
    takes it, PostgreSQL refuses every row.
    """
    target = column_python_type(column)
    if target is None and is_time(column):
        return kind not in (bool, int, float)
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


def is_time(column: Any) -> bool:
    """True when ``column`` holds dates or timestamps."""
    try:
        return column.type.python_type in (datetime.datetime, datetime.date)
    except (NotImplementedError, AttributeError):
        return False


def is_now(value: Any, column: Any) -> bool:
    """True when ``value`` means the current time in ``column`` (:data:`NOW`, or ``"now"`` in a time column)."""
    return value is NOW or (isinstance(value, str) and value.lower() == "now" and is_time(column))


def now_value(column: Any) -> Any:
    """The current time as ``column`` holds it (None when its type cannot hold a time).

    A date or time column: the database's ``CURRENT_TIMESTAMP`` (``CURRENT_DATE``);
    an INTEGER or BIGINT column: Unix seconds; a text column: ISO 8601 in UTC.
    """
    import sqlalchemy as sa

    if is_time(column):
        if column.type.python_type is datetime.date:
            return sa.func.current_date()
        return sa.func.current_timestamp()
    target = column_python_type(column)
    small = isinstance(column.type, sa.SmallInteger) or \
        type(column.type).__name__.upper() in ("TINYINT", "SMALLINT", "MEDIUMINT")
    if target in (int, float) and not small:  # Unix seconds need 32 bits at least
        return int(time.time())
    if target is str:
        return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return None


def adapt(value: Any, column: Any) -> Any:
    """``value`` as ``column`` holds it: ``True`` -> 1 in a number column, NOW -> the time, "7" -> 7.

    A value that does not convert unambiguously is returned unchanged (the
    handler's checks say why it does not fit).
    """
    if value is None:
        return None
    if is_now(value, column):
        now = now_value(column)
        return value if now is None else now
    target = column_python_type(column)
    if target is None or type(value) is target or (target is float and type(value) is int):
        return value
    ok, fixed = converted(value, target)
    return fixed if ok else value


def literal_default(column: Any) -> tuple[bool, Any]:
    """``(True, value)`` when ``column``'s server default is a plain literal (``0``, ``'manual'``)."""
    import re

    arg = getattr(getattr(column, "server_default", None), "arg", None)
    text = arg if isinstance(arg, str) else getattr(arg, "text", None)
    if text is None:
        return False, None
    text = re.sub(r"::[\w ]+(\[\])?$", "", text.strip())  # PostgreSQL's casts
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    quoted = re.fullmatch(r"'((?:[^']|'')*)'", text)
    if quoted:
        return True, adapt(quoted.group(1).replace("''", "'"), column)
    if re.fullmatch(r"-?\d+", text):
        return True, adapt(int(text), column)
    if re.fullmatch(r"-?\d*\.\d+", text):
        return True, adapt(float(text), column)
    if text.lower() in ("true", "false"):
        return True, adapt(text.lower() == "true", column)
    return False, None


def sql_name(kind: type) -> str:
    """A column type holding values of ``kind`` (for hints)."""
    return _SQL_NAMES.get(kind, kind.__name__)
