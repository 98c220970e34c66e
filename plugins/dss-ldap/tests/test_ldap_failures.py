"""What the server refuses is one failed action with its words and the DN; the others go on.

And a member whose user entry failed to be created is not added (``references=``), the
group it would have joined either skipped whole (a new group) or left without it.
"""

from __future__ import annotations

from typing import Any

from dss_ldap.testing import UNIQUE_ATTRIBUTE, LDAPTree

from dss_core import Model, Result, Status


def by_message(summary: Any) -> dict[str, Result]:
    return {r.action.message: r for r in summary.results}


USERS = [{"idnumber": "1", "name": "Ann Archer", "surname": "Archer"},
         {"idnumber": "2", "name": "Bob Baker", "surname": "Baker"}]


def test_each_refusal_of_the_server_is_one_failed_action(directory: LDAPTree, kit: Any) -> None:
    kit.sync(directory, {"users": USERS, "groups": []})
    # an entry of the DN a new user needs, but not of the class the importer reads
    directory.add("uid=3,ou=people", ["account"], {"uid": "3"})
    source, dest = kit.open_trees(directory, {"users": [
        USERS[0], {**USERS[1], "surname": "Baker-Lee"},
        {"idnumber": "3", "name": "Cy Cole", "surname": "Cole"},  # entryAlreadyExists
        {"idnumber": "4", "name": "Di Dunn", "surname": ""},  # sn is required: objectClassViolation
        {"idnumber": "5", "name": "Ed Eve", "surname": "Eve"},  # fine
    ], "groups": []})
    directory.server.connection().delete(f"uid=2,ou=people,{directory.base}")  # gone behind dss's back
    summary = kit.apply(source, dest)
    results = by_message(summary)
    base = directory.base
    assert results["new_users(idnumber='3')"].message == (
        f"entryAlreadyExists (uid=3,ou=people,{base})")
    assert results["new_users(idnumber='4')"].message == (
        f"objectClassViolation: object class 'inetOrgPerson' requires attribute 'sn' "
        f"(uid=4,ou=people,{base})")
    update = results["update_surname(idnumber='2', attribute='surname', value='Baker-Lee')"]
    assert update.message == f"noSuchObject (uid=2,ou=people,{base})"
    assert results["new_users(idnumber='5')"].status is Status.SUCCESS
    assert summary.failed == 3
    assert {r.status for m, r in results.items() if "idnumber='5'" not in m} == {Status.FAILURE}


class Numbered(Model):
    name: str
    surname: str
    number: str = ""


def test_a_constraint_violation_is_one_failed_action(directory: LDAPTree, kit: Any) -> None:
    """The server keeps employeeNumber unique (the unique overlay): a second one is refused."""
    from dss_ldap import EntryMap, LDAPMapping

    from dss_core import Branch, Config, Datastore, Tree

    mapping = LDAPMapping(users=EntryMap("ou=people", attributes={
        "name": "cn", "surname": "sn", "number": UNIQUE_ATTRIBUTE}))

    class Src(Tree):
        name = "sis"
        users = Branch(Numbered, importer=[
            {"idnumber": "1", "name": "A", "surname": "A", "number": "E1"},
            {"idnumber": "2", "name": "B", "surname": "B", "number": "E1"}])

    class Dir(Tree):
        name = "dir"
        handler = mapping.handler()
        users = Branch(Numbered, importer=mapping.importer("users"))

    source, (dest,) = Datastore("t", Src, [Dir]).open(
        Config({"trees": {"dir": directory.settings}}, environ={}))
    source.load()
    dest.load()
    results = by_message(kit.apply(source, dest))
    assert results["new_users(idnumber='1')"].status is Status.SUCCESS
    assert results["new_users(idnumber='2')"].message == (
        f"constraintViolation: non-unique attributes found with (|(employeeNumber=E1)) "
        f"(uid=2,ou=people,{directory.base})")


def test_a_member_whose_entry_was_not_created_is_not_added(directory: LDAPTree, kit: Any) -> None:
    kit.sync(directory, {"users": USERS, "groups": [
        {"idnumber": "math", "members": ["1"]}]})
    records = {"users": [*USERS, {"idnumber": "3", "name": "Cy Cole", "surname": ""}],  # fails
               "groups": [{"idnumber": "math", "members": ["1", "2", "3"]},
                          {"idnumber": "art", "members": ["2", "3"]},
                          {"idnumber": "music", "members": ["2"]}]}
    source, dest = kit.open_trees(directory, records)
    summary = kit.apply(source, dest)
    results = by_message(summary)
    assert results["new_users(idnumber='3')"].status is Status.FAILURE
    add = results["add_members_to_groups(idnumber='math', attribute='members', value='3')"]
    assert (add.status, add.message) == (Status.SKIPPED,
                                         "skipped: new_users('3') failed")
    art = results["new_groups(idnumber='art')"]
    assert (art.status, art.message) == (Status.SKIPPED,
                                         "skipped: members names '3': new_users('3') failed")
    assert results["add_members_to_groups(idnumber='math', attribute='members', value='2')"].status is Status.SUCCESS
    assert results["new_groups(idnumber='music')"].status is Status.SUCCESS
    groups = {attrs["cn"][0]: attrs["member"] for attrs in directory.entries("ou=groups").values()}
    base = directory.base
    assert groups == {"math": [f"uid=1,ou=people,{base}", f"uid=2,ou=people,{base}"],
                      "music": [f"uid=2,ou=people,{base}"]}  # nothing names 3, who is not there
    # the next night 3 is accepted: art comes with them, and the sync converges
    records["users"][2]["surname"] = "Cole"
    summary, left = kit.sync(directory, records)
    assert summary.failed == 0 and left == []


def test_a_lost_connection_fails_one_action_and_skips_the_rest(tmp_path: Any, kit: Any) -> None:
    """The server goes away mid-run: one failure naming it, the other actions not attempted."""
    from dss_ldap.testing import LDAPTree, slapd_binary, start_slapd

    if slapd_binary() is None:
        import pytest

        pytest.skip("slapd is not installed")
    server = start_slapd(tmp_path / "slapd")
    try:
        base = f"ou=lost,{server.suffix}"
        ldap = LDAPTree(server, base, {"url": server.url, "bind_dn": server.root_dn,
                                       "bind_password": server.root_password, "base": base})
        ldap.add(base, ["organizationalUnit"], {"ou": "lost"})
        ldap.ou("people", "groups", "retired")
        source, dest = kit.open_trees(ldap, {"users": kit.people(5), "groups": []})
        handler = dest.handler

        class Stops(handler):  # type: ignore[misc,valid-type]
            def new_users(self, action: Any) -> Any:
                if action.idnumber == "3":
                    server.stop()
                return self.new(action)

        dest.handler = Stops  # type: ignore[misc]
        summary = kit.apply(source, dest)
        statuses = {r.action.idnumber: (r.status, r.message) for r in summary.results}
        assert statuses["1"][0] is Status.SUCCESS and statuses["2"][0] is Status.SUCCESS
        assert statuses["3"][0] is Status.FAILURE
        assert statuses["3"][1].startswith(f"the connection to {server.url} was lost (")
        for idnumber in ("4", "5"):
            assert statuses[idnumber] == (
                Status.SKIPPED, f"not attempted: {statuses['3'][1]}")
    finally:
        server.stop()
