"""Models and trees of the test sync: CSV users and memberships -> SCIM Users and Groups."""

from __future__ import annotations

from dss_core import Branch, Datastore, Model, Tree


class Person(Model):
    username: str
    name: str
    given: str = ""
    email: str = ""


class Team(Model):
    title: str
    members: set[str] = set()


def datastore() -> Datastore:
    """``csv2scim``: CSV files (tree ``sis``) -> a SCIM service (tree ``idp``), no handler code."""
    from dss_scim import ResourceMap, SCIMMapping

    mapping = SCIMMapping(
        users=ResourceMap("User", key="externalId",
                          attributes={"username": "userName", "name": "displayName",
                                      "given": "name.givenName", "email": "emails[primary]"}),
        groups=ResourceMap("Group", key="externalId", attributes={"title": "displayName"},
                           members={"members": "users"}),
    )

    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer="csv")
        groups = Branch(Team, importer="csv")

    class IdP(Tree):
        name = "idp"
        handler = mapping.handler()
        users = Branch(Person, importer=mapping.importer("users"))
        groups = Branch(Team, importer=mapping.importer("groups"), references={"members": "users"})

    return Datastore("csv2scim", SIS, [IdP], description="CSV -> SCIM Users and Groups")
