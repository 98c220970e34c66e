"""The mapping handler against a real slapd: every kind of action, and the plan left empty after."""

from __future__ import annotations

from typing import Any

import pytest
from dss_ldap.testing import LDAPTree

from dss_core import Result, Status


def by_message(summary: Any) -> dict[str, Result]:
    return {r.action.message: r for r in summary.results}


def users_of(directory: LDAPTree, under: str = "ou=people") -> dict[str, dict[str, list[str]]]:
    """``{uid: attributes}`` of the entries right under ``under``."""
    return {attrs["uid"][0]: {**attrs, "dn": [dn]}
            for dn, attrs in directory.entries(under).items()}


def groups_of(directory: LDAPTree) -> dict[str, list[str]]:
    """``{cn: sorted member uids or DNs}``."""
    out = {}
    for _dn, attrs in directory.entries("ou=groups").items():
        members = attrs.get("member", attrs.get("uniquemember", []))
        out[attrs["cn"][0]] = sorted(m.split(",")[0].split("=")[1] for m in members)
    return out


SOURCE: dict[str, list[dict[str, Any]]] = {
    "users": [
        {"idnumber": "1", "name": "Ann Archer", "surname": "Archer", "email": "ann@x",
         "phones": ["+1 555 0101", "+1 555 0102"]},
        {"idnumber": "2", "name": "Bob Baker", "surname": "Baker", "email": "bob@x"},
        {"idnumber": "3", "name": "Cy Cole", "surname": "Cole"},
    ],
    "groups": [
        {"idnumber": "math", "title": "Mathematics", "members": ["1", "2"]},
        {"idnumber": "art", "title": "Art", "members": ["3"]},
        {"idnumber": "empty", "title": "Nobody yet", "members": []},
    ],
}


def test_a_first_sync_creates_entries_and_groups_and_converges(directory: LDAPTree, kit: Any) -> None:
    summary, left = kit.sync(directory, SOURCE)
    assert summary.failed == 0, [r.message for r in summary.results if r.failed]
    assert left == []
    users = users_of(directory)
    assert set(users) == {"1", "2", "3"}
    assert users["1"]["dn"] == [f"uid=1,ou=people,{directory.base}"]
    assert users["1"]["cn"] == ["Ann Archer"] and users["1"]["mail"] == ["ann@x"]
    assert users["1"]["telephonenumber"] == ["+1 555 0101", "+1 555 0102"]
    assert "mail" not in users["3"]  # LDAP keeps no empty value: the attribute is absent
    assert set(users["1"]["objectclass"]) >= {"inetOrgPerson"}
    assert groups_of(directory) == {"math": ["1", "2"], "art": ["3"], "empty": ["empty"]}
    # the empty group holds itself (groupOfNames needs a member); it reads back empty
    assert directory.entries("ou=groups")[f"cn=empty,ou=groups,{directory.base}"]["member"] == [
        f"cn=empty,ou=groups,{directory.base}"]


def test_updates_sets_and_members_are_applied_one_value_at_a_time(directory: LDAPTree, kit: Any) -> None:
    kit.sync(directory, SOURCE)
    changed = {
        "users": [
            {"idnumber": "1", "name": "Ann Archer", "surname": "Archer-Smith", "email": "",
             "phones": ["+1 555 0102", "+1 555 0199"]},
            {"idnumber": "2", "name": "Bob Baker", "surname": "Baker", "email": "bob@y"},
            {"idnumber": "3", "name": "Cy Cole", "surname": "Cole", "email": "cy@x"},
        ],
        "groups": [
            {"idnumber": "math", "title": "Maths", "members": ["2", "3"]},
            {"idnumber": "art", "title": "Art", "members": []},
            {"idnumber": "empty", "title": "Nobody yet", "members": ["1"]},
        ],
    }
    source, dest = kit.open_trees(directory, changed)
    assert sorted(kit.plan(source, dest)) == sorted([
        "update_surname(idnumber='1', attribute='surname', value='Archer-Smith')",
        "update_email(idnumber='1', attribute='email', value='')",
        "add_phones_to_users(idnumber='1', attribute='phones', value='+1 555 0199')",
        "remove_phones_from_users(idnumber='1', attribute='phones', value='+1 555 0101')",
        "update_email(idnumber='2', attribute='email', value='bob@y')",
        "update_email(idnumber='3', attribute='email', value='cy@x')",
        "update_title(idnumber='math', attribute='title', value='Maths')",
        "add_members_to_groups(idnumber='math', attribute='members', value='3')",
        "remove_members_from_groups(idnumber='math', attribute='members', value='1')",
        "remove_members_from_groups(idnumber='art', attribute='members', value='3')",
        "add_members_to_groups(idnumber='empty', attribute='members', value='1')",
    ])
    summary = kit.apply(source, dest)
    assert summary.failed == 0, [r.message for r in summary.results if r.failed]
    users = users_of(directory)
    assert users["1"]["sn"] == ["Archer-Smith"] and "mail" not in users["1"]
    assert users["1"]["telephonenumber"] == ["+1 555 0102", "+1 555 0199"]
    assert users["3"]["mail"] == ["cy@x"]
    # art lost its last member: it holds its placeholder; empty lost its placeholder
    assert groups_of(directory) == {"math": ["2", "3"], "art": ["art"], "empty": ["1"]}
    source, dest = kit.open_trees(directory, changed)
    assert kit.plan(source, dest) == []


