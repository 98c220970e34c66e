"""Batched writes (issue 11 point 4) on SQLite, PostgreSQL and MariaDB.

Every test applies the same plan twice, to the same starting tables: once in
batches (``batch_actions`` 500, the default) and once one action at a time
(``batch_actions = 0``, as before batching), and compares the rows left
behind and every action's result (status, message, handler). The batched
run's handler records the batches it was given, so a test also shows that
the batches were made.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from dss_sql import NOW, LinkMap, SQLMapping, TableMap, not_empty
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dss_core import Action, Branch, Config, Datastore, Model, Result, Status, Tree

Outcome = tuple[list[tuple[str, Status, str, str | None]], dict[str, list[tuple[Any, ...]]]]


def recording(mapping: SQLMapping, batch_actions: int = 500,
              base: type | None = None) -> tuple[type, list[tuple[str, int]]]:
    """A handler class of ``mapping`` (or ``base``) and the list of the batches it is handed.

    A batch of units is listed as ``(method, actions of that method)`` for each of its methods.
    """
    batches: list[tuple[str, int]] = []

    class Recording(base or mapping.handler()):  # type: ignore[misc]
        def handle_units(self, units: Sequence[Sequence[Action]]) -> list[list[Result]]:
            methods: dict[str, int] = {}
            for unit in units:
                for action in unit:
                    methods[action.method] = methods.get(action.method, 0) + 1
            batches.extend(methods.items())
            return super().handle_units(units)

    Recording.batch_actions = batch_actions
    return Recording, batches


def drop_all(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    md = sa.MetaData()
    md.reflect(engine)
    md.drop_all(engine)
    engine.dispose()


def dump(url: str, queries: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        out = {name: sorted((tuple(r) for r in conn.execute(sa.text(sql))), key=repr)
               for name, sql in queries.items()}
    engine.dispose()
    return out


def results(summary: Any) -> list[tuple[str, Status, str, str | None]]:
    return [(r.action.key, r.status, r.message, r.handler) for r in summary.results]


def both(url: str, prepare: Callable[[str], None], source: Callable[[str, type], tuple[Tree, Tree]],
         queries: dict[str, str], mapping: SQLMapping, between: Callable[[str], None] | None = None,
         base: type | None = None) -> tuple[Outcome, Outcome, list[tuple[str, int]]]:
    """The plan of ``source`` applied in batches, then one at a time, each to freshly ``prepare``d tables.

    ``between`` changes the database after the plan is made, before it is
    applied (a row leaving the scope). Returns both outcomes and the batches.
    """
    outcomes = []
    made: list[tuple[str, int]] = []
    for size in (500, 0):
        drop_all(url)
        prepare(url)
        handler, batches = recording(mapping, size, base)
        src, dst = source(url, handler)
        if between is not None:
            between(url)
        summary = src.apply(dst, allow_deletions=100_000)
        outcomes.append((results(summary), dump(url, queries)))
        if size:
            made = batches
        else:
            assert batches == []
    return outcomes[0], outcomes[1], made


# -- the kit's users and groups (idnumbers in link tables) -----------------------------------
KIT_QUERIES = {"accounts": "select username, full_name, email, suspended from accounts",
               "courses": "select username, course from account_courses",
               "cohorts": "select code, title from cohorts",
               "members": "select cohort, username from cohort_members"}


def school(n: int) -> dict[str, list[dict[str, Any]]]:
    users = [{"idnumber": f"u{i:04}", "name": f"User {i}", "email": f"u{i}@x",
              "courses": [f"c{i % 7}", f"c{i % 5}"]} for i in range(n)]
    groups = [{"idnumber": f"g{g}", "title": f"Group {g}",
               "members": [f"u{i:04}" for i in range(g, n, 9)]} for g in range(9)]
    return {"users": users, "groups": groups}


def kit_source(kit: Any, sync: Any, records: dict[str, Any], mapping: SQLMapping) -> Callable[..., Any]:
    def make(url: str, handler: type) -> tuple[Tree, Tree]:
        return sync(url, records, mapping, handler)  # type: ignore[no-any-return]
    return make


def test_a_first_sync_in_batches_writes_what_one_at_a_time_writes(db_url, sync, kit):
    mapping = kit.make_mapping()
    batched, plain, batches = both(db_url, kit.create_schema,
                                   kit_source(kit, sync, school(1200), mapping), KIT_QUERIES,
                                   mapping=mapping)
    assert batched == plain
    statuses = {s for _, s, _, _ in batched[0]}
    assert statuses == {Status.SUCCESS}
    assert len(batched[1]["accounts"]) == 1200 and len(batched[1]["members"]) == 1200
    assert batches == [("new_users", 500), ("new_users", 500), ("new_users", 200),
                       ("new_groups", 9)]


def test_updates_changes_and_retirements_in_batches(db_url, sync, kit):
    mapping = kit.make_mapping()
    first = school(700)

    def prepare(url: str) -> None:
        kit.create_schema(url)
        src, dst = sync(url, first, mapping, mapping.handler())
        assert src.apply(dst).failed == 0

    later = copy.deepcopy(first)
    for i, user in enumerate(later["users"]):
        if i % 3 == 0:
            user["name"] = f"Renamed {i}"       # update_name, one action per object: batched
        if i % 11 == 0:
            user["courses"] = [f"c{i % 7}"]     # a remove (with the rename: one object unit)
    later["users"] = [u for i, u in enumerate(later["users"]) if i % 10 != 5]  # old_users
    later["users"] += [{"idnumber": f"n{i}", "name": f"New {i}"} for i in range(40)]
    for g, group in enumerate(later["groups"]):
        group["members"] = group["members"][g:] + [f"n{g}"]
    later["groups"] = later["groups"][:-1]      # old_groups: members deleted with the row
    batched, plain, batches = both(db_url, prepare, kit_source(kit, sync, later, mapping),
                                   KIT_QUERIES, mapping=mapping)
    assert batched == plain
    assert {s for _, s, _, _ in batched[0]} == {Status.SUCCESS}
    methods = {m for m, _ in batches}
    assert {"update_name", "old_users", "new_users"} <= methods
    assert ("old_users", 70) in batches
    retired = [r for r in batched[1]["accounts"] if r[3]]
    assert len(retired) == 70


def test_new_rows_whose_key_is_retired_come_back_alone_in_a_batch_inserted_first(db_url, sync, kit):
    """The key is the primary key: the batch's INSERT is tried first, fails on the retired rows,
    and the batch is written as with the query first: those come back alone, the others inserted."""
    mapping = kit.make_mapping()
    users = [{"idnumber": f"u{i:03}", "name": f"User {i}"} for i in range(120)]

    def prepare(url: str) -> None:
        kit.create_schema(url)
        src, dst = sync(url, {"users": users}, mapping, mapping.handler())
        assert src.apply(dst).failed == 0
        src, dst = sync(url, {"users": users[:110]}, mapping, mapping.handler())
        assert src.apply(dst).failed == 0  # u110-u119 retired (fewer than the deletion limit)

    later = {"users": users + [{"idnumber": f"n{i}", "name": f"New {i}"} for i in range(30)]}
    batched, plain, batches = both(db_url, prepare, kit_source(kit, sync, later, mapping),
                                   KIT_QUERIES, mapping=mapping)
    assert batched == plain
    assert {s for _, s, _, _ in batched[0]} == {Status.SUCCESS}
    assert ("new_users", 40) in batches
    assert not [r for r in batched[1]["accounts"] if r[3]]  # none retired any more
    assert len(batched[1]["accounts"]) == 150


def test_a_bad_row_fails_alone_with_the_message_it_has_alone(db_url, sync, kit):
    """One value too long for its column (NOT NULL violated on SQLite, which has no lengths) in 500."""
    mapping = kit.make_mapping()
    records = {"users": [{"idnumber": f"u{i:03}", "name": f"User {i}"} for i in range(500)]}
    bad = None if db_url.startswith("sqlite") else "x" * 300  # full_name is VARCHAR(200) NOT NULL
    records["users"][123]["name"] = bad
    batched, plain, batches = both(db_url, kit.create_schema, kit_source(kit, sync, records, mapping),
                                   KIT_QUERIES, mapping=mapping)
    assert batches == [("new_users", 500)]
    assert batched == plain
    failed = [(key, message) for key, status, message, _ in batched[0] if status is Status.FAILURE]
    assert len(failed) == 1 and failed[0][0].endswith(":u123")
    assert failed[0][1] and "\n" not in failed[0][1]
    assert sum(1 for _, s, _, _ in batched[0] if s is Status.SUCCESS) == 499
    assert len(batched[1]["accounts"]) == 499


def test_a_duplicate_link_row_fails_alone_among_the_adds(db_url, sync, kit):
    """add_members where the link row is already there (the importer did not see it): a unique violation."""
    mapping = kit.make_mapping()
    records = school(60)

    def prepare(url: str) -> None:
        kit.create_schema(url)
        src, dst = sync(url, records, mapping, mapping.handler())
        assert src.apply(dst).failed == 0

    later = copy.deepcopy(records)
    for group in later["groups"]:  # single-action units: one add per group
        group["members"].append("u0059" if group["idnumber"] != "g5" else "u0001")

    def between(url: str) -> None:  # u0001 joins g5 behind the plan's back
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text("insert into cohort_members values ('g5', 'u0001')"))
        engine.dispose()

    batched, plain, batches = both(db_url, prepare, kit_source(kit, sync, later, mapping),
                                   KIT_QUERIES, between=between, mapping=mapping)
    assert batched == plain
    assert ("add_members_to_groups", 9) in batches or ("add_members_to_groups", 8) in batches
    failed = [key for key, status, _, _ in batched[0] if status is Status.FAILURE]
    assert failed == ["lms:groups:add_members_to_groups:g5:'u0001'"]


def test_specific_methods_and_overrides_are_not_batched(dss_sqlite_url, sync, kit):
    mapping = kit.make_mapping()
    seen: list[str] = []

    class Custom(mapping.handler()):  # type: ignore[misc]
        def new_groups(self, action: Action) -> Any:
            seen.append(action.idnumber or "")
            return super().new(action)

        def old(self, action: Action) -> Any:  # an override of a generic method
            seen.append(f"old {action.idnumber}")
            return super().old(action)

    first = school(30)

    def prepare(url: str) -> None:
        kit.create_schema(url)
        src, dst = sync(url, first, mapping, mapping.handler())
        assert src.apply(dst).failed == 0

    later = copy.deepcopy(first)
    later["users"] = later["users"][:20] + [{"idnumber": "zed", "name": "Zed"}]
    later["groups"].append({"idnumber": "g9", "title": "Nine", "members": ["zed"]})
    batched, plain, batches = both(dss_sqlite_url, prepare, kit_source(kit, sync, later, mapping),
                                   KIT_QUERIES, base=Custom, mapping=mapping)
    assert batched == plain
    assert batches == [("new_users", 1)]  # old_users (overridden) and new_groups one at a time
    assert seen.count("g9") == 2 and seen.count("old u0025") == 2


# -- scope guards ------------------------------------------------------------------------------
class Account(Model):
    name: str


ACCOUNTS = {"accounts": "select login, name, origin, locked from scoped_accounts"}


def scoped_schema(url: str) -> None:
    md = sa.MetaData()
    sa.Table("scoped_accounts", md,
             sa.Column("login", sa.String(64), primary_key=True),
             sa.Column("name", sa.String(100), nullable=False),
             sa.Column("origin", sa.String(20), nullable=False, server_default="sis"),
             sa.Column("locked", sa.SmallInteger, nullable=False, server_default="0"))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    md.create_all(engine)
    with engine.begin() as conn:
        rows = [{"login": f"s{i:03}", "name": f"Old {i}", "origin": "sis"} for i in range(300)]
        rows += [{"login": "hand", "name": "Made by hand", "origin": "manual"}]
        conn.execute(md.tables["scoped_accounts"].insert(), rows)
    engine.dispose()


SCOPED = SQLMapping(users=TableMap("scoped_accounts", key="login", scope={"origin": "sis"},
                                   retire={"locked": 1}))


def scoped_source(records: list[dict[str, Any]]) -> Callable[[str, type], tuple[Tree, Tree]]:
    def make(url: str, handler: type) -> tuple[Tree, Tree]:
        class SIS(Tree):
            name = "sis"
            users = Branch(Account, importer=list(records))

        class LMS(Tree):
            name = "lms"
            users = Branch(Account, importer=SCOPED.importer("users"))

        LMS.handler = handler
        config = Config({"trees": {"lms": {"url": url}}}, environ={})
        source, (dest,) = Datastore("t", SIS, [LMS]).open(config)
        source.load()
        dest.load()
        return source, dest
    return make


def test_the_scope_guards_every_write_of_a_batch(db_url):
    """A row out of the scope is never touched: its action fails naming the scope, the rest go through."""
    records = [{"idnumber": f"s{i:03}", "name": f"New {i}"} for i in range(0, 300, 2)]  # renames
    records += [{"idnumber": f"n{i:03}", "name": f"Fresh {i}"} for i in range(150)]  # new rows
    records.append({"idnumber": "hand", "name": "Not ours"})  # a key outside the scope: new fails

    def between(url: str) -> None:  # after the plan: two renamed and one retired row leave the scope
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text("update scoped_accounts set origin = 'ldap' "
                                 "where login in ('s010', 's020', 's031')"))
        engine.dispose()

    batched, plain, batches = both(db_url, scoped_schema, scoped_source(records), ACCOUNTS,
                                   between=between, mapping=SCOPED)
    assert batched == plain
    assert {m for m, _ in batches} == {"update_name", "new_users", "old_users"}
    failed = {key.split(":")[-1]: message for key, status, message, _ in batched[0]
              if status is Status.FAILURE}
    assert set(failed) == {"s010", "s020", "s031", "hand"}
    assert all("outside the scope of branch 'users' (origin is 'sis')" in m for m in failed.values())
    rows = {r[0]: r for r in batched[1]["accounts"]}
    assert rows["s010"] == ("s010", "Old 10", "ldap", 0)   # not renamed
    assert rows["s031"] == ("s031", "Old 31", "ldap", 0)   # not retired
    assert rows["hand"] == ("hand", "Made by hand", "manual", 0)
    assert rows["s012"][1:] == ("New 12", "sis", 0) and rows["s013"][3] == 1
    assert rows["n007"] == ("n007", "Fresh 7", "sis", 0)


# -- surrogate keys -----------------------------------------------------------------------------
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class User(Model):
    firstname: str


class Cohort(Model):
    name: str
    members: set[str] = set()


def surrogate_schema(url: str) -> None:
    md = sa.MetaData()
    sa.Table("users", md,
             sa.Column("id", ID, primary_key=True, autoincrement=True),
             sa.Column("idnumber", sa.String(100), nullable=False, server_default=""),
             sa.Column("firstname", sa.String(100), nullable=False),
             sa.Column("suspended", sa.SmallInteger, nullable=False, server_default="0"),
             sa.Column("created", sa.DateTime, nullable=True))
    sa.Table("cohorts", md,
             sa.Column("id", ID, primary_key=True, autoincrement=True),
             sa.Column("idnumber", sa.String(100), nullable=True),
             sa.Column("name", sa.String(100), nullable=False))
    sa.Table("cohort_members", md,
             sa.Column("id", ID, primary_key=True, autoincrement=True),
             sa.Column("cohortid", sa.BigInteger, nullable=False),
             sa.Column("userid", sa.BigInteger, nullable=False),
             sa.Column("timeadded", sa.BigInteger, nullable=False, server_default="0"),
             sa.UniqueConstraint("cohortid", "userid"))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    md.create_all(engine)
    with engine.begin() as conn:  # the admin: out of the scope, never a member we write
        conn.execute(sa.text("insert into users (idnumber, firstname) values ('', 'Admin')"))
    engine.dispose()


SURROGATE = SQLMapping(
    users=TableMap("users", scope={"idnumber": not_empty()}, retire={"suspended": 1},
                   defaults={"created": NOW}),  # NOW in a DATETIME: a SQL expression per row
    groups=TableMap("cohorts", scope={"idnumber": not_empty()}, links={
        "members": LinkMap("cohort_members", owner="cohortid", member="userid", owner_id="id",
                           member_table="users", defaults={"timeadded": NOW})}),
)

SURROGATE_QUERIES = {
    "users": "select idnumber, firstname, suspended, created is not null from users",
    "members": "select c.idnumber, u.idnumber, m.timeadded > 0 from cohort_members m "
               "join cohorts c on c.id = m.cohortid join users u on u.id = m.userid",
    "cohorts": "select idnumber, name from cohorts"}


def surrogate_source(records: dict[str, list[dict[str, Any]]]) -> Callable[[str, type], tuple[Tree, Tree]]:
    def make(url: str, handler: type) -> tuple[Tree, Tree]:
        class SIS(Tree):
            name = "sis"
            users = Branch(User, importer=list(records["users"]))
            groups = Branch(Cohort, importer=list(records["groups"]))

        class LMS(Tree):
            name = "lms"
            users = Branch(User, importer=SURROGATE.importer("users"))
            groups = Branch(Cohort, importer=SURROGATE.importer("groups"))

        LMS.handler = handler
        config = Config({"trees": {"lms": {"url": url}}}, environ={})
        source, (dest,) = Datastore("t", SIS, [LMS]).open(config)
        source.load()
        dest.load()
        return source, dest
    return make


def test_surrogate_key_links_in_batches(db_url):
    users = [{"idnumber": f"u{i:03}", "firstname": f"F{i}"} for i in range(400)]
    groups = [{"idnumber": f"c{g:02}", "name": f"Cohort {g}",
               "members": [f"u{i:03}" for i in range(g, 400, 12)]} for g in range(12)]
    groups.append({"idnumber": "c-ghost", "name": "Ghosts", "members": ["u001", "ghost"]})
    records = {"users": users, "groups": groups}
    batched, plain, batches = both(db_url, surrogate_schema, surrogate_source(records),
                                   SURROGATE_QUERIES, mapping=SURROGATE)
    assert batched == plain
    assert batches == [("new_users", 400), ("new_groups", 13)]
    failed = [(key, message) for key, status, message, _ in batched[0] if status is Status.FAILURE]
    assert failed == [("lms:groups:new_groups:c-ghost",
                       "no row in users with idnumber 'ghost' in its scope: members of "
                       "'c-ghost' not written")]
    members = batched[1]["members"]
    assert len(members) == 400 and all(added for _, _, added in members)
    assert all(created for idnumber, *_, created in batched[1]["users"] if idnumber)  # not the admin

    # the next night: one membership change per cohort (batched adds and removes), users leave
    later = copy.deepcopy(records)
    later["groups"] = later["groups"][:12]
    for g, group in enumerate(later["groups"]):
        group["members"] = group["members"][1:] if g >= 6 else group["members"] + [f"u{g + 1:03}"]
    later["users"] = users[:390] + [{"idnumber": "ghost", "firstname": "Boo"}]

    def prepare(url: str) -> None:
        surrogate_schema(url)
        src, dst = surrogate_source(records)(url, SURROGATE.handler())
        src.apply(dst)

    batched, plain, batches = both(db_url, prepare, surrogate_source(later), SURROGATE_QUERIES,
                                   mapping=SURROGATE)
    assert batched == plain
    assert {s for _, s, _, _ in batched[0]} == {Status.SUCCESS}
    assert ("old_users", 10) in batches and ("new_users", 1) in batches
    assert ("add_members_to_groups", 6) in batches and ("remove_members_from_groups", 6) in batches


# -- random plans -------------------------------------------------------------------------------
plain_names = st.sampled_from(["Ann", "Bob", "Cid"])
names = st.one_of(plain_names, st.none())  # None: NOT NULL refuses it
ids = st.sampled_from([f"u{i}" for i in range(12)])
kit_groups = st.dictionaries(st.sampled_from(["g1", "g2", "g3"]), st.sets(ids, max_size=6),
                             max_size=3)


def kit_records(users: dict[str, str | None], groups: dict[str, set[str]]) -> dict[str, Any]:
    return {"users": [{"idnumber": i, "name": n, "courses": [f"c{len(i) % 2}"]}
                      for i, n in users.items()],
            "groups": [{"idnumber": g, "title": g.upper(), "members": sorted(m)}
                       for g, m in groups.items()]}


known = st.dictionaries(ids, plain_names)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=known, groups_before=kit_groups, middle=known, after=st.dictionaries(ids, names),
       groups_after=kit_groups, retire=st.booleans())
def test_random_plans_batched_and_one_at_a_time_agree(
        dss_sqlite_url: str, sync: Any, kit: Any, before: dict[str, str], groups_before: dict[str, set[str]],
        middle: dict[str, str], after: dict[str, str | None], groups_after: dict[str, set[str]],
        retire: bool) -> None:
    """Two nights make the starting tables (rows retired on the second), the third is compared."""
    mapping = kit.make_mapping(retire=retire)
    first = kit_records(before, {g: {m for m in ms if m in before} for g, ms in groups_before.items()})
    second = kit_records(middle, {})

    def prepare(url: str) -> None:
        kit.create_schema(url)
        for night in (first, second):
            src, dst = sync(url, night, mapping, mapping.handler())
            src.apply(dst, allow_deletions=100)

    batched, plain, _ = both(dss_sqlite_url, prepare,
                             kit_source(kit, sync, kit_records(after, groups_after), mapping),
                             KIT_QUERIES, mapping=mapping)
    assert batched == plain


@pytest.mark.postgres
def test_random_plans_agree_on_postgres(dss_postgres_url: str, sync: Any, kit: Any) -> None:
    """A few fixed random plans on PostgreSQL (COPY, ON CONFLICT, aborted transactions)."""
    import random

    rng = random.Random(11)
    mapping = kit.make_mapping()
    for _ in range(4):
        def pick(k: int) -> dict[str, str | None]:
            return {f"u{i}": rng.choice(["Ann", "Bob", None if k else "Cid"])
                    for i in rng.sample(range(200), 120)}

        before = {i: n or "x" for i, n in pick(0).items()}
        after = pick(1)
        first = kit_records(before, {"g1": set(list(before)[:30])})
        later = kit_records(after, {"g1": {i for i in list(after)[:40]}, "g2": set(list(after)[5:9])})

        def prepare(url: str, first: dict[str, Any] = first) -> None:
            kit.create_schema(url)
            src, dst = sync(url, first, mapping, mapping.handler())
            src.apply(dst, allow_deletions=1000)

        batched, plain, _ = both(dss_postgres_url, prepare, kit_source(kit, sync, later, mapping),
                                 KIT_QUERIES, mapping=mapping)
        assert batched == plain


def test_your_own_methods_named_in_batch_methods_run_together(db_url, sync, kit):
    """A method of yours in ``batch_methods``: one SAVEPOINT for the batch; a failure anywhere
    (the database's, or an exception of your own) and each action runs alone, as unbatched."""
    mapping = kit.make_mapping()
    calls: list[str] = []

    class Own(mapping.handler()):  # type: ignore[misc]
        batch_methods = frozenset({"new_users"})

        def new_users(self, action: Action) -> Any:
            calls.append(action.idnumber or "")
            if action.idnumber == "u0040":
                raise RuntimeError("no such person in the registry")
            self.execute("insert into accounts (username, full_name) values (:u, :n)",
                         {"u": action.idnumber, "n": action.source.name})
            return action.succeeded("by hand")

    records = {"users": [{"idnumber": f"u{i:04}", "name": f"User {i}"} for i in range(120)]}
    records["users"][70]["name"] = None  # full_name NOT NULL: a database error in the batch
    batched, plain, batches = both(db_url, kit.create_schema, kit_source(kit, sync, records, mapping),
                                   KIT_QUERIES, mapping=mapping, base=Own)
    assert batched == plain
    assert batches == [("new_users", 120)]
    outcome = {key.split(":")[-1]: (status, message) for key, status, message, _ in batched[0]}
    assert outcome["u0040"] == (Status.EXCEPTION, "RuntimeError: no such person in the registry")
    assert outcome["u0070"][0] is Status.FAILURE
    assert outcome["u0001"] == (Status.SUCCESS, "by hand")
    assert len(batched[1]["accounts"]) == 118

    calls.clear()  # no failure: each action once, in one savepoint
    records["users"] = [u for u in records["users"] if u["idnumber"] not in ("u0040", "u0070")]
    batched, plain, batches = both(db_url, kit.create_schema, kit_source(kit, sync, records, mapping),
                                   KIT_QUERIES, mapping=mapping, base=Own)
    assert batched == plain and batches == [("new_users", 118)]
    assert len(calls) == 2 * 118  # batched once, then unbatched once


def test_an_object_of_several_changes_fails_whole_and_alone_in_a_batch(db_url, sync, kit):
    """Runs of whole units in one batch: a renamed account whose new e-mail the database refuses
    (NULL in a NOT NULL column) keeps its old name too; the 59 others are written in the batch."""
    mapping = kit.make_mapping()
    first = {"users": [{"idnumber": f"u{i:03}", "name": f"User {i}", "email": f"u{i}@x",
                        "courses": ["c1"]} for i in range(60)]}

    def prepare(url: str) -> None:
        kit.create_schema(url)
        src, dst = sync(url, first, mapping, mapping.handler())
        assert src.apply(dst).failed == 0

    later = copy.deepcopy(first)
    for i, user in enumerate(later["users"]):  # each object: update_name, update_email, add, remove
        user.update(name=f"Renamed {i}", email=f"new{i}@x", courses=["c2"])
    later["users"][17]["email"] = None
    batched, plain, batches = both(db_url, prepare, kit_source(kit, sync, later, mapping),
                                   KIT_QUERIES, mapping=mapping)
    assert batched == plain
    assert ("update_name", 60) in batches and ("update_email", 60) in batches  # one batch of units
    outcome = {key.split(":", 2)[2]: (status, message) for key, status, message, _ in batched[0]}
    assert outcome["update_email:u017"][0] is Status.FAILURE
    assert outcome["update_name:u017"] == (
        Status.SKIPPED, "rolled back: update_email of this object failed "
                        f"({outcome['update_email:u017'][1]})")
    assert outcome["add_courses_to_users:u017:'c2'"][0] is Status.SKIPPED
    assert {s for k, (s, _) in outcome.items() if "u017" not in k} == {Status.SUCCESS}
    accounts = {r[0]: r for r in batched[1]["accounts"]}
    assert accounts["u017"][1:3] == ("User 17", "u17@x")
    assert accounts["u018"][1:3] == ("Renamed 18", "new18@x")
    assert ("u017", "c1") in batched[1]["courses"] and ("u017", "c2") not in batched[1]["courses"]


def test_an_object_whose_row_is_gone_is_handled_alone_whole(db_url, sync, kit):
    """A unit the batch cannot simply write (its row deleted after the plan was made): the batch is
    rolled back, that object is handled alone (failing whole, as alone), the others written again."""
    mapping = kit.make_mapping()
    first = {"users": [{"idnumber": f"u{i:03}", "name": f"User {i}", "email": f"u{i}@x"}
                       for i in range(40)]}

    def prepare(url: str) -> None:
        kit.create_schema(url)
        src, dst = sync(url, first, mapping, mapping.handler())
        assert src.apply(dst).failed == 0

    later = copy.deepcopy(first)
    for i, user in enumerate(later["users"]):
        user.update(name=f"Renamed {i}", email=f"new{i}@x")

    def between(url: str) -> None:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text("delete from accounts where username = 'u007'"))
        engine.dispose()

    batched, plain, batches = both(db_url, prepare, kit_source(kit, sync, later, mapping),
                                   KIT_QUERIES, between=between, mapping=mapping)
    assert batched == plain
    assert ("update_name", 40) in batches
    outcome = {key.split(":", 2)[2]: (status, message) for key, status, message, _ in batched[0]}
    assert outcome["update_name:u007"] == (Status.FAILURE, "no row in accounts with username='u007'")
    assert outcome["update_email:u007"][0] is Status.SKIPPED
    assert {s for k, (s, _) in outcome.items() if "u007" not in k} == {Status.SUCCESS}
    assert len([r for r in batched[1]["accounts"] if r[1].startswith("Renamed")]) == 39


