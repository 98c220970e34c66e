"""SQLHandler: apply actions to database tables from a :class:`~dss_sql.SQLMapping`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from dss_core import Action, ConfigurationError, Handler, InputError, Result, Setting, Status
from dss_core.actions import ERROR

from .engine import connect, one_line, redact_url, resolve_url
from .importer import reflect_table
from .mapping import LinkMap, SQLMapping, TableMap, check_columns

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, RootTransaction


class BoundTable:
    """One branch's mapping bound to reflected tables: what the generic methods write through."""

    def __init__(self, tmap: TableMap, table: Any, columns: dict[str, str],
                 links: dict[str, tuple[LinkMap, Any]]) -> None:
        self.map = tmap
        self.table = table
        self.columns = columns  # attribute -> column
        self.links = links  # attribute -> (LinkMap, reflected link table)
        self.key = table.c[tmap.key]

    def key_value(self, idnumber: str | None) -> Any:
        return coerce(self.key, idnumber)

    def row_values(self, obj: Any) -> dict[str, Any]:
        """Column values of ``obj`` for this table (key and mapped scalar attributes)."""
        values = {self.map.key: self.key_value(obj.idnumber)}
        for attr, column in self.columns.items():
            values[column] = coerce(self.table.c[column], getattr(obj, attr))
        return values


def coerce(column: Any, value: Any) -> Any:
    """``value`` converted to the column's Python type when that is unambiguous (``"7"`` -> 7)."""
    if value is None:
        return None
    try:
        pytype = column.type.python_type
    except (NotImplementedError, AttributeError):
        return value
    if isinstance(value, pytype):
        return value
    try:
        if pytype is int and isinstance(value, str):
            return int(value)
        if pytype is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    except ValueError:
        return value
    return value


