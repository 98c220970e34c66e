"""Runs that fail well, on SQLite, PostgreSQL and MariaDB (issue 10, points 1 and 2).

A failing parent skips its dependents (no orphan link rows), and an object is
changed whole: when one of its updates fails, the others are rolled back.
"""

from __future__ import annotations

from typing import Any

import pytest
from dss_sql import SQLHandler

from dss_core import Action, Branch, Config, Datastore, Result, Status, Tree
from dss_core.runner import Run, execute


def trees(kit: Any, records: dict[str, list[dict[str, Any]]], handler: type[SQLHandler]
          ) -> tuple[type[Tree], type[Tree]]:
    mapping = kit.make_mapping()

    class SIS(Tree):
        name = "sis"
        users = Branch(kit.Person, importer=records["users"])
        groups = Branch(kit.Group, importer=records["groups"], references={"members": "users"})

    class LMS(Tree):
        name = "lms"
        users = Branch(kit.Person, importer=mapping.importer("users"))
        groups = Branch(kit.Group, importer=mapping.importer("groups"),
                        references={"members": "users"})

    LMS.handler = type("H", (handler,), {"mapping": mapping})
    return SIS, LMS


def run(url: str, kit: Any, records: dict[str, list[dict[str, Any]]],
        handler: type[SQLHandler] = SQLHandler) -> Any:
    SIS, LMS = trees(kit, records, handler)
    config = Config({"trees": {"lms": {"url": url}}}, environ={})
    source, (dest,) = Datastore("t", SIS, [LMS]).open(config)
    source.load()
    dest.load()
    r = Run.create("apply", source.plugins, config)
    r.options["quiet"] = True
    return execute(r, source, [dest], load=False)


def by_message(summary: Any) -> dict[str, Result]:
    return {r.action.message: r for r in summary.results}


class RefusesBob(SQLHandler):
    def new_users(self, action: Action) -> Result | None:
        if action.idnumber == "bob":
            return action.failed("the LMS refuses bob")
        return self.new(action)


USERS = [{"idnumber": "ann", "name": "Ann A", "email": "ann@x"},
         {"idnumber": "bob", "name": "Bob B", "email": "bob@x"}]


def test_a_failed_parent_skips_its_dependents_and_leaves_no_orphan(db_url: str, kit: Any) -> None:
    kit.create_schema(db_url)
    summary = run(db_url, kit, {"users": USERS, "groups": [
        {"idnumber": "g1", "title": "One", "members": ["ann", "bob"]},
        {"idnumber": "g2", "title": "Two", "members": ["ann"]}]}, RefusesBob)
    results = by_message(summary)
    assert results["new_users(idnumber='bob')"].status is Status.FAILURE
    skipped = results["new_groups(idnumber='g1')"]
    assert (skipped.status, skipped.message) == (
        Status.SKIPPED, "skipped: members names 'bob': new_users('bob') failed")
    assert results["new_groups(idnumber='g2')"].status is Status.SUCCESS
    assert summary.failed == 1 and summary.count(status="skipped") == 1
    members = kit.rows(db_url, "select cohort, username from cohort_members")
    assert members == [("g2", "ann")]  # nothing names bob, who is not there
    # the next night bob is accepted: g1 comes with him, and the sync converges
    summary = run(db_url, kit, {"users": USERS, "groups": [
        {"idnumber": "g1", "title": "One", "members": ["ann", "bob"]},
        {"idnumber": "g2", "title": "Two", "members": ["ann", "bob"]}]})
    assert summary.failed == 0 and summary.count(status="skipped") == 0
    assert sorted(kit.rows(db_url, "select cohort, username from cohort_members")) == [
        ("g1", "ann"), ("g1", "bob"), ("g2", "ann"), ("g2", "bob")]


def test_a_membership_of_a_failed_account_is_skipped(db_url: str, kit: Any) -> None:
    kit.create_schema(db_url)
    run(db_url, kit, {"users": USERS[:1], "groups": [
        {"idnumber": "g1", "title": "One", "members": ["ann"]}]})
    summary = run(db_url, kit, {"users": USERS, "groups": [
        {"idnumber": "g1", "title": "One", "members": ["ann", "bob"]}]}, RefusesBob)
    add = by_message(summary)[
        "add_members_to_groups(idnumber='g1', attribute='members', value='bob')"]
    assert (add.status, add.message) == (Status.SKIPPED, "skipped: new_users('bob') failed")
    assert kit.rows(db_url, "select cohort, username from cohort_members") == [("g1", "ann")]


def test_a_member_nobody_has_is_skipped(db_url: str, kit: Any) -> None:
    kit.create_schema(db_url)
    summary = run(db_url, kit, {"users": USERS[:1], "groups": [
        {"idnumber": "g1", "title": "One", "members": ["ann"]},
        {"idnumber": "g2", "title": "Two", "members": ["zed"]}]})
    g2 = by_message(summary)["new_groups(idnumber='g2')"]
    assert g2.message == "skipped: members names 'zed': users 'zed' is in neither sis.users nor lms.users"


class RefusesAnnsEmail(SQLHandler):
    def update_email(self, action: Action) -> Result | None:
        if action.idnumber == "ann":
            raise RuntimeError("the LMS refuses this address")
        return self.update(action)


def test_an_object_is_changed_whole(db_url: str, kit: Any) -> None:
    kit.create_schema(db_url)
    run(db_url, kit, {"users": USERS, "groups": []})
    changed = [{"idnumber": "ann", "name": "Ann New", "email": "new@x"},
               {"idnumber": "bob", "name": "Bob New", "email": "bobby@x"}]
    summary = run(db_url, kit, {"users": changed, "groups": []}, RefusesAnnsEmail)
    results = by_message(summary)
    name = results["update_name(idnumber='ann', attribute='name', value='Ann New')"]
    email = results["update_email(idnumber='ann', attribute='email', value='new@x')"]
    assert email.status is Status.EXCEPTION
    assert name.status is Status.SKIPPED
    assert name.message.startswith("rolled back: update_email of this object failed")
    assert sorted(kit.rows(db_url, "select username, full_name, email from accounts")) == [
        ("ann", "Ann A", "ann@x"),  # neither the name nor the address changed
        ("bob", "Bob New", "bobby@x")]  # the other object went through


@pytest.mark.postgres
def test_a_value_the_database_refuses_leaves_the_object_unchanged(dss_postgres_url: str,
                                                                  kit: Any) -> None:
    kit.create_schema(dss_postgres_url)
    run(dss_postgres_url, kit, {"users": USERS, "groups": []})
    too_long = "x" * 250 + "@x"  # email is VARCHAR(200): PostgreSQL refuses it
    summary = run(dss_postgres_url, kit, {"users": [
        {"idnumber": "ann", "name": "Ann New", "email": too_long}, USERS[1]], "groups": []})
    failed = [r for r in summary.results if r.failed]
    assert [r.action.attribute for r in failed] == ["email"]
    assert "too long" in failed[0].message
    assert kit.rows(dss_postgres_url, "select full_name, email from accounts where username='ann'") \
        == [("Ann A", "ann@x")]


def test_sqlite_connections_enforce_foreign_keys(dss_sqlite_url: str) -> None:
    import sqlalchemy as sa
    from dss_sql import get_engine

    with get_engine(dss_sqlite_url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        conn.exec_driver_sql("CREATE TABLE parent (id TEXT PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE child (pid TEXT REFERENCES parent(id))")
        with pytest.raises(sa.exc.IntegrityError):
            conn.exec_driver_sql("INSERT INTO child VALUES ('nobody')")