# -- a branch that owns link rows only (links_only) ---------------------------------------------
class Acct(Model):
    name: str


class Enrol(Model):
    courses: set[str] = set()


LINKS_ONLY = SQLMapping(
    users=TableMap("accounts", key="username", columns={"name": "full_name"}),
    enrolments=TableMap("accounts", key="username", links_only=True, links={
        "courses": LinkMap("account_courses", owner="username", member="course")}),
)


def links_only_source(people: list[str], enrolled: dict[str, list[str]]) -> Callable[[str, type], tuple[Tree, Tree]]:
    def make(url: str, handler: type) -> tuple[Tree, Tree]:
        from dss_sql import SQLImporter

        class Enrolments(SQLImporter):
            query = "SELECT username AS idnumber, course AS courses FROM account_courses"

        class SIS(Tree):
            name = "sis"
            users = Branch(Acct, importer=[{"idnumber": u, "name": u.upper()} for u in people])
            enrolments = Branch(Enrol, importer=[{"idnumber": u, "courses": c}
                                                 for u, cs in enrolled.items() for c in cs])

        class LMS(Tree):
            name = "lms"
            users = Branch(Acct, importer=LINKS_ONLY.importer("users"))
            enrolments = Branch(Enrol, importer=Enrolments)

        LMS.handler = handler
        config = Config({"trees": {"lms": {"url": url}}}, environ={})
        source, (dest,) = Datastore("t", SIS, [LMS]).open(config)
        source.load()
        dest.load()
        return source, dest
    return make


