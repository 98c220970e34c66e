"""SQL apply speed: the school's first sync through `dss run`, against one hand-written SQL batch.

The school example's generator (``python -m school_sync.generate``) makes the
SIS exports of ``--users`` people and the LMS as it stood before the sync
(out of date in every way: new, renamed, promoted, withdrawn students, moved
homerooms, a new homeroom, a closed department; ``--empty`` starts from empty
LMS tables instead, so nearly every action is an insert). Then, for each
database (SQLite file, and a fresh Postgres schema on 127.0.0.1:5432 db
``test``) and each repetition, interleaved:

* **dss**: ``dss plan school`` and ``dss run school`` through the installed
  command, each in its own process on a fresh copy of the stale LMS. The
  apply phase is ``run - plan``: both import and diff the same data and
  write the same JSON report; only ``run`` applies (and journals) the
  actions. Every action must succeed.
  The run's own report also gives its apply phase (``phases.apply``: from
  the handlers' begin to their commit, journal included), which the
  machine's load on import and diff does not blur: printed beside it.
* **SQL batch**: what a user would hand-write for the same changes, the
  fastest way: one transaction of ``executemany`` (driver: ``sqlite3`` /
  ``psycopg``), one statement per table and kind (DELETE, INSERT, UPDATE of
  the whole row). The changes are the difference between the stale LMS and
  the LMS dss left behind (computed before the clock starts, as dss's import
  and diff are outside its apply time); after the batch, every table must
  equal what dss wrote, row for row.

Prints per database the medians, actions per second (the dss action count
divided by each contender's apply time) and the ratio.

    .venv/bin/python benchmarks/sql_apply.py --users 20000 --repeat 3 --db both
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from school_sync import schema

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DSS = [str(Path(sys.executable).with_name("dss"))]  # --dss: another command (another commit's)
#: tables in the order rows are inserted (parents first); deletes go the other way
TABLES = [schema.users, schema.cohorts, schema.cohort_members, schema.enrolments]

Rows = dict[str, dict[tuple[Any, ...], tuple[Any, ...]]]  # table -> primary key -> row


# ---------------------------------------------------------------- databases


@dataclass
class Database:
    """One kind of LMS database: how to make a fresh copy of the stale LMS and drop it."""

    kind: str  # "sqlite" or "postgres"
    template: Path  # the generator's folder: CSV exports, dss.toml, lms.sqlite (the stale LMS)
    stale: Rows = field(default_factory=dict)

    @contextmanager
    def fresh(self, work: Path) -> Iterator[tuple[Path, str]]:
        """A trial folder (exports + dss.toml) and the URL of a fresh stale LMS for it."""
        folder = work / uuid.uuid4().hex[:8]
        folder.mkdir()
        for name in ("students.csv", "staff.csv", "enrolments.csv", "dss.toml"):
            shutil.copy(self.template / name, folder / name)
        if self.kind == "sqlite":
            shutil.copy(self.template / "lms.sqlite", folder / "lms.sqlite")
            url = schema.sqlite_url(folder / "lms.sqlite")
            try:
                yield folder, url
            finally:
                shutil.rmtree(folder)
            return
        name = f"dss_bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(PG_ADMIN)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        url = f"{PG_ADMIN}?options=-csearch_path%3D{name}"
        try:
            schema.create(url, *(rows_as_dicts(t, self.stale[t.name]) for t in TABLES))
            yield folder, url
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            admin.dispose()
            shutil.rmtree(folder)


def rows_as_dicts(table: sa.Table, rows: dict[tuple[Any, ...], tuple[Any, ...]]) -> list[dict[str, Any]]:
    names = [c.name for c in table.columns]
    return [dict(zip(names, row, strict=True)) for row in rows.values()]


def dump(url: str) -> Rows:
    """Every LMS table as {primary key: row}, values normalised by SQLAlchemy's column types."""
    engine = sa.create_engine(url)
    try:
        out: Rows = {}
        with engine.connect() as conn:
            for table in TABLES:
                pk = [i for i, c in enumerate(table.columns) if c.primary_key]
                out[table.name] = {tuple(r[i] for i in pk): tuple(r)
                                   for r in conn.execute(sa.select(table))}
        return out
    finally:
        engine.dispose()


# ---------------------------------------------------------------- dss through the command


