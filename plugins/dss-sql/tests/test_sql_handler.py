"""The mapping-driven handler and importer on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import copy

import pytest
from dss_sql import LinkMap, SQLMapping, TableMap

from dss_core import ConfigurationError, Status


def test_sync_creates_rows_and_links_then_converges(db_url, sync, kit):
    kit.create_schema(db_url)
    source, dest = sync(db_url, kit.SOURCE)
    assert kit.plan(source, dest) == [
        "new_users(idnumber='ann')", "new_users(idnumber='bob')",
        "new_groups(idnumber='g1')", "new_groups(idnumber='g2')"]
    summary = kit.apply(source, dest)
    assert [r.status for r in summary.results] == [Status.SUCCESS] * 4
    assert sorted(kit.rows(db_url, "select username, full_name, email from accounts")) == [
        ("ann", "Ann A", "ann@x"), ("bob", "Bob B", "bob@x")]
    assert sorted(kit.rows(db_url, "select * from account_courses")) == [
        ("ann", "art"), ("ann", "math")]
    assert sorted(kit.rows(db_url, "select * from cohort_members")) == [("g1", "ann"), ("g1", "bob")]
    source, dest = sync(db_url, kit.SOURCE)
    assert dest.users["ann"].courses == {"art", "math"}
    assert dest.groups["g1"].members == {"ann", "bob"}
    assert kit.plan(source, dest) == []


def test_update_add_remove_and_retire(db_url, sync, kit):
    kit.create_schema(db_url)
    source, dest = sync(db_url, kit.SOURCE)
    kit.apply(source, dest)
    changed = copy.deepcopy(kit.SOURCE)
    changed["users"] = [
        {"idnumber": "ann", "name": "Ann New", "email": "ann@x", "courses": ["math", "bio"]}]
    changed["groups"][0]["members"] = ["ann"]
    source, dest = sync(db_url, changed)
    assert kit.plan(source, dest) == [
        "update_name(idnumber='ann', attribute='name', value='Ann New')",
        "add_courses_to_users(idnumber='ann', attribute='courses', value='bio')",
        "remove_courses_from_users(idnumber='ann', attribute='courses', value='art')",
        "remove_members_from_groups(idnumber='g1', attribute='members', value='bob')",
        "old_users(idnumber='bob')"]
    summary = kit.apply(source, dest)
    assert summary.failed == 0, [r.message for r in summary.results]
    # bob is retired, not deleted; the importer skips him, so the sync converges
    assert sorted(kit.rows(db_url, "select username, full_name, suspended from accounts")) == [
        ("ann", "Ann New", False), ("bob", "Bob B", True)]
    source, dest = sync(db_url, changed)
    assert "bob" not in dest.users
    assert kit.plan(source, dest) == []
    # bob comes back: new_users un-retires and updates the row
    back = copy.deepcopy(changed)
    back["users"].append({"idnumber": "bob", "name": "Bob Back", "email": "b@x", "courses": "art"})
    source, dest = sync(db_url, back)
    assert kit.plan(source, dest) == ["new_users(idnumber='bob')"]
    assert kit.apply(source, dest).failed == 0
    assert kit.rows(db_url, "select full_name, email, suspended from accounts where username='bob'") \
        == [("Bob Back", "b@x", False)]
    source, dest = sync(db_url, back)
    assert dest.users["bob"].courses == {"art"}
    assert kit.plan(source, dest) == []


def test_old_deletes_rows_and_links_when_the_mapping_does_not_retire(db_url, sync, kit):
    kit.create_schema(db_url)
    mapping = kit.make_mapping(retire=False)
    source, dest = sync(db_url, kit.SOURCE, mapping)
    kit.apply(source, dest)
    source, dest = sync(db_url, {"users": kit.SOURCE["users"][:2], "groups": []}, mapping)
    assert kit.plan(source, dest) == [
        "old_groups(idnumber='g1')", "old_groups(idnumber='g2')", "old_users(idnumber='bob')"]
    assert kit.apply(source, dest).failed == 0
    assert kit.rows(db_url, "select username from accounts") == [("ann",)]
    assert kit.rows(db_url, "select * from cohorts") == []
    assert kit.rows(db_url, "select * from cohort_members") == []


def test_a_failing_action_is_rolled_back_alone(db_url, sync, kit):
    kit.create_schema(db_url)
    records = copy.deepcopy(kit.SOURCE)
    records["groups"][1]["title"] = None  # violates NOT NULL on cohorts.title
    source, dest = sync(db_url, records)
    summary = kit.apply(source, dest)
    statuses = {r.action.idnumber: r.status for r in summary.results}
    assert statuses == {"ann": Status.SUCCESS, "bob": Status.SUCCESS, "g1": Status.SUCCESS,
                        "g2": Status.FAILURE}
    failure = next(r for r in summary.results if r.failed)
    assert "\n" not in failure.message and failure.message
    assert failure.handler == "new"
    assert sorted(kit.rows(db_url, "select code from cohorts")) == [("g1",)]
    assert len(kit.rows(db_url, "select * from cohort_members")) == 2


def test_specific_methods_combine_with_the_generic_ones(db_url, sync, kit):
    mapping = kit.make_mapping()
    calls = []

    class LMSHandler(mapping.handler()):
        def new_groups(self, action):  # specific: tried before the generic `new`
            calls.append(action.method)
            self.execute("insert into cohorts (code, title) values (:c, :t)",
                         {"c": action.idnumber, "t": action.source.title.upper()})
            for member in sorted(action.source.members):
                self.add(type(action)("add", "add_members_to_groups", "groups", action.idnumber,
                                      "members", member))
            return action.succeeded("custom")

        def update_name(self, action):
            calls.append(action.method)
            return super().update(action)

    kit.create_schema(db_url)
    source, dest = sync(db_url, kit.SOURCE, mapping, LMSHandler)
    summary = kit.apply(source, dest)
    assert [r.handler for r in summary.results] == ["new", "new", "new_groups", "new_groups"]
    assert sorted(kit.rows(db_url, "select * from cohorts")) == [("g1", "GROUP 1"), ("g2", "GROUP 2")]
    changed = copy.deepcopy(kit.SOURCE)
    changed["users"][0]["name"] = changed["users"][1]["name"] = "Ann Z"
    source, dest = sync(db_url, changed, mapping, LMSHandler)
    summary = kit.apply(source, dest)
    assert [(r.action.method, r.handler) for r in summary.results] == [
        ("update_name", "update_name"), ("update_title", "update"), ("update_title", "update")]
    assert calls == ["new_groups", "new_groups", "update_name"]


def test_missing_table_or_column_is_reported_before_anything_is_written(db_url, sync, kit):
    import sqlalchemy as sa

    kit.create_schema(db_url)
    bad = SQLMapping(
        users=TableMap("accounts", key="username", columns={"name": "fullname"}),
        groups=TableMap("cohorts", key="code",
                        links={"members": LinkMap("cohort_members", "cohort", "username")}),
    )
    good = kit.make_mapping()
    # the destination importer reads through the good mapping, the handler writes through the bad
    source, dest = sync(db_url, kit.SOURCE, good, bad.handler())
    with pytest.raises(ConfigurationError, match="has no column 'fullname'"):
        kit.apply(source, dest)
    missing = SQLMapping(users=good["users"], groups=TableMap("kohorts", key="code", links={
        "members": LinkMap("cohort_members", "cohort", "username")}))
    source, dest = sync(db_url, kit.SOURCE, good, missing.handler())
    with pytest.raises(ConfigurationError, match="table 'kohorts' does not exist"):
        kit.apply(source, dest)
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from accounts")).scalar() == 0
    engine.dispose()


def test_commits_in_batches(dss_sqlite_url, sync, kit):
    kit.create_schema(dss_sqlite_url)
    commits = []
    records = {"users": [{"idnumber": f"u{i:03}", "name": f"U {i}"} for i in range(25)]}

    class Batched(kit.make_mapping().handler(batch_size=10)):
        def commit(self):
            commits.append(self._pending)
            super().commit()

    source, dest = sync(dss_sqlite_url, records, None, Batched)
    assert kit.apply(source, dest).failed == 0
    assert commits == [10, 10]
    assert len(kit.rows(dss_sqlite_url, "select * from accounts")) == 25


def test_sqlite_commits_every_5000_actions_or_each_second_unless_batch_size_is_set(
        dss_sqlite_url, sync, kit):
    kit.create_schema(dss_sqlite_url)
    records = {"users": [{"idnumber": f"u{i:03}", "name": f"U {i}"} for i in range(25)]}
    commits: list[int] = []

    class Counted(kit.make_mapping().handler(batch_actions=5)):
        def commit(self):
            commits.append(self._pending)
            super().commit()

    source, dest = sync(dss_sqlite_url, records, None, Counted)
    assert kit.apply(source, dest).failed == 0
    assert commits == []  # 25 actions: committed once, at the end

    class Timed(Counted):
        sqlite_commit_seconds = 0.0  # every batch is a second old

    import sqlalchemy as sa

    engine = sa.create_engine(dss_sqlite_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("delete from accounts"))
    engine.dispose()
    source, dest = sync(dss_sqlite_url, records, None, Timed)
    assert kit.apply(source, dest).failed == 0
    assert commits == [5, 5, 5, 5, 5]
    assert len(kit.rows(dss_sqlite_url, "select * from accounts")) == 25


def test_a_membership_without_a_link_table_is_a_configuration_error(dss_sqlite_url, sync, kit):
    kit.create_schema(dss_sqlite_url)
    mapping = SQLMapping(users=TableMap("accounts", key="username", columns={"name": "full_name"}),
                         groups=kit.make_mapping()["groups"])
    with pytest.raises(ConfigurationError, match="Person.courses is a set or list"):
        sync(dss_sqlite_url, kit.SOURCE, mapping)
