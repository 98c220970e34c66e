"""SQLHandler: apply actions to database tables from a :class:`~dss_sql.SQLMapping`."""

from __future__ import annotations

import contextlib
import math
import operator
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from dss_core import (
    ERROR,
    Action,
    ConfigurationError,
    ConfigurationProblems,
    Handler,
    InputError,
    ObjectUnit,
    Result,
    Setting,
    Status,
)

from .batches import WRITERS, Retry, chunks, insert_many, is_expression, split_expressions
from .batches import write as write_batch
from .bound import BoundLink, BoundTable, coerce
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
from .tables import LinkMap, TableMapping, check_columns

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, RootTransaction


class MappingProblems(ConfigurationProblems):
    """Every problem found checking a mapping against its database (see ConfigurationProblems)."""


def _live_value(retire: Any) -> Any:
    """The value a live row likely holds in a column whose retired value is ``retire``."""
    if isinstance(retire, bool):
        return not retire
    if isinstance(retire, (int, float)):
        return type(retire)(0 if retire else 1)
    return None


def sa_and(*conditions: Any) -> Any:
    """``sqlalchemy.and_`` (imported when first used)."""
    import sqlalchemy as sa

    return sa.and_(*conditions)


def _names(values: Sequence[Any]) -> str:
    """``'a'``, ``'a', 'b'``, or the first ten and how many more."""
    shown = ", ".join(repr(v) for v in values[:10])
    return shown + (f" and {len(values) - 10} more" if len(values) > 10 else "")


def _same(a: Any, b: Any) -> bool:
    """True when two plain values are equal (a SQL expression such as NOW's is never the same)."""
    if not isinstance(a, (str, int, float, bool, type(None))) or \
            not isinstance(b, (str, int, float, bool, type(None))):
        return False
    return bool(a == b)


def _unfilled(table: Any, filled: set[str]) -> list[str]:
    """The NOT NULL columns of ``table`` without a default that an insert filling ``filled`` leaves empty."""
    single_key = len(table.primary_key.columns) == 1
    missing = []
    for column in table.columns:
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
    return missing




_SAVEPOINT_SQL: dict[tuple[str, int], Any] = {}


def _savepoint_sql(verb: str, depth: int) -> Any:
    """``SAVEPOINT dss_<depth>`` (or RELEASE / ROLLBACK TO), one statement object per depth."""
    statement = _SAVEPOINT_SQL.get((verb, depth))
    if statement is None:
        import sqlalchemy as sa

        statement = _SAVEPOINT_SQL[(verb, depth)] = sa.text(f"{verb} dss_{depth}")
    return statement


class Savepoint:
    """A SAVEPOINT named by its depth (``dss_1``, ``dss_2`` inside it, ...), on a connection.

    SQLAlchemy's ``begin_nested()`` names every savepoint anew, so every
    SAVEPOINT and RELEASE is compiled anew: two compilations per action, a
    third of a unit's time on SQLite. These statements are compiled once per
    depth. Names are per depth, never reused inside each other (MySQL
    replaces a savepoint of the same name).
    """

    def __init__(self, connection: Any, state: dict[str, Any]) -> None:
        self.connection = connection
        self.state = state  # the handler's: its "_savepoints" is the depth
        depth = state.get("_savepoints", 0) + 1
        connection.execute(_savepoint_sql("SAVEPOINT", depth))
        self.depth = state["_savepoints"] = depth

    def _close(self) -> None:
        self.state["_savepoints"] = self.depth - 1

    def commit(self) -> None:
        """RELEASE the savepoint: what was done inside it stays in the transaction."""
        self._close()
        self.connection.execute(_savepoint_sql("RELEASE SAVEPOINT", self.depth))

    def rollback(self) -> None:
        """Undo what was done inside the savepoint (ROLLBACK TO, then RELEASE)."""
        self._close()
        self.connection.execute(_savepoint_sql("ROLLBACK TO SAVEPOINT", self.depth))
        self.connection.execute(_savepoint_sql("RELEASE SAVEPOINT", self.depth))


