#!/usr/bin/env python3
"""The peers' workload at big sizes (10M, 100M rows per side), vectorised and streamed.

The same files as ``yardsticks/gen_data.py`` (read its docstring): ``source.csv`` and
``dest.csv`` of N data rows each, the same ten columns and value pools (first and
last names, departments, one with a comma, statuses, 0 to 4 of 500 groups joined by
``;`` and sorted), the same proportions (1% of rows with one changed attribute, 0.5%
new, 0.5% removed, 0.5% with a changed groups list, disjoint), source in generation
order and dest shuffled, and ``expected.json`` with the same keys. The edits of the
changed rows are gen_data.py's own ``change_attr`` and ``change_groups``.

Not byte-identical to gen_data.py (which holds every row in Python lists: 14 minutes
and about 6 GiB at 10M): each row's values come from a counter-based hash
(splitmix64 of the seed and the row's number), so any row can be made again in any
order, and the files are written by polars in chunks of ``--chunk`` rows (memory:
the chunk, plus 8 bytes per row for dest's order). The idnumbers are an affine
permutation of ``0 .. 10**digits - 1`` (so distinct), zero-padded: 8 digits as in
gen_data.py up to 25M ids, 9 beyond (100M rows per side need more than 8 digits
allow); about 10% start with a zero either way.

Usage: gen_big.py --rows 100000000 --out DIR [--seed 42] [--chunk 2000000]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent / "yardsticks"))
import gen_data  # noqa: E402  (the pools and the edits of the changed rows)

COLUMNS = gen_data.COLUMNS
M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser over uint64 (wrapping arithmetic): 64 random bits per input."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _alnum_lower(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


class Rows:
    """Row ``i`` of the workload (``0 <= i < N``: source's rows; ``N <= i``: dest's removed)."""

    def __init__(self, seed: int, digits: int) -> None:
        self.key = np.uint64((seed * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF)
        self.digits = digits
        modulus = 10 ** digits
        r = random.Random(seed)
        # a multiplier prime to 10 makes i -> (a*i + b) mod 10**digits a permutation
        self.a = r.randrange(modulus // 3, modulus) | 1
        while self.a % 5 == 0:
            self.a += 2
        self.b = r.randrange(modulus)
        self.modulus = modulus
        self.first = pl.Series(gen_data.FIRST)
        self.last = pl.Series(gen_data.LAST)
        self.first_base = pl.Series([_alnum_lower(f) for f in gen_data.FIRST])
        self.last_base = pl.Series([_alnum_lower(x) for x in gen_data.LAST])
        self.staff = pl.Series(gen_data.STAFF_DEPTS)
        self.statuses = pl.Series(gen_data.STATUSES)
        self.groups = pl.Series(gen_data.GROUPS + [None])  # index 500: no group
        self.letters = pl.Series(list("ABCDEF"))

    def bits(self, i: np.ndarray, draw: int) -> np.ndarray:
        return splitmix((i.astype(np.uint64) * np.uint64(8) + np.uint64(draw)) ^ self.key)

    def group_picks(self, i: np.ndarray) -> np.ndarray:
        """(n, 4) sorted distinct group numbers, 500 past each row's count (0 to 4)."""
        weights = np.array(gen_data.GROUP_COUNT_WEIGHTS)
        k = weights[(self.bits(i, 2) % np.uint64(len(weights))).astype(np.int64)]
        picks = np.empty((len(i), 4), dtype=np.int64)
        todo = np.arange(len(i))
        draw = 3
        while len(todo):
            h = self.bits(i[todo], draw)
            h2 = self.bits(i[todo], draw + 1)
            p = np.stack([h % np.uint64(500), (h >> np.uint64(32)) % np.uint64(500),
                          h2 % np.uint64(500), (h2 >> np.uint64(32)) % np.uint64(500)],
                         axis=1).astype(np.int64)
            p[np.arange(4)[None, :] >= k[todo][:, None]] = 500
            p.sort(axis=1)
            dup = ((p[:, 1:] == p[:, :-1]) & (p[:, 1:] < 500)).any(axis=1)
            picks[todo[~dup]] = p[~dup]
            todo = todo[dup]
            draw += 2  # the rows with a repeated group draw again
        return picks

    def frame(self, i: np.ndarray) -> pl.DataFrame:
        """The rows numbered ``i`` (int64), as strings; empty values as ``""``."""
        h = self.bits(i, 0)
        h1 = self.bits(i, 1)
        ids = (i.astype(np.uint64) * np.uint64(self.a) + np.uint64(self.b)) % np.uint64(
            self.modulus)
        fi = (h % np.uint64(len(self.first))).astype(np.int64)
        li = ((h >> np.uint64(16)) % np.uint64(len(self.last))).astype(np.int64)
        student = ((h >> np.uint64(32)) % np.uint64(10)) < np.uint64(8)
        grade = ((h >> np.uint64(40)) % np.uint64(12) + np.uint64(1)).astype(np.int64)
        letter = ((h >> np.uint64(48)) % np.uint64(6)).astype(np.int64)
        dept = (h1 % np.uint64(len(self.staff))).astype(np.int64)
        status = ((h1 >> np.uint64(16)) % np.uint64(len(self.statuses))).astype(np.int64)
        picks = self.group_picks(i)
        idn = pl.Series(ids).cast(pl.Utf8).str.zfill(self.digits)
        base = pl.Series(self.first_base.gather(fi) + self.last_base.gather(li))
        df = pl.DataFrame({
            "idnumber": idn, "firstname": self.first.gather(fi), "lastname": self.last.gather(li),
            "base": base, "student": student, "grade_n": grade,
            "letter": self.letters.gather(letter), "staff": self.staff.gather(dept),
            "status": self.statuses.gather(status),
            **{f"g{j}": self.groups.gather(picks[:, j]) for j in range(4)}})
        g = pl.col("grade_n").cast(pl.Utf8)
        return df.select(
            "idnumber", "firstname", "lastname",
            email=pl.concat_str([pl.col("base"), pl.lit("."), pl.col("idnumber").str.slice(-3),
                                 pl.lit("@example.org")]),
            username=pl.concat_str([pl.col("base"), pl.col("idnumber").str.slice(-4)]),
            department=pl.when("student").then(pl.lit("Students")).otherwise("staff"),
            homeroom=pl.when("student").then(pl.concat_str([g, pl.col("letter")]))
            .otherwise(pl.lit("")),
            grade=pl.when("student").then(g).otherwise(pl.lit("")),
            status=pl.col("status"),
            groups=pl.concat_str([f"g{j}" for j in range(4)], separator=";", ignore_nulls=True))