@pytest.mark.parametrize("retire", ["delete", "move", "mark"])
def test_old_deletes_moves_or_marks_and_new_brings_back(directory: LDAPTree, kit: Any,
                                                        retire: str) -> None:
    mapping = kit.make_mapping(retire=retire)
    kit.sync(directory, SOURCE, mapping)
    gone = {"users": SOURCE["users"][:2],
            "groups": [{"idnumber": "math", "title": "Mathematics", "members": ["1", "2"]}]}
    source, dest = kit.open_trees(directory, gone, mapping)
    assert sorted(kit.plan(source, dest)) == ["old_groups(idnumber='art')",
                                              "old_groups(idnumber='empty')",
                                              "old_users(idnumber='3')"]
    summary = kit.apply(source, dest)
    assert summary.failed == 0, [r.message for r in summary.results if r.failed]
    live = users_of(directory)
    retired = users_of(directory, "ou=retired")
    if retire == "delete":
        assert set(live) == {"1", "2"} and retired == {}
    elif retire == "move":
        assert set(live) == {"1", "2"} and set(retired) == {"3"}
        assert retired["3"]["cn"] == ["Cy Cole"]  # moved whole
    else:
        assert set(live) == {"1", "2", "3"} and live["3"]["employeetype"] == ["retired"]
    assert set(groups_of(directory)) == {"math"}
    source, dest = kit.open_trees(directory, gone, mapping)
    assert kit.plan(source, dest) == []  # the retired entry is not read back
    # Cy comes back: the entry is brought back (or made anew, once deleted), with today's values
    back = {"users": [*SOURCE["users"][:2], {"idnumber": "3", "name": "Cy Cole", "surname": "Cole-Ng"}],
            "groups": gone["groups"]}
    source, dest = kit.open_trees(directory, back, mapping)
    assert kit.plan(source, dest) == ["new_users(idnumber='3')"]
    summary = kit.apply(source, dest)
    result = by_message(summary)["new_users(idnumber='3')"]
    assert result.status is Status.SUCCESS, result.message
    if retire != "delete":
        assert result.message.startswith("brought back from uid=3,")
    live = users_of(directory)
    assert live["3"]["sn"] == ["Cole-Ng"] and "employeetype" not in live["3"]
    assert users_of(directory, "ou=retired") == {}
    source, dest = kit.open_trees(directory, back, mapping)
    assert kit.plan(source, dest) == []


def test_a_change_of_the_naming_attribute_renames_the_entry_and_its_groups_follow(
        directory: LDAPTree, kit: Any) -> None:
    mapping = kit.make_mapping(rename=True)
    kit.sync(directory, SOURCE, mapping)
    assert f"cn=Ann Archer,ou=people,{directory.base}" in directory.entries("ou=people")
    renamed = {"users": [{**SOURCE["users"][0], "name": "Ann Ng"}, *SOURCE["users"][1:]],
               "groups": SOURCE["groups"]}
    source, dest = kit.open_trees(directory, renamed, mapping)
    assert kit.plan(source, dest) == ["update_name(idnumber='1', attribute='name', value='Ann Ng')"]
    summary = kit.apply(source, dest)
    (result,) = summary.results
    assert result.status is Status.SUCCESS
    assert result.message == f"renamed to cn=Ann Ng,ou=people,{directory.base}; 1 group updated"
    entries = directory.entries("ou=people")
    assert f"cn=Ann Ng,ou=people,{directory.base}" in entries
    assert f"cn=Ann Archer,ou=people,{directory.base}" not in entries
    math = directory.entries("ou=groups")[f"cn=math,ou=groups,{directory.base}"]["member"]
    assert f"cn=Ann Ng,ou=people,{directory.base}" in math
    source, dest = kit.open_trees(directory, renamed, mapping)
    assert kit.plan(source, dest) == []


def test_group_of_unique_names(directory: LDAPTree, kit: Any) -> None:
    mapping = kit.make_mapping(unique_class="groupOfUniqueNames")
    summary, left = kit.sync(directory, SOURCE, mapping)
    assert summary.failed == 0 and left == []
    assert groups_of(directory) == {"math": ["1", "2"], "art": ["3"], "empty": ["empty"]}
