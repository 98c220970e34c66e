"""What the handler verifies before a run (``dss check``, and ``begin()`` before the first write)."""

from __future__ import annotations

from typing import Any

import pytest
from dss_ldap import EntryMap, LDAPMapping, MappingProblems, MemberMap
from dss_ldap.testing import LDAPTree

from dss_core import Branch, Config, ConfigurationError, Datastore, Model, Tree


class Person(Model):
    name: str
    surname: str = ""
    nicknames: set[str] = set()


class Group(Model):
    members: set[str] = set()


def verify(directory: LDAPTree, mapping: LDAPMapping, settings: dict[str, Any] | None = None,
           person: type[Model] = Person) -> None:
    class Src(Tree):
        name = "sis"
        users = Branch(person, importer=[])
        groups = Branch(Group, importer=[])

    class Dir(Tree):
        name = "dir"
        handler = mapping.handler()
        users = Branch(person, importer=mapping.importer("users"))
        groups = Branch(Group, importer=mapping.importer("groups"))

    config = Config({"trees": {"dir": {**directory.settings, **(settings or {})}}}, environ={})
    _, (dest,) = Datastore("t", Src, [Dir]).open(config)
    dest.handler(dest).verify()


def good(**users: Any) -> LDAPMapping:
    return LDAPMapping(
        users=EntryMap("ou=people", **{"attributes": {"name": "cn", "surname": "sn",
                                                      "nicknames": "displayName"},
                                       **users}),
        groups=EntryMap("ou=groups", object_classes=("groupOfNames",), key="cn",
                        members={"members": MemberMap("member", branch="users")}))


def problems(directory: LDAPTree, mapping: LDAPMapping, **kw: Any) -> list[str]:
    with pytest.raises(MappingProblems) as err:
        verify(directory, mapping, **kw)
    return err.value.problems


def test_a_good_mapping_passes(directory: LDAPTree) -> None:
    verify(directory, good(attributes={"name": "cn", "surname": "sn", "nicknames": "ou"}))


def test_every_problem_of_a_mapping_is_named(directory: LDAPTree) -> None:
    base = directory.base
    found = problems(directory, LDAPMapping(
        users=EntryMap("ou=staff", object_classes=("inetOrgPersn",), retire_to="ou=gone",
                       attributes={"name": "cn", "surname": "sn", "nicknames": "mial"}),
        groups=EntryMap("ou=groups", object_classes=("groupOfNames",), key="cn",
                        attributes={"members": "description"},
                        members={})))
    assert found == [
        f"dir.users: base ou=staff,{base} does not exist on {directory.url} (noSuchObject)",
        f"dir.users: retire_to ou=gone,{base} does not exist on {directory.url} (noSuchObject)",
        "dir.users: object class 'inetOrgPersn' is not in the directory's schema (did you mean "
        "'inetOrgPerson'?)",
        "dir.users: attribute 'mial' (Person.nicknames) is not in the directory's schema (did you "
        "mean 'mail'?)",
        "dir.groups: object class groupOfNames requires attribute 'member', which no new entry "
        "gets: map an attribute to it (attributes=...) or give it a value "
        "(defaults={'member': ...})",
    ]


def test_the_schema_refuses_what_the_classes_do_not_allow(directory: LDAPTree) -> None:
    found = problems(directory, good(attributes={"name": "cn", "surname": "sn",
                                                 "nicknames": "displayName"},
                                     object_classes=("person",)))
    assert found == [
        "dir.users: attribute 'uid' (the idnumber) is not allowed by object class person; add a "
        "class that allows it to object_classes",
        "dir.users: attribute 'displayName' (Person.nicknames) is not allowed by object class "
        "person; add a class that allows it to object_classes",
        "dir.users: attribute 'displayName' is SINGLE-VALUE but Person.nicknames is a set or "
        "list; map a single value to it",
    ]
    found = problems(directory, LDAPMapping(
        users=EntryMap("ou=people", attributes={"name": "cn", "nicknames": "ou"},
                       ignore=("surname",)),
        groups=EntryMap("ou=groups", object_classes=("groupOfNames",), key="cn",
                        members={"members": MemberMap("description", branch="users")})))
    assert found == [
        "dir.users: object class inetOrgPerson requires attribute 'sn', which no new entry gets: "
        "map an attribute to it (attributes=...) or give it a value (defaults={'sn': ...})",
        "dir.groups: attribute 'description' (Group.members) does not hold DNs (its syntax is not "
        "Distinguished Name); members are written as DNs",
        "dir.groups: object class groupOfNames requires attribute 'member', which no new entry "
        "gets: map an attribute to it (attributes=...) or give it a value "
        "(defaults={'member': ...})",
    ]
    # defaults fill what the model lacks
    verify(directory, LDAPMapping(
        users=EntryMap("ou=people", attributes={"name": "cn", "nicknames": "ou"},
                       ignore=("surname",), defaults={"sn": "-"}),
        groups=EntryMap("ou=groups", object_classes=("groupOfNames",), key="cn",
                        members={"members": "users"})))


def test_a_wrong_password_or_server_is_one_line_without_the_password(directory: LDAPTree) -> None:
    wrong = "Wr0ng-pa55word"
    with pytest.raises(ConfigurationError) as err:
        verify(directory, good(), {"bind_password": wrong})
    assert str(err.value) == (f"dir: writing: cannot bind to {directory.url} as "
                              f"{directory.server.root_dn}: invalidCredentials")
    with pytest.raises(ConfigurationError, match="cannot connect to ldap://127.0.0.1:1: "):
        verify(directory, good(), {"url": "ldap://127.0.0.1:1", "connect_timeout": 2})
    with pytest.raises(ConfigurationError, match="no directory URL"):
        verify(directory, good(), {"url": ""})


def test_mappings_refuse_passwords_and_unknown_branches() -> None:
    with pytest.raises(ConfigurationError, match="'userPassword' holds passwords"):
        EntryMap("ou=people", attributes={"secret": "userPassword"})
    with pytest.raises(ConfigurationError, match="branch 'people', which the mapping does not have"):
        LDAPMapping(groups=EntryMap("ou=groups", members={"members": "people"}))
