"""Actions per second of a first sync into a SCIM service: 5,000 users and their groups.

Starts scim2-server (in-memory, on a free loopback port, with a bearer token),
then applies the plan of a CSV-like source (users with name, given name and
primary email; 200 groups of 25 members) through the SCIM mapping handler and
the engine, as ``dss run`` does: twice, each into a fresh server, once with
``bulk = false`` (one request per action) and once with the default (the
runner hands independent actions of one method to ``handle_batch``, which
sends Bulk requests of up to the service's maxOperations).

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

from dss_core import Branch, Config, Datastore, Tree  # noqa: E402


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


def open_sync(server: object, data: dict[str, list[dict[str, object]]],
              bulk: bool = True) -> tuple[Tree, Tree]:
    SIS, IdP = trees(data, mapping())
    config = Config({"trees": {"idp": {"url": server.url, "token": server.token,  # type: ignore[attr-defined]
                                       "bulk": bulk}}}, environ={})
    source, (dest,) = Datastore("bench", SIS, [IdP]).open(config)
    source.load()
    dest.load()
    return source, dest


def first_sync(data: dict[str, list[dict[str, object]]], users: int, bulk: bool) -> None:
    server = start_server()
    try:
        source, dest = open_sync(server, data, bulk)
        actions = len(list(source - dest))
        started = time.perf_counter()
        summary = apply(source, dest)
        seconds = time.perf_counter() - started
        assert summary.failed == 0, summary.results[:3]
        how = "Bulk requests (the default)" if bulk else "one request per action (bulk = false)"
        print(f"first sync, {how}: {actions} actions ({users} new_users, "
              f"{len(data['groups'])} new_groups with members) in {seconds:.1f} s = "
              f"{actions / seconds:.0f} actions/s")
        started = time.perf_counter()
        source, dest = open_sync(server, data, bulk)
        print(f"  reading {users} users and {len(data['groups'])} groups back: "
              f"{time.perf_counter() - started:.1f} s; plan afterwards: "
              f"{len(list(source - dest))} actions")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=5000)
    args = parser.parse_args()
    data = records(args.users)
    first_sync(data, args.users, bulk=False)
    first_sync(data, args.users, bulk=True)


if __name__ == "__main__":
    main()
