"""The mapping-driven SCIM handler and importer against a real scim2-server on loopback."""

from __future__ import annotations

import copy

from dss_core import Status


def results(summary):
    return [(r.action.message, r.status.value, r.message) for r in summary.results]


def test_first_sync_creates_users_and_groups_then_converges(sync, kit, dss_scim_server):
    source, dest = sync(kit.SOURCE)
    assert kit.plan(source, dest) == [
        "new_users(idnumber='1001')", "new_users(idnumber='1002')", "new_users(idnumber='1003')",
        "new_groups(idnumber='10A')", "new_groups(idnumber='art')"]
    summary = kit.apply(source, dest)
    assert [r.status for r in summary.results] == [Status.SUCCESS] * 5, results(summary)
    users = kit.by_external_id(dss_scim_server, "/Users")
    ann = users["1001"]
    assert ann["userName"] == "ann" and ann["displayName"] == "Ann Archer"
    assert ann["name"]["givenName"] == "Ann"
    assert ann["emails"] == [{"value": "ann@school.example", "primary": True}]
    assert [p["value"] for p in ann["phoneNumbers"]] == ["+1 555 0101"]
    assert "emails" not in users["1003"]  # an empty value is not written
    groups = kit.by_external_id(dss_scim_server, "/Groups")
    # members are the SCIM ids the service gave the users, not their idnumbers
    assert {m["value"] for m in groups["10A"]["members"]} == {users["1001"]["id"], users["1002"]["id"]}
    # read back: ids -> idnumbers, multi-valued as sets, the location kept as provenance
    source, dest = sync(kit.SOURCE)
    assert dest.groups["10A"].members == {"1001", "1002"}
    assert dest.users["1003"].phones == {"+1 555 0103", "+1 555 0104"}
    assert str(dest.users["1001"].dss_origin) == ann["meta"]["location"]
    assert kit.plan(source, dest) == []


def test_update_add_remove_and_delete(sync, kit, dss_scim_server):
    source, dest = sync(kit.SOURCE)
    kit.apply(source, dest)
    changed = copy.deepcopy(kit.SOURCE)
    changed["users"][0].update(name="Ann Archer-Lee", given="Annie", email="annie@school.example",
                               phones=["+1 555 0199"])
    changed["users"][2]["email"] = "cy@school.example"  # from no email to one
    del changed["users"][1]  # bob leaves
    changed["groups"][0]["members"] = ["1001", "1003"]
    source, dest = sync(changed)
    assert kit.plan(source, dest) == [
        "update_name(idnumber='1001', attribute='name', value='Ann Archer-Lee')",
        "update_given(idnumber='1001', attribute='given', value='Annie')",
        "update_email(idnumber='1001', attribute='email', value='annie@school.example')",
        "add_phones_to_users(idnumber='1001', attribute='phones', value='+1 555 0199')",
        "remove_phones_from_users(idnumber='1001', attribute='phones', value='+1 555 0101')",
        "update_email(idnumber='1003', attribute='email', value='cy@school.example')",
        "add_members_to_groups(idnumber='10A', attribute='members', value='1003')",
        "remove_members_from_groups(idnumber='10A', attribute='members', value='1002')",
        "old_users(idnumber='1002')"]
    summary = kit.apply(source, dest)
    assert summary.failed == 0, results(summary)
    users = kit.by_external_id(dss_scim_server, "/Users")
    assert "1002" not in users  # deleted
    ann = users["1001"]
    assert (ann["displayName"], ann["name"]["givenName"]) == ("Ann Archer-Lee", "Annie")
    assert ann["emails"] == [{"value": "annie@school.example", "primary": True}]
    assert [p["value"] for p in ann["phoneNumbers"]] == ["+1 555 0199"]
    assert users["1003"]["emails"] == [{"value": "cy@school.example", "primary": True}]
    group = kit.by_external_id(dss_scim_server, "/Groups")["10A"]
    assert {m["value"] for m in group["members"]} == {users["1001"]["id"], users["1003"]["id"]}
    source, dest = sync(changed)
    assert kit.plan(source, dest) == []


def test_deactivate_retires_and_new_brings_back(sync, kit, dss_scim_server):
    mapping = kit.make_mapping(retire="deactivate")
    source, dest = sync(kit.SOURCE, mapping)
    kit.apply(source, dest)
    gone = copy.deepcopy(kit.SOURCE)
    del gone["users"][1]
    gone["groups"][0]["members"] = ["1001"]
    source, dest = sync(gone, mapping)
    summary = kit.apply(source, dest)
    assert summary.failed == 0, results(summary)
    bob = kit.by_external_id(dss_scim_server, "/Users")["1002"]
    assert bob["active"] is False  # kept, deactivated
    source, dest = sync(gone, mapping)
    assert "1002" not in dest.users  # an inactive resource is a retired one
    assert kit.plan(source, dest) == []
    source, dest = sync(kit.SOURCE, mapping)  # bob is back
    assert kit.plan(source, dest) == [
        "new_users(idnumber='1002')",
        "add_members_to_groups(idnumber='10A', attribute='members', value='1002')"]
    summary = kit.apply(source, dest)
    assert summary.failed == 0, results(summary)
    users = [u for u in dss_scim_server.resources("/Users") if u.get("externalId") == "1002"]
    assert len(users) == 1 and users[0]["active"] is True and users[0]["id"] == bob["id"]
    source, dest = sync(kit.SOURCE, mapping)
    assert kit.plan(source, dest) == []


