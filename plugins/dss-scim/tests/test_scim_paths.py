"""SCIM attribute paths: parsing, and what is written is what is read back."""

from __future__ import annotations

import pytest
from dss_scim import parse
from hypothesis import given
from hypothesis import strategies as st

from dss_core import ConfigurationError

PATHS = ["userName", "name.givenName", "emails[primary]", 'phoneNumbers[type eq "work"].value',
         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"]
MULTI = {"emails[primary]", 'phoneNumbers[type eq "work"].value'}
values = st.text(min_size=1, max_size=20).filter(lambda s: s.strip() == s and s)


@given(path=st.sampled_from(PATHS), value=values)
def test_a_written_value_reads_back(path, value):
    p = parse(path)
    payload: dict = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}
    p.write(payload, value, multi_valued=path in MULTI)
    assert p.read(payload) == value


@given(elements=st.sets(values, max_size=6))
def test_a_written_set_reads_back(elements):
    p = parse("emails.value")
    payload: dict = {}
    p.write(payload, elements, multi_valued=True, many=True)
    assert p.read(payload, many=True) == elements


def test_a_filtered_value_picks_its_element_only():
    p = parse('phoneNumbers[type eq "work"]')
    resource = {"phoneNumbers": [{"value": "1", "type": "home"}, {"value": "2", "type": "work"}]}
    assert p.read(resource) == "2"
    assert p.replace_operations("3", "2", True) == [
        {"op": "replace", "path": 'phoneNumbers[type eq "work"].value', "value": "3"}]
    assert p.replace_operations("3", None, True) == [
        {"op": "add", "path": "phoneNumbers", "value": [{"value": "3", "type": "work"}]}]
    assert p.replace_operations("", "2", True) == [
        {"op": "remove", "path": 'phoneNumbers[type eq "work"]'}]


@pytest.mark.parametrize("text", ["", "emails[", "emails[value co \"x\"]", "a b", "name..x"])
def test_what_is_not_a_path_is_one_clear_error(text):
    with pytest.raises(ConfigurationError, match="SCIM attribute path|not supported"):
        parse(text)


def test_check_names_every_mapping_problem(sync, kit):
    from dss_scim import MappingProblems, ResourceMap, SCIMMapping

    from dss_core import Run

    bad = SCIMMapping(
        users=ResourceMap("User", attributes={"username": "userName", "name": "displayNam",
                                              "given": "name.first", "email": "emails",
                                              "phones": "phoneNumbers.value"},
                          retire="deactivate"),
        groups=ResourceMap("Team", members={"members": "users"}),
    )
    source, dest = sync({"users": [], "groups": []})
    SIS, IdP = kit.make_trees({}, bad)
    handler = IdP.handler(dest, Run.create("apply", source.plugins, source.config))
    with pytest.raises(MappingProblems) as raised:
        handler.verify()
    problems = raised.value.problems
    assert any("Person.name -> displayNam: User has no attribute 'displayNam'" in p for p in problems)
    assert any("Person.given -> name.first: name has no sub-attribute 'first'" in p for p in problems)
    assert any("Person.email -> emails: emails is multi-valued: pick one value" in p for p in problems)
    assert any("idp.groups: the SCIM service at" in p and "no resource type 'Team'" in p
               for p in problems)
