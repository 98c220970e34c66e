"""dss against its peers: `dss plan` through the command, the plain-Python and DuckDB yardsticks,
polars and csv-diff, on the roadmap's users workload, in one interleaved run.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/peers.py --rows 10k,100k,1M --repeat 3

The workload is ``yardsticks/gen_data.py`` (a copy of ``../shared/bench``'s,
seeded): two users files of N rows per side, ten columns, one a ``;`` list of
groups; 1% rows with one changed value, 0.5% new, 0.5% removed, 0.5% changed
membership; ``expected.json`` holds the true counts. For each size, each
repetition runs every contender once, in turn, each in its own process:

* ``dss plan <dest>``: the real ``dss plan`` command (CSV source; CSV, SQLite or
  Postgres destination, ``--dest``), trees from ``peers_plugin/`` found through
  an entry point; ``+derived`` adds a derived attribute (a ``@property``) and a
  derived ``groups`` branch on both sides (``--derived``);
* ``plain`` (``yardsticks/diff_plain.py``, ``plain sqlite`` with ``--dest-sqlite``),
  ``duckdb`` (``yardsticks/diff_duckdb.py``), ``polars`` and ``csv-diff``
  (``peers_scripts/``).

Every contender's counts must equal the generator's (new, removed, changed rows,
changed cells, group members to add and to remove; dss's from its JSON report,
plus, with ``+derived``, the derived attribute's updates and the groups branch's
member changes computed here). Measured per run: wall time, CPU time (user +
system, the child's rusage) and peak memory (the child's ``ru_maxrss``). Printed:
medians per contender and the ratios of each dss contender to each peer; drawn:
time and memory against rows (``--png``, default ``benchmarks/peers.png``).

A contender whose estimated peak memory (its measured bytes per row at a smaller
size of this run, else a prior) exceeds ``--mem-budget`` is skipped with the
reason; pure-Python contenders also run under ``RLIMIT_AS``, and every contender
under ``--timeout``. A contender that failed or timed out is not run at larger sizes.
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import functools
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
YARDSTICKS = HERE / "yardsticks"
SCRIPTS = HERE / "peers_scripts"
PLUGIN = HERE / "peers_plugin"
SHARED = HERE.parent.parent / "shared" / "bench"  # the originals, beside the repository
PY = sys.executable
DSS = str(Path(sys.executable).with_name("dss"))
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "dss_bench_peers"
GIB = 1 << 30
MIB = 1 << 20
COUNT_KEYS = ("new", "removed", "changed_rows", "changed_cells", "groups_to_add",
              "groups_to_remove")
#: peak memory per million rows per side before anything is measured in this run (MiB:
#: measured at 1M rows per side on 2026-11-27, plus about 10%; dss: the compact columnar
#: path, 390 MiB measured, plus a margin), used to skip a contender that would not fit
PRIOR_MIB_PER_M = {"dss": 500, "dss+derived": 2900, "plain": 1700, "duckdb": 510,
                   "polars": 1100, "csv-diff": 2000}
#: peak memory of yardsticks/gen_data.py per million rows per side (MiB; 540 measured at 1M)
GEN_MIB_PER_M = 600
#: contenders that are Python all the way: RLIMIT_AS is their guard (DuckDB and polars
#: reserve address space they never touch, so only the estimate guards them)
PURE_PYTHON = ("dss", "plain", "csv-diff")


# ---------------------------------------------------------------- sizes and data


def parse_rows(text: str) -> list[int]:
    """``"10k,100k,1M"`` -> ``[10000, 100000, 1000000]``."""
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        mult = {"k": 1_000, "m": 1_000_000}.get(part[-1:], 1)
        out.append(int(float(part.rstrip("km")) * mult))
    return sorted(set(out))


def human(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else (
        f"{rows // 1000}k" if rows % 1000 == 0 else str(rows))


def check_yardsticks() -> None:
    """Say so if the copies in yardsticks/ are no longer those of ../shared/bench."""
    if not SHARED.is_dir():
        return
    for name in ("gen_data.py", "diff_plain.py", "diff_duckdb.py"):
        if (SHARED / name).exists() and not filecmp.cmp(SHARED / name, YARDSTICKS / name,
                                                        shallow=False):
            print(f"note: yardsticks/{name} differs from {SHARED / name}", file=sys.stderr)


DSS_TOML = """\
# written by benchmarks/peers.py: the settings of its trees (peers_plugin/dss_peers_bench.py)
[trees.peers_source.users]
path = "source.csv"
[trees.peers_source_derived.users]
path = "source.csv"
[trees.peers_dest_csv.users]
path = "dest.csv"
[trees.peers_dest_csv_derived.users]
path = "dest.csv"
[trees.peers_dest_sqlite]
url = "sqlite:///dest.sqlite"
[trees.peers_dest_sqlite_derived]
url = "sqlite:///dest.sqlite"
[trees.peers_dest_postgres]
url = "{pg}"
[trees.peers_dest_postgres.users]
table = "{table}"
[trees.peers_dest_postgres_derived]
url = "{pg}"
[trees.peers_dest_postgres_derived.users]
table = "{table}"
"""


def prepare(folder: Path, rows: int, seed: int, sqlite: bool, pg_url: str,
            budget: float, generator: str = "gen_data") -> dict[str, Any]:
    """Generate the workload in ``folder`` once (kept for later runs); its expected counts.

    ``generator`` ``"big"``: ``gen_big.py`` (vectorised, streamed; no ``dest.sqlite``).
    """
    expected_path = folder / "expected.json"
    have = json.loads(expected_path.read_text()) if expected_path.exists() else {}
    made_by = {"gen_data": None, "big": "gen_big.py"}[generator]
    if generator == "big" and sqlite:
        raise Failed("gen_big.py writes no dest.sqlite: use --dest csv,postgres")
    if (have.get("rows_source") != rows or have.get("seed") != seed
            or have.get("generator") != made_by
            or (sqlite and not (folder / "dest.sqlite").exists())):
        need = GEN_MIB_PER_M * rows / 1e6
        if generator == "big":
            print(f"generating {rows:,} rows per side in {folder} (gen_big.py) ...",
                  file=sys.stderr, flush=True)
            subprocess.run([PY, str(HERE / "gen_big.py"), "--rows", str(rows), "--out",
                            str(folder), "--seed", str(seed)], check=True,
                           stdout=subprocess.DEVNULL)
        elif need * MIB > budget:
            raise Failed(f"generating it would need about {need:,.0f} MiB (gen_data.py holds "
                         f"every row), over --mem-budget {budget / GIB:g} GiB")
        else:
            print(f"generating {rows:,} rows per side in {folder} ...", file=sys.stderr,
                  flush=True)
            subprocess.run([PY, str(YARDSTICKS / "gen_data.py"), "--rows", str(rows), "--out",
                            str(folder), "--seed", str(seed), *(["--sqlite"] if sqlite else [])],
                           check=True, stdout=subprocess.DEVNULL)
        have = json.loads(expected_path.read_text())
    pg = f"{pg_url}?options=-csearch_path%3D{PG_SCHEMA}"
    (folder / "dss.toml").write_text(DSS_TOML.format(pg=pg, table=f"users_{rows}_{seed}"))
    return have


def load_postgres(folder: Path, rows: int, seed: int, pg_url: str) -> None:
    """dest.csv as table dss_bench_peers.users_<rows>_<seed> (made once, by COPY)."""
    import psycopg

    table = f"{PG_SCHEMA}.users_{rows}_{seed}"
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}")
        exists = con.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if exists and exists[0] and con.execute(
                f"SELECT count(*) FROM {table}").fetchone() == (rows,):
            return
        print(f"loading {folder / 'dest.csv'} into {table} ...", file=sys.stderr, flush=True)
        with open(folder / "dest.csv", newline="") as fh:
            columns = next(csv.reader(fh))
        defs = ", ".join(f"{c} text {'PRIMARY KEY' if c == 'idnumber' else 'NOT NULL'}"
                         for c in columns)
        with con.transaction():
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(f"CREATE TABLE {table} ({defs})")
            sql = (f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true, "
                   f"FORCE_NOT_NULL ({', '.join(columns)}))")  # an empty field is ''
            with con.cursor().copy(sql) as copy, open(folder / "dest.csv", "rb") as fh:
                while block := fh.read(1 << 20):
                    copy.write(block)
        con.execute(f"ANALYZE {table}")


def expected_derived(folder: Path, expected: dict[str, Any]) -> dict[str, int]:
    """What dss must find with ``+derived``, computed here from the files (cached)."""
    path = folder / "expected_derived.json"
    if path.exists():
        return dict(json.loads(path.read_text()))

    def memberships(name: str) -> set[tuple[str, str]]:
        with open(folder / name, newline="") as fh:
            reader = csv.DictReader(fh)
            return {(g, row["idnumber"]) for row in reader for g in row["groups"].split(";") if g}

    src, dst = memberships("source.csv"), memberships("dest.csv")
    src_groups, dst_groups = {g for g, _ in src}, {g for g, _ in dst}
    common = src_groups & dst_groups  # dss: a new or old group carries its members
    by_col = expected["changed_by_column"]
    out = {
        "display_name_updates": by_col["firstname"] + by_col["lastname"],
        "groups_new": len(src_groups - dst_groups), "groups_old": len(dst_groups - src_groups),
        "members_to_add": sum(1 for g, _ in src - dst if g in common),
        "members_to_remove": sum(1 for g, _ in dst - src if g in common),
    }
    path.write_text(json.dumps(out, indent=2, sort_keys=True))
    return out


# ---------------------------------------------------------------- contenders


@dataclass
class Contender:
    """One way of computing the diff: a command and how to read its counts."""

    name: str
    family: str  # key of PRIOR_MIB_PER_M
    argv: Callable[[Path], list[str]]
    counts: Callable[[Path, str], dict[str, int]]  # (data folder, stdout) -> counts
    derived: bool = False
    peer: bool = True

    def pure_python(self) -> bool:
        return self.family.split("+")[0] in PURE_PYTHON


def json_counts(folder: Path, out: str) -> dict[str, int]:
    """A peer's counts: its one JSON line."""
    data = json.loads(out.strip().splitlines()[-1])
    return {k: data[k] for k in COUNT_KEYS}


