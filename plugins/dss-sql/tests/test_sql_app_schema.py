"""Real application schemas (issue 11): surrogate-key link tables, scoped tables, typed values.

A Moodle-like LMS: ``users(id, idnumber, auth, suspended SMALLINT DEFAULT 0, ...)``,
``cohorts(id, idnumber NULL, name, component, timecreated BIGINT NOT NULL)`` and
``cohort_members(id, cohortid, userid, timeadded)`` holding surrogate ids.
An admin with an empty idnumber, an LDAP account and a hand-made cohort live
beside the synced rows and must never be read or touched. Each test runs on
SQLite, PostgreSQL and MariaDB (skipped when the server is down).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa
from dss_sql import NOW, LinkMap, SQLMapping, TableMap, not_empty, starts_with
from dss_sql.handler import MappingProblems

from dss_core import Branch, Config, Datastore, Model, Tree

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")  # SQLite autoincrements INTEGER only


def create(url: str, deleted_at: bool = False) -> None:
    md = sa.MetaData()
    users = [
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("auth", sa.String(20), nullable=False, server_default="manual"),
        sa.Column("mnethostid", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("suspended", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("idnumber", sa.String(255), nullable=False, server_default=""),
        sa.Column("firstname", sa.String(100), nullable=False, server_default=""),
        sa.Column("timecreated", sa.BigInteger, nullable=False, server_default="0"),
    ]
    if deleted_at:
        users.append(sa.Column("deleted_at", sa.DateTime, nullable=True))
    sa.Table("users", md, *users)
    sa.Table("cohorts", md,
             sa.Column("id", ID, primary_key=True, autoincrement=True),
             sa.Column("contextid", sa.BigInteger, nullable=False),
             sa.Column("idnumber", sa.String(100), nullable=True),
             sa.Column("name", sa.String(254), nullable=False),
             sa.Column("component", sa.String(100), nullable=False, server_default=""),
             sa.Column("timecreated", sa.BigInteger, nullable=False))
    sa.Table("cohort_members", md,
             sa.Column("id", ID, primary_key=True, autoincrement=True),
             sa.Column("cohortid", sa.BigInteger, nullable=False, server_default="0"),
             sa.Column("userid", sa.BigInteger, nullable=False, server_default="0"),
             sa.Column("timeadded", sa.BigInteger, nullable=False, server_default="0"),
             sa.UniqueConstraint("cohortid", "userid"))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "insert into users (auth, idnumber, firstname) values ('manual', '', 'Admin'), "
            "('ldap', 'x1', 'Lars'), ('manual', 'u1', 'Ann'), ('manual', 'u2', 'Bob'), "
            "('manual', 'u3', 'Cid')"))
        conn.execute(sa.text(
            "insert into cohorts (contextid, idnumber, name, timecreated) values "
            "(1, NULL, 'Chess club', 5), (1, 'homeroom-1', 'Homeroom 1', 5), "
            "(1, 'dept-art', 'Art', 5), (1, 'band', 'Band', 5)"))
        # Chess club: the admin and Ann; homeroom-1: the admin (by hand), Ann, Bob; art: Cid
        conn.execute(sa.text(
            "insert into cohort_members (cohortid, userid, timeadded) values "
            "(1, 1, 7), (1, 3, 7), (2, 1, 7), (2, 3, 7), (2, 4, 7), (3, 5, 7)"))
    engine.dispose()


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        out = [tuple(r) for r in conn.execute(sa.text(sql))]
    engine.dispose()
    return out


class User(Model):
    firstname: str


class Cohort(Model):
    name: str
    members: set[str] = set()


USERS = TableMap("users", retire={"suspended": True},  # a bool, written as 1 in the SMALLINT
                 scope={"auth": "manual", "idnumber": not_empty()},
                 defaults={"mnethostid": 1, "timecreated": NOW})
COHORTS = TableMap("cohorts", scope={"idnumber": starts_with("homeroom-", "dept-")},
                   defaults={"contextid": 1, "timecreated": NOW},
                   links={"members": LinkMap("cohort_members", owner="cohortid", member="userid",
                                             owner_id="id", member_table="users",
                                             defaults={"timeadded": NOW})})


def trees(url: str, user_records: list[dict[str, Any]], cohort_records: list[dict[str, Any]],
          mapping: SQLMapping | None = None, load: bool = True,
          references: bool = True) -> tuple[Tree, Tree]:
    mapping = mapping or SQLMapping(users=USERS, groups=COHORTS)

    class SIS(Tree):
        name = "sis"
        users = Branch(User, importer=user_records)
        groups = Branch(Cohort, importer=cohort_records)

    class LMS(Tree):
        name = "lms"
        handler = mapping.handler()
        users = Branch(User, importer=mapping.importer("users"))
        groups = Branch(Cohort, importer=mapping.importer("groups"),
                        references={"members": "users"} if references else None)

    config = Config({"trees": {"lms": {"url": url}}}, environ={})
    source, (dest,) = Datastore("app", SIS, [LMS]).open(config)
    if load:
        source.load()
        dest.load()
    return source, dest


def plan(source: Tree, dest: Tree) -> list[str]:
    return [a.message for a in source - dest]


def apply(source: Tree, dest: Tree) -> Any:
    from dss_core import Run
    from dss_core.runner import execute

    run = Run.create("apply", source.plugins, source.config)
    run.options["quiet"] = True
    return execute(run, source, [dest], load=False)


def results(summary: Any) -> dict[str, tuple[str, str]]:
    return {r.action.message: (r.status.name, r.message or "") for r in summary.results}


SOURCE_USERS = [{"idnumber": "u1", "firstname": "Ann"}, {"idnumber": "u2", "firstname": "Bob"},
                {"idnumber": "u3", "firstname": "Cid"}]


# -- point 1: link tables holding surrogate keys ------------------------------------------------

def test_surrogate_links_are_read_by_idnumber_in_one_join(db_url):
    create(db_url)
    _, dest = trees(db_url, SOURCE_USERS, [])
    assert {k: sorted(v.members) for k, v in dest.groups.items()} == {
        "homeroom-1": ["u1", "u2"], "dept-art": ["u3"]}  # the admin's link row is not read
    assert sorted(dest.users.keys()) == ["u1", "u2", "u3"]  # not the admin, not the LDAP account


def test_surrogate_links_are_written_by_id_and_the_sync_converges(db_url):
    create(db_url)
    cohorts = [{"idnumber": "homeroom-1", "name": "Homeroom 1", "members": ["u1", "u3", "u4"]},
               {"idnumber": "homeroom-2", "name": "Homeroom 2", "members": ["u2", "u4"]}]
    users = [*SOURCE_USERS, {"idnumber": "u4", "firstname": "Dee"}]
    source, dest = trees(db_url, users, cohorts)
    before = time.time()
    summary = apply(source, dest)
    assert summary.failed == 0, results(summary)
    user_ids = dict(rows(db_url, "select idnumber, id from users"))
    cohort_ids = dict(rows(db_url, "select idnumber, id from cohorts where idnumber is not null"))
    links = {(c, u) for c, u in rows(db_url, "select cohortid, userid from cohort_members")}
    assert {(cohort_ids["homeroom-1"], user_ids[u]) for u in ("u1", "u3", "u4")} <= links
    assert (cohort_ids["homeroom-1"], user_ids["u2"]) not in links
    assert {(cohort_ids["homeroom-2"], user_ids[u]) for u in ("u2", "u4")} <= links
    assert (1, 1) in links and (2, 1) in links  # the admin's memberships stay, chess club too
    assert "dept-art" not in cohort_ids or not rows(
        db_url, "select 1 from cohorts where idnumber = 'dept-art'")  # old_groups deleted it
    assert not {cid for cid, _ in links} - set(cohort_ids.values()) - {1}  # no orphan link rows
    added = rows(db_url, "select timeadded from cohort_members where cohortid = "
                 f"{cohort_ids['homeroom-2']}")
    assert all(before - 5 <= t <= time.time() + 5 for (t,) in added)  # defaults: NOW, Unix seconds
    source, dest = trees(db_url, users, cohorts)
    assert plan(source, dest) == []


def test_a_member_without_a_row_is_a_failure_naming_it_and_comes_back(db_url):
    create(db_url)
    cohorts = [{"idnumber": "homeroom-1", "name": "Homeroom 1", "members": ["u1", "u2", "ghost"]},
               {"idnumber": "dept-new", "name": "New", "members": ["u1", "ghost"]},
               {"idnumber": "dept-art", "name": "Art", "members": ["u3"]}]
    before = rows(db_url, "select cohortid, userid from cohort_members order by 1, 2")
    # no `references`: the core does not skip them (with it, it would: 'ghost' is no user)
    source, dest = trees(db_url, SOURCE_USERS, cohorts, references=False)
    summary = apply(source, dest)
    found = results(summary)
    status, message = found["add_members_to_groups(idnumber='homeroom-1', attribute='members', "
                            "value='ghost')"]
    assert status == "FAILURE" and "no row in users with idnumber 'ghost' in its scope" in message
    status, message = found["new_groups(idnumber='dept-new')"]
    assert status == "FAILURE" and "'ghost'" in message
    assert rows(db_url, "select cohortid, userid from cohort_members order by 1, 2") == before
    assert not rows(db_url, "select 1 from cohorts where idnumber = 'dept-new'")  # rolled back
    source, dest = trees(db_url, SOURCE_USERS, cohorts, references=False)
    assert plan(source, dest) == [
        "new_groups(idnumber='dept-new')",
        "add_members_to_groups(idnumber='homeroom-1', attribute='members', value='ghost')"]


def test_a_member_outside_the_member_scope_is_not_written(db_url):
    create(db_url)  # x1 is an LDAP account: outside the users' scope
    cohorts = [{"idnumber": "dept-art", "name": "Art", "members": ["u3", "x1"]}]
    source, dest = trees(db_url, SOURCE_USERS, cohorts, references=False)
    found = results(apply(source, dest))
    status, message = found["add_members_to_groups(idnumber='dept-art', attribute='members', "
                            "value='x1')"]
    assert status == "FAILURE" and "'x1' in its scope" in message
    assert rows(db_url, "select count(*) from cohort_members where userid = 2") == [(0,)]


def test_an_idnumber_link_map_keeps_working_beside(db_url, sync, kit):
    kit.create_schema(db_url)
    source, dest = sync(db_url, kit.SOURCE)
    assert apply(source, dest).failed == 0
    assert sorted(kit.rows(db_url, "select cohort, username from cohort_members")) == [
        ("g1", "ann"), ("g1", "bob")]


# -- point 2: scope --------------------------------------------------------------------------

def test_rows_outside_the_scope_are_never_read_nor_touched(db_url):
    create(db_url)
    before = rows(db_url, "select * from users where idnumber in ('', 'x1') order by id")
    chess = rows(db_url, "select * from cohorts where idnumber is null or idnumber = 'band'")
    source, dest = trees(db_url, SOURCE_USERS[:2], [])  # u3 leaves, every cohort goes
    assert sorted(plan(source, dest)) == [  # not the admin, LDAP's x1, chess club nor band
        "old_groups(idnumber='dept-art')", "old_groups(idnumber='homeroom-1')",
        "old_users(idnumber='u3')"]
    summary = apply(source, dest)
    assert summary.failed == 0, results(summary)
    assert rows(db_url, "select * from users where idnumber in ('', 'x1') order by id") == before
    assert rows(db_url, "select * from cohorts where idnumber is null or idnumber = 'band'") == chess
    assert sorted(rows(db_url, "select cohortid, userid from cohort_members")) == [(1, 1), (1, 3)]
    assert rows(db_url, "select suspended from users where idnumber = 'u3'") == [(1,)]


def test_a_source_key_outside_the_scope_is_an_error_not_an_insert(db_url):
    create(db_url)
    users = [*SOURCE_USERS, {"idnumber": "x1", "firstname": "Lars"}]  # exists, but LDAP's
    cohorts = [{"idnumber": "chess", "name": "Chess", "members": []},  # outside starts_with
               {"idnumber": "homeroom-1", "name": "Homeroom 1", "members": ["u1", "u2"]},
               {"idnumber": "dept-art", "name": "Art", "members": ["u3"]}]
    before = rows(db_url, "select * from users order by id")
    source, dest = trees(db_url, users, cohorts)
    found = results(apply(source, dest))
    status, message = found["new_users(idnumber='x1')"]
    assert status == "FAILURE"
    assert message.startswith("the row with idnumber='x1' in users is outside the scope of "
                              "branch 'users' (auth is 'manual' and idnumber is not empty)")
    status, message = found["new_groups(idnumber='chess')"]
    assert status == "FAILURE" and message.startswith(
        "a new row with idnumber='chess' in cohorts is outside the scope of branch 'groups' "
        "(idnumber starts with 'homeroom-' or 'dept-')")
    assert rows(db_url, "select * from users order by id") == before
    assert not rows(db_url, "select 1 from cohorts where idnumber = 'chess'")


def test_a_row_that_left_the_scope_since_the_plan_is_not_updated_nor_retired(db_url):
    create(db_url)
    source, dest = trees(db_url, [{"idnumber": "u1", "firstname": "Annie"}], [
        {"idnumber": "homeroom-1", "name": "Homeroom 1", "members": ["u1", "u2"]},
        {"idnumber": "dept-art", "name": "Art", "members": ["u3"]}])
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:  # an admin moves u1 and u2 to LDAP between plan and apply
        conn.execute(sa.text("update users set auth = 'ldap' where idnumber in ('u1', 'u2')"))
    engine.dispose()
    moved = "select * from users where idnumber in ('u1', 'u2') order by id"
    before = rows(db_url, moved)
    found = results(apply(source, dest))
    assert found["update_firstname(idnumber='u1', attribute='firstname', value='Annie')"][0] == \
        "FAILURE"
    assert "outside the scope" in found["old_users(idnumber='u2')"][1]
    assert found["old_users(idnumber='u3')"] == ("SUCCESS", "retired")
    assert rows(db_url, moved) == before


def test_raw_sql_and_sqlalchemy_scopes_read_the_same_rows(db_url):
    create(db_url)
    for scope in ("cohorts.idnumber like 'dept-%' or cohorts.idnumber like 'homeroom-%'",
                  lambda t: sa.or_(t.c.idnumber.like("dept-%"), t.c.idnumber.like("homeroom-%"))):
        mapping = SQLMapping(users=USERS, groups=TableMap(
            "cohorts", scope=scope, defaults={"contextid": 1, "timecreated": NOW},
            links=COHORTS.links))
        _, dest = trees(db_url, SOURCE_USERS, [], mapping)
        assert sorted(dest.groups.keys()) == ["dept-art", "homeroom-1"]


# -- point 3: typed values, defaults, and what check says ----------------------------------------

def test_defaults_and_typed_retire_values_are_written(db_url):
    create(db_url)
    users = [*SOURCE_USERS, {"idnumber": "u5", "firstname": "Eve"}]
    source, dest = trees(db_url, users, [])
    before = time.time()
    assert apply(source, dest).failed == 0
    ((auth, host, suspended, created),) = rows(
        db_url, "select auth, mnethostid, suspended, timecreated from users where idnumber='u5'")
    assert (auth, host, suspended) == ("manual", 1, 0)  # auth: the column's own default
    assert before - 5 <= created <= time.time() + 5
    source, dest = trees(db_url, SOURCE_USERS, [])  # u5 leaves: suspended = 1 (True adapted)
    assert apply(source, dest).failed == 0
    assert rows(db_url, "select suspended from users where idnumber = 'u5'") == [(1,)]
    source, dest = trees(db_url, users, [])  # and comes back: suspended = 0, its default
    assert plan(source, dest) == ["new_users(idnumber='u5')"]
    assert apply(source, dest).failed == 0
    assert rows(db_url, "select suspended from users where idnumber = 'u5'") == [(0,)]


def test_a_timestamp_retire_column_written_now(db_url):
    create(db_url, deleted_at=True)
    mapping = SQLMapping(users=TableMap("users", retire={"deleted_at": NOW},
                                        scope={"auth": "manual", "idnumber": not_empty()}),
                         groups=COHORTS)
    source, dest = trees(db_url, SOURCE_USERS[:2], [], mapping)
    assert "old_users(idnumber='u3')" in plan(source, dest)
    assert apply(source, dest).failed == 0
    ((deleted,),) = rows(db_url, "select deleted_at from users where idnumber = 'u3'")
    assert deleted is not None
    source, dest = trees(db_url, SOURCE_USERS, [], mapping)
    assert "u3" not in dest.users  # a retired row is not read back
    assert apply(source, dest).failed == 0
    assert rows(db_url, "select deleted_at from users where idnumber = 'u3'") == [(None,)]


def test_check_names_values_that_do_not_fit_even_adapted(db_url):
    create(db_url, deleted_at=True)
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("create table flags (idnumber varchar(20) primary key, "
                             "state smallint not null, blocked boolean)"))
    engine.dispose()
    mapping = SQLMapping(
        users=TableMap("users", retire={"suspended": "yes"}, scope={"mnethostid": "one"},
                       defaults={"timecreated": "soon", "auth": None}),
        groups=TableMap("cohorts", scope="idnumber lik 'x%'", links=COHORTS.links,
                        defaults={"timecreated": NOW}))
    _, dest = trees(db_url, [], [], mapping, load=False)
    with pytest.raises(MappingProblems) as info:
        dest.handler(dest, None).verify()
    found = "\n".join(info.value.problems)
    assert "retire value 'yes' (str) does not fit column users.suspended" in found
    assert "default value 'soon' (str) does not fit column users.timecreated" in found
    assert "default value None for NOT NULL column users.auth" in found
    assert "scope value 'one' (str) does not fit column users.mnethostid" in found
    assert "the scope of cohorts (idnumber lik 'x%') does not run: " in found
    assert "column 'contextid' is NOT NULL without a default" in found
    assert "defaults={'contextid': ...}" in found

    flags = SQLMapping(users=TableMap("flags", retire={"state": 3, "blocked": NOW},
                                        ignore=("firstname",)),
                       groups=COHORTS)
    _, dest = trees(db_url, [], [], flags, load=False)
    with pytest.raises(MappingProblems) as info:
        dest.handler(dest, None).verify()
    found = "\n".join(info.value.problems)
    assert "no active value for NOT NULL column flags.state" in found
    assert "retire value NOW does not fit column flags.blocked" in found


def test_scope_conditions_match_like_python_on_any_text(dss_sqlite_url):
    # starts_with escapes LIKE's % and _; not_empty and one_of treat NULL as SQL does
    from dss_sql import none_of, one_of
    from dss_sql.tables import scope_clause
    from hypothesis import given, settings
    from hypothesis import strategies as st

    text = st.text(alphabet="ab%_\\-", max_size=4)
    engine = sa.create_engine(dss_sqlite_url)
    table = sa.Table("t", sa.MetaData(), sa.Column("v", sa.String(10)))
    table.create(engine)

    @settings(max_examples=150, deadline=None)
    @given(values=st.lists(st.none() | text, max_size=6), prefix=text.filter(bool),
           picked=st.lists(text, min_size=1, max_size=2))
    def check(values: list[str | None], prefix: str, picked: list[str]) -> None:
        with engine.begin() as conn:
            conn.execute(table.delete())
            if values:
                conn.execute(table.insert(), [{"v": v} for v in values])

            def read(condition: Any) -> list[str | None]:
                clause = scope_clause({"v": condition}, table)
                return sorted((r[0] for r in conn.execute(sa.select(table.c.v).where(clause))),
                              key=repr)

            assert read(starts_with(prefix)) == sorted(
                (v for v in values if v is not None and v.startswith(prefix)), key=repr)
            assert read(not_empty()) == sorted((v for v in values if v), key=repr)
            assert read(one_of(*picked)) == sorted((v for v in values if v in picked), key=repr)
            assert read(none_of(*picked)) == sorted((v for v in values if v not in picked),
                                                    key=repr)

    check()
    engine.dispose()