def test_a_links_only_branch_writes_its_link_rows_and_never_the_rows(db_url, kit):
    users = [f"u{i:02}" for i in range(30)]
    first = {u: [f"c{i % 3}", f"c{i % 4 + 3}"] for i, u in enumerate(users[:20])}

    def prepare(url: str) -> None:
        kit.create_schema(url)
        src, dst = links_only_source(users, first)(url, LINKS_ONLY.handler())
        summary = src.apply(dst)
        assert summary.failed == 0 and len(summary.results) == 50  # 30 accounts, 20 enrolments

    later = {u: cs for u, cs in first.items() if u >= "u05"}  # u00-u04: no classes any more
    later.update({u: ["c9"] for u in users[20:25]})          # first classes
    later["u10"] = ["c0", "c8"]                              # one add, one remove
    later["ghost"] = ["c1"]                                   # no account: fails, writes nothing
    batched, plain, batches = both(db_url, prepare, links_only_source(users, later), KIT_QUERIES,
                                   mapping=LINKS_ONLY)
    assert batched == plain
    assert ("new_enrolments", 6) in batches and ("old_enrolments", 5) in batches
    failed = [(key, message) for key, status, message, _ in batched[0] if status is Status.FAILURE]
    assert failed == [("lms:enrolments:new_enrolments:ghost",
                       "no row in accounts with username='ghost'")]
    assert {s for k, s, _, _ in batched[0] if "ghost" not in k} == {Status.SUCCESS}
    assert len(batched[1]["accounts"]) == 30  # never inserted, retired nor deleted
    courses = batched[1]["courses"]
    assert not [c for c in courses if c[0] < "u05"] and ("u20", "c9") in courses
    assert {c for u, c in courses if u == "u10"} == {"c0", "c8"}


