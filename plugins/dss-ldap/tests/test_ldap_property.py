"""A rule over any data, against the real server: one run makes the directory match the source.

Whatever two nights look like (people come, go and come back, rename themselves with DN special
characters in their names, change e-mail and phones; groups gain and lose members, empty out and
fill up), applying the first then the second leaves nothing to do, and the entries hold exactly
the second night's values. Users are named by ``cn`` (renames are modrdn), retired by moving them
under ``ou=retired``.
"""

from __future__ import annotations

import uuid
from typing import Any

from dss_ldap.testing import LDAPTree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

IDS = [str(i) for i in range(1, 9)]
GROUPS = ["g1", "g2", "g3"]
text = st.text(alphabet=st.sampled_from("abcXYZ éø,+=#;<>\"\\"), min_size=1, max_size=8).map(
    str.strip).filter(bool)
person = st.fixed_dictionaries({
    "name": text, "surname": text,
    "email": st.sampled_from(["", "a@x", "b@y"]),
    "phones": st.sets(st.sampled_from(["1", "2", "3"]), max_size=3)})
night = st.fixed_dictionaries({
    "users": st.dictionaries(st.sampled_from(IDS), person, max_size=len(IDS)),
    "groups": st.dictionaries(st.sampled_from(GROUPS), st.sets(st.sampled_from(IDS)),
                              max_size=len(GROUPS))})


def records(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    users = [{"idnumber": i, **{**p, "name": f"{p['name']} {i}", "phones": sorted(p["phones"])}}
             for i, p in sorted(data["users"].items())]
    groups = [{"idnumber": g, "title": g, "members": sorted(m & set(data["users"]))}
              for g, m in sorted(data["groups"].items())]
    return {"users": users, "groups": groups}


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(first=night, second=night)
def test_two_nights_converge_to_the_second(dss_ldap: LDAPTree, kit: Any, first: dict[str, Any],
                                           second: dict[str, Any]) -> None:
    name = f"p{uuid.uuid4().hex[:8]}"
    dss_ldap.add(f"ou={name}", ["organizationalUnit"], {"ou": name})
    root = dss_ldap.dn(f"ou={name}")
    for ou in ("people", "groups", "retired"):
        dss_ldap.add(f"ou={ou},{root}", ["organizationalUnit"], {"ou": ou})
    from dss_ldap.testing import LDAPTree as Tree

    ldap = Tree(dss_ldap.server, root, {**dss_ldap.settings, "base": root})
    mapping = kit.make_mapping(rename=True)
    for data in (first, second):
        source, dest = kit.open_trees(ldap, records(data), mapping)
        summary = kit.apply(source, dest, allow=100)
        assert summary.failed == 0, [r.message for r in summary.results if r.failed]
    source, dest = kit.open_trees(ldap, records(second), mapping)
    assert kit.plan(source, dest) == []
    want = records(second)
    people = {a["uid"][0]: a for a in ldap.entries("ou=people").values()}
    assert sorted(people) == [u["idnumber"] for u in want["users"]]
    for user in want["users"]:
        entry = people[user["idnumber"]]
        assert entry["cn"] == [user["name"]] and entry["sn"] == [user["surname"]]
        assert entry.get("mail", [""]) == [user["email"]]
        assert entry.get("telephonenumber", []) == user["phones"]
    dn_of = {a["uid"][0]: dn for dn, a in ldap.entries("ou=people").items()}
    groups = {a["cn"][0]: set(a["member"]) for dn, a in ldap.entries("ou=groups").items()}
    assert groups == {g["idnumber"]: {dn_of[m] for m in g["members"]} or
                      {f"cn={g['idnumber']},ou=groups,{root}"} for g in want["groups"]}