def write(path: Path, frames, header: bool = True) -> None:
    """The frames as one CSV file (minimal quoting as the csv module, empty values bare)."""
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as f:
        for n, df in enumerate(frames):
            df = df.with_columns(pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c))
                                 .alias(c) for c in COLUMNS)
            df.write_csv(f, include_header=header and n == 0)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, required=True, help="rows in each file (N)")
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--chunk", type=int, default=2_000_000, help="rows per chunk (2M)")
    args = ap.parse_args()
    t0 = time.monotonic()
    n, chunk = args.rows, args.chunk
    n_new = round(n * 0.005)
    n_removed = round(n * 0.005)
    n_attr = round(n * 0.01)
    n_groups = round(n * 0.005)
    digits = 8 if (n + n_removed) * 4 <= 10 ** 8 else 9
    rows = Rows(args.seed, digits)

    nrng = np.random.default_rng(args.seed)
    picked = nrng.choice(n, n_new + n_attr + n_groups, replace=False)
    new_idx = picked[:n_new]
    attr_idx = picked[n_new:n_new + n_attr]
    group_idx = picked[n_new + n_attr:]

    # the changed rows, edited by gen_data.py's own functions (a Python list per row)
    rng = random.Random(args.seed)
    by_col = {c: 0 for c in COLUMNS[1:]}
    g_add = g_remove = 0
    changed_idx = np.concatenate([attr_idx, group_idx])
    changed_rows = rows.frame(changed_idx).rows()
    edited = []
    for k, row in enumerate(changed_rows):
        r = list(row)
        if k < n_attr:
            by_col[gen_data.change_attr(rng, r)] += 1
        else:
            a, b = gen_data.change_groups(rng, r)
            g_add += a
            g_remove += b
            by_col["groups"] += 1
        edited.append(r)
    changed = pl.DataFrame(edited, schema=COLUMNS, orient="row").with_columns(
        _i=pl.Series(changed_idx))
    del changed_rows, edited

    args.out.mkdir(parents=True, exist_ok=True)
    write(args.out / "source.csv",
          (rows.frame(np.arange(s, min(n, s + chunk), dtype=np.int64))
           for s in range(0, n, chunk)))
    print(f"source.csv: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)

    keep = np.ones(n + n_removed, dtype=bool)
    keep[new_idx] = False
    order = np.flatnonzero(keep)
    del keep
    nrng.shuffle(order)

    def dest_frames():
        for s in range(0, len(order), chunk):
            i = order[s:s + chunk]
            yield (rows.frame(i).with_columns(_i=pl.Series(i))
                   .update(changed, on="_i").drop("_i"))

    write(args.out / "dest.csv", dest_frames())
    print(f"dest.csv: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)

    expected = {
        "rows_source": n,
        "rows_dest": len(order),
        "new": n_new,
        "removed": n_removed,
        "changed_rows": n_attr + n_groups,
        "changed_cells": n_attr + n_groups,
        "groups_to_add": g_add,
        "groups_to_remove": g_remove,
        "changed_by_column": by_col,
        "seed": args.seed,
        "generator": "gen_big.py",
    }
    (args.out / "expected.json").write_text(json.dumps(expected, indent=2, sort_keys=True))
    print(json.dumps(expected, sort_keys=True))


if __name__ == "__main__":
    main()