def test_links_only_takes_no_retire_nor_defaults() -> None:
    from dss_core import ConfigurationError

    for bad in ({"retire": {"suspended": True}}, {"defaults": {"email": "x"}}, {}):
        links = {} if not bad else {"courses": LinkMap("account_courses", owner="username",
                                                       member="course")}
        with pytest.raises(ConfigurationError, match="links_only writes link rows only"):
            TableMap("accounts", key="username", links_only=True, links=links, **bad)


# -- rows the statement itself finds (PostgreSQL: UPDATE ... FROM, DELETE ... USING, RETURNING) --
class Learner(Model):
    name: str
    courses: set[str] = set()


TWICE = SQLMapping(users=TableMap("twice_accounts", key="login", retire={"locked": 1},
                                  links={"courses": LinkMap("twice_courses", "login", "course")}))
TWICE_QUERIES = {"accounts": "select login, name, locked from twice_accounts",
                 "courses": "select login, course from twice_courses"}


def twice_schema(url: str) -> None:
    """Accounts without a unique key (a login may be there twice) and their courses."""
    md = sa.MetaData()
    accounts = sa.Table("twice_accounts", md, sa.Column("login", sa.String(64), nullable=False),
                        sa.Column("name", sa.String(100), nullable=False),
                        sa.Column("locked", sa.SmallInteger, nullable=False, server_default="0"))
    courses = sa.Table("twice_courses", md, sa.Column("login", sa.String(64), nullable=False),
                       sa.Column("course", sa.String(20), nullable=False))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(accounts.insert(), [{"login": f"a{i:03}", "name": f"Old {i}"} for i in range(40)])
        conn.execute(courses.insert(), [{"login": f"a{i:03}", "course": c}
                                        for i in range(40) for c in ("c1", "c2")])
    engine.dispose()


