"""The journal's cost: a school's first sync applied with and without it, interleaved.

The school example at ``--users`` people (20,000 by default) is generated
once; each trial copies the stale LMS (SQLite) and applies the whole plan
through the engine, once with a journal (each unit's intent and outcome in
``<state>/school.journal.sqlite``) and once without. Both apply the same
actions; the script prints the median apply time and actions per second of
each, and the ratio.

    .venv/bin/python benchmarks/journal_overhead.py --users 20000 --runs 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from school_sync.generate import generate
from school_sync.plugin import dss_datastores, dss_trees

from dss_core import Config, open_datastore
from dss_core.gates import Allowances
from dss_core.journal import Journal
from dss_core.plugins import build_plugin_manager
from dss_core.runner import Run, execute


def apply_once(folder: Path, journal: bool) -> tuple[float, int]:
    """Apply the plan to a fresh copy of the stale LMS; (seconds applying, actions)."""
    work = Path(tempfile.mkdtemp(dir=folder))
    for name in ("students.csv", "staff.csv", "enrolments.csv", "dss.toml", "lms.sqlite"):
        shutil.copy(folder / "template" / name, work / name)
    config = Config.load(work / "dss.toml")
    config.environ = {}
    pm = build_plugin_manager(only=["school", "csv", "sql"])
    (datastore,) = dss_datastores(config)
    trees = {t.name: t for t in dss_trees(config)}
    source, dests = open_datastore(datastore, config, pm, trees)
    run = Run.create("apply", pm, config, datastore="school",
                     allow=Allowances(deletions={"*": 10**9}))
    run.options["quiet"] = True
    if journal:
        run.journal = Journal.in_folder(work / ".dss", "school")
    for tree in (source, *dests):  # import outside the timing: the journal only costs when applying
        tree.load()
    started = time.perf_counter()
    summary = execute(run, source, dests, load=False)
    seconds = time.perf_counter() - started
    if run.journal is not None:
        run.journal.close()
    assert summary.failed == 0, [r.message for r in summary.results if r.failed][:3]
    shutil.rmtree(work)
    return seconds, len(summary.results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate(folder / "template", users=args.users, seed=7)
        times: dict[bool, list[float]] = {False: [], True: []}
        counts: set[int] = set()
        for _ in range(args.runs):
            for journal in (False, True):  # interleaved: the machine's drift hits both
                seconds, actions = apply_once(folder, journal)
                times[journal].append(seconds)
                counts.add(actions)
    (actions,) = counts
    base, with_journal = statistics.median(times[False]), statistics.median(times[True])
    print(f"school first sync, {args.users:,} people: {actions:,} actions, SQLite, "
          f"{args.runs} runs each")
    print(f"without journal  median {base:6.2f} s  {actions / base:8,.0f} actions/s  "
          f"(runs: {', '.join(f'{t:.2f}' for t in times[False])})")
    print(f"with journal     median {with_journal:6.2f} s  {actions / with_journal:8,.0f} "
          f"actions/s  (runs: {', '.join(f'{t:.2f}' for t in times[True])})")
    print(f"journal overhead: x{with_journal / base:.2f} apply time")


if __name__ == "__main__":
    main()
