"""Models and trees of the test sync: CSV users and memberships -> accounts and cohorts tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dss_core import Branch, Datastore, Model, Tree

if TYPE_CHECKING:
    from dss_sql import SQLMapping


class User(Model):
    name: str
    email: str = ""


class Group(Model):
    title: str
    members: set[str] = set()


def datastore(name: str, mapping_class: type[SQLMapping]) -> Datastore:
    """The datastore ``name``: CSV files (tree ``sis``) -> the tables of ``mapping_class`` (``lms``)."""
    from dss_sql import LinkMap, TableMap

    mapping = mapping_class(
        users=TableMap("accounts", key="username", columns={"name": "full_name"},
                       retire={"suspended": True}),
        groups=TableMap("cohorts", key="code",
                        links={"members": LinkMap("cohort_members", owner="cohort",
                                                  member="username")}),
    )

    class SIS(Tree):
        name = "sis"
        users = Branch(User, importer="csv")
        groups = Branch(Group, importer="csv")

    class LMS(Tree):
        name = "lms"
        handler = mapping.handler()
        users = Branch(User, importer=mapping.importer("users"))
        groups = Branch(Group, importer=mapping.importer("groups"))

    return Datastore(name, SIS, [LMS], description=f"CSV -> SQL tables ({mapping_class.__name__})")