def dss_counts(folder: Path, stdout: str, derived: bool) -> dict[str, int]:
    """dss's counts, from its JSON report, in the peers' terms (a changed list is one cell)."""
    report = json.loads((folder / "report.json").read_text())
    if report["error"] or report["totals"]["errors"]:
        raise ValueError(f"dss reported errors: {report['error'] or report['totals']}")
    users: dict[str, set[str]] = {"update": set(), "list": set()}
    n: dict[str, int] = {}
    for a in report["actions"]:
        key = f"{a['branch']}.{a['kind']}"
        if a["branch"] == "users" and a["attribute"] == "display_name":
            key = "users.display_name"
        n[key] = n.get(key, 0) + 1
        if a["branch"] == "users" and a["kind"] == "update" and key != "users.display_name":
            users["update"].add(a["idnumber"])
        elif a["branch"] == "users" and a["kind"] in ("add", "remove"):
            users["list"].add(a["idnumber"])
    out = {"new": n.get("users.new", 0), "removed": n.get("users.old", 0),
           "changed_rows": len(users["update"] | users["list"]),
           "changed_cells": n.get("users.update", 0) + len(users["list"]),
           "groups_to_add": n.get("users.add", 0), "groups_to_remove": n.get("users.remove", 0)}
    if derived:
        out.update({"display_name_updates": n.get("users.display_name", 0),
                    "groups_new": n.get("groups.new", 0), "groups_old": n.get("groups.old", 0),
                    "members_to_add": n.get("groups.add", 0),
                    "members_to_remove": n.get("groups.remove", 0)})
    return out


