"""Shared helpers of dss-ldap's tests: models, a mapping, and the trees of a users+groups sync."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from dss_ldap import EntryMap, LDAPMapping, MemberMap
from dss_ldap.testing import LDAPTree

from dss_core import Branch, Config, Datastore, Model, Tree

# the test plugin packages under plugins/ are installed by the tests, not collected as tests
collect_ignore = ["plugins"]


class Person(Model):
    name: str
    surname: str
    email: str = ""
    phones: set[str] = set()


class Group(Model):
    title: str = ""
    members: set[str] = set()


def make_mapping(retire: str = "move", rename: bool = False,
                 unique_class: str = "groupOfNames") -> LDAPMapping:
    """users under ou=people (named by uid, or by cn with ``rename``), groups under ou=groups.

    ``retire``: ``"delete"``, ``"move"`` (to ou=retired) or ``"mark"`` (employeeType=retired).
    """
    retiring: dict[str, Any] = {"delete": {}, "move": {"retire_to": "ou=retired"},
                                "mark": {"retire": {"employeeType": "retired"}}}[retire]
    member = "uniqueMember" if unique_class == "groupOfUniqueNames" else "member"
    return LDAPMapping(
        users=EntryMap("ou=people", object_classes=("inetOrgPerson",), key="uid",
                       rdn="cn" if rename else None,
                       attributes={"name": "cn", "surname": "sn", "email": "mail",
                                   "phones": "telephoneNumber"}, **retiring),
        groups=EntryMap("ou=groups", object_classes=(unique_class,), key="cn",
                        attributes={"title": "description"},
                        members={"members": MemberMap(member, branch="users")}),
    )


def make_trees(records: dict[str, Iterable[Any]], mapping: LDAPMapping,
               handler: type | None = None) -> tuple[type[Tree], type[Tree]]:
    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer=list(records.get("users", [])))
        groups = Branch(Group, importer=list(records.get("groups", [])))

    class DIR(Tree):
        name = "dir"
        users = Branch(Person, importer=mapping.importer("users"))
        groups = Branch(Group, importer=mapping.importer("groups"),
                        references=mapping.references("groups"))

    DIR.handler = handler or mapping.handler()
    return SIS, DIR


def open_trees(ldap: LDAPTree, records: dict[str, Iterable[Any]],
               mapping: LDAPMapping | None = None, handler: type | None = None) -> tuple[Tree, Tree]:
    """The source (literal records) and the directory tree, both loaded."""
    SIS, DIR = make_trees(records, mapping or make_mapping(), handler)
    config = Config({"trees": {"dir": dict(ldap.settings)}}, environ={})
    source, (dest,) = Datastore("t", SIS, [DIR]).open(config)
    source.load()
    dest.load()
    return source, dest


def plan(source: Tree, dest: Tree) -> list[str]:
    return [a.message for a in source - dest]


def apply(source: Tree, dest: Tree, allow: int | None = None, **options: Any) -> Any:
    """Apply the plan (``allow``: let that many deletions per branch and set through)."""
    from dss_core import Run
    from dss_core.gates import Allowances
    from dss_core.runner import execute

    extra = {"allow": Allowances(deletions={"*": allow})} if allow is not None else {}
    run = Run.create("apply", source.plugins, source.config, **extra)
    run.options["quiet"] = True
    run.options.update(options)
    return execute(run, source, [dest], load=False)


def sync(ldap: LDAPTree, records: dict[str, Iterable[Any]], mapping: LDAPMapping | None = None,
         handler: type | None = None) -> tuple[Any, list[str]]:
    """Apply ``records`` to the directory; the summary and the plan that is left afterwards."""
    mapping = mapping or make_mapping()
    source, dest = open_trees(ldap, records, mapping, handler)
    summary = apply(source, dest)
    source, dest = open_trees(ldap, records, mapping, handler)
    return summary, plan(source, dest)


def people(n: int, start: int = 1) -> list[dict[str, Any]]:
    return [{"idnumber": str(i), "name": f"Person {i}", "surname": f"Surname{i}",
             "email": f"p{i}@example.org"} for i in range(start, start + n)]


@pytest.fixture
def directory(dss_ldap: LDAPTree) -> LDAPTree:
    """A fresh subtree with ou=people, ou=groups and ou=retired."""
    dss_ldap.ou("people", "groups", "retired")
    return dss_ldap


@pytest.fixture
def kit() -> Any:
    """This module (test files cannot import conftest)."""
    import sys

    return sys.modules[__name__]
