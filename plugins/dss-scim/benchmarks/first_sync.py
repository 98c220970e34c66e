"""Actions per second of a first sync into a SCIM service: 5,000 users and their groups.

Starts scim2-server (in-memory, on a free loopback port, with a bearer token),
then applies the plan of a CSV-like source (users with name, given name and
primary email; 200 groups of 25 members) through the SCIM mapping handler,
one request per action as ``dss run`` does. Then, for comparison, the same
5,000 new users through ``SCIMHandler.handle_batch`` (Bulk requests of up to
the service's maxOperations) into a fresh server.

    .venv/bin/python plugins/dss-scim/benchmarks/first_sync.py [--users 5000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import Person, Team, apply  # noqa: E402  (the tests' models and runner helper)
from dss_scim import ResourceMap, SCIMMapping  # noqa: E402
from dss_scim.testing import start_server  # noqa: E402

from dss_core import Branch, Config, Datastore, Run, Tree  # noqa: E402


def mapping() -> SCIMMapping:
    return SCIMMapping(
        users=ResourceMap("User", attributes={"username": "userName", "name": "displayName",
                                              "given": "name.givenName",
                                              "email": "emails[primary]",
                                              "phones": "phoneNumbers.value"}),
        groups=ResourceMap("Group", attributes={"title": "displayName"},
                           members={"members": "users"}),
        page_size=1000)


def records(users: int, group_size: int = 25) -> dict[str, list[dict[str, object]]]:
    people = [{"idnumber": str(100000 + i), "username": f"u{i}", "name": f"User {i}",
               "given": f"Given{i}", "email": f"u{i}@school.example"} for i in range(users)]
    groups = [{"idnumber": f"g{g}", "title": f"Group {g}",
               "members": [p["idnumber"] for p in people[g * group_size:(g + 1) * group_size]]}
              for g in range((users + group_size - 1) // group_size)]
    return {"users": people, "groups": groups}


def trees(data: dict[str, list[dict[str, object]]], m: SCIMMapping) -> tuple[type[Tree], type[Tree]]:
    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer=data["users"])
        groups = Branch(Team, importer=data["groups"])

    class IdP(Tree):
        name = "idp"
        handler = m.handler()
        users = Branch(Person, importer=m.importer("users"))
        groups = Branch(Team, importer=m.importer("groups"), references={"members": "users"})

    return SIS, IdP


def open_sync(server: object, data: dict[str, list[dict[str, object]]]) -> tuple[Tree, Tree]:
    SIS, IdP = trees(data, mapping())
    config = Config({"trees": {"idp": {"url": server.url, "token": server.token}}},  # type: ignore[attr-defined]
                    environ={})
    source, (dest,) = Datastore("bench", SIS, [IdP]).open(config)
    source.load()
    dest.load()
    return source, dest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=5000)
    args = parser.parse_args()
    data = records(args.users)

    server = start_server()
    try:
        source, dest = open_sync(server, data)
        actions = len(list(source - dest))
        started = time.perf_counter()
        summary = apply(source, dest)
        seconds = time.perf_counter() - started
        assert summary.failed == 0, summary.results[:3]
        print(f"first sync, one request per action: {actions} actions "
              f"({args.users} new_users, {len(data['groups'])} new_groups with members) "
              f"in {seconds:.1f} s = {actions / seconds:.0f} actions/s")
        started = time.perf_counter()
        source, dest = open_sync(server, data)
        print(f"reading {args.users} users and {len(data['groups'])} groups back: "
              f"{time.perf_counter() - started:.1f} s; plan afterwards: "
              f"{len(list(source - dest))} actions")
    finally:
        server.stop()

    server = start_server()
    try:
        source, dest = open_sync(server, {"users": data["users"], "groups": []})
        news = list(source - dest)
        handler = dest.handler(dest, Run.create("apply", source.plugins, source.config))
        handler.begin()
        started = time.perf_counter()
        try:
            results = handler.handle_batch(news)
        finally:
            handler.end(False)
        seconds = time.perf_counter() - started
        assert all(r.status.value == "success" for r in results)
        print(f"the same new_users as Bulk requests (handle_batch): {len(news)} actions in "
              f"{seconds:.1f} s = {len(news) / seconds:.0f} actions/s")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