def dss_argv(datastore: str) -> Callable[[Path], list[str]]:
    """``dss plan DATASTORE`` in a data folder, its JSON report beside the data."""
    def argv(f: Path) -> list[str]:
        return [DSS, "--config", str(f / "dss.toml"), "plan", datastore, "-q",
                "--report", str(f / "report.json"), "--allow-deletions", "1000000000"]
    return argv


def contenders(dests: Sequence[str], derived: str, which: set[str]) -> list[Contender]:
    out = []
    for dest in dests:
        for d in {"no": [False], "yes": [True], "both": [False, True]}[derived]:
            name = f"dss plan {dest}" + (" +derived" if d else "")
            datastore = f"peers_{dest}" + ("_derived" if d else "")
            out.append(Contender(name, "dss+derived" if d else "dss", dss_argv(datastore),
                                 functools.partial(dss_counts, derived=d), derived=d,
                                 peer=False))

    def script(path: Path, *extra: str) -> Callable[[Path], list[str]]:
        return lambda f: [PY, str(path), str(f / "source.csv"), str(f / "dest.csv"),
                          *[e.format(f=f) for e in extra]]

    out += [
        Contender("plain", "plain", script(YARDSTICKS / "diff_plain.py"), json_counts),
        Contender("plain sqlite", "plain",
                  script(YARDSTICKS / "diff_plain.py", "--dest-sqlite", "{f}/dest.sqlite"),
                  json_counts),
        Contender("duckdb", "duckdb", script(YARDSTICKS / "diff_duckdb.py"), json_counts),
        Contender("polars", "polars", script(SCRIPTS / "diff_polars.py"), json_counts),
        Contender("csv-diff", "csv-diff", script(SCRIPTS / "diff_csvdiff.py"), json_counts),
    ]
    if "sqlite" not in dests:
        out = [c for c in out if c.name != "plain sqlite"]
    return [c for c in out if not which or c.name.split(" ")[0] in which or c.name in which]


