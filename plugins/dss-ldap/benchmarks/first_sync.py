"""Actions per second of a first sync into a directory: ``--users`` people and their groups.

A private slapd (mdb, ``dbnosync``, as the tests start it; Debian's package)
is started on a loopback port. Each run gets an empty subtree, and the whole
plan is applied through the engine with the journal on, as ``dss run`` does:
one ``new_users`` per person (an LDAP add each) and one ``new_groups`` per
group (an add carrying every member's DN): homerooms of 25 and five year
groups of a fifth of the school each. The import of both sides is timed
apart from the apply. Prints each run and the median.

    .venv/bin/python plugins/dss-ldap/benchmarks/first_sync.py --users 5000 --runs 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from dss_ldap import EntryMap, LDAPMapping, MemberMap
from dss_ldap.testing import LDAPTree, start_slapd

from dss_core import Branch, Config, Datastore, Model, Tree
from dss_core.gates import Allowances
from dss_core.journal import Journal
from dss_core.plugins import builtin_plugin_manager
from dss_core.runner import Run, execute


class Person(Model):
    name: str
    surname: str
    email: str = ""


class Group(Model):
    title: str = ""
    members: set[str] = set()


MAPPING = LDAPMapping(
    users=EntryMap("ou=people", key="uid",
                   attributes={"name": "cn", "surname": "sn", "email": "mail"},
                   retire_to="ou=retired"),
    groups=EntryMap("ou=groups", object_classes=("groupOfNames",), key="cn",
                    attributes={"title": "description"},
                    members={"members": MemberMap("member", branch="users")}),
)


def school(users: int) -> dict[str, list[dict[str, Any]]]:
    people = [{"idnumber": str(100000 + i), "name": f"Pupil {i}", "surname": f"Surname{i}",
               "email": f"p{i}@school.example"} for i in range(users)]
    groups: dict[str, list[str]] = {}
    for i, p in enumerate(people):
        groups.setdefault(f"room{i // 25:04d}", []).append(p["idnumber"])
        groups.setdefault(f"year{i * 5 // users}", []).append(p["idnumber"])
    return {"users": people,
            "groups": [{"idnumber": g, "title": g, "members": m} for g, m in groups.items()]}


def run_once(ldap: LDAPTree, records: dict[str, list[dict[str, Any]]], state: Path) -> dict[str, float]:
    class SIS(Tree):
        name = "sis"
        users = Branch(Person, importer=records["users"])
        groups = Branch(Group, importer=records["groups"])

    class DIR(Tree):
        name = "dir"
        handler = MAPPING.handler()
        users = Branch(Person, importer=MAPPING.importer("users"))
        groups = Branch(Group, importer=MAPPING.importer("groups"),
                        references=MAPPING.references("groups"))

    config = Config({"trees": {"dir": ldap.settings}}, environ={})
    pm = builtin_plugin_manager()
    source, dests = Datastore("bench", SIS, [DIR]).open(config, pm)
    run = Run.create("apply", pm, config, datastore="bench",
                     allow=Allowances(deletions={"*": 10**9}))
    run.options["quiet"] = True
    run.journal = Journal.in_folder(state, "bench")
    started = time.perf_counter()
    for tree in (source, *dests):
        tree.load()
    imported = time.perf_counter()
    summary = execute(run, source, dests, load=False)
    applied = time.perf_counter()
    run.journal.close()
    assert summary.failed == 0, [r.message for r in summary.results if r.failed][:3]
    actions = len(summary.results)
    return {"actions": actions, "import_s": imported - started, "apply_s": applied - imported,
            "per_s": actions / (applied - imported)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dss-ldap-bench-"))
    server = start_slapd(folder / "slapd")
    records = school(args.users)
    print(f"{args.users} users, {len(records['groups'])} groups; slapd at {server.url}")
    results = []
    try:
        for n in range(args.runs):
            base = f"ou=bench{n},{server.suffix}"
            ldap = LDAPTree(server, base, {"url": server.url, "bind_dn": server.root_dn,
                                           "bind_password": server.root_password, "base": base})
            ldap.add(base, ["organizationalUnit"], {"ou": f"bench{n}"})
            ldap.ou("people", "groups", "retired")
            result = run_once(ldap, records, folder / f"state{n}")
            results.append(result)
            print(f"run {n + 1}: {result['actions']:.0f} actions applied in {result['apply_s']:.2f} s "
                  f"= {result['per_s']:.0f} actions/s (import of both sides {result['import_s']:.2f} s)")
            ldap.delete_all()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"median: {statistics.median(r['per_s'] for r in results):.0f} actions/s, "
          f"apply {statistics.median(r['apply_s'] for r in results):.2f} s")


if __name__ == "__main__":
    main()
