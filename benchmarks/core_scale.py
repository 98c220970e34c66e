"""Core at scale: dss import + diff against the plain-Python script a user would write instead.

Roadmap data shape: a users file per side, ten columns (one a `;`-separated
list of groups), 1% rows with one changed value, 0.5% new, 0.5% removed,
0.5% changed membership. Each contender runs in its own process (peak RSS is
per process); the script prints the median wall time of N runs and the
ratio dss / baseline. Both must report the same counts.

    .venv/bin/python benchmarks/core_scale.py --rows 1000000 --runs 3
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

COLUMNS = ["idnumber", "first", "last", "email", "homeroom", "grade", "dept", "status", "phone",
           "groups"]


def generate(rows: int, folder: Path) -> tuple[Path, Path]:
    rnd = random.Random(42)
    src, dst = folder / f"src-{rows}.csv", folder / f"dst-{rows}.csv"
    if src.exists() and dst.exists():
        return src, dst
    with src.open("w", newline="") as fs, dst.open("w", newline="") as fd:
        ws, wd = csv.writer(fs), csv.writer(fd)
        ws.writerow(COLUMNS)
        wd.writerow(COLUMNS)
        for i in range(rows):
            row = [f"{i:08d}", f"F{i}", f"L{i % 977}", f"u{i}@example.org", f"{9 + i % 4}{'ABCD'[i % 4]}",
                   str(9 + i % 4), f"d{i % 37}", "active", f"555-{i % 10000:04d}",
                   ";".join(sorted({f"g{(i * 7) % 101}", f"g{(i * 13) % 53}"}))]
            r = rnd.random()
            if r < 0.005:  # only in source: new
                ws.writerow(row)
                continue
            if r < 0.010:  # only in destination: old
                wd.writerow(row)
                continue
            ws.writerow(row)
            other = list(row)
            if r < 0.020:
                other[3] = f"changed{i}@example.org"
            elif r < 0.025:
                other[9] = other[9] + ";gX"
            wd.writerow(other)
    return src, dst


def run_baseline(src: Path, dst: Path) -> dict[str, int]:
    def read(path: Path) -> dict[str, tuple[object, ...]]:
        with path.open(newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            return {r[0]: (*r[1:9], frozenset(r[9].split(";"))) for r in reader}

    s, d = read(src), read(dst)
    new = s.keys() - d.keys()
    old = d.keys() - s.keys()
    update = add = remove = 0
    for k in s.keys() & d.keys():
        a, b = s[k], d[k]
        if a != b:
            update += sum(1 for x, y in zip(a[:8], b[:8], strict=True) if x != y)
            add += len(a[8] - b[8])
            remove += len(b[8] - a[8])
    return {"new": len(new), "old": len(old), "update": update, "add": add, "remove": remove}


def user_model() -> type:
    """The users model both dss contenders import into."""
    from dss_core import Model

    class User(Model):
        first: str
        last: str
        email: str
        homeroom: str
        grade: str
        dept: str
        status: str
        phone: str
        groups: set[str]

    return User


def sync_counts(src_importer: type, dst_importer: type) -> dict[str, int]:
    """Import both sides with the given importers, diff, and count the actions by kind."""
    from dss_core import Branch, Tree

    user = user_model()
    source = type("S", (Tree,), {"name": "s", "users": Branch(user, src_importer)})()
    dest = type("D", (Tree,), {"name": "d", "users": Branch(user, dst_importer)})()
    +source
    +dest
    counts = dict.fromkeys(["new", "old", "update", "add", "remove"], 0)
    for action in source - dest:
        counts[action.kind] += 1
    return counts


def run_dss(src: Path, dst: Path) -> dict[str, int]:
    """dss with a minimal importer over csv.reader (the core's own cost)."""
    from dss_core import Importer, Origin, Record

    def reading(path: Path) -> type:
        class CSVFile(Importer):
            def readin(self):  # type: ignore[no-untyped-def]
                with path.open(newline="") as fh:
                    reader = csv.reader(fh)
                    header = next(reader)
                    for n, row in enumerate(reader, 2):
                        rec = dict(zip(header, row, strict=True))
                        rec["groups"] = row[9].split(";")
                        yield Record(rec, Origin(path.name, n))
        return CSVFile

    return sync_counts(reading(src), reading(dst))


def run_dss_csv(src: Path, dst: Path) -> dict[str, int]:
    """The same, reading both files with the dss-csv plugin's CSVImporter."""
    from dss_csv import CSVImporter

    def reading(path: Path) -> type:
        return type("Users", (CSVImporter,), {"path": str(path), "list_columns": {"groups": ";"}})

    return sync_counts(reading(src), reading(dst))


CONTENDERS = {"baseline": run_baseline, "dss": run_dss, "dss+csv": run_dss_csv}


def child(which: str, src: Path, dst: Path) -> None:
    start = time.perf_counter()
    counts = CONTENDERS[which](src, dst)
    wall = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "rss_mib": rss, "counts": counts}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path("/tmp/dss-bench"))
    parser.add_argument("--child", choices=list(CONTENDERS))
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    src, dst = generate(args.rows, args.data)
    if args.child:
        child(args.child, src, dst)
        return
    results: dict[str, list[dict[str, object]]] = {name: [] for name in CONTENDERS}
    for _ in range(args.runs):
        for which in results:
            out = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--data",
                                  str(args.data), "--child", which],
                                 check=True, capture_output=True, text=True).stdout
            results[which].append(json.loads(out))
    counts = {w: r[0]["counts"] for w, r in results.items()}
    assert all(c == counts["baseline"] for c in counts.values()), counts
    print(f"rows per side: {args.rows:,}; counts: {counts['dss']}")
    med = {}
    for which, runs in results.items():
        wall = statistics.median(float(r["wall"]) for r in runs)  # type: ignore[arg-type]
        rss = statistics.median(float(r["rss_mib"]) for r in runs)  # type: ignore[arg-type]
        med[which] = (wall, rss)
        walls = ", ".join(f"{float(r['wall']):.2f}" for r in runs)  # type: ignore[arg-type]
        print(f"{which:9s} wall median {wall:7.2f} s   peak RSS median {rss:7.0f} MiB   "
              f"(runs: {walls})")
    for which in CONTENDERS:
        if which != "baseline":
            print(f"{which} / baseline: wall x{med[which][0] / med['baseline'][0]:.2f}, "
                  f"memory x{med[which][1] / med['baseline'][1]:.2f}")


if __name__ == "__main__":
    main()