# ---------------------------------------------------------------- one measured child


@dataclass
class Measure:
    wall: float
    cpu: float
    peak_mib: float
    counts: dict[str, int]


class Failed(Exception):
    """A contender that crashed, was killed or timed out."""


def run_child(argv: list[str], env: dict[str, str], cwd: Path, limit_as: int | None,
              timeout: float) -> tuple[float, resource.struct_rusage, str]:
    """Run ``argv`` as its own process; (wall seconds, its rusage, its stdout)."""
    out_path, err_path = cwd / "child.out", cwd / "child.err"

    def limits() -> None:
        if limit_as is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))

    with open(out_path, "w") as out, open(err_path, "w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd,
                                preexec_fn=limits)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        why = (f"killed after the {timeout:.0f} s timeout" if wall >= timeout
               else f"exit {proc.returncode}")
        tail = err_path.read_text()[-600:].strip()
        raise Failed(f"{why}: {tail}")
    return wall, usage, out_path.read_text()


def measure(c: Contender, folder: Path, env: dict[str, str], limit_as: int | None,
            timeout: float) -> Measure:
    wall, usage, out = run_child(c.argv(folder), env, folder, limit_as, timeout)
    return Measure(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                   c.counts(folder, out))


# ---------------------------------------------------------------- the run


@dataclass
class Results:
    """Everything measured, per size and contender."""

    runs: dict[int, dict[str, list[Measure]]] = field(default_factory=dict)
    skipped: dict[int, dict[str, str]] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)

    def median(self, rows: int, name: str, what: str) -> float:
        return statistics.median(getattr(m, what) for m in self.runs[rows][name])


def estimate_mib(c: Contender, rows: int, results: Results) -> tuple[float, str]:
    """Peak memory ``c`` needs at ``rows``: from its largest measured size, else the prior."""
    measured = [(r, results.median(r, c.name, "peak_mib")) for r in results.runs
                if r < rows and r >= 100_000 and results.runs[r].get(c.name)]
    if measured:
        r, mib = max(measured)
        return mib * rows / r, f"{mib:,.0f} MiB measured at {r:,} rows"
    per_m = PRIOR_MIB_PER_M[c.family]
    return per_m * rows / 1e6, f"prior {per_m:,} MiB per million rows"


def run_size(rows: int, folder: Path, todo: list[Contender], args: argparse.Namespace,
             results: Results, gone: dict[str, str], env: dict[str, str]) -> None:
    budget = args.mem_budget * GIB
    results.runs[rows] = {}
    results.skipped[rows] = {}
    try:
        expected = prepare(folder, rows, args.seed, "sqlite" in args.dest, args.postgres_url,
                           budget, args.generator)
    except Failed as exc:
        for c in todo:
            results.skipped[rows][c.name] = str(exc)
        print(f"  {human(rows)}: skipped: {exc}", file=sys.stderr, flush=True)
        return
    active = []
    for c in todo:
        est, basis = estimate_mib(c, rows, results)
        if c.name in gone:
            results.skipped[rows][c.name] = gone[c.name]
        elif est * MIB > budget:
            results.skipped[rows][c.name] = (
                f"would need about {est / 1024:.1f} GiB ({basis}), over --mem-budget "
                f"{args.mem_budget:g} GiB")
        else:
            active.append(c)
            results.runs[rows][c.name] = []
    if any(c.name.startswith("dss plan postgres") for c in active):
        load_postgres(folder, rows, args.seed, args.postgres_url)
    for why_name, why in results.skipped[rows].items():
        print(f"  {human(rows)}: skipping {why_name}: {why}", file=sys.stderr, flush=True)
    derived = expected_derived(folder, expected) if any(c.derived for c in active) else {}
    want = {k: expected[k] for k in COUNT_KEYS}
    for rep in range(args.repeat):  # interleaved: the machine's drift hits every contender
        for c in active:
            if c.name in gone:
                continue
            print(f"  {human(rows)} run {rep + 1}/{args.repeat}: {c.name}", file=sys.stderr,
                  flush=True)
            limit = int(budget + GIB) if c.pure_python() else None
            try:
                m = measure(c, folder, env, limit, args.timeout)
            except (Failed, ValueError, KeyError, json.JSONDecodeError) as exc:
                gone[c.name] = f"failed at {rows:,} rows: {exc}"
                print(f"    {c.name} {gone[c.name]}", file=sys.stderr, flush=True)
                del results.runs[rows][c.name]
                results.skipped[rows][c.name] = gone[c.name]
                continue
            target = {**want, **(derived if c.derived else {})}
            if m.counts != target:
                results.wrong.append(f"{c.name} at {rows:,} rows: {m.counts} != {target}")
                print(f"    WRONG COUNTS {results.wrong[-1]}", file=sys.stderr, flush=True)
            results.runs[rows][c.name].append(m)


