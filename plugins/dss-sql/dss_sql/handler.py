"""SQLHandler: apply actions to database tables from a :class:`~dss_sql.SQLMapping`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from dss_core import (
    ERROR,
    Action,
    ConfigurationError,
    Handler,
    InputError,
    ObjectUnit,
    Result,
    Setting,
    Status,
)

from .engine import (
    LOCK,
    TIMEOUT_SETTINGS,
    TimedOut,
    Timeouts,
    connect,
    one_line,
    redact_url,
    resolve_url,
    timeout_kind,
    timeout_message,
)
from .importer import reflect_table
from .tables import LinkMap, TableMap, TableMapping, check_columns

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, RootTransaction


class MappingProblems(ConfigurationError):
    """Every problem found checking a mapping against its database.

    The message is the first problem (one line, and how many more there are);
    :attr:`problems` holds them all, one line each (``dss check`` prints each).
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        more = len(self.problems) - 1
        extra = f" (and {more} more problem{'s' if more > 1 else ''}: dss check lists them)" \
            if more else ""
        super().__init__(self.problems[0] + extra)


def _live_value(retire: Any) -> Any:
    """The value a live row likely holds in a column whose retired value is ``retire``."""
    if isinstance(retire, bool):
        return not retire
    if isinstance(retire, (int, float)):
        return type(retire)(0 if retire else 1)
    return None


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
    ``batch_size`` (actions per transaction, default the mapping's, 500),
    ``connect_timeout``, ``lock_timeout``, ``statement_timeout`` (seconds:
    10, 30, 0 = no limit). An action whose statement waits past the lock
    timeout fails naming the table (and, on PostgreSQL, the session holding
    it); the later actions on that table are skipped, not each left to wait.
    Before the first write (and in ``dss check``, through :meth:`verify`),
    :meth:`check` verifies the mapping against the database: every table and
    column exists, attribute, ``retire`` and ``active`` values fit their
    columns, no NOT NULL column is left empty (:class:`MappingProblems`
    names every problem otherwise).
    """

    declared_settings: ClassVar[tuple[Setting, ...]] = (
        Setting("url", str, None, "the SQLAlchemy database URL (DSS_<TREE>_URL)", secret=True),
        Setting("batch_size", int, 500, "actions committed per transaction"),
        *TIMEOUT_SETTINGS,
    )
    mapping: ClassVar[TableMapping | None] = None
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

    @property
    def timeouts(self) -> Timeouts:
        """The connect, lock and statement timeouts of the tree (settings, else the defaults)."""
        return Timeouts.of(self.settings, f"handler of tree {self.tree.name}")

    def connect(self) -> Connection:
        """Open the connection (one ConfigurationError line when that fails)."""
        return connect(self.database_url, f"{self.tree.name}: writing", timeouts=self.timeouts)

    def verify(self) -> None:
        """Connect and check the mapping against the database (``dss check``); writes nothing.

        Raises :class:`MappingProblems` listing every problem :meth:`check` finds.
        """
        self._url = self.database_url
        self.connection = self.connect()
        try:
            self.check()
        finally:
            if self.connection.in_transaction():
                self.connection.rollback()
            self.connection.close()

    def begin(self) -> None:
        """Connect, check the mapping against the database, and open the first transaction.

        The checks are those of ``dss check`` (:meth:`check`): a run whose
        every new row would fail stops here, with nothing written.
        """
        self._url = self.database_url
        self.connection = self.connect()
        try:
            self.bound = self.check()
        except BaseException:
            if self.connection.in_transaction():
                self.connection.rollback()
            self.connection.close()
            raise
        size = self.settings.get("batch_size") or self.batch_size or (
            self.mapping.batch_size if self.mapping else 500)
        self._batch = max(1, int(size))
        self._pending = 0
        self._locked: dict[str, str] = {}  # table -> the action that timed out waiting for it
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
        """Reflect every mapped table, check the mapping against it; return the tables bound.

        Every problem is collected and raised at once as :class:`MappingProblems`
        (a :class:`~dss_core.ConfigurationError` whose message names the first;
        ``dss check`` lists them all), before anything is written:

        * a table, link table or column the mapping names that is not there
          (:meth:`bind`);
        * what :meth:`problems` finds in the tables that are: attribute and
          column types, the ``retire`` and ``active`` values, NOT NULL columns
          the generic ``new`` leaves empty.
        """
        bound, problems = self.bind()
        for branch, b in bound.items():
            problems += self.problems(branch, b)
        if problems:
            raise MappingProblems(problems)
        return bound

    def bind(self) -> tuple[dict[str, BoundTable], list[str]]:
        """Reflect every mapped table and link table: the branches bound, and what is missing."""
        import sqlalchemy as sa

        bound: dict[str, BoundTable] = {}
        problems: list[str] = []
        if self.mapping is None:
            return bound, problems
        md = sa.MetaData()
        for branch, tmap in self.mapping.tables.items():
            declared = self.tree.branches.get(branch)
            if declared is None:
                problems.append(
                    f"the mapping of tree {self.tree.name} names branch {branch!r}, which the "
                    "tree does not have")
                continue
            where = f"{self.tree.name}.{branch}"
            model = declared.model
            try:
                columns = tmap.columns_for(model)
            except ConfigurationError as exc:
                problems.append(f"{where}: {exc}")
                continue
            table = self._reflect(tmap.table, [tmap.key, *columns.values(), *(tmap.retire or {})],
                                  md, where, problems)
            try:
                link_maps = tmap.links_for(model)
            except ConfigurationError as exc:
                problems.append(f"{where}: {exc}")
                continue
            links: dict[str, tuple[LinkMap, Any]] = {}
            for attr, link in link_maps.items():
                ltable = self._reflect(link.table, [link.owner, link.member], md, where,
                                       problems)
                if ltable is not None:
                    links[attr] = (link, ltable)
            if table is not None and len(links) == len(link_maps):
                bound[branch] = BoundTable(tmap, table, columns, links)
        return bound, problems

    def _reflect(self, name: str, columns: list[str], md: Any, where: str,
                 problems: list[str]) -> Any:
        """The reflected table ``name``, or None with its problems added (missing table, columns)."""
        from dss_core import DssError

        try:
            table = reflect_table(self.connection, name, self._url, md)
        except TimedOut:
            raise  # a locked table: the other tables would each wait as long
        except DssError as exc:
            problems.append(f"{where}: {exc}")
            return None
        complete = True
        for column in dict.fromkeys(columns):
            try:
                check_columns(table, [column], self._url)
            except ConfigurationError as exc:
                problems.append(f"{where}: {exc}")
                complete = False
        return table if complete else None

    def generic_new(self, branch: str) -> bool:
        """True when ``new`` actions of ``branch`` go to the generic :meth:`new`."""
        method = getattr(type(self), f"new_{branch}", None) or getattr(type(self), "new", None)
        return method is SQLHandler.new

    def problems(self, branch: str, b: BoundTable) -> list[str]:
        """What would make writing ``branch`` fail, found in its reflected tables.

        * a mapped scalar attribute whose model type does not fit its column
          (a ``bool`` attribute on an INTEGER or SMALLINT column, a ``str`` on
          an INTEGER one; see :func:`~dss_sql.tables.fits`), and likewise a
          set or list attribute's elements in its link table's member column
          (where text in a number column passes: members are most often
          idnumbers, converted to the column's type like the key);
        * a ``retire`` value that does not fit its column, or NULL in a NOT
          NULL column;
        * when the generic :meth:`new` inserts the branch's rows: an ``active``
          value that does not fit, NULL (the default for a non-boolean
          ``retire`` value) in a NOT NULL column, or active values equal to the
          retire values; and a NOT NULL column without a default that nothing
          fills (:meth:`check_inserts`).
        """
        from .tables import column_python_type, converted, fits, sql_name

        model = self.tree.branches[branch].model
        schema = model.schema()
        dialect = self.connection.dialect
        where = f"{self.tree.name}.{branch}"
        out: list[str] = []
        for attr, column_name in b.columns.items():
            kind = schema.types[attr][1]
            column = b.table.c[column_name]
            if not fits(kind, column, dialect):
                target = column_python_type(column)
                assert target is not None
                out.append(
                    f"{where}: column {self._name(b.table, column)} is {self._type(column)} "
                    f"({target.__name__}) but {model.__name__}.{attr} is {kind.__name__}; "
                    f"declare {attr}: {target.__name__} in {model.__name__}, or make the column "
                    f"{sql_name(kind)}")
        for attr, (link, ltable) in b.links.items():
            kind = schema.types[attr][1]
            column = ltable.c[link.member]
            if kind is str and column_python_type(column) in (int, float):
                continue  # members are most often other objects' idnumbers: text, converted as keys
            if not fits(kind, column, dialect):
                target = column_python_type(column)
                assert target is not None
                out.append(
                    f"{where}: column {self._name(ltable, column)} is {self._type(column)} "
                    f"({target.__name__}) but the elements of {model.__name__}.{attr} are "
                    f"{kind.__name__}; declare them {target.__name__}, or make the column "
                    f"{sql_name(kind)}")
        retire = dict(b.map.retire or {})
        given = dict(b.map.active or {})
        generic = self.generic_new(branch)
        unfit: set[str] = set()
        for column_name, value in retire.items():
            column = b.table.c[column_name]
            problem = self._value_problem("retire", value, b.table, column)
            if problem:
                unfit.add(column_name)
                live = _live_value(converted(value, column_python_type(column) or object)[1])
                if generic and column_name not in given and not column.nullable and \
                        live is not None and not isinstance(live, bool):
                    problem += f' and set active={{"{column.name}": {live!r}}}'
                out.append(f"{where}: {problem}")
        if generic:
            active = b.map.active_values()
            for column_name, value in active.items():
                if column_name in unfit and column_name not in given:
                    continue  # the default follows the retire value: its own line says what to write
                column = b.table.c[column_name]
                problem = self._value_problem("active", value, b.table, column, retire[column_name])
                if problem:
                    out.append(f"{where}: {problem}")
            if active and all(active[c] == retire[c] for c in retire):
                out.append(
                    f"{where}: the active values {active!r} are the retire values: every row "
                    f"new_{branch} writes would read as retired; set active= to a live row's values")
            try:
                self.check_inserts(branch, b)
            except ConfigurationError as exc:
                out.append(f"{where}: {exc}")
        return out

    def _name(self, table: Any, column: Any) -> str:
        return f"{table.fullname}.{column.name}"

    def _type(self, column: Any) -> str:
        from .tables import column_type_name

        return column_type_name(column, self.connection.dialect)

    def _value_problem(self, what: str, value: Any, table: Any, column: Any,
                       retire_value: Any = None) -> str | None:
        """Why ``value`` (a ``retire`` or ``active`` value) cannot be written to ``column``, or None."""
        from .tables import column_python_type, converted, fits

        name = self._name(table, column)
        if value is None:
            if column.nullable:
                return None
            if what == "retire":
                return (f"retire value None for NOT NULL column {name}: give the value a "
                        "retired row holds")
            live = _live_value(retire_value)
            shown = repr(live) if live is not None else "<a live row's value>"
            return (f'active value None for NOT NULL column {name}: set active={{"{column.name}": '
                    f'{shown}}} (the generic new writes it on every row)')
        if fits(type(value), column, self.connection.dialect):
            return None
        target = column_python_type(column)
        assert target is not None
        ok, fixed = converted(value, target)
        fix = f"write {fixed!r}" if ok else f"write a {target.__name__}"
        return (f"{what} value {value!r} ({type(value).__name__}) does not fit column {name} "
                f"{self._type(column)}: {fix}")

    def check_inserts(self, branch: str, b: BoundTable) -> None:
        """Raise ConfigurationError when the generic ``new`` cannot insert into ``b``'s table.

        That is a NOT NULL column without a default that the mapping does not
        fill: every ``new_<branch>`` would fail. Checked only when the generic
        :meth:`new` handles the branch (no ``new_<branch>`` method, ``new``
        not overridden). A column a trigger fills needs a default to pass.
        """
        if not self.generic_new(branch):
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
        locked = self._locked_out(action)
        if locked is not None:
            return Result(action, Status.SKIPPED, locked)
        if self._tx is None or not self._tx.is_active:
            self._tx = self.connection.begin()
        savepoint = self.connection.begin_nested()
        try:
            result = super().handle(action)
        except sa_exc.SQLAlchemyError as exc:
            savepoint.rollback()
            found = self.find_method(action)
            return Result(action, Status.FAILURE, self._failure(action, exc),
                          handler=found[0] if found else None)
        except BaseException:
            savepoint.rollback()
            raise
        if result.failed or result.status is Status.NOT_IMPLEMENTED:
            savepoint.rollback()
        else:
            savepoint.commit()
            self._pending += 1
            if self._pending >= self._batch and not getattr(self, "_in_unit", False):
                self.commit()
        return result

    @contextlib.contextmanager
    def object_unit(self, actions: Sequence[Action]) -> Iterator[ObjectUnit]:
        """The changes of one object in one SAVEPOINT: all of them, or none.

        The runner sets ``unit.failed`` when one change fails; the savepoint
        is then rolled back, so the row keeps every old value (the object is
        never half updated). No batch commit happens inside a unit.
        """
        if getattr(self, "connection", None) is None:
            yield ObjectUnit(atomic=False)
            return
        if self._tx is None or not self._tx.is_active:
            self._tx = self.connection.begin()
        savepoint = self.connection.begin_nested()
        unit = ObjectUnit(atomic=True)
        self._in_unit = True
        try:
            yield unit
        except BaseException:
            savepoint.rollback()
            raise
        finally:
            self._in_unit = False
        if unit.failed:
            savepoint.rollback()
        else:
            savepoint.commit()
            if self._pending >= self._batch:
                self.commit()

    def _tables(self, action: Action) -> list[str]:
        """The tables an action of this branch writes through the mapping (its table, link tables)."""
        b = self._bound(action)
        if b is None:
            return []
        return [b.map.table, *(link.table for link, _ in b.links.values())]

    def _failure(self, action: Action, exc: BaseException) -> str:
        """The one line of a failed statement; a lock timeout names the table and who holds it.

        After a lock timeout, the later actions on the same tables are skipped
        (:meth:`_locked_out`): each would wait as long again.
        """
        tables = self._tables(action)
        doing = f"writing {tables[0]}" if tables else f"{self.tree.name}: writing"
        message = timeout_message(exc, doing, self._url, self.connection, tables)
        if message is None:
            return one_line(exc)
        if timeout_kind(exc) == LOCK:
            locked = getattr(self, "_locked", {})
            for table in tables:
                locked.setdefault(table, f"{action.method}({action.idnumber!r})")
            self._locked = locked
        return message

    def _locked_out(self, action: Action) -> str | None:
        """Why ``action`` is not attempted: a table it writes timed out waiting for a lock."""
        locked = getattr(self, "_locked", None)
        if not locked:
            return None
        for table in self._tables(action):
            if table in locked:
                return (f"not attempted: table {table} is locked by another session "
                        f"({locked[table]} waited lock_timeout for it and gave up)")
        return None

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
