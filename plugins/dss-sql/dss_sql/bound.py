"""The mapping bound to reflected tables: the values and conditions every write is built from.

:class:`BoundTable` (one branch's table) and :class:`BoundLink` (one link
table) make the rows and WHERE clauses of the generic methods, so that one
action (:mod:`dss_sql.handler`) and a batch of them (:mod:`dss_sql.batches`)
write the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .tables import LinkMap, TableMap


class BoundLink:
    """One link map bound to its reflected tables: builds the statements of its link rows.

    Unpacks as ``(link, table)`` like the pair it replaces. ``owner_id`` is
    the owner table's column the link's owner column holds (None: the
    owner's key, its idnumber); ``member_table`` / ``member_key`` /
    ``member_id`` the table, key column and id column the member column
    refers to (None: the member column holds the element itself).
    """

    def __init__(self, link: LinkMap, table: Any, owner_id: Any = None, member_table: Any = None,
                 member_key: Any = None, member_id: Any = None, member_scope: Any = None) -> None:
        self.link = link
        self.table = table
        self.owner_id = owner_id
        self.member_table = member_table
        self.member_key = member_key
        self.member_id = member_id
        self.member_scope = member_scope
        self.owner = table.c[link.owner]
        self.member = table.c[link.member]
        self._delete_one: Any = None
        self._delete_pairs: Any = None
        self._types = (python_type(self.owner), python_type(self.member))

    def __iter__(self) -> Iterator[Any]:
        return iter((self.link, self.table))

    def __getitem__(self, index: int) -> Any:
        return (self.link, self.table)[index]

    def row(self, owner: Any, member: Any) -> dict[str, Any]:
        """The values of one new link row: owner, member (as the columns hold them) and the defaults."""
        from .tables import adapt

        values = {c: adapt(v, self.table.c[c]) for c, v in self.link.defaults.items()}
        values[self.link.owner] = coerce(self.owner, owner)
        values[self.link.member] = coerce(self.member, member)
        return values

    def rows(self, pairs: Iterable[tuple[Any, Any]]) -> list[dict[str, Any]]:
        """:meth:`row` of each ``(owner, member)``: the defaults adapted once, the column types looked up once."""
        from .tables import adapt

        fixed = {c: adapt(v, self.table.c[c]) for c, v in self.link.defaults.items()}
        owner, member = self.link.owner, self.link.member
        otype, mtype = self._types
        return [{**fixed, owner: o if type(o) is otype else coerce_to(otype, o),
                 member: m if type(m) is mtype else coerce_to(mtype, m)} for o, m in pairs]

    def of_owner(self, owner: Any) -> Any:
        """The condition selecting the link rows of one owner (its value as the owner column holds it)."""
        return self.owner == coerce(self.owner, owner)

    def one(self, owner: Any, member: Any) -> Any:
        """The condition selecting one link row."""
        import sqlalchemy as sa

        return sa.and_(self.of_owner(owner), self.member == coerce(self.member, member))

    def delete_one(self) -> Any:
        """``DELETE`` of one link row, by the parameters of :meth:`one_params` (built once).

        A statement built once and executed with parameters costs a fifth of
        one built per row (SQLAlchemy compiles it once and caches it).
        """
        if self._delete_one is None:
            import sqlalchemy as sa

            self._delete_one = self.table.delete().where(
                self.owner == sa.bindparam("dss_owner"), self.member == sa.bindparam("dss_member"))
        return self._delete_one

    def one_params(self, owner: Any, member: Any) -> dict[str, Any]:
        """The parameters of :meth:`delete_one` for one link row."""
        return {"dss_owner": coerce(self.owner, owner), "dss_member": coerce(self.member, member)}

    def delete_pairs(self) -> Any:
        """PostgreSQL: ``DELETE`` of the link rows of the pairs in arrays ``dss_owners`` and
        ``dss_members`` (``USING unnest(...)``), ``RETURNING`` each pair deleted (built once)."""
        if self._delete_pairs is None:
            import sqlalchemy as sa

            pairs, owners, members = arrays("dss_owners", self.owner, "dss_members", self.member)
            self._delete_pairs = self.table.delete().where(
                self.owner == sa.any_(owners), self.member == sa.any_(members),
                self.owner == pairs.c.dss_a, self.member == pairs.c.dss_b).returning(
                self.owner, self.member)
        return self._delete_pairs


def unique_alone(table: Any, column: Any) -> bool:
    """True when ``column`` alone is ``table``'s primary key, a unique constraint, or a full unique index."""
    import sqlalchemy as sa

    def alone(columns: Any) -> bool:
        return [c.name for c in columns] == [column.name]

    if alone(table.primary_key.columns):
        return True
    if any(isinstance(c, sa.UniqueConstraint) and alone(c.columns) for c in table.constraints):
        return True
    return any(index.unique and alone(index.columns) and not any(
        name.endswith("where") and value is not None for name, value in index.dialect_kwargs.items())
        for index in table.indexes)


class BoundTable:
    """One branch's mapping bound to reflected tables: what the generic methods write through.

    Builds the values and conditions of its statements (:meth:`insert_values`,
    :meth:`revive_values`, :meth:`where_key`, :attr:`scope`), so that one
    action and a batch of them write the same rows.
    """

    def __init__(self, tmap: TableMap, table: Any, columns: dict[str, str],
                 links: dict[str, BoundLink]) -> None:
        from .tables import scope_clause

        self.map = tmap
        self.table = table
        self.columns = columns  # attribute -> column
        self.links = links  # attribute -> BoundLink (unpacks as (LinkMap, reflected link table))
        self.key = table.c[tmap.key]
        self.live = tmap.live_values(table)  # retire column -> (live value, where it comes from)
        #: the WHERE condition of the rows this branch owns (None: every row)
        self.scope = scope_clause(tmap.scope, table)
        self._updates: dict[str, Any] = {}
        self._updates_from: dict[str, Any] = {}
        self._key_type = python_type(self.key)
        #: the key column alone is the primary key or unique (a unique constraint, or a unique
        #: index without a WHERE): an insert of a key that has a row fails, whatever its scope
        self.unique_key = unique_alone(table, self.key)
        self._typed = [(attr, column, python_type(table.c[column]))
                       for attr, column in columns.items()]

    def key_value(self, idnumber: str | None) -> Any:
        """``idnumber`` as the key column holds it (:func:`coerce`, the column's type looked up once)."""
        kind = self._key_type
        if idnumber is None or kind is None or type(idnumber) is kind:
            return idnumber
        return coerce_to(kind, idnumber)

    def row_values(self, obj: Any) -> dict[str, Any]:
        """Column values of ``obj`` for this table (key and mapped scalar attributes)."""
        values = {self.map.key: coerce_to(self._key_type, obj.idnumber)}
        for attr, column, pytype in self._typed:
            value = getattr(obj, attr)
            values[column] = value if value is None or type(value) is pytype else \
                coerce_to(pytype, value)
        return values

    def rows_values(self, objs: Any) -> list[dict[str, Any]]:
        """:meth:`insert_values` of each of ``objs`` (the constant values computed once)."""
        fixed = {**self.default_values(), **self.written_live()}
        return [{**fixed, **self.row_values(obj)} for obj in objs]

    def default_values(self) -> dict[str, Any]:
        """The mapping's ``defaults`` adapted to their columns (NOW: the current time)."""
        from .tables import adapt

        return {c: adapt(v, self.table.c[c]) for c, v in self.map.defaults.items()}

    def written_live(self) -> dict[str, Any]:
        """The live values an insert writes: declared ones, and those of columns without a default."""
        return {c: v for c, (v, where) in self.live.items()
                if where == "declared" or self.table.c[c].server_default is None}

    def insert_values(self, obj: Any) -> dict[str, Any]:
        """Every column value of ``obj``'s new row: key, attributes, ``defaults`` and live values."""
        return {**self.default_values(), **self.written_live(), **self.row_values(obj)}

    def revive_values(self) -> dict[str, Any]:
        """The live values of the retire columns: what bringing a retired row back writes."""
        return {c: v for c, (v, _) in self.live.items()}

    def retired_values(self) -> dict[str, Any]:
        """What ``old`` writes in a retiring mapping (adapted to the columns)."""
        return self.map.retired_values(self.table)

    def where_key(self, idnumber: str | None) -> Any:
        """The row of ``idnumber``, if this branch owns it (key and scope)."""
        import sqlalchemy as sa

        match = self.key == self.key_value(idnumber)
        return match if self.scope is None else sa.and_(match, self.scope)

    def update_column(self, column: str) -> Any:
        """``UPDATE ... SET column = :dss_value WHERE key = :dss_key [AND scope]`` (built once per column)."""
        statement = self._updates.get(column)
        if statement is None:
            import sqlalchemy as sa

            match = self.key == sa.bindparam("dss_key")
            if self.scope is not None:
                match = sa.and_(match, self.scope)
            statement = self._updates[column] = self.table.update().where(match).values(
                {column: sa.bindparam("dss_value")})
        return statement

    def update_params(self, idnumber: str | None, column: str, value: Any) -> dict[str, Any]:
        """The parameters of :meth:`update_column` setting ``column`` of ``idnumber``'s row to ``value``."""
        return {"dss_key": self.key_value(idnumber), "dss_value": coerce(self.table.c[column], value)}

    def update_from(self, column: str) -> Any:
        """PostgreSQL: ``UPDATE ... SET column = v.dss_b FROM unnest(:dss_keys, :dss_values) AS v
        WHERE key = v.dss_a [AND scope] RETURNING key``: many rows set in one statement, each
        row updated named (built once per column)."""
        statement = self._updates_from.get(column)
        if statement is None:
            import sqlalchemy as sa

            values, keys, _ = arrays("dss_keys", self.key, "dss_values", self.table.c[column])
            match = sa.and_(self.key == sa.any_(keys), self.key == values.c.dss_a)
            if self.scope is not None:
                match = sa.and_(match, self.scope)
            statement = self._updates_from[column] = self.table.update().where(match).values(
                {column: values.c.dss_b}).returning(self.key)
        return statement

    def scope_state(self, idnumber: str | None) -> Any:
        """A query whose rows say where the row of ``idnumber`` is: none, 1 (in scope) or 0 (outside)."""
        import sqlalchemy as sa

        inside = sa.case((self.scope, 1), else_=0) if self.scope is not None else sa.literal(1)
        return sa.select(inside).select_from(self.table).where(
            self.key == self.key_value(idnumber))


def arrays(first: str, a: Any, second: str, b: Any) -> tuple[Any, Any, Any]:
    """PostgreSQL: ``unnest(:first, :second) AS dss_v(dss_a, dss_b)``, two array parameters of the
    types of columns ``a`` and ``b`` as a table of pairs (for ``UPDATE ... FROM``, ``DELETE ... USING``),
    and the two parameters (for ``a = ANY(:first)``, which lets the planner pick the rows first:
    without it, PostgreSQL may hash the whole table to join it with the pairs)."""
    import sqlalchemy as sa

    one, two = sa.bindparam(first, type_=array_of(a)), sa.bindparam(second, type_=array_of(b))
    pairs = sa.func.unnest(one, two).table_valued(
        sa.column("dss_a", a.type), sa.column("dss_b", b.type), name="dss_v").render_derived()
    return pairs, one, two


def array_of(column: Any) -> Any:
    """PostgreSQL: the type of an array parameter of ``column``'s values: its type, without the
    length of a text column. The array is cast to it, and an explicit cast to ``VARCHAR(200)``
    cuts a longer text short where writing it to the column fails (a key compared cut short
    could even match another row)."""
    import sqlalchemy as sa
    from sqlalchemy.dialects.postgresql import ARRAY

    kind = column.type
    if isinstance(kind, sa.String) and getattr(kind, "length", None) is not None:
        kind = sa.String()
    return ARRAY(kind)


def plain_array(column: Any) -> bool:
    """True when ``column``'s values go into a PostgreSQL array as they are (text, numbers, booleans)."""
    return python_type(column) in (str, int, float, bool)


_PYTHON_TYPES: dict[int, tuple[Any, type | None]] = {}


def python_type(column: Any) -> type | None:
    """The Python type of ``column``'s values (None when SQLAlchemy cannot tell); looked up once per type."""
    kind = getattr(column, "type", None)
    known = _PYTHON_TYPES.get(id(kind))
    if known is not None and known[0] is kind:
        return known[1]
    try:
        found = kind.python_type  # type: ignore[union-attr]
    except (NotImplementedError, AttributeError):
        found = None
    _PYTHON_TYPES[id(kind)] = (kind, found)  # the type is kept: its id is not reused
    return found


def coerce(column: Any, value: Any) -> Any:
    """``value`` converted to the column's Python type when that is unambiguous (``"7"`` -> 7)."""
    if value is None:
        return None
    return coerce_to(python_type(column), value)


def coerce_to(pytype: type | None, value: Any) -> Any:
    """``value`` converted to ``pytype`` when that is unambiguous (see :func:`coerce`)."""
    if value is None or pytype is None or isinstance(value, pytype):
        return value
    try:
        if pytype is int and isinstance(value, str):
            return int(value)
        if pytype is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    except ValueError:
        return value
    return value