def test_rows_there_twice_or_gone_are_written_alone_in_a_batch(db_url):
    """Updates, link removes and retirements whose row is there twice, or gone since the plan, or
    whose link row is gone: each has the result it has alone (PostgreSQL finds them from what its
    one UPDATE / DELETE ... RETURNING wrote, the other databases by a query first)."""
    records = [{"idnumber": f"a{i:03}", "name": f"New {i}", "courses": ["c1", "c2"]}
               for i in range(20)]  # renamed
    records += [{"idnumber": f"a{i:03}", "name": f"Old {i}", "courses": ["c1"]}
                for i in range(20, 30)]  # c2 removed; a030-a039 retired

    def between(url: str) -> None:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text("insert into twice_accounts (login, name) values "
                                 "('a005', 'Again 5'), ('a035', 'Again 35')"))
            conn.execute(sa.text("delete from twice_accounts where login in ('a001', 'a031')"))
            conn.execute(sa.text("delete from twice_courses where login = 'a021' and course = 'c2'"))
        engine.dispose()

    def source(url: str, handler: type) -> tuple[Tree, Tree]:
        class SIS(Tree):
            name = "sis"
            users = Branch(Learner, importer=list(records))

        class LMS(Tree):
            name = "lms"
            users = Branch(Learner, importer=TWICE.importer("users"))

        LMS.handler = handler
        config = Config({"trees": {"lms": {"url": url}}}, environ={})
        src, (dest,) = Datastore("t", SIS, [LMS]).open(config)
        src.load()
        dest.load()
        return src, dest

    batched, plain, batches = both(db_url, twice_schema, source, TWICE_QUERIES, mapping=TWICE,
                                   between=between)
    assert batched == plain
    assert {m for m, _ in batches} == {"update_name", "remove_courses_from_users", "old_users"}
    outcome = {key.split(":")[-1]: (status, message) for key, status, message, _ in batched[0]}
    assert outcome["a001"][0] is Status.FAILURE and "no row" in outcome["a001"][1]
    assert outcome["a031"][0] is Status.FAILURE
    assert outcome["a005"][0] is Status.SUCCESS and outcome["a035"][0] is Status.SUCCESS
    rows = batched[1]["accounts"]
    assert rows.count(("a005", "New 5", 0)) == 2 and rows.count(("a035", "Again 35", 1)) == 1