class SQLHandler(Handler):
    """Applies actions to the tables of a :class:`SQLMapping`; no handler code needed.

    Generic methods: ``new`` (insert the row and its link rows; on a retired
    row, bring it back), ``update`` (one column), ``add`` / ``remove`` (one
    link row), ``old`` (delete, or mark retired as the mapping says). A
    subclass may add specific methods (``new_users``, ``update_name``, ...);
    they are tried first, and run inside the same per-action SAVEPOINT, with
    :attr:`connection` open.

    Actions the generic methods handle are written in batches (see
    :meth:`handle_units` and :mod:`dss_sql.batches`): runs of whole units
    of one branch, up to ``batch_actions`` actions, in a few set-based
    statements, each action still with its own result and each object of
    several changes all or nothing.

    Settings (``[tool.dss.trees.<tree>]``): ``url`` (the database),
    ``batch_size`` (actions per transaction, default the mapping's, else 500; on SQLite
    :attr:`sqlite_batch_size`, 5,000, or what :attr:`sqlite_commit_seconds` hold),
    ``batch_actions`` (actions written together, default 500, at most
    ``batch_size``; 0: one at a time),
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
        Setting("batch_size", int, 500, "actions committed per transaction (SQLite: 5,000, or "
                "what one second holds, when not set)"),
        Setting("batch_actions", int, 500,
                "actions of one method written together in set-based statements (0: one at a time)"),
        *TIMEOUT_SETTINGS,
    )
    mapping: ClassVar[TableMapping | None] = None
    url: ClassVar[str | None] = None
    batch_size: ClassVar[int | None] = None
    #: SQLite's default ``batch_size`` (where neither the tree, the class nor the mapping sets one):
    #: each commit of a SQLite file in its rollback journal is several ``fsync``\ s and the
    #: journal file's creation and deletion (76 commits at 500 took 0.3 s of a first sync's
    #: 1.5 s apply on a quiet disk, 1.2 s on a busy one; see the README's "Transactions")
    sqlite_batch_size: ClassVar[int] = 5000
    #: ... and a transaction on SQLite is committed once open this long (seconds), however few
    #: actions it holds, so the file's write lock is held about this long at most
    sqlite_commit_seconds: ClassVar[float] = 1.0
    batch_actions: int = 500
    #: runs of whole units (an object's several changes too) are handed to :meth:`handle_units`
    batch_units: bool = True
    #: your own methods (``new_enrolments``) whose actions may be run back to back in one
    #: SAVEPOINT; only for methods that write nothing but through this connection (see
    #: :meth:`handle_batch`)
    batch_methods: ClassVar[frozenset[str] | set[str]] = frozenset()
    #: the methods of this very class that are the mapping's generic ones (see :meth:`generic`);
    #: a subclass overriding one of them gets its actions one at a time
    generic_methods: ClassVar[frozenset[str]] = frozenset(
        {"new", "update", "add", "remove", "old", "upsert"})

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
            self.mapping.batch_size if self.mapping else None)
        self._commit_every: float | None = None  # seconds a transaction may stay open, or no limit
        if not size:  # the database's default (see SQLITE_BATCH_SIZE)
            sqlite = self.connection.dialect.name == "sqlite"
            size = self.sqlite_batch_size if sqlite else 500
            self._commit_every = self.sqlite_commit_seconds if sqlite else None
        self._batch = max(1, int(size))
        self._commit_at = self._deadline()
        actions = self.settings.get("batch_actions")
        if actions is None:
            actions = type(self).batch_actions
        # a batch is committed whole: it holds no more actions than a transaction (batch_size);
        self.batch_actions = max(0, min(int(actions), self._batch))  # per run: its setting
        self._pending = 0
        self.commits = 0  # (Handler.commits) the journal records a success once committed
        self._locked: dict[str, str] = {}  # table -> the action that timed out waiting for it
        self._savepoints = 0  # how many of our SAVEPOINTs are open (Savepoint)
        self.__dict__.pop("_adds", None)  # statements of the tables bound before
        self.__dict__.pop("_dispatched", None)
        self.__dict__.pop("_batchables", None)
        self.__dict__.pop("_driver_sqls", None)
        self.__dict__.pop("_select_sqls", None)
        self.forget_ids()
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
        self.commits = (self.commits or 0) + 1
        self._commit_at = self._deadline()

    @property
    def uncommitted(self) -> int | None:  # type: ignore[override]
        """(Handler.uncommitted) the actions applied in the open transaction: 0 right after a commit."""
        return getattr(self, "_pending", None)

    def _deadline(self) -> float:
        """When the transaction just begun is due to be committed whatever its size (``inf``: never)."""
        every = self._commit_every
        return time.monotonic() + every if every is not None else math.inf

    def _due(self) -> bool:
        """True when the transaction holds ``batch_size`` actions, or (SQLite's default) has been
        open :attr:`sqlite_commit_seconds`."""
        return self._pending >= self._batch or (
            self._pending > 0 and self._commit_at != math.inf and time.monotonic() >= self._commit_at)

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

        from .tables import scope_columns

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
            owner_ids = [lm.owner_id for lm in tmap.links.values()
                         if isinstance(lm, LinkMap) and lm.owner_id]
            table = self._reflect(tmap.table, [tmap.key, *columns.values(), *(tmap.retire or {}),
                                               *tmap.defaults, *scope_columns(tmap.scope),
                                               *owner_ids], md, where, problems)
            try:
                link_maps = tmap.links_for(model)
            except ConfigurationError as exc:
                problems.append(f"{where}: {exc}")
                continue
            links: dict[str, BoundLink] = {}
            for attr, link in link_maps.items():
                found = self._bind_link(link, table, md, where, problems)
                if found is not None:
                    links[attr] = found
            if table is not None and len(links) == len(link_maps):
                bound[branch] = BoundTable(tmap, table, columns, links)
        return bound, problems

    def _bind_link(self, link: LinkMap, table: Any, md: Any, where: str,
                   problems: list[str]) -> BoundLink | None:
        """``link`` bound to its reflected link table (and member table), or None with the problems."""
        from .tables import scope_clause, scope_columns

        ltable = self._reflect(link.table, [link.owner, link.member, *link.defaults], md, where,
                               problems)
        if ltable is None or table is None:
            return None
        owner_id = table.c[link.owner_id] if link.owner_id else None
        if link.member_table is None:
            return BoundLink(link, ltable, owner_id)
        assert self.mapping is not None
        member_key = self.mapping.member_key(link)
        mscope = self.mapping.member_scope(link)
        mtable = self._reflect(link.member_table, [link.member_id, member_key,
                                                   *scope_columns(mscope)], md, where, problems)
        if mtable is None:
            return None
        import sqlalchemy as sa

        # a table may link rows of its own (then the members are read through an alias)
        alias = sa.alias(mtable, name="dss_member") if mtable is table else mtable
        return BoundLink(link, ltable, owner_id, alias, alias.c[member_key],
                         alias.c[link.member_id], scope_clause(mscope, alias))

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
        * a ``retire``, ``active`` or ``defaults`` value (or a link's
          ``defaults``) that does not fit its column even adapted to its type
          (``True`` fits SMALLINT as 1; "yes" does not; NOW needs a date, time,
          number or text column), or NULL in a NOT NULL column;
        * when the generic :meth:`new` inserts the branch's rows: a NOT NULL
          retire column whose live value is unknown (no ``active`` value, no
          plain default to take it from), active values equal to the retire
          values, ``defaults`` naming a mapped column, and a NOT NULL column
          without a default that nothing fills (:meth:`check_inserts`);
        * a scope whose values do not fit their columns, or that the database
          refuses to run (a typo in raw SQL): it is run once, reading one row.
        """
        from .tables import column_python_type, fits, sql_name

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
        for attr, bl in b.links.items():
            kind = schema.types[attr][1]
            ltable = bl.member_table if bl.member_table is not None else bl.table
            column = bl.member_key if bl.member_key is not None else bl.member
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
        out += self._value_problems(branch, b)
        out += self._scope_problems(where, b.table, b.map.scope, b.scope)
        return out

    def _value_problems(self, branch: str, b: BoundTable) -> list[str]:
        """Problems of the ``retire``, ``active`` and ``defaults`` values (and the link defaults)."""
        from .tables import column_python_type, converted

        where = f"{self.tree.name}.{branch}"
        out: list[str] = []
        retire = b.retired_values()
        generic = self.generic_new(branch)
        unfit: set[str] = set()
        for column_name, value in (b.map.retire or {}).items():
            column = b.table.c[column_name]
            problem = self._value_problem("retire", value, b.table, column)
            if problem:
                unfit.add(column_name)
                out.append(f"{where}: {problem}")
        if b.map.retire and (generic or self._revives(branch)):
            for column_name, (_, found) in b.live.items():
                if column_name in unfit:
                    continue  # its own line says what to write
                column = b.table.c[column_name]
                if found == "unknown" and not column.nullable:
                    live = _live_value(converted(retire[column_name],
                                                 column_python_type(column) or object)[1])
                    shown = repr(live) if live is not None else "<a live row's value>"
                    out.append(
                        f"{where}: no active value for NOT NULL column {self._name(b.table, column)}"
                        f" (retire writes {b.map.retire[column_name]!r}, and the column has no "
                        f'plain default): set active={{"{column.name}": {shown}}} (new_{branch} '
                        "writes it when it brings a retired row back)")
                    continue
                if found == "declared":
                    problem = self._value_problem("active", b.map.active[column_name],  # type: ignore[index]
                                                  b.table, column)
                    if problem:
                        out.append(f"{where}: {problem}")
            live_values = b.revive_values()
            if live_values and not unfit and all(
                    _same(live_values[c], retire[c]) for c in retire):
                out.append(
                    f"{where}: the active values {live_values!r} are the retire values: every row "
                    f"new_{branch} writes would read as retired; set active= to a live row's values")
        if generic:
            for column_name, value in b.map.defaults.items():
                column = b.table.c[column_name]
                if column_name in b.columns.values():
                    out.append(f"{where}: defaults names column {self._name(b.table, column)}, "
                               "which an attribute is mapped to: the attribute's value is written")
                    continue
                problem = self._value_problem("default", value, b.table, column)
                if problem:
                    out.append(f"{where}: {problem}")
            try:
                self.check_inserts(branch, b)
            except ConfigurationError as exc:
                out.append(f"{where}: {exc}")
        for bl in b.links.values():
            for column_name, value in bl.link.defaults.items():
                problem = self._value_problem("default", value, bl.table, bl.table.c[column_name])
                if problem:
                    out.append(f"{where}: {problem}")
        return out

    def _revives(self, branch: str) -> bool:
        """True when ``new`` of ``branch`` goes through the mapping (generic ``new`` or an override calling it)."""
        return self.generic_new(branch)

    def _scope_problems(self, where: str, table: Any, scope: Any, clause: Any) -> list[str]:
        """Values of a ``{column: condition}`` scope that do not fit, or a scope the database refuses."""
        import sqlalchemy as sa
        from sqlalchemy import exc as sa_exc

        from .tables import Condition, describe_scope

        if clause is None:
            return []
        out: list[str] = []
        if isinstance(scope, Mapping):
            for name, condition in scope.items():
                values = condition.values if isinstance(condition, Condition) else (
                    condition if isinstance(condition, (list, tuple, set, frozenset))
                    else (condition,))
                for value in values:
                    if value is None:
                        continue
                    problem = self._value_problem("scope", value, table, table.c[name])
                    if problem:
                        out.append(f"{where}: {problem}")
        if out:
            return out
        nested = self.connection.begin_nested()
        try:
            self.connection.execute(sa.select(sa.literal(1)).select_from(table).where(clause)
                                    .limit(1)).fetchall()
        except sa_exc.SQLAlchemyError as exc:
            nested.rollback()
            name = getattr(table, "element", table).name
            out.append(f"{where}: the scope of {name} ({describe_scope(scope)}) does not "
                       f"run: {one_line(exc)}")
        else:
            nested.commit()
        return out

    def _name(self, table: Any, column: Any) -> str:
        table = getattr(table, "element", table)  # an alias names its table
        return f"{table.fullname}.{column.name}"

    def _type(self, column: Any) -> str:
        from .tables import column_type_name

        return column_type_name(column, self.connection.dialect)

    def _value_problem(self, what: str, value: Any, table: Any, column: Any) -> str | None:
        """Why ``value`` (a ``retire``, ``active``, ``default`` or ``scope`` value) cannot be written to ``column``.

        The value is first adapted to the column's type (``True`` -> 1 in a
        number column, ``"7"`` -> 7, NOW -> the current time); None when it fits.
        """
        from .tables import adapt, column_python_type, converted, fits, is_now, now_value

        name = self._name(table, column)
        if value is None:
            if column.nullable or what == "scope":
                return None
            if what == "retire":
                return (f"retire value None for NOT NULL column {name}: give the value a "
                        "retired row holds")
            return f"{what} value None for NOT NULL column {name}: give a value"
        if is_now(value, column):
            if now_value(column) is not None:
                return None
            return (f"{what} value NOW does not fit column {name} {self._type(column)}: NOW "
                    "needs a date, time, number or text column")
        adapted = adapt(value, column)
        if fits(type(adapted), column, self.connection.dialect):
            return None
        target = column_python_type(column)
        if target is None:  # a date or time column
            fix = "write a date (an ISO string) or NOW"
        else:
            ok, fixed = converted(value, target)
            article = "an" if target.__name__[0] in "aeiou" else "a"
            fix = f"write {fixed!r}" if ok else f"write {article} {target.__name__}"
        return (f"{what} value {value!r} ({type(value).__name__}) does not fit column {name} "
                f"{self._type(column)}: {fix}")

    def check_inserts(self, branch: str, b: BoundTable) -> None:
        """Raise ConfigurationError when the generic ``new`` cannot insert into ``b``'s tables.

        That is a NOT NULL column without a default that the mapping does not
        fill (no attribute, no ``defaults`` value), in the table or in a link
        table: every ``new_<branch>`` would fail. Checked only when the
        generic :meth:`new` handles the branch (no ``new_<branch>`` method,
        ``new`` not overridden). A column a trigger fills needs a default to pass.
        """
        if not self.generic_new(branch):
            return
        filled = {b.map.key, *b.columns.values(), *(b.map.retire or {}), *b.map.defaults}
        missing = [] if b.map.links_only else _unfilled(b.table, filled)
        if missing:
            raise ConfigurationError(
                f"table {b.table.fullname!r} ({redact_url(self._url)}): column "
                f"{', '.join(repr(m) for m in missing)} is NOT NULL without a default and branch "
                f"{branch!r} maps no attribute to it, so every new_{branch} would fail; map an "
                "attribute to it (TableMap columns=...), give it a constant (TableMap "
                f"defaults={{{missing[0]!r}: ...}}), give it a default, or write new_{branch}")
        for bl in b.links.values():
            missing = _unfilled(bl.table, {bl.link.owner, bl.link.member, *bl.link.defaults})
            if missing:
                raise ConfigurationError(
                    f"link table {bl.table.fullname!r} ({redact_url(self._url)}): column "
                    f"{', '.join(repr(m) for m in missing)} is NOT NULL without a default, so "
                    f"every new link row would fail; give it a constant (LinkMap "
                    f"defaults={{{missing[0]!r}: ...}}) or a default")

    # -- one SAVEPOINT per action -------------------------------------------------
    def savepoint(self) -> Savepoint:
        """Open a SAVEPOINT on the handler's connection (:class:`Savepoint`: ``commit()`` or ``rollback()``)."""
        return Savepoint(self.connection, self.__dict__)

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
        if getattr(self, "_in_unit", False) and self._generic_action(action):
            return self._handle_in_unit(action)
        savepoint = self.savepoint()
        try:
            result = super().handle(action)
        except sa_exc.SQLAlchemyError as exc:
            savepoint.rollback()
            self.forget_ids()
            found = self.find_method(action)
            return Result(action, Status.FAILURE, self._failure(action, exc),
                          handler=found[0] if found else None)
        except BaseException:
            savepoint.rollback()
            self.forget_ids()
            raise
        if result.failed or result.status is Status.NOT_IMPLEMENTED:
            savepoint.rollback()
            self.forget_ids()
        else:
            savepoint.commit()
            self._pending += 1
            if not getattr(self, "_in_unit", False) and self._due():
                self.commit()
        return result

    def _handle_in_unit(self, action: Action) -> Result:
        """A generic method's action inside an object unit: no SAVEPOINT of its own.

        The unit's savepoint is rolled back when one of its actions fails
        (the runner attempts none after it), and a generic method writes
        nothing before it fails or finds nothing to do, so a savepoint per
        action would only cost two statements.
        """
        from sqlalchemy import exc as sa_exc

        try:
            result = super().handle(action)
        except sa_exc.SQLAlchemyError as exc:
            self.forget_ids()
            return Result(action, Status.FAILURE, self._failure(action, exc), handler=action.kind)
        except BaseException:
            self.forget_ids()
            raise
        if result.failed or result.status is Status.NOT_IMPLEMENTED:
            self.forget_ids()
        else:
            self._pending += 1
        return result

    # -- batches -------------------------------------------------------------------
    def generic(self, name: str) -> bool:
        """True when method ``name`` is the mapping's generic one, not a subclass's override.

        That is when the class that defines it (the first in the MRO) lists it
        in its own :attr:`generic_methods`: :class:`SQLHandler` and the
        library's subclasses (PostgreSQL's ``upsert``) do; a handler of yours
        that overrides ``new`` does not, so its ``new`` actions are handled
        one at a time, by your method.
        """
        for cls in type(self).__mro__:
            if name in vars(cls):
                return name in vars(cls).get("generic_methods", ())
        return False

    def _generic_action(self, action: Action) -> bool:
        """True when ``action`` goes to a generic method (no specific method, no override)."""
        return self._dispatch(action) == "generic"

    def _dispatch(self, action: Action) -> str:
        """``"generic"``, ``"own"`` (a method named in :attr:`batch_methods`) or ``""`` (any other).

        Cached per branch, method name and attribute: it is asked for every action.
        """
        cache: dict[tuple[str, str, str | None], str] = self.__dict__.setdefault("_dispatched", {})
        key = (action.branch, action.method, action.attribute if action.kind == "update" else None)
        kind = cache.get(key)
        if kind is None:
            found = self.find_method(action) if action.kind in WRITERS else None
            if found is None:
                kind = ""
            elif found[0] == action.kind and self.generic(action.kind):
                kind = "generic"
            else:
                kind = "own" if found[0] in self.batch_methods else ""
            cache[key] = kind
        return kind

    def batchable(self, action: Action) -> bool:
        """True when ``action`` may be written in a batch: a generic method applies it through the mapping.

        Not batched: an action a specific method (``new_users``,
        ``update_name``) or an override of a generic one handles (unless it
        is named in :attr:`batch_methods`), one whose
        branch the mapping does not hold or whose attribute it does not map
        (it fails alone, saying so), and a ``new`` whose rows link rows of
        their own table (an element may be a row of the same batch).
        """
        cache: dict[tuple[str, str, str | None], bool] = self.__dict__.setdefault("_batchables", {})
        key = (action.branch, action.method, action.attribute)
        known = cache.get(key)
        if known is None:
            known = cache[key] = self._batchable(action)
        return known

    def _batchable(self, action: Action) -> bool:
        """:meth:`batchable`, worked out (the same for every action of a branch, method and attribute)."""
        dispatch = self._dispatch(action)
        if dispatch == "own":
            return True
        if dispatch != "generic":
            return False
        b = self._bound(action)
        if b is None:
            return False
        if action.kind == "new":
            if b.map.retires and not self.generic("upsert"):
                return False
            return all(bl.link.member_table != b.map.table for bl in b.links.values())
        if action.kind == "update":
            return (action.attribute or "") in b.columns
        if action.kind in ("add", "remove"):
            return (action.attribute or "") in b.links
        return True

    def handle_batch(self, actions: Sequence[Action]) -> list[Result]:
        """Write ``actions`` (each batchable) together; one result per action, in order.

        :meth:`handle_units` with each action a unit of its own.
        """
        return [r for results in self.handle_units([[a] for a in actions]) for r in results]

    def handle_units(self, units: Sequence[Sequence[Action]]) -> list[list[Result]]:
        """Write a run of units (each the changes of one object, or one action) together.

        Every action is :meth:`batchable`. The run is written in one SAVEPOINT:
        the generic methods' actions grouped by kind, branch and attribute,
        each group in a few set-based statements (:func:`dss_sql.batches.write`),
        your :attr:`batch_methods` called in turn. Each unit keeps the outcome
        it has alone (:meth:`~dss_core.Handler.handle_unit`), and only it:

        * an action the batch cannot simply write (its row is missing, outside
          the scope, or would come back from retirement; an element without a
          row) is handled alone, as if it were not batched, so its result and
          message are the same; when it belongs to an object of several
          changes, the savepoint is rolled back and that object's unit is
          handled alone (all or nothing), the others written again;
        * one of your methods that fails, raises or is not implemented: the
          savepoint is rolled back, that unit handled alone, the others
          written again (such a method must change nothing but the database,
          through this connection: it may run twice);
        * when a statement fails (a constraint, a value too long), the
          savepoint is rolled back and every unit is handled alone, so that
          only the failing one fails, with its own message. After a lock
          timeout the first action fails naming the table and the others on
          it are skipped, as one at a time.
        """
        if getattr(self, "connection", None) is None:
            return super().handle_units(units)
        if any(self._locked_out(a) is not None for unit in units for a in unit):
            return [self._unit_alone(unit) for unit in units]
        results: list[list[Result] | None] = [None] * len(units)
        self._write_units(units, list(range(len(units))), results, again=True)
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _alone(self, action: Action) -> Result:
        """One action of a batch handled alone (:meth:`handle`), an exception its result as the runner makes it."""
        return self.guarded(action)

    def _unit_alone(self, unit: Sequence[Action]) -> list[Result]:
        """One unit of a batch handled alone: one action, or an object's changes all or nothing."""
        if len(unit) == 1:
            return [self._alone(unit[0])]
        return self.handle_unit(unit, self._alone)

    def _write_units(self, units: Sequence[Sequence[Action]], todo: list[int],
                     results: list[list[Result] | None], again: bool) -> None:
        """Write the units at positions ``todo`` in one savepoint; fill in their results."""
        from sqlalchemy import exc as sa_exc

        if not todo:
            return
        if self._tx is None or not self._tx.is_active:
            self._tx = self.connection.begin()
        actions = [a for n in todo for a in units[n]]
        of = [n for n in todo for _ in units[n]]  # the unit of each action
        savepoint = self.savepoint()
        try:
            alone, done = self._write_actions(actions)
            redo = {of[m] for m in alone if len(units[of[m]]) > 1}
            if redo:  # an object of several changes: none of them stays written
                raise Retry([m for m in alone if of[m] in redo])
        except Retry as retry:  # roll back, run those units alone, write the rest again
            savepoint.rollback()
            self.forget_ids()
            apart = {of[m] for m in retry.positions}
            for n in todo:
                if n in apart:
                    results[n] = self._unit_alone(units[n])
            rest = [n for n in todo if n not in apart]
            if again:
                self._write_units(units, rest, results, again=False)
            else:
                for n in rest:
                    results[n] = self._unit_alone(units[n])
            return
        except sa_exc.SQLAlchemyError as exc:
            savepoint.rollback()
            self.forget_ids()
            if timeout_kind(exc) == LOCK:  # the first fails naming the table; the rest are skipped
                first = actions[0]
                failed = Result(first, Status.FAILURE, self._failure(first, exc),
                                handler=self._method_name(first))
                results[todo[0]] = self.handle_unit(
                    units[todo[0]], lambda a: failed if a is first else self._alone(a))
                todo = todo[1:]
            for n in todo:  # one at a time: only the failing unit fails, with its own message
                results[n] = self._unit_alone(units[n])
            return
        except BaseException:
            savepoint.rollback()
            self.forget_ids()
            raise
        savepoint.commit()
        self._pending += len(done)
        start = 0
        for n in todo:
            size = len(units[n])
            if size == 1 and start in alone:
                results[n] = [self._alone(actions[start])]
            else:
                results[n] = [done[m] for m in range(start, start + size)]
            start += size
        if self._due():
            self.commit()

    def _method_name(self, action: Action) -> str | None:
        found = self.find_method(action)
        return found[0] if found else None

    def _write_actions(self, actions: Sequence[Action]) -> tuple[set[int], dict[int, Result]]:
        """Write ``actions`` (batchable, of any methods): ``(positions to run alone, {position: result})``.

        The generic methods' actions by :func:`dss_sql.batches.write`; your
        :attr:`batch_methods` called in turn (one that fails, raises or is not
        implemented raises :class:`~dss_sql.batches.Retry` for its position).
        """
        own = [n for n, a in enumerate(actions) if self._dispatch(a) == "own"]
        done: dict[int, Result] = {}
        alone: set[int] = set()
        if len(own) < len(actions):
            mine = set(own)
            generic = [n for n in range(len(actions)) if n not in mine] if own else \
                list(range(len(actions)))
            try:
                apart, written = write_batch(self, [actions[n] for n in generic], self._bound_of)
            except Retry as retry:
                raise Retry([generic[m] for m in retry.positions]) from None
            alone = {generic[m] for m in apart}
            for m, message in written.items():
                action = actions[generic[m]]
                done[generic[m]] = Result(action, Status.SUCCESS, message, handler=action.kind)
        for n in own:
            try:
                result = Handler.handle(self, actions[n])
            except Exception:  # a database error, or your method's own: alone says which
                raise Retry([n]) from None
            if result.failed or result.status is Status.NOT_IMPLEMENTED:
                raise Retry([n])
            done[n] = result
        return alone, done

    def _bound_of(self, action: Action) -> BoundTable:
        return self.bound[action.branch]

    def new_rows(self, b: BoundTable, objs: Sequence[Any]) -> list[dict[str, Any]]:
        """The values ``new`` inserts for each of ``objs`` when no row of its key is there (:meth:`BoundTable.insert_values`)."""
        return b.rows_values(objs)

    def insert_rows(self, table: Any, rows: list[dict[str, Any]], statement: Any = None) -> None:
        """Insert ``rows`` (dicts of the same columns) into ``table``: one ``executemany``.

        ``statement`` is the INSERT to use (default: the table's plain one).
        On PostgreSQL through psycopg 3, a plain insert of :attr:`copy_rows`
        rows or more is a ``COPY`` (:meth:`copy`): SQLAlchemy's
        ``executemany`` sends one statement per row there (measured 4.4 s for
        50,000 two-column rows, against a fraction of a second copied).
        """
        if statement is None and len(rows) >= self.copy_rows and self._copies() and \
                not any(is_expression(v) for v in rows[0].values()):
            self.copy(table, rows)
            return
        insert_many(self, statement if statement is not None else table.insert(), rows)

    #: the fewest rows a batch inserts with COPY on PostgreSQL (fewer: an INSERT)
    copy_rows: ClassVar[int] = 100

    def execute_many(self, statement: Any, rows: Sequence[dict[str, Any]]) -> None:
        """``statement`` executed once for each of ``rows`` (parameters by name): ``executemany``.

        Straight through the driver's ``executemany`` where SQLAlchemy's adds
        nothing but cost (:meth:`_driver_statement`: PostgreSQL through
        psycopg 3, pipelined; SQLite through ``sqlite3``): SQLAlchemy's own
        processes each row's parameters apart, and on PostgreSQL sends each
        row as a statement of its own (50,000 two-column rows: 4.4 s against
        well under one). A database error is raised as SQLAlchemy's, as
        through :meth:`execute`.
        """
        if not rows:
            return
        driver = self._driver_statement(statement, tuple(rows[0]))
        if driver is None:
            self.execute(statement, list(rows))
            return
        sql, params = driver
        dbapi = self.connection.connection.driver_connection
        errors = self.connection.dialect.loaded_dbapi.Error
        try:
            cursor = dbapi.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(sql, params(rows))
            finally:
                cursor.close()
        except errors as exc:
            from sqlalchemy import exc as sa_exc

            raise sa_exc.DBAPIError.instance(sql, None, exc, errors,
                                             dialect=self.connection.dialect) from exc

    def _driver_statement(self, statement: Any, keys: tuple[str, ...]) -> tuple[
            str, Callable[[Sequence[dict[str, Any]]], Any]] | None:
        """``(SQL, rows -> the driver's parameters)`` of ``statement`` executed with parameters
        ``keys``, or None when SQLAlchemy must run it (another driver; a parameter that expands or
        is computed, an escaped name). Compiled once per statement and keys.

        psycopg 3 takes the rows themselves (``%(name)s``) when no parameter
        needs SQLAlchemy's conversion; ``sqlite3`` takes tuples in the order
        of the ``?``: each value converted as SQLAlchemy would (a boolean
        checked and made 0 or 1), a constant of the statement (a scope's
        ``idnumber != ''``) put in every tuple.
        """
        cache: dict[tuple[int, tuple[str, ...]], tuple[Any, Any]] = \
            self.__dict__.setdefault("_driver_sqls", {})
        known = cache.get((id(statement), keys))
        if known is not None and known[0] is statement:
            return known[1]
        found = self._compile_for_driver(statement, keys)
        cache[(id(statement), keys)] = (statement, found)  # the statement kept: its id not reused
        return found

    def _compile_for_driver(self, statement: Any, keys: tuple[str, ...]) -> tuple[
            str, Callable[[Sequence[dict[str, Any]]], Any]] | None:
        """:meth:`_driver_statement`, worked out."""
        dialect = self.connection.dialect
        psycopg3 = self._copies()
        if not psycopg3 and (dialect.name, dialect.driver) != ("sqlite", "pysqlite"):
            return None
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if getattr(compiled, "escaped_bind_names", None) or any(
                bind.expanding or bind.callable is not None for bind in compiled.binds.values()):
            return None
        if psycopg3:
            plain = not compiled.positional and set(compiled.binds) == set(keys) and all(
                bind.type.bind_processor(dialect) is None for bind in compiled.binds.values())
            return (compiled.string, list) if plain else None
        if not compiled.positional or dialect.paramstyle != "qmark":
            return None
        order: list[tuple[str | None, Any, Any]] = []  # (key, or None and a constant; converter)
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            convert = bind.type.bind_processor(dialect)
            if name in keys:
                order.append((name, None, convert))
            elif bind.required:
                return None
            else:
                value = bind.effective_value
                order.append((None, convert(value) if convert else value, None))
        if any(convert is not None or key is None for key, _, convert in order):
            def params(rows: Sequence[dict[str, Any]]) -> Any:
                return [tuple((convert(row[key]) if convert else row[key]) if key is not None
                              else constant for key, constant, convert in order) for row in rows]
            return compiled.string, params
        names = [key for key, _, _ in order]
        if len(names) == 1:
            only = names[0]
            return compiled.string, lambda rows: [(row[only],) for row in rows]
        get = operator.itemgetter(*names)
        return compiled.string, lambda rows: map(get, rows)

    def key_in(self, column: Any, values: Sequence[Any]) -> Any:
        """``column IN (values)``; on PostgreSQL through psycopg 3, ``column = ANY(:array)``.

        One array parameter instead of one per value: a query of 500 keys
        took 24 ms with ``IN``, 6 ms with ``ANY`` (PostgreSQL plans it once).
        """
        if self._copies():
            import sqlalchemy as sa

            from .bound import array_of

            # (the array's text type without its length: a longer key cut short would match)
            return column == sa.any_(sa.bindparam(None, list(values), type_=array_of(column)))
        return column.in_(values)

    def select_in(self, make: Callable[[Any], Any], key: Any, values: Sequence[Any],
                  name: Any) -> Iterable[Any]:
        """The rows of ``make(key IN values)`` (a SELECT; or a DELETE: none), as tuples (SQLite) or rows.

        Through SQLAlchemy (PostgreSQL: :meth:`key_in`'s array) except on SQLite through
        ``sqlite3``, where the query of a number of values is compiled once per run (``name``
        and that number: a ``?`` per value, the statement's constants in place): SQLAlchemy
        expands and compiles an ``IN`` of 500 values on every execution (0.7 s of the
        row-existence queries' 1.45 s in a profile of the school's first sync).
        """
        found = self._select_in_sql(make, key, len(values), name)
        if found is None:
            return self.execute(make(self.key_in(key, values)))
        sql, order = found
        params = [values[at] if at is not None else constant for at, constant in order]
        dbapi = self.connection.connection.driver_connection
        errors = self.connection.dialect.loaded_dbapi.Error
        try:
            return dbapi.execute(sql, params).fetchall()  # type: ignore[union-attr]
        except errors as exc:
            from sqlalchemy import exc as sa_exc

            raise sa_exc.DBAPIError.instance(sql, None, exc, errors,
                                             dialect=self.connection.dialect) from exc

    def _select_in_sql(self, make: Callable[[Any], Any], key: Any, count: int,
                       name: Any) -> tuple[str, list[tuple[int | None, Any]]] | None:
        """:meth:`select_in`'s SQL and, per ``?``, the value's position or (None, a constant); None:
        through SQLAlchemy (not SQLite, a value or a column SQLAlchemy converts)."""
        cache: dict[tuple[Any, int], Any] = self.__dict__.setdefault("_select_sqls", {})
        known = cache.get((name, count), False)
        if known is not False:
            return known
        cache[(name, count)] = found = self._compile_select_in(make, key, count)
        return found

    def _compile_select_in(self, make: Callable[[Any], Any], key: Any,
                           count: int) -> tuple[str, list[tuple[int | None, Any]]] | None:
        import sqlalchemy as sa

        dialect = self.connection.dialect
        if (dialect.name, dialect.driver) != ("sqlite", "pysqlite") or dialect.paramstyle != "qmark" \
                or key.type.bind_processor(dialect) is not None:
            return None
        names = [f"dss_in_{n}" for n in range(count)]
        statement = make(key.in_([sa.bindparam(n, type_=key.type) for n in names]))
        if any(c.type.result_processor(dialect, None) is not None
               for c in getattr(statement, "selected_columns", ())):  # (a DELETE selects none)
            return None
        compiled = statement.compile(dialect=dialect)
        if not compiled.positional or getattr(compiled, "escaped_bind_names", None):
            return None
        at = {n: i for i, n in enumerate(names)}
        order: list[tuple[int | None, Any]] = []
        for bind_name in compiled.positiontup:
            bind = compiled.binds[bind_name]
            if bind_name in at:
                order.append((at[bind_name], None))
                continue
            if bind.expanding or bind.callable is not None or bind.required:
                return None
            convert = bind.type.bind_processor(dialect)
            value = bind.effective_value
            order.append((None, convert(value) if convert else value))
        return compiled.string, order

    def arrays(self) -> bool:
        """True when a batch may send its keys and values as arrays (PostgreSQL through psycopg 3).

        Then a batch of updates is one ``UPDATE ... FROM unnest(...) RETURNING``,
        of link removes one ``DELETE ... USING unnest(...) RETURNING``, of
        retirements one ``UPDATE ... RETURNING``: the rows written are named by
        the statement itself, where elsewhere a query asks first which are
        there (one round trip less per batch, one statement in place of one per row).
        """
        return self._copies()

    def _copies(self) -> bool:
        """True when the connection is PostgreSQL's through psycopg 3 (which can ``COPY``)."""
        dialect = self.connection.dialect
        return dialect.name == "postgresql" and dialect.driver == "psycopg"

    def copy(self, table: Any, rows: list[dict[str, Any]]) -> None:
        """``COPY table (columns) FROM STDIN`` on the handler's connection, in its transaction (psycopg 3).

        A database error is raised as SQLAlchemy's (an ``IntegrityError``, a
        ``DataError``), as an INSERT's would be.
        """
        import psycopg
        from sqlalchemy import exc as sa_exc

        quote = self.connection.dialect.identifier_preparer
        columns = list(rows[0])
        sql = (f"COPY {quote.format_table(table)} ({', '.join(quote.quote(c) for c in columns)}) "
               "FROM STDIN")
        dbapi = self.connection.connection.driver_connection
        values = operator.itemgetter(*columns) if len(columns) > 1 else (
            lambda row: (row[columns[0]],))
        try:
            with dbapi.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(values(row))
        except psycopg.Error as exc:
            raise sa_exc.DBAPIError.instance(sql, None, exc, psycopg.Error,
                                             dialect=self.connection.dialect) from exc

    def link_insert(self, bl: BoundLink) -> Any:
        """The INSERT of ``add``'s link rows (PostgreSQL: one that is there already is left alone)."""
        return bl.table.insert()

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
        savepoint = self.savepoint()
        unit = ObjectUnit(atomic=True)
        self._in_unit = True
        try:
            yield unit
        except BaseException:
            savepoint.rollback()
            self.forget_ids()
            raise
        finally:
            self._in_unit = False
        if unit.failed:
            savepoint.rollback()
            self.forget_ids()
        else:
            savepoint.commit()
            if self._due():
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

    def _outside(self, action: Action, b: BoundTable, what: str) -> Result:
        from .tables import describe_scope

        return action.failed(
            f"{what} in {b.map.table} is outside the scope of branch {action.branch!r} "
            f"({describe_scope(b.map.scope)}): dss never writes a row it does not own; widen "
            "the scope or leave the object out of the source")

    def _scope_state(self, b: BoundTable, idnumber: str | None) -> bool | None:
        """Whether the row of ``idnumber`` is in ``b``'s scope (None: no such row)."""
        states = {row[0] for row in self.execute(b.scope_state(idnumber))}
        if not states:
            return None
        return states == {1}

    def new(self, action: Action) -> Result | None:
        """Insert the row and its link rows; on a retired row, update it and bring it back.

        With a ``scope``, a row of that key outside the scope is never touched
        (the action fails), and a new row that falls outside it is rolled back
        (the action fails too): dss only writes rows it owns.
        """
        b = self._bound(action)
        if b is None:
            return self._unmapped(action)
        obj = action.source
        if b.map.links_only:  # the row is another branch's: it must be there, in the scope
            if self._scope_state(b, action.idnumber) is not True:
                return self._missing(action, b)
        elif b.scope is not None and self._scope_state(b, action.idnumber) is False:
            return self._outside(action, b, f"the row with {b.map.key}={action.idnumber!r}")
        else:
            failed = self._insert(action, b)
            if failed is not None:
                return failed
        for attr, bl in b.links.items():
            failed = self._replace_links(action, b, bl, sorted(getattr(obj, attr) or (), key=str),
                                          attr)
            if failed is not None:
                return failed
        return None

    def _insert(self, action: Action, b: BoundTable) -> Result | None:
        """Insert the row of ``action``'s object (or bring a retired one back)."""
        obj = action.source
        values = b.insert_values(obj)
        if b.map.retires:
            self.upsert(b, {**values, **b.revive_values()})
        else:
            self.execute(b.table.insert().values(**values))
        if b.scope is not None and self._scope_state(b, action.idnumber) is not True:
            return self._outside(action, b, f"a new row with {b.map.key}={action.idnumber!r}")
        return None

    def _replace_links(self, action: Action, b: BoundTable, bl: BoundLink,
                       members: Sequence[Any], attribute: str | None = None) -> Result | None:
        """Make ``members`` the link rows of the action's object (a new or revived row)."""
        owner = self._owner_value(action, b, bl)
        if isinstance(owner, Result):
            return owner
        self.execute(bl.table.delete().where(bl.of_owner(owner)))
        values = self._member_values(action, bl, members, attribute)
        if isinstance(values, Result):
            return values
        rows = [bl.row(owner, v) for v in values]
        if rows:
            self.execute(bl.table.insert(), rows)
        return None

    def upsert(self, b: BoundTable, values: dict[str, Any]) -> None:
        """Bring back the row of the same key (in scope), or insert ``values`` (portable: UPDATE, then INSERT).

        The UPDATE writes the attributes and the live values, not the
        ``defaults`` (constants of new rows); the INSERT leaves out the live
        values of columns whose default fills them (:meth:`BoundTable.insert_values`).
        """
        key = values[b.map.key]
        rest = {k: v for k, v in values.items() if k != b.map.key and k not in b.map.defaults}
        match = b.key == key if b.scope is None else sa_and(b.key == key, b.scope)
        if rest:
            done = self.execute(b.table.update().where(match).values(**rest)).rowcount
        else:
            done = len(self.execute(b.table.select().where(match)).fetchall())
        if not done:
            skipped = set(b.live) - set(b.written_live())
            self.execute(b.table.insert().values(
                **{k: v for k, v in values.items() if k not in skipped}))

    def update(self, action: Action) -> Result | None:
        """Set one column of the row (if the branch owns it: key and scope)."""
        b = self._bound(action)
        if b is None:
            return self._unmapped(action)
        column = b.columns.get(action.attribute or "")
        if column is None:
            return action.failed(f"attribute {action.attribute!r} is not mapped to a column of "
                                 f"{b.map.table}")
        done = self.execute(b.update_column(column),
                            b.update_params(action.idnumber, column, action.value)).rowcount
        if not done:
            return self._missing(action, b)
        return None

    def _missing(self, action: Action, b: BoundTable) -> Result:
        """The failure of an action on a row that is not there, or not the branch's."""
        if b.scope is not None and self._scope_state(b, action.idnumber) is False:
            return self._outside(action, b, f"the row with {b.map.key}={action.idnumber!r}")
        return action.failed(f"no row in {b.map.table} with {b.map.key}={action.idnumber!r}")

    # -- link rows ---------------------------------------------------------------
    def lookup_ids(self, table: Any, key: Any, id_column: Any, scope: Any,
                   values: Sequence[Any]) -> tuple[dict[Any, Any], list[Any]]:
        """``({value: id}, ambiguous)``: the ``id_column`` of the rows whose ``key`` holds each value.

        Looked up once per run (cached; the cache is emptied when a savepoint
        is rolled back or a row deleted, so an id is never stale), in one
        query for the values not cached yet (per 500 values). A value found in two rows is
        ambiguous (and not in the dict); one not found is in neither.
        """
        import sqlalchemy as sa

        cache: dict[tuple[str, str, Any], Any] = self.__dict__.setdefault("_ids", {})
        name = str(getattr(table, "description", table))
        found: dict[Any, Any] = {}
        wanted = []
        for value in values:
            hit = cache.get((name, key.name, value))
            if hit is not None:
                found[value] = hit
            else:
                wanted.append(value)
        ambiguous: list[Any] = []
        if wanted:
            by_key: dict[Any, set[Any]] = {}
            coerced = {coerce(key, v): v for v in wanted}
            for part in chunks(list(coerced)):  # SQLite takes 32,766 variables at most
                condition = self.key_in(key, list(part))
                if scope is not None:
                    condition = sa.and_(condition, scope)
                for k, ident in self.execute(sa.select(key, id_column).where(condition)):
                    by_key.setdefault(coerced.get(k, k), set()).add(ident)
            for value in wanted:
                ids = by_key.get(value, set())
                if len(ids) == 1:
                    found[value] = cache[(name, key.name, value)] = next(iter(ids))
                elif ids:
                    ambiguous.append(value)
        return found, ambiguous

    def forget_ids(self) -> None:
        """Empty the cache of looked-up ids (after a rollback, or a row deleted)."""
        self.__dict__.pop("_ids", None)

    def _owner_value(self, action: Action, b: BoundTable, bl: BoundLink) -> Any:
        """What the link's owner column holds for the action's object (its id, or its key), or a failure."""
        if bl.owner_id is None:
            if b.scope is not None and self._scope_state(b, action.idnumber) is not True:
                return self._missing(action, b)
            return b.key_value(action.idnumber)
        found, ambiguous = self.lookup_ids(b.table, b.key, bl.owner_id, b.scope,
                                           [action.idnumber])
        if action.idnumber in found:
            return found[action.idnumber]
        if ambiguous:
            return action.failed(f"{b.map.table} has more than one row with "
                                 f"{b.map.key}={action.idnumber!r}: which one is meant?")
        return self._missing(action, b)

    def _member_values(self, action: Action, bl: BoundLink, members: Sequence[Any],
                       attribute: str | None = None) -> list[Any] | Result:
        """What the link's member column holds for each element (their ids, or themselves), or a failure naming the missing ones."""
        if bl.member_table is None:
            return list(members)
        found, ambiguous = self.lookup_ids(bl.member_table, bl.member_key, bl.member_id,
                                           bl.member_scope, list(members))
        missing = [m for m in members if m not in found and m not in ambiguous]
        if missing or ambiguous:
            table = bl.link.member_table
            parts = []
            if missing:
                scoped = " in its scope" if bl.member_scope is not None else ""
                parts.append(f"no row in {table} with {bl.member_key.name} "
                             f"{_names(missing)}{scoped}")
            if ambiguous:
                parts.append(f"more than one row in {table} with {bl.member_key.name} "
                             f"{_names(ambiguous)}")
            return action.failed("; ".join(parts) + f": {attribute or action.attribute} of "
                                 f"{action.idnumber!r} not written")
        return [found[m] for m in members]

    def _link(self, action: Action) -> tuple[LinkMap, Any, Any, Any] | Result:
        """``(link map, link table, owner value, member value)`` of an add or remove action, or a failure."""
        b = self._bound(action)
        if b is None:
            return self._unmapped(action)
        bl = b.links.get(action.attribute or "")
        if bl is None:
            return action.failed(f"attribute {action.attribute!r} has no link table")
        owner = self._owner_value(action, b, bl)
        if isinstance(owner, Result):
            return owner
        member = self._member_values(action, bl, [action.value])
        if isinstance(member, Result):
            return member
        return bl.link, bl.table, coerce(bl.owner, owner), coerce(bl.member, member[0])

    def add(self, action: Action) -> Result | None:
        """Insert one link row (owner, member, the link's defaults)."""
        found = self._link(action)
        if isinstance(found, Result):
            return found
        _, _, owner, member = found
        bl = self._bound(action).links[action.attribute or ""]  # type: ignore[union-attr]
        fixed, (row,) = split_expressions([bl.row(owner, member)])
        self.execute(self._add_statement(bl, fixed), row)
        return None

    def _add_statement(self, bl: BoundLink, fixed: dict[str, Any]) -> Any:
        """:meth:`link_insert` of ``bl`` with its SQL expressions (NOW), built once per run."""
        cache: dict[tuple[int, tuple[str, ...]], Any] = self.__dict__.setdefault("_adds", {})
        key = (id(bl), tuple(fixed))
        if key not in cache:
            statement = self.link_insert(bl)
            cache[key] = statement.values(fixed) if fixed else statement
        return cache[key]

    def remove(self, action: Action) -> Result | None:
        """Delete one link row (owner, member)."""
        found = self._link(action)
        if isinstance(found, Result):
            return found
        link, ltable, owner, member = found
        bl = self._bound(action).links[action.attribute or ""]  # type: ignore[union-attr]
        done = self.execute(bl.delete_one(), bl.one_params(owner, member)).rowcount
        if not done:
            return action.dropped(f"no link row in {link.table} for {owner!r}, {member!r}")
        return None

    def old(self, action: Action) -> Result | None:
        """Mark the row retired (``retire`` in the mapping), or delete it and its link rows.

        Only a row the branch owns (key and scope); another is a failure.
        """
        b = self._bound(action)
        if b is None:
            return self._unmapped(action)
        if b.map.retire:
            done = self.execute(b.table.update().where(b.where_key(action.idnumber))
                                .values(b.retired_values())).rowcount
            if not done:
                return self._missing(action, b)
            return action.succeeded("retired")
        if b.scope is not None and self._scope_state(b, action.idnumber) is False:
            return self._outside(action, b, f"the row with {b.map.key}={action.idnumber!r}")
        for bl in b.links.values():
            owner = self._owner_value(action, b, bl)
            if isinstance(owner, Result):
                return owner
            self.execute(bl.table.delete().where(bl.of_owner(owner)))
        if not b.map.links_only:  # the row is another branch's
            self.execute(b.table.delete().where(b.where_key(action.idnumber)))
            self.forget_ids()
        return None

    def __repr__(self) -> str:
        url = getattr(self, "_url", None)
        return f"<{type(self).__name__} {redact_url(url) if url else ''}>"
