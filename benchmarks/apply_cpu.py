"""The apply phase's own CPU time: the school's first sync into empty LMS tables, two code trees interleaved.

On a busy machine wall times of ``sql_apply.py`` wander by seconds; the CPU
time the dss process spends in its apply phase (the runner's ``apply_plan``,
``_apply`` in a tree older than ``applying.py``; journal and reporting
included, the database server's work not) does not.
For each run and each database (a SQLite file; a fresh Postgres schema on
127.0.0.1:5432 db ``test``), each tree (a ``git worktree`` of a commit, its
core, plugins and example first on ``sys.path``) runs ``dss run school``
on the same generated exports into empty tables, in its own process; the
apply's CPU and wall are summed around it, and every action must
succeed. Prints medians per tree and database.

    .venv/bin/python benchmarks/apply_cpu.py --tree before=/tmp/base --tree after=/tmp/new --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path

import sqlalchemy as sa
from school_sync import schema

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PATHS = ["", "plugins/dss-sql", "plugins/dss-postgres", "plugins/dss-csv", "examples/school"]
#: run in the child (python -P: the current folder is not on sys.path): dss, its apply timed
CHILD = textwrap.dedent("""
    import json, os, sys, time
    import dss_core.runner as runner
    from dss_core.cli import main
    spent = [0.0, 0.0]
    name = "apply_plan" if hasattr(runner, "apply_plan") else "_apply"  # an older tree: _apply
    apply = getattr(runner, name)
    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return apply(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - wall
            spent[1] += time.process_time() - cpu
    setattr(runner, name, timed)
    sys.argv = ["dss", *sys.argv[1:]]
    try:
        main()
    finally:
        with open(os.environ["APPLY_CPU_OUT"], "w") as out:
            json.dump({"wall": spent[0], "cpu": spent[1], "file": runner.__file__}, out)
""")


def one(tree: Path, template: Path, db: str, work: Path) -> tuple[float, float]:
    folder = work / uuid.uuid4().hex[:8]
    shutil.copytree(template, folder)
    admin = name = None
    if db == "sqlite":
        url = schema.sqlite_url(folder / "lms.sqlite")
    else:
        name = f"dss_apply_cpu_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        url = f"{PG}?options=-csearch_path%3D{name}"
        schema.create(url, [], [], [], [])
    try:
        env = {**os.environ, schema.URL_VARIABLE: url, "DSS_PLUGINS": "school,csv,sql,postgres",
               "PYTHONPATH": os.pathsep.join(str(tree / p) for p in PATHS),
               "APPLY_CPU_OUT": str(folder / "cpu.json")}
        subprocess.run([sys.executable, "-P", "-c", CHILD, "--config", str(folder / "dss.toml"), "run",
                        "school", "-q", "--report", str(folder / "run.json"),
                        "--allow-deletions", "1000000000"],
                       env=env, check=True, stdout=subprocess.DEVNULL, cwd=work)
        spent = json.loads((folder / "cpu.json").read_text())
        if not spent["file"].startswith(str(tree)):
            raise SystemExit(f"{tree}: ran {spent['file']}, not the tree's core")
        report = json.loads((folder / "run.json").read_text())
        bad = [a["message"] for a in report["actions"] if a["result"] != "success"]
        if bad or not report["actions"]:
            raise SystemExit(f"{tree} on {db}: not every action succeeded: {bad[:5]}")
        return spent["wall"], spent["cpu"]
    finally:
        if admin is not None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            admin.dispose()
        shutil.rmtree(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=DIR",
                        help="a code tree (a git worktree); give two or more")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--db", default="sqlite,postgres")
    args = parser.parse_args()
    trees = {n: Path(d).resolve() for n, d in (t.split("=", 1) for t in args.tree)}
    dbs = args.db.split(",")
    with tempfile.TemporaryDirectory(prefix="dss-apply-cpu-") as tmp:
        work = Path(tmp)
        template = work / "template"
        subprocess.run([sys.executable, "-m", "school_sync.generate", "--users", str(args.users),
                        "--seed", "7", "--out", str(template)], check=True,
                       stdout=subprocess.DEVNULL,
                       env={k: v for k, v in os.environ.items() if k != schema.URL_VARIABLE})
        (template / "lms.sqlite").unlink()  # empty tables: dss creates none, schema.create does
        schema.create(schema.sqlite_url(template / "lms.sqlite"), [], [], [], [])
        got: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.runs):
            for db in dbs:
                for name, tree in trees.items():
                    got.setdefault((db, name), []).append(one(tree, template, db, work))
    for (db, name), runs in got.items():
        print(f"{db:8} {name:10} apply CPU median {statistics.median(c for _, c in runs):5.2f} s, "
              f"wall {statistics.median(w for w, _ in runs):5.2f} s   (CPU: "
              f"{', '.join(f'{c:.2f}' for _, c in runs)})")


if __name__ == "__main__":
    main()
