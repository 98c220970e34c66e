"""Models and trees of the test sync: CSV users and memberships -> people and groups entries."""

from __future__ import annotations

from collections.abc import Sequence

from dss_core import Branch, Datastore, Model, Tree


class User(Model):
    name: str
    surname: str
    email: str = ""


class Group(Model):
    title: str
    members: set[str] = set()


def datastore(name: str, classes: Sequence[str]) -> Datastore:
    """The datastore ``name``: CSV files (tree ``sis``) -> entries of ``classes`` (tree ``dir``)."""
    from dss_ldap import EntryMap, LDAPMapping, MemberMap

    mapping = LDAPMapping(
        users=EntryMap("ou=people", object_classes=tuple(classes), key="uid",
                       attributes={"name": "cn", "surname": "sn", "email": "mail"},
                       retire_to="ou=retired"),
        groups=EntryMap("ou=groups", object_classes=("groupOfNames",), key="cn",
                        attributes={"title": "description"},
                        members={"members": MemberMap("member", branch="users")}),
    )

    class SIS(Tree):
        name = "sis"
        users = Branch(User, importer="csv")
        groups = Branch(Group, importer="csv", references={"members": "users"})

    class DIR(Tree):
        name = "dir"
        handler = mapping.handler()
        users = Branch(User, importer=mapping.importer("users"))
        groups = Branch(Group, importer=mapping.importer("groups"),
                        references=mapping.references("groups"))

    return Datastore(name, SIS, [DIR], description="CSV -> LDAP entries (dss-ldap)")