class SQLHandler(Handler):
    """Applies actions to the tables of a :class:`SQLMapping`; no handler code needed.

    Generic methods: ``new`` (insert the row and its link rows; on a retired
    row, bring it back), ``update`` (one column), ``add`` / ``remove`` (one
    link row), ``old`` (delete, or mark retired as the mapping says). A
    subclass may add specific methods (``new_users``, ``update_name``, ...);
    they are tried first, and run inside the same per-action SAVEPOINT, with
    :attr:`connection` open.

    Settings (``[tool.dss.trees.<tree>]``): ``url`` (the database),
    ``batch_size`` (actions per transaction, default the mapping's, 500).
    Before the first write, :meth:`check` verifies every mapped table and
    column exists (a ConfigurationError naming it otherwise).
    """

    declared_settings: ClassVar[tuple[Setting, ...]] = (
        Setting("url", str, None, "the SQLAlchemy database URL (DSS_<TREE>_URL)", secret=True),
        Setting("batch_size", int, 500, "actions committed per transaction"),
    )
    mapping: ClassVar[SQLMapping | None] = None
    url: ClassVar[str | None] = None
    batch_size: ClassVar[int | None] = None

    connection: Connection
    bound: dict[str, BoundTable]

    # -- connection ------------------------------------------------------------
    @property
    def database_url(self) -> str:
        """The database URL: the tree setting ``url``, else the mapping's or the class's."""
        url = self.settings.get("url") or (self.mapping.url if self.mapping else None) or self.url
        return resolve_url(url, self.config, where=f"handler of tree {self.tree.name}")

    def connect(self) -> Connection:
        """Open the connection (one ConfigurationError line when that fails)."""
        return connect(self.database_url)

    def verify(self) -> None:
        """Connect and check every mapped table and column (``dss check``); writes nothing."""
        self._url = self.database_url
        self.connection = self.connect()
        try:
            for branch, b in self.check().items():
                self.check_inserts(branch, b)
        finally:
            if self.connection.in_transaction():
                self.connection.rollback()
            self.connection.close()

    def begin(self) -> None:
        """Connect, check the mapped tables and columns, and open the first transaction."""
        self._url = self.database_url
        self.connection = self.connect()
        try:
            self.bound = self.check()
        except BaseException:
            self.connection.close()
            raise
        size = self.settings.get("batch_size") or self.batch_size or (
            self.mapping.batch_size if self.mapping else 500)
        self._batch = max(1, int(size))
        self._pending = 0
        if self.connection.in_transaction():  # reflection autobegins
            self.connection.rollback()
        self._tx: RootTransaction | None = self.connection.begin()

    def end(self, failed: bool) -> None:
        """Commit what the actions did (each failed action was already rolled back) and close."""
        conn = getattr(self, "connection", None)
        if conn is None:
            return
        from sqlalchemy import exc as sa_exc

        try:
            if self._tx is not None and self._tx.is_active:
                self._tx.commit()
        except sa_exc.SQLAlchemyError as exc:  # a deferred constraint, a lost connection
            raise InputError(f"committing to {redact_url(self._url)} failed: {one_line(exc)}") from None
        finally:
            self._tx = None
            conn.close()

    def commit(self) -> None:
        """Commit the current batch and start the next transaction."""
        if self._tx is not None and self._tx.is_active:
            self._tx.commit()
        elif self.connection.in_transaction():
            self.connection.commit()
        self._tx = self.connection.begin()
        self._pending = 0

    # -- validation ------------------------------------------------------------
    def check(self) -> dict[str, BoundTable]:
        """Reflect every mapped table and verify its columns exist; return them bound.

        Raises :class:`~dss_core.ConfigurationError` naming the missing table
        or column, before anything is written.
        """
        import sqlalchemy as sa

        bound: dict[str, BoundTable] = {}
        if self.mapping is None:
            return bound
        md = sa.MetaData()
        url = self._url
        for branch, tmap in self.mapping.tables.items():
            declared = self.tree.branches.get(branch)
            if declared is None:
                raise ConfigurationError(
                    f"the mapping of tree {self.tree.name} names branch {branch!r}, which the "
                    "tree does not have")
            model = declared.model
            columns = tmap.columns_for(model)
            table = reflect_table(self.connection, tmap.table, url, md)
            check_columns(table, [tmap.key, *columns.values(), *(tmap.retire or {})], url)
            links: dict[str, tuple[LinkMap, Any]] = {}
            for attr, link in tmap.links_for(model).items():
                ltable = reflect_table(self.connection, link.table, url, md)
                check_columns(ltable, [link.owner, link.member], url)
                links[attr] = (link, ltable)
            bound[branch] = BoundTable(tmap, table, columns, links)
        return bound

    def check_inserts(self, branch: str, b: BoundTable) -> None:
        """Raise ConfigurationError when the generic ``new`` cannot insert into ``b``'s table.

        That is a NOT NULL column without a default that the mapping does not
        fill: every ``new_<branch>`` would fail. Checked only when the generic
        :meth:`new` handles the branch (no ``new_<branch>`` method, ``new``
        not overridden). A column a trigger fills needs a default to pass.
        """
        method = getattr(type(self), f"new_{branch}", None) or getattr(type(self), "new", None)
        if method is not SQLHandler.new:
            return
        filled = {b.map.key, *b.columns.values(), *(b.map.retire or {})}
        single_key = len(b.table.primary_key.columns) == 1
        missing = []
        for column in b.table.columns:
            if (column.name in filled or column.nullable or column.server_default is not None
                    or column.computed is not None or column.identity is not None):
                continue
            if column.primary_key and single_key and column.autoincrement in (True, "auto"):
                try:
                    if column.type.python_type is int:
                        continue
                except NotImplementedError:
                    pass
            missing.append(column.name)
        if missing:
            raise ConfigurationError(
                f"table {b.table.fullname!r} ({redact_url(self._url)}): column "
                f"{', '.join(repr(m) for m in missing)} is NOT NULL without a default and branch "
                f"{branch!r} maps no attribute to it, so every new_{branch} would fail; map an "
                "attribute to it (TableMap columns=...), give it a default, or write "
                f"new_{branch}")

    # -- one SAVEPOINT per action -------------------------------------------------
    def handle(self, action: Action) -> Result:
        """Run the action's method inside its own SAVEPOINT.

        A database error rolls back that savepoint only and becomes a failed
        result with the database's one-line message; the other actions go on.
        Every ``batch_size`` actions the transaction is committed.
        """
        from sqlalchemy import exc as sa_exc

        if action.kind == ERROR or getattr(self, "connection", None) is None:
            return super().handle(action)
        if self._tx is None or not self._tx.is_active:
            self._tx = self.connection.begin()
        savepoint = self.connection.begin_nested()
        try:
            result = super().handle(action)
        except sa_exc.SQLAlchemyError as exc:
            savepoint.rollback()
            found = self.find_method(action)
            return Result(action, Status.FAILURE, one_line(exc),
                          handler=found[0] if found else None)
        except BaseException:
            savepoint.rollback()
            raise
        if result.failed or result.status is Status.NOT_IMPLEMENTED:
            savepoint.rollback()
        else:
            savepoint.commit()
            self._pending += 1
            if self._pending >= self._batch:
                self.commit()
        return result

    def execute(self, statement: Any, parameters: Any = None) -> Any:
        """Run one statement on the handler's connection (bound parameters only)."""
        import sqlalchemy as sa

        if isinstance(statement, str):
            statement = sa.text(statement)
        return self.connection.execute(statement, parameters)

    # -- the generic methods -----------------------------------------------------
    def _bound(self, action: Action) -> BoundTable | None:
        return getattr(self, "bound", {}).get(action.branch)

    def _unmapped(self, action: Action) -> Result:
        return Result(action, Status.NOT_IMPLEMENTED,
                      f"branch {action.branch!r} is not in the SQL mapping")

    def new(self, action: Action) -> Result | None:
        """Insert the row and its link rows; on a retired row, update it and bring it back."""
        b = self._bound(action)
        if b is None:
            return self._unmapped(action)
        obj = action.source
        values = b.row_values(obj)
        values.update(b.map.active_values())
        if b.map.retires:
            self.upsert(b, values)
        else:
            self.execute(b.table.insert().values(**values))
        key = b.key_value(action.idnumber)
        for attr, (link, ltable) in b.links.items():
            self.execute(ltable.delete().where(ltable.c[link.owner] == coerce(ltable.c[link.owner], key)))
            members = getattr(obj, attr) or ()
            rows = [{link.owner: coerce(ltable.c[link.owner], key),
                     link.member: coerce(ltable.c[link.member], m)} for m in members]
            if rows:
                self.execute(ltable.insert(), rows)
        return None

    def upsert(self, b: BoundTable, values: dict[str, Any]) -> None:
        """Insert ``values``, or update the row of the same key (portable: UPDATE, then INSERT)."""
        key = values[b.map.key]
        rest = {k: v for k, v in values.items() if k != b.map.key}
        done = 0
        if rest:
            done = self.execute(b.table.update().where(b.key == key).values(**rest)).rowcount
        else:
            done = len(self.execute(b.table.select().where(b.key == key)).fetchall())
        if not done:
            self.execute(b.table.insert().values(**values))

    def update(self, action: Action) -> Result | None:
        """Set one column of the row."""
        b = self._bound(action)
        if b is None:
            return self._unmapped(action)
        column = b.columns.get(action.attribute or "")
        if column is None:
            return action.failed(f"attribute {action.attribute!r} is not mapped to a column of "
                                 f"{b.map.table}")
        value = coerce(b.table.c[column], action.value)
        done = self.execute(b.table.update().where(b.key == b.key_value(action.idnumber))
                            .values({column: value})).rowcount
        if not done:
            return action.failed(f"no row in {b.map.table} with {b.map.key}={action.idnumber!r}")
        return None

    def _link(self, action: Action) -> tuple[LinkMap, Any, Any, Any] | Result:
        b = self._bound(action)
        if b is None:
            return self._unmapped(action)
        found = b.links.get(action.attribute or "")
        if found is None:
            return action.failed(f"attribute {action.attribute!r} has no link table")
        link, ltable = found
        owner = coerce(ltable.c[link.owner], b.key_value(action.idnumber))
        member = coerce(ltable.c[link.member], action.value)
        return link, ltable, owner, member

    def add(self, action: Action) -> Result | None:
        """Insert one link row (owner, member)."""
        found = self._link(action)
        if isinstance(found, Result):
            return found
        link, ltable, owner, member = found
        self.execute(ltable.insert().values({link.owner: owner, link.member: member}))
        return None

    def remove(self, action: Action) -> Result | None:
        """Delete one link row (owner, member)."""
        found = self._link(action)
        if isinstance(found, Result):
            return found
        link, ltable, owner, member = found
        done = self.execute(ltable.delete().where(
            ltable.c[link.owner] == owner, ltable.c[link.member] == member)).rowcount
        if not done:
            return action.dropped(f"no link row in {link.table} for {owner!r}, {member!r}")
        return None

    def old(self, action: Action) -> Result | None:
        """Mark the row retired (``retire`` in the mapping), or delete it and its link rows."""
        b = self._bound(action)
        if b is None:
            return self._unmapped(action)
        key = b.key_value(action.idnumber)
        if b.map.retire:
            done = self.execute(b.table.update().where(b.key == key)
                                .values(dict(b.map.retire))).rowcount
            if not done:
                return action.failed(f"no row in {b.map.table} with {b.map.key}={action.idnumber!r}")
            return action.succeeded("retired")
        for link, ltable in b.links.values():
            self.execute(ltable.delete().where(
                ltable.c[link.owner] == coerce(ltable.c[link.owner], key)))
        self.execute(b.table.delete().where(b.key == key))
        return None

    def __repr__(self) -> str:
        url = getattr(self, "_url", None)
        return f"<{type(self).__name__} {redact_url(url) if url else ''}>"
