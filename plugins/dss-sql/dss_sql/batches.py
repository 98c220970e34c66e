"""Batched writes: the actions of one method in a few set-based statements.

:class:`~dss_sql.SQLHandler.handle_batch` hands a batch (actions of one
method, each the whole change of its object) to :func:`write`, which writes
them with one statement per table and kind instead of one per action:

* ``new``: one multi-row ``INSERT`` (``executemany``; PostgreSQL's handler
  may ``COPY``; none for a ``links_only`` branch), then per link attribute one ``DELETE ... WHERE owner IN``
  and one multi-row ``INSERT`` of the link rows, the surrogate ids looked up
  in one query per batch;
* ``update``: one ``UPDATE ... WHERE key = :key [AND scope]``, executed many;
* ``old``: one ``UPDATE ... SET <retire> WHERE key IN (...) [AND scope]``, or
  ``DELETE`` of the link rows and rows;
* ``add`` / ``remove``: the link rows inserted or deleted together.

On PostgreSQL (:meth:`~dss_sql.SQLHandler.arrays`), updates, link removes
and retirements are each one statement with arrays as parameters
(``UPDATE ... FROM unnest(...)``, ``DELETE ... USING unnest(...)``,
``UPDATE ... WHERE key = ANY(...)``) that returns the rows it wrote: an
action whose row it did not write exactly once is run alone, as one the
query below did not find. Elsewhere, every condition a single action checks is checked for the whole batch with
one query before anything is written (the row there, once, in the scope;
the ids found). An action that would not simply succeed is not written in
the batch: it is returned to be run **alone**, through the handler's own
``handle``, which gives it exactly the result (and message) it has when it
is not batched. What can only be seen after writing (a new row outside the
scope) raises :class:`Retry`: the handler rolls the batch back and runs
those actions alone. A database error (a constraint, a value too long)
rolls the batch back too, and the handler runs each action alone to find
the one that fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from dss_core import Action

from .bound import BoundLink, BoundTable, coerce, coerce_to, plain_array, python_type

#: values per IN list or per executemany call (below SQLite's 32,766 variables)
CHUNK = 500

T = TypeVar("T")


class Retry(Exception):
    """Raised after writing: the actions at these positions must be run alone (roll the batch back)."""

    def __init__(self, positions: Sequence[int]) -> None:
        super().__init__(f"{len(positions)} actions to run alone")
        self.positions = sorted(set(positions))


class Writer(Protocol):
    """What the batch writers need of the handler (:class:`~dss_sql.SQLHandler` is one)."""

    def execute(self, statement: Any, parameters: Any = None) -> Any: ...

    def execute_many(self, statement: Any, rows: Sequence[dict[str, Any]]) -> None: ...

    def lookup_ids(self, table: Any, key: Any, id_column: Any, scope: Any,
                   values: Sequence[Any]) -> tuple[dict[Any, Any], list[Any]]: ...

    def forget_ids(self) -> None: ...

    def new_rows(self, b: BoundTable, objs: Sequence[Any]) -> list[dict[str, Any]]: ...

    def insert_rows(self, table: Any, rows: list[dict[str, Any]], statement: Any = None) -> None: ...

    def link_insert(self, bl: BoundLink) -> Any: ...

    def key_in(self, column: Any, values: Sequence[Any]) -> Any: ...

    def select_in(self, make: Callable[[Any], Any], key: Any, values: Sequence[Any],
                  name: Any) -> Iterable[Any]: ...

    def savepoint(self) -> Any: ...

    def arrays(self) -> bool: ...


class Outcome:
    """What a batch writer did: the positions it left to be run alone, and the message of the others."""

    def __init__(self, alone: set[int] | None = None, message: str = "") -> None:
        self.alone = alone if alone is not None else set()
        self.message = message


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def is_expression(value: Any) -> bool:
    """True when ``value`` is a SQL expression (NOW's ``CURRENT_TIMESTAMP``), not a plain value."""
    from sqlalchemy.sql.elements import ClauseElement

    return isinstance(value, ClauseElement)


def split_expressions(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(expressions, rows)``: the columns holding a SQL expression (the same in every row) taken out.

    ``executemany`` takes plain values only; an expression (NOW in a
    timestamp column) goes into the statement's own VALUES.
    """
    fixed = {c: v for c, v in rows[0].items() if is_expression(v)}
    if not fixed:
        return fixed, rows
    return fixed, [{c: v for c, v in row.items() if c not in fixed} for row in rows]


def insert_many(w: Writer, statement: Any, rows: list[dict[str, Any]]) -> None:
    """``statement`` (an INSERT) executed for every row (``executemany``), expressions put in VALUES."""
    if not rows:
        return
    fixed, plain = split_expressions(rows)
    if fixed:
        statement = statement.values(fixed)
    for part in chunks(plain, 10 * CHUNK):
        w.execute_many(statement, part)


def row_states(w: Writer, b: BoundTable, idnumbers: Sequence[Any]) -> dict[Any, list[int]]:
    """``{idnumber: [state, ...]}``: one state per row of that key, 1 in the scope (or no scope), 0 outside.

    One query per :data:`CHUNK` keys; an idnumber without a row is not in the dict.
    """
    import sqlalchemy as sa

    inside = sa.case((b.scope, 1), else_=0) if b.scope is not None else sa.literal(1)
    out: dict[Any, list[int]] = {}

    def query(condition: Any) -> Any:
        return sa.select(b.key, inside).where(condition)

    for part in chunks(list(idnumbers)):
        coerced = {b.key_value(i): i for i in part}
        for key, state in w.select_in(query, b.key, list(coerced), ("row_states", id(b))):
            out.setdefault(coerced.get(key, key), []).append(int(state))
    return out


def owned(w: Writer, b: BoundTable, idnumbers: Sequence[Any]) -> set[Any]:
    """The idnumbers whose row is there once and in the branch's scope."""
    return {i for i, states in row_states(w, b, idnumbers).items() if states == [1]}


def owner_values(w: Writer, b: BoundTable, bl: BoundLink, idnumbers: Sequence[Any],
                 checked: bool) -> dict[Any, Any]:
    """``{idnumber: what the link's owner column holds}`` for the owners that resolve.

    By surrogate key: the ids looked up in one query (cached), an owner not
    found (or found twice, or outside the scope) left out. By idnumber: the
    key itself, for owners in the scope (``checked``: known to be).
    """
    if bl.owner_id is not None:
        found, _ = w.lookup_ids(b.table, b.key, bl.owner_id, b.scope, list(idnumbers))
        return {i: coerce(bl.owner, found[i]) for i in idnumbers if i in found}
    kind, key = python_type(bl.owner), b.key_value
    if b.scope is not None and not checked:
        mine = owned(w, b, idnumbers)
        return {i: coerce_to(kind, key(i)) for i in idnumbers if i in mine}
    return {i: coerce_to(kind, key(i)) for i in idnumbers}


def member_values(w: Writer, bl: BoundLink, members: Sequence[Any]) -> dict[Any, Any]:
    """``{element: what the link's member column holds}`` for the elements that resolve (ids looked up)."""
    if bl.member_table is None:
        kind = python_type(bl.member)
        return {m: m if type(m) is kind else coerce_to(kind, m) for m in members}
    found, _ = w.lookup_ids(bl.member_table, bl.member_key, bl.member_id, bl.member_scope,
                            list(dict.fromkeys(members)))
    return {m: coerce(bl.member, found[m]) for m in members if m in found}


def delete_links(w: Writer, bl: BoundLink, owners: Sequence[Any]) -> None:
    """Delete every link row of ``owners`` (values as the owner column holds them)."""
    def delete(condition: Any) -> Any:
        return bl.table.delete().where(condition)

    for part in chunks(list(dict.fromkeys(owners))):
        w.select_in(delete, bl.owner, list(part), ("delete_links", id(bl)))


# -- the writers, one per kind of action ------------------------------------------
def write_new(w: Writer, b: BoundTable, actions: Sequence[Action]) -> Outcome:
    """Insert the new rows and their link rows; a key that has a row already is run alone.

    (Alone, ``new`` brings a retired row back, or fails on a row outside the
    scope, or on the duplicate, as one action does.)
    """
    alone: set[int] = set()
    inserted = False
    if b.map.links_only:  # the rows are another branch's: one not there (once, in scope) fails alone
        mine = owned(w, b, [a.idnumber for a in actions])
        alone = {n for n, a in enumerate(actions) if a.idnumber not in mine}
    elif b.scope is not None or b.map.retires:
        # the keys that have a row already are run alone; where the key is unique, the insert
        # itself says whether there is any (the query is asked only when it fails)
        inserted = b.unique_key and insert_first(w, b, actions)
        if not inserted:
            there = row_states(w, b, [a.idnumber for a in actions])
            alone = {n for n, a in enumerate(actions) if a.idnumber in there}
    go = [n for n in range(len(actions)) if n not in alone]
    if not go:
        return Outcome(alone)
    if not b.map.links_only and not inserted:
        w.insert_rows(b.table, w.new_rows(b, [actions[n].source for n in go]))
    keys = [actions[n].idnumber for n in go]
    if b.scope is not None and not b.map.links_only:  # a new row the scope does not hold: alone, it fails
        mine = owned(w, b, keys)
        outside = [n for n in go if actions[n].idnumber not in mine]
        if outside:
            raise Retry(outside)
    for attr, bl in b.links.items():
        owners = owner_values(w, b, bl, keys, checked=True)
        lost = [n for n in go if actions[n].idnumber not in owners]
        if lost:
            raise Retry(lost)
        delete_links(w, bl, list(owners.values()))
        elements = {n: sorted(getattr(actions[n].source, attr) or (), key=str) for n in go}
        members = member_values(w, bl, [m for n in go for m in elements[n]])
        unresolved = [n for n in go if any(m not in members for m in elements[n])]
        if unresolved:
            raise Retry(unresolved)
        rows = bl.rows((owners[actions[n].idnumber], members[m]) for n in go for m in elements[n])
        if rows:
            w.insert_rows(bl.table, rows)
    return Outcome(alone)


def insert_first(w: Writer, b: BoundTable, actions: Sequence[Action]) -> bool:
    """Insert the rows of ``actions`` in a savepoint of their own; False (rolled back) when it fails.

    A key that has a row already (a retired one, one outside the scope) fails the
    insert (the key is unique); so may a constraint: the caller then asks which keys
    have a row and inserts the others, as without this try.
    """
    from sqlalchemy import exc as sa_exc

    savepoint = w.savepoint()
    try:
        w.insert_rows(b.table, w.new_rows(b, [a.source for a in actions]))
    except sa_exc.IntegrityError:
        savepoint.rollback()
        return False
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return True


def write_update(w: Writer, b: BoundTable, actions: Sequence[Action]) -> Outcome:
    """Set one column of many rows (actions of one attribute): ``UPDATE ... WHERE key = :key``, executed many."""
    column = b.columns[actions[0].attribute or ""]
    if w.arrays() and plain_array(b.key) and plain_array(b.table.c[column]):
        keys = [b.key_value(a.idnumber) for a in actions]
        if len(set(keys)) == len(keys):  # (one statement updates a row once)
            return Outcome(_update_from(w, b, column, keys, actions))
    mine = owned(w, b, [a.idnumber for a in actions])
    alone = {n for n, a in enumerate(actions) if a.idnumber not in mine}
    params = [b.update_params(a.idnumber, column, a.value)
              for n, a in enumerate(actions) if n not in alone]
    for part in chunks(params, 10 * CHUNK):
        w.execute_many(b.update_column(column), part)
    return Outcome(alone)


def _update_from(w: Writer, b: BoundTable, column: str, keys: list[Any],
                 actions: Sequence[Action]) -> set[int]:
    """PostgreSQL: the updates in one ``UPDATE ... FROM unnest(...) RETURNING key`` per :data:`CHUNK`
    (no query first); the positions whose row was not updated exactly once (none, not in the
    scope, or two rows of that key), to run alone: what the query of :func:`owned` finds."""
    col = b.table.c[column]
    kind = python_type(col)
    counts: dict[Any, int] = {}
    for part in chunks(range(len(actions))):
        params = {"dss_keys": [keys[n] for n in part],
                  "dss_values": [coerce_to(kind, actions[n].value) for n in part]}
        for (key,) in w.execute(b.update_from(column), params):
            counts[key] = counts.get(key, 0) + 1
    return {n for n, key in enumerate(keys) if counts.get(key) != 1}


def write_old(w: Writer, b: BoundTable, actions: Sequence[Action]) -> Outcome:
    """Retire the rows (``UPDATE ... WHERE key IN``), or delete their link rows and them."""
    import sqlalchemy as sa

    if b.map.retire and w.arrays():  # PostgreSQL: UPDATE ... RETURNING the rows retired, no query first
        values = b.retired_values()
        counts: dict[Any, int] = {}
        of_key = {b.key_value(a.idnumber): a.idnumber for a in actions}
        for some in chunks(list(of_key)):
            match = w.key_in(b.key, list(some))
            match = match if b.scope is None else sa.and_(match, b.scope)
            for (key,) in w.execute(b.table.update().where(match).values(values).returning(b.key)):
                counts[key] = counts.get(key, 0) + 1
        retired = {of_key[k] for k, count in counts.items() if count == 1 and k in of_key}
        # a row there twice was retired both times: run alone, as after the query of owned()
        return Outcome({n for n, a in enumerate(actions) if a.idnumber not in retired}, "retired")
    mine = owned(w, b, [a.idnumber for a in actions])
    alone = {n for n, a in enumerate(actions) if a.idnumber not in mine}
    keys = [a.idnumber for n, a in enumerate(actions) if n not in alone]
    if not keys:
        return Outcome(alone, "retired" if b.map.retire else "")

    def where(part: Sequence[Any]) -> Any:
        match = w.key_in(b.key, [b.key_value(k) for k in part])
        return match if b.scope is None else sa.and_(match, b.scope)

    if b.map.retire:
        values = b.retired_values()
        for part in chunks(keys):
            w.execute(b.table.update().where(where(part)).values(values))
        return Outcome(alone, "retired")
    for bl in b.links.values():
        owners = owner_values(w, b, bl, keys, checked=True)
        lost = [n for n, a in enumerate(actions) if n not in alone and a.idnumber not in owners]
        if lost:
            raise Retry(lost)
        delete_links(w, bl, list(owners.values()))
    if b.map.links_only:  # the rows are another branch's
        return Outcome(alone)
    for part in chunks(keys):
        w.execute(b.table.delete().where(where(part)))
    w.forget_ids()
    return Outcome(alone)


def _link_pairs(w: Writer, b: BoundTable, bl: BoundLink,
                actions: Sequence[Action]) -> tuple[set[int], dict[int, tuple[Any, Any]]]:
    """``(alone, {position: (owner, member)})``: the link row of each add or remove that resolves."""
    owners = owner_values(w, b, bl, list(dict.fromkeys(a.idnumber for a in actions)), checked=False)
    members = member_values(w, bl, [a.value for a in actions])
    pairs: dict[int, tuple[Any, Any]] = {}
    alone: set[int] = set()
    for n, a in enumerate(actions):
        if a.idnumber in owners and a.value in members:
            pairs[n] = (owners[a.idnumber], members[a.value])
        else:
            alone.add(n)
    return alone, pairs


def write_add(w: Writer, b: BoundTable, actions: Sequence[Action]) -> Outcome:
    """Insert the link rows (actions of one attribute), owners and members resolved together."""
    bl = b.links[actions[0].attribute or ""]
    alone, pairs = _link_pairs(w, b, bl, actions)
    rows = bl.rows(pairs.values())
    if rows:
        w.insert_rows(bl.table, rows, w.link_insert(bl))
    return Outcome(alone)


def write_remove(w: Writer, b: BoundTable, actions: Sequence[Action]) -> Outcome:
    """Delete the link rows (actions of one attribute); one that is not there is run alone (dropped)."""
    import sqlalchemy as sa

    bl = b.links[actions[0].attribute or ""]
    alone, pairs = _link_pairs(w, b, bl, actions)
    there: set[tuple[Any, Any]] = set()
    wanted = list(pairs.items())
    if w.arrays() and plain_array(bl.owner) and plain_array(bl.member):
        # PostgreSQL: one DELETE ... USING unnest(...) RETURNING the pairs deleted, no query first
        for part in chunks(wanted):
            arrays = {"dss_owners": [p[0] for _, p in part], "dss_members": [p[1] for _, p in part]}
            there.update((o, m) for o, m in w.execute(bl.delete_pairs(), arrays))
        return Outcome(alone | {n for n, pair in wanted if pair not in there})
    for part in chunks(wanted, CHUNK // 2):
        owners = list(dict.fromkeys(p[0] for _, p in part))
        members = list(dict.fromkeys(p[1] for _, p in part))
        query = sa.select(bl.owner, bl.member).where(w.key_in(bl.owner, owners),
                                                     w.key_in(bl.member, members))
        there.update((o, m) for o, m in w.execute(query))
    alone |= {n for n, pair in wanted if pair not in there}
    params = [bl.one_params(*pair) for n, pair in wanted if n not in alone]
    for some in chunks(params, 10 * CHUNK):
        w.execute_many(bl.delete_one(), some)
    return Outcome(alone)


WRITERS: dict[str, Callable[[Writer, BoundTable, Sequence[Action]], Outcome]] = {
    "new": write_new, "update": write_update, "old": write_old,
    "add": write_add, "remove": write_remove,
}


def group_key(action: Action) -> tuple[str, str, str | None]:
    """What the actions written by one statement share: the kind, the branch, the attribute of a change."""
    return (action.kind, action.branch,
            action.attribute if action.kind in ("update", "add", "remove") else None)


def write(w: Writer, actions: Sequence[Action],
          bound: Callable[[Action], BoundTable]) -> tuple[set[int], dict[int, str]]:
    """Write a batch: ``(positions left to run alone, {position written: message})``.

    The actions are grouped by kind, branch and attribute (in the order each
    group first appears), each group written by the writer of its kind.
    :class:`Retry` positions are those of ``actions``.
    """
    groups: dict[tuple[str, str, str | None], list[int]] = {}
    for n, action in enumerate(actions):
        groups.setdefault(group_key(action), []).append(n)
    alone: set[int] = set()
    written: dict[int, str] = {}
    for positions in groups.values():
        first = actions[positions[0]]
        writer = WRITERS[first.kind]
        try:
            outcome = writer(w, bound(first), [actions[n] for n in positions])
        except Retry as retry:
            raise Retry([positions[n] for n in retry.positions]) from None
        for n, position in enumerate(positions):
            if n in outcome.alone:
                alone.add(position)
            else:
                written[position] = outcome.message
    return alone, written