def test_reading_is_paged_and_filtered(sync, kit, dss_scim_server):
    many = {"users": [kit.user(str(2000 + i), f"u{i}", f"User {i}") for i in range(11)],
            "groups": []}
    source, dest = sync(many)
    kit.apply(source, dest)
    with dss_scim_server.client() as http:  # one resource dss does not manage (no externalId)
        assert http.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                         "userName": "admin"}).status_code == 201
    source, dest = sync(many)  # page_size 3: four pages
    assert sorted(dest.users) == sorted(u["idnumber"] for u in many["users"])
    filtered = kit.make_mapping(user_filter='userName sw "u1"')
    source, dest = sync(many, filtered)
    assert sorted(dest.users) == ["2001", "2010"]


def test_service_errors_each_fail_one_action_naming_the_object(sync, kit, dss_scim_server):
    source, dest = sync(kit.SOURCE)
    kit.apply(source, dest)
    changed = copy.deepcopy(kit.SOURCE)
    changed["users"][0]["name"] = "Ann Renamed"   # 412: another writer changes ann first
    changed["users"][1]["name"] = "Bob Renamed"   # 404: another writer deletes bob first
    changed["users"].append(kit.user("1004", "ann", "Another Ann"))  # 409: userName taken
    changed["groups"][1]["members"] = ["1003", "1004"]  # 1004 fails: its membership is skipped
    changed["users"][2]["username"] = ""  # 400: a required value cannot be removed
    source, dest = sync(changed)
    users = kit.by_external_id(dss_scim_server, "/Users")
    with dss_scim_server.client() as http:
        assert http.patch(f"/Users/{users['1001']['id']}", json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "changed by HR"}]},
        ).status_code in (200, 204)
        assert http.delete(f"/Users/{users['1002']['id']}").status_code == 204
    summary = kit.apply(source, dest)
    outcome = {r.action.message: (r.status, r.message) for r in summary.results}
    status, message = outcome["update_name(idnumber='1001', attribute='name', value='Ann Renamed')"]
    assert status is Status.FAILURE
    assert message.startswith(f"User '1001' (id {users['1001']['id']}): changed on the SCIM service "
                              "since dss read it (412 precondition failed")
    status, message = outcome["update_name(idnumber='1002', attribute='name', value='Bob Renamed')"]
    assert status is Status.FAILURE and "User '1002'" in message and "not found" in message
    assert "(404" in message
    status, message = outcome["new_users(idnumber='1004')"]
    assert status is Status.FAILURE and message.startswith("User '1004': the SCIM service refuses")
    assert "(409 uniqueness" in message
    status, message = outcome["update_username(idnumber='1003', attribute='username', value='')"]
    assert status is Status.FAILURE and message.startswith(
        f"User '1003' (id {users['1003']['id']}): the SCIM service refuses to set userName: "
        "invalid request (400 mutability: required attribute cannot be removed"), message
    status, message = outcome["add_members_to_groups(idnumber='art', attribute='members', value='1004')"]
    assert status is Status.SKIPPED and "new_users('1004') failed" in message
    assert summary.failed == 4
    # one clear line each: nothing else failed, and ann kept the other writer's change
    assert kit.by_external_id(dss_scim_server, "/Users")["1001"]["displayName"] == "Ann Archer"
    group = kit.by_external_id(dss_scim_server, "/Groups")["art"]
    assert len(group["members"]) == 1


def test_bulk_applies_a_batch_and_fails_only_the_refused_operation(sync, kit, dss_scim_server):
    from dss_core import Run

    source, dest = sync(kit.SOURCE)
    kit.apply(source, dest)
    batch = {"users": [*kit.SOURCE["users"], kit.user("1004", "dee", "Dee Dunn"),
                       kit.user("1005", "ann", "Ann Twin"), kit.user("1006", "eve", "Eve Eng")],
             "groups": kit.SOURCE["groups"]}
    source, dest = sync(batch)
    actions = list(source - dest)
    assert [a.message for a in actions] == [
        "new_users(idnumber='1004')", "new_users(idnumber='1005')", "new_users(idnumber='1006')"]
    handler = dest.handler(dest, Run.create("apply", source.plugins, source.config))
    handler.begin()
    try:
        out = handler.handle_batch(actions)
    finally:
        handler.end(False)
    assert [r.status for r in out] == [Status.SUCCESS, Status.FAILURE, Status.SUCCESS]
    assert out[1].message.startswith("User '1005': the SCIM service refuses to create it")
    users = kit.by_external_id(dss_scim_server, "/Users")
    assert {"1004", "1006"} <= set(users) and "1005" not in users
    source, dest = sync(batch)
    assert kit.plan(source, dest) == ["new_users(idnumber='1005')"]