# ---------------------------------------------------------------- output


def table(rows: int, results: Results, cs: list[Contender]) -> list[str]:
    runs = results.runs[rows]
    lines = [f"rows per side: {rows:,}",
             f"  {'contender':<26}{'wall, median':>13}{'CPU':>9}{'peak memory':>13}  counts"]
    for c in cs:
        if c.name in runs and runs[c.name]:
            med = {w: results.median(rows, c.name, w) for w in ("wall", "cpu", "peak_mib")}
            walls = ", ".join(f"{m.wall:.2f}" for m in runs[c.name])
            ok = "WRONG" if any(w.startswith(f"{c.name} at {rows:,} ") for w in results.wrong) \
                else "ok"
            lines.append(f"  {c.name:<26}{med['wall']:>11.2f} s{med['cpu']:>7.2f} s"
                         f"{med['peak_mib']:>9,.0f} MiB  {ok}   (walls: {walls})")
        elif c.name in results.skipped[rows]:
            lines.append(f"  {c.name:<26}   skipped: {results.skipped[rows][c.name]}")
    ours = [c for c in cs if not c.peer and runs.get(c.name)]
    peers = [c for c in cs if c.peer and runs.get(c.name)]
    if ours and peers:
        lines.append("  ratios dss / peer (wall, CPU, memory):")
        for o in ours:
            cells = []
            for p in peers:
                r = [results.median(rows, o.name, w) / results.median(rows, p.name, w)
                     for w in ("wall", "cpu", "peak_mib")]
                cells.append(f"{p.name} x{r[0]:.1f} x{r[1]:.1f} x{r[2]:.1f}")
            lines.append(f"    {o.name:<24} " + "; ".join(cells))
    return lines