def dss(verb: str, folder: Path, url: str) -> tuple[float, float, dict[str, Any]]:
    """``dss VERB school`` in ``folder``; (wall seconds, CPU seconds, its JSON report)."""
    report = folder / f"{verb}.json"
    # only the plugins the school needs: another installed plugin neither costs time nor breaks it
    env = {**os.environ, schema.URL_VARIABLE: url, "DSS_PLUGINS": "school,csv,sql,postgres"}
    cmd = [*DSS, "--config", str(folder / "dss.toml"), verb, "school", "-q",
           "--report", str(report), "--allow-deletions", "1000000000"]
    with open(folder / f"{verb}.err", "w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own CPU time
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{err.read()[-3000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, json.loads(report.read_text())


# ---------------------------------------------------------------- the hand-written batch


@dataclass
class Batch:
    """The changes from one LMS state to another, as the statements a user would write."""

    deletes: list[tuple[sa.Table, list[tuple[Any, ...]]]]
    inserts: list[tuple[sa.Table, list[tuple[Any, ...]]]]
    updates: list[tuple[sa.Table, list[tuple[Any, ...]]]]

    @classmethod
    def between(cls, before: Rows, after: Rows) -> Batch:
        deletes, inserts, updates = [], [], []
        for table in TABLES:
            old, new = before[table.name], after[table.name]
            gone = [k for k in old if k not in new]
            added = [new[k] for k in new if k not in old]
            changed = [new[k] for k in new if k in old and old[k] != new[k]]
            if gone:
                deletes.append((table, gone))
            if added:
                inserts.append((table, added))
            if changed:  # SET every non-key column, WHERE the key: the values then the key
                pk = [i for i, c in enumerate(table.columns) if c.primary_key]
                rest = [i for i, c in enumerate(table.columns) if not c.primary_key]
                updates.append((table, [tuple(r[i] for i in rest + pk) for r in changed]))
        deletes.reverse()  # children first
        return cls(deletes, inserts, updates)

    def rows(self) -> int:
        return sum(len(r) for _, r in (*self.deletes, *self.inserts, *self.updates))

    def statements(self, mark: str) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """(SQL, parameter rows) in order: deletes, inserts, updates; ``mark`` is ``?`` or ``%s``."""
        out = []
        for table, keys in self.deletes:
            pk = [c.name for c in table.columns if c.primary_key]
            where = " AND ".join(f"{c} = {mark}" for c in pk)
            out.append((f"DELETE FROM {table.name} WHERE {where}", keys))
        for table, rows in self.inserts:
            cols = [c.name for c in table.columns]
            values = ", ".join([mark] * len(cols))
            out.append((f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({values})", rows))
        for table, rows in self.updates:
            sets = ", ".join(f"{c.name} = {mark}" for c in table.columns if not c.primary_key)
            where = " AND ".join(f"{c.name} = {mark}" for c in table.columns if c.primary_key)
            out.append((f"UPDATE {table.name} SET {sets} WHERE {where}", rows))
        return out


def apply_batch(url: str, batch: Batch) -> float:
    """Run the batch in one transaction on an open connection; seconds from BEGIN to COMMIT."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        con = sqlite3.connect(parsed.database, isolation_level=None)
        statements = batch.statements("?")
        try:
            start = time.perf_counter()
            con.execute("BEGIN")
            for sql, rows in statements:
                con.executemany(sql, rows)
            con.execute("COMMIT")
            return time.perf_counter() - start
        finally:
            con.close()
    import psycopg

    search_path = parsed.query["options"]
    assert isinstance(search_path, str)
    pg = psycopg.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                         dbname=parsed.database, options=search_path)
    statements = batch.statements("%s")
    try:
        start = time.perf_counter()
        with pg.transaction(), pg.cursor() as cur:
            for sql, rows in statements:
                cur.executemany(sql, rows)
        return time.perf_counter() - start
    finally:
        pg.close()


# ---------------------------------------------------------------- the trials


@dataclass
class Figures:
    """Times of one database's trials."""

    plan: list[float] = field(default_factory=list)
    run: list[float] = field(default_factory=list)
    plan_cpu: list[float] = field(default_factory=list)
    run_cpu: list[float] = field(default_factory=list)
    batch: list[float] = field(default_factory=list)
    phase: list[float] = field(default_factory=list)  # the run's own apply phase (its report)
    actions: set[int] = field(default_factory=set)
    batch_rows: set[int] = field(default_factory=set)
    by_kind: dict[str, int] = field(default_factory=dict)

    def apply(self) -> float:
        return statistics.median(self.run) - statistics.median(self.plan)


def trial_dss(db: Database, work: Path, figures: Figures) -> Rows:
    with db.fresh(work) as (folder, url):
        plan_s, plan_cpu, plan = dss("plan", folder, url)
        run_s, run_cpu, run = dss("run", folder, url)
        if run["totals"]["failed"] or run["totals"]["errors"]:
            failed = [a["message"] + ": " + a["result_message"] for a in run["actions"]
                      if a["result"] not in ("success",)][:5]
            raise SystemExit(f"dss run failed actions on {db.kind}: {failed}")
        if plan["totals"]["actions"] != run["totals"]["actions"]:
            raise SystemExit(f"plan had {plan['totals']['actions']} actions, run "
                             f"{run['totals']['actions']}")
        figures.plan.append(plan_s)
        figures.run.append(run_s)
        figures.plan_cpu.append(plan_cpu)
        figures.run_cpu.append(run_cpu)
        figures.phase.append(run["phases"]["apply"])
        figures.actions.add(run["totals"]["actions"])
        kinds: dict[str, int] = {}
        for a in run["actions"]:
            kinds[a["method"]] = kinds.get(a["method"], 0) + 1
        figures.by_kind = kinds
        return dump(url)


def trial_batch(db: Database, work: Path, target: Rows, figures: Figures) -> None:
    batch = Batch.between(db.stale, target)
    with db.fresh(work) as (_, url):
        figures.batch.append(apply_batch(url, batch))
        figures.batch_rows.add(batch.rows())
        if dump(url) != target:
            raise SystemExit(f"the SQL batch did not leave {db.kind} as dss did")


def make_template(folder: Path, users: int, seed: int, empty: bool) -> Rows:
    """Run the school example's generator into ``folder`` (SQLite LMS); the stale LMS's rows."""
    env = {k: v for k, v in os.environ.items() if k != schema.URL_VARIABLE}
    subprocess.run([sys.executable, "-m", "school_sync.generate", "--users", str(users),
                    "--seed", str(seed), "--out", str(folder)], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    url = schema.sqlite_url(folder / "lms.sqlite")
    if empty:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for table in reversed(TABLES):
                conn.execute(table.delete())
        engine.dispose()
    return dump(url)


def report(kind: str, f: Figures, repeat: int) -> list[str]:
    (actions,) = f.actions
    (rows,) = f.batch_rows
    apply_s, batch_s = f.apply(), statistics.median(f.batch)
    phase_s = statistics.median(f.phase)
    plan_s, run_s = statistics.median(f.plan), statistics.median(f.run)
    apply_cpu = statistics.median(f.run_cpu) - statistics.median(f.plan_cpu)

    def runs(xs: Sequence[float]) -> str:
        return ", ".join(f"{x:.2f}" for x in xs)

    return [
        f"{kind}: {actions:,} actions ({rows:,} rows in the SQL batch), {repeat} runs each",
        f"  dss plan  (import + diff)      median {plan_s:7.2f} s   (runs: {runs(f.plan)})",
        f"  dss run   (import + diff + apply) median {run_s:7.2f} s   (runs: {runs(f.run)})",
        f"  dss apply (run - plan)          {apply_s:7.2f} s   {actions / apply_s:9,.0f} actions/s"
        f"   (dss's own CPU: {apply_cpu:.2f} s)",
        f"  dss apply phase (its report)    {phase_s:7.2f} s   {actions / phase_s:9,.0f} actions/s"
        f"   (runs: {runs(f.phase)})",
        f"  SQL batch (one transaction)     {batch_s:7.2f} s   {actions / batch_s:9,.0f} actions/s"
        f"   (runs: {runs(f.batch)})",
        f"  dss apply / SQL batch: x{apply_s / batch_s:.1f}; dss apply phase / SQL batch: "
        f"x{phase_s / batch_s:.1f}",
        f"  end to end, dss run / (dss plan + SQL batch): x{run_s / (plan_s + batch_s):.2f}",
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20000, help="people at the school (20000)")
    parser.add_argument("--repeat", type=int, default=3, help="trials per contender (3)")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--empty", action="store_true",
                        help="start from empty LMS tables (every account, cohort and link new)")
    parser.add_argument("--dss", help="the dss command to measure (default: the one installed "
                                      "beside this Python), e.g. a wrapper running another commit")
    args = parser.parse_args(argv)
    if args.dss:
        DSS[:] = args.dss.split()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory(prefix="dss-sql-apply-") as tmp:
        work = Path(tmp)
        stale = make_template(work / "template", args.users, args.seed, args.empty)
        dbs = {k: Database(k, work / "template", stale) for k in kinds}
        figures = {k: Figures() for k in kinds}
        target: dict[str, Rows] = {}
        steps: list[tuple[str, Callable[[], None]]] = []
        for _ in range(args.repeat):  # interleaved: the machine's drift hits every contender
            for k in kinds:
                steps.append((f"{k} dss", lambda k=k: target.__setitem__(  # type: ignore[misc]
                    k, trial_dss(dbs[k], work, figures[k]))))
                steps.append((f"{k} batch", lambda k=k: trial_batch(  # type: ignore[misc]
                    dbs[k], work, target[k], figures[k])))
        for i, (name, step) in enumerate(steps, 1):
            print(f"[{i}/{len(steps)}] {name}", file=sys.stderr, flush=True)
            step()
    start = "empty LMS" if args.empty else "the generator's stale LMS"
    print(f"school first sync, {args.users:,} people (seed {args.seed}), from {start}")
    for k in kinds:
        print("\n".join(report(k, figures[k], args.repeat)))
    kinds_line = ", ".join(f"{m} {n:,}" for m, n in sorted(figures[kinds[0]].by_kind.items()))
    print(f"actions: {kinds_line}")


if __name__ == "__main__":
    main()
