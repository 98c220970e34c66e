"""The diff in K worker processes against the diff in one (issue 12 point 5), on object branches.

    .venv/bin/python benchmarks/partition.py --rows 100k,1M --repeat 3

The workers take the branches held as objects on both sides (a branch read as
columns on either side is diffed in the parent by polars, on every core
already), so the workload here is the roadmap's users on the object path:
N users per side built from literal records (the generator importer's path),
a derived ``@property`` (a display name) and ``groups`` as a set, a derived
groups branch built from every user; the destination has 1% of the users with
one changed value, 0.5% new, 0.5% removed, 0.5% with changed membership.

Both trees are imported once; then each repetition runs, in turn,
``diff(source, dest)`` and ``diff_in_workers(source, [dest], None, K)`` for
each K of ``--workers``, and checks the plans are equal. Printed: medians of
wall time and of CPU time (this process plus the workers', from
``RUSAGE_CHILDREN``), and the speed-up over one process.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from dss_core import Branch, Model, Tree
from dss_core.diff import diff, diff_in_workers
from dss_core.plugins import builtin_plugin_manager


class User(Model):
    """The source's user: a derived display name."""

    firstname: str = ""
    lastname: str = ""
    email: str = ""
    department: str = ""
    groups: set[str] = set()

    @property
    def display_name(self) -> str:
        return f"{self.lastname.upper()}, {self.firstname}"


class Account(Model):
    """The destination's user: the display name stored."""

    display_name: str = ""
    email: str = ""
    department: str = ""
    groups: set[str] = set()


class Group(Model):
    members: set[str] = set()


def groups_from_users(importer: Any) -> Any:  # derived from every user
    for user in importer.tree.users.values():
        for group in user.groups:
            yield {"idnumber": group, "members": user.idnumber}


class Source(Tree):
    users = Branch(User)
    groups = Branch(Group, importer=groups_from_users)


class Dest(Tree):
    users = Branch(Account)
    groups = Branch(Group)


def workload(rows: int, seed: int) -> tuple[Tree, Tree]:
    rnd = random.Random(seed)
    groups = [f"g{n}" for n in range(200)]
    users = [{"idnumber": f"{n:08d}", "firstname": f"F{rnd.randrange(5000)}",
              "lastname": f"L{rnd.randrange(5000)}", "email": f"u{n}@example.org",
              "department": f"d{rnd.randrange(40)}", "groups": set(rnd.sample(groups, 3))}
             for n in range(rows)]
    accounts = []
    for u in users:
        r = rnd.random()
        if r < 0.005:
            continue  # new in the source
        a = {"idnumber": u["idnumber"], "display_name": f"{u['lastname'].upper()}, {u['firstname']}",
             "email": u["email"], "department": u["department"], "groups": set(u["groups"])}
        if r < 0.015:
            a["email"] = "changed@example.org"
        elif r < 0.02:
            a["groups"] = {*list(a["groups"])[:2], rnd.choice(groups)}
        accounts.append(a)
    accounts += [{"idnumber": f"x{n:07d}", "display_name": "Old, One", "email": "", "department": "",
                  "groups": set()} for n in range(rows // 200)]
    members: dict[str, set[str]] = {}
    for a in accounts:
        for g in a["groups"]:
            members.setdefault(g, set()).add(a["idnumber"])
    pm = builtin_plugin_manager()
    source = Source(plugins=pm).load_records({"users": users})
    dest = Dest(plugins=pm).load_records(
        {"users": accounts, "groups": [{"idnumber": g, "members": m} for g, m in members.items()]})
    return source, dest


def timed(work: Callable[[], list[Any]]) -> tuple[float, float, list[Any]]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = work()
    wall = time.perf_counter() - start
    me2, kids2 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in ((me, me2), (kids, kids2)))
    return wall, cpu, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="100k", help="users per side: 10k,100k,1M")
    parser.add_argument("--workers", default="2", help="worker counts to compare with one process: 2,3")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    print(f"diff in one process vs in K workers, median of {args.repeat} interleaved runs; "
          f"{os.cpu_count()} cores, CPython {platform.python_version()}")
    print(f"{'rows':>9} {'how':<12} {'wall s':>8} {'CPU s':>8} {'speed-up':>9}  actions")
    same = True
    for text in args.rows.split(","):
        rows = int(float(text.lower().replace("k", "e3").replace("m", "e6")))
        source, dest = workload(rows, args.seed)
        runs: dict[int, list[tuple[float, float]]] = {1: [], **{k: [] for k in counts}}
        whole: list[Any] = []
        for _ in range(args.repeat):
            wall, cpu, whole = timed(lambda s=source, d=dest: list(diff(s, d)))
            runs[1].append((wall, cpu))
            for k in counts:
                wall, cpu, got = timed(lambda k=k, s=source, d=dest: diff_in_workers(s, [d], None, k)[0])
                runs[k].append((wall, cpu))
                same &= [a.message for a in got] == [a.message for a in whole]
        base = statistics.median(w for w, _ in runs[1])
        for k, ms in runs.items():
            wall, cpu = statistics.median(w for w, _ in ms), statistics.median(c for _, c in ms)
            how = "1 process" if k == 1 else f"{k} workers"
            print(f"{rows:>9,} {how:<12} {wall:8.2f} {cpu:8.2f} {base / wall:8.2f}x  {len(whole):,}",
                  flush=True)
    print("plans: the same" if same else "plans: DIFFERENT")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