def plot(results: Results, cs: list[Contender], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(13, 5.5))
    colours = [plt.get_cmap("tab20")(k) for k in range(20)]
    for i, c in enumerate(cs):
        pts = sorted((r, results.median(r, c.name, "wall"), results.median(r, c.name, "peak_mib"))
                     for r in results.runs if results.runs[r].get(c.name))
        if not pts:
            continue
        style = "-o" if not c.peer else "--s"
        xs = [p[0] for p in pts]
        colour = colours[(2 * i) % 20 if i < 10 else (2 * i + 1) % 20]
        ax_t.plot(xs, [p[1] for p in pts], style, label=c.name, color=colour)
        ax_m.plot(xs, [p[2] for p in pts], style, label=c.name, color=colour)
    for ax, label in ((ax_t, "wall time, median (s)"), (ax_m, "peak memory, median (MiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows per side")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    ax_m.legend(fontsize=8, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return f"{os.cpu_count()} cores, {mem:.0f} GiB, {platform.python_implementation()} " \
           f"{platform.python_version()}, {platform.system()} {platform.release()}"


def available_gib() -> float:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / (1 << 20)
    return 8.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="10k,100k", help="sizes per side: 10k,100k,1M,10M")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender and size (3)")
    parser.add_argument("--dest", default="csv,sqlite,postgres",
                        help="dss's destinations: csv,sqlite,postgres (all)")
    parser.add_argument("--derived", choices=["no", "yes", "both"], default="both",
                        help="dss without (no), with (yes) the derived attribute and groups "
                             "branch, or both (default)")
    parser.add_argument("--only", default="",
                        help="contenders to run, e.g. dss,plain,duckdb (default: all)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--generator", choices=["gen_data", "big"], default="gen_data",
                        help="the workload's generator: yardsticks/gen_data.py (default) or "
                             "gen_big.py (vectorised, for 10M and 100M; no dest.sqlite)")
    parser.add_argument("--data", type=Path, default=Path("/tmp/dss-peers"),
                        help="where the workload is generated and kept (/tmp/dss-peers)")
    parser.add_argument("--mem-budget", type=float,
                        default=round(min(12.0, 0.7 * available_gib()), 1),
                        help="GiB a contender may use; one estimated above it is skipped "
                             "(default: 70%% of the memory available, at most 12)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run (900)")
    parser.add_argument("--postgres-url", default=PG_URL)
    parser.add_argument("--png", type=lambda text: Path(text) if text else None,
                        default=HERE / "peers.png", help="the plot (default benchmarks/peers.png; "
                                                         "'' for none)")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    args = parser.parse_args(argv)
    args.dest = [d.strip() for d in args.dest.split(",") if d.strip()]
    unknown = set(args.dest) - {"csv", "sqlite", "postgres"}
    if unknown:
        parser.error(f"--dest: unknown destination {', '.join(sorted(unknown))}")
    sizes = parse_rows(args.rows)
    check_yardsticks()
    cs = contenders(args.dest, args.derived,
                    {w.strip() for w in args.only.split(",") if w.strip()})
    args.data.mkdir(parents=True, exist_ok=True)
    env = plugin_env(args.data)
    results, gone = Results(), dict[str, str]()
    for rows in sizes:
        run_size(rows, args.data / f"rows-{rows}", cs, args, results, gone, env)
    lines = [f"dss against its peers: {args.repeat} interleaved runs per size; {machine()}; "
             f"memory budget {args.mem_budget:g} GiB"]
    for rows in sizes:
        lines += table(rows, results, cs)
    print("\n".join(lines))
    for w in results.wrong:
        print(f"WRONG COUNTS: {w}")
    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine(), "repeat": args.repeat, "skipped": results.skipped,
            "runs": {r: {n: [m.__dict__ for m in ms] for n, ms in v.items()}
                     for r, v in results.runs.items()}}, indent=1))
    if args.png:
        plot(results, cs, args.png, f"dss plan vs peers, median of {args.repeat} runs; "
                                    f"{machine()}")
        print(f"plot: {args.png}")
    return 1 if results.wrong else 0


def plugin_env(data: Path) -> dict[str, str]:
    """The environment of every child: the benchmark's dss plugin found through an entry point.

    A ``.dist-info`` folder naming ``peers_plugin/dss_peers_bench.py`` under the group ``dss``
    is written into ``data``; both go on PYTHONPATH, so the real ``dss`` command loads it
    and nothing is installed. ``DSS_PLUGINS`` loads only it, dss-csv, dss-sql and dss-postgres.
    """
    dist = data / "plugin" / "dss_peers_bench-0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: dss-peers-bench\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[dss]\npeers-bench = dss_peers_bench\n")
    state = data / "state"
    if state.exists():
        shutil.rmtree(state)
    path = os.pathsep.join(p for p in (str(data / "plugin"), str(PLUGIN),
                                       os.environ.get("PYTHONPATH", "")) if p)
    # only the plugins the trees need: another installed plugin neither costs time nor breaks it
    env = {**os.environ, "PYTHONPATH": path, "DSS_STATE_DIR": str(state),
           "DSS_PLUGINS": "peers-bench,csv,sql,postgres"}
    compile_packages(env)
    return env


def compile_packages(env: dict[str, str]) -> None:
    """Compile the dss the children run to ``.pyc`` files, as ``pip install`` does for a user.

    An environment that sets ``PYTHONDONTWRITEBYTECODE`` (these machines do) would otherwise
    have every ``dss`` start compile dss's own modules again (about 0.1 s of CPU), a cost no
    installed dss pays; the yardsticks are one file each and pay it as dss's command file does.
    """
    code = ("import compileall, importlib, os\n"
            "for name in ('dss_core', 'dss_csv', 'dss_sql', 'dss_postgres', 'dss_peers_bench'):\n"
            "    compileall.compile_dir(os.path.dirname(importlib.import_module(name).__file__), quiet=1)\n")
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


if __name__ == "__main__":
    sys.exit(main())
