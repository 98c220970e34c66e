"""Shared helpers of dss-scim's tests: models, the mapping, and the trees of a users+groups sync."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from dss_scim import ResourceMap, SCIMMapping

from dss_core import Branch, Config, Datastore, Model, Tree

# the test plugin packages under plugins/ are installed by the tests, not collected as tests
collect_ignore = ["plugins"]


class Person(Model):
    username: str
    name: str
    given: str = ""
    email: str = ""
    phones: set[str] = set()


class Team(Model):
    title: str
    members: set[str] = set()


def make_mapping(retire: str = "delete", user_filter: str | None = None) -> SCIMMapping:
    return SCIMMapping(
        users=ResourceMap("User", key="externalId",
                          attributes={"username": "userName", "name": "displayName",
                                      "given": "name.givenName", "email": "emails[primary]",
                                      "phones": "phoneNumbers.value"},
                          retire=retire, filter=user_filter),  # type: ignore[arg-type]
        groups=ResourceMap("Group", key="externalId", attributes={"title": "displayName"},
                           members={"members": "users"}),
        page_size=3,  # small pages: every read of more than 3 resources is paged
    )


def make_trees(records: dict[str, Iterable[Any]], mapping: SCIMMapping,
               handler: type | None = None) -> tuple[type[Tree], type[Tree]]:
    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer=list(records.get("users", [])))
        groups = Branch(Team, importer=list(records.get("groups", [])))

    class IdP(Tree):
        name = "idp"
        handler = None
        users = Branch(Person, importer=mapping.importer("users"))
        groups = Branch(Team, importer=mapping.importer("groups"), references={"members": "users"})

    IdP.handler = handler or mapping.handler()
    return SIS, IdP


@pytest.fixture
def sync(dss_scim_server: Any) -> Callable[..., Any]:
    """``sync(records, mapping=None, handler=None, **settings)`` -> (source, dest) loaded trees."""

    def make(records: dict[str, Iterable[Any]], mapping: SCIMMapping | None = None,
             handler: type | None = None, **settings: Any) -> tuple[Tree, Tree]:
        SIS, IdP = make_trees(records, mapping or make_mapping(), handler)
        config = Config({"trees": {"idp": {"url": dss_scim_server.url,
                                           "token": dss_scim_server.token, **settings}}},
                        environ={})
        source, (dest,) = Datastore("t", SIS, [IdP]).open(config)
        source.load()
        dest.load()
        return source, dest

    return make


def user(idnumber: str, username: str, name: str, given: str = "", email: str = "",
         phones: Iterable[str] = ()) -> dict[str, Any]:
    return {"idnumber": idnumber, "username": username, "name": name, "given": given,
            "email": email, "phones": list(phones)}


SOURCE = {
    "users": [
        user("1001", "ann", "Ann Archer", "Ann", "ann@school.example", ["+1 555 0101"]),
        user("1002", "bob", "Bob Baker", "Bob", "bob@school.example"),
        user("1003", "cy", "Cy Cole", "Cy", "", ["+1 555 0103", "+1 555 0104"]),
    ],
    "groups": [
        {"idnumber": "10A", "title": "Homeroom 10A", "members": ["1001", "1002"]},
        {"idnumber": "art", "title": "Art club", "members": ["1003"]},
    ],
}


def plan(source: Tree, dest: Tree) -> list[str]:
    return [a.message for a in source - dest]


def apply(source: Tree, dest: Tree, **options: Any) -> Any:
    from dss_core import Run
    from dss_core.runner import execute

    run = Run.create("apply", source.plugins, source.config, **options)
    run.options["quiet"] = True
    return execute(run, source, [dest], load=False)


def by_external_id(server: Any, endpoint: str) -> dict[str, dict[str, Any]]:
    return {r["externalId"]: r for r in server.resources(endpoint) if r.get("externalId")}


@pytest.fixture
def kit() -> Any:
    """This module: the models, mapping and helpers above (test files cannot import conftest)."""
    import sys

    return sys.modules[__name__]
