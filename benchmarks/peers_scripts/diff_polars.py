#!/usr/bin/env python3
"""polars diff, as a user would write it: both CSVs read as strings, one full join on
idnumber, null-safe per-column inequality, ';'-list member diff on the changed lists.

Usage: diff_polars.py SOURCE.csv DEST.csv
Prints one JSON line with the counts (the keys of ../yardsticks/diff_plain.py).
"""

import json
import sys

import polars as pl

KEY = "idnumber"
LIST = "groups"


def main(argv: list[str]) -> None:
    src_path, dst_path = argv[:2]
    src = pl.scan_csv(src_path, infer_schema=False, empty_string_is_null=False)
    dst = pl.scan_csv(dst_path, infer_schema=False, empty_string_is_null=False)
    attrs = [c for c in src.collect_schema().names() if c != KEY]
    j = src.join(dst, on=KEY, how="full", suffix="_d", coalesce=False)
    both = pl.col(KEY).is_not_null() & pl.col(f"{KEY}_d").is_not_null()
    cells = pl.sum_horizontal([pl.col(c).ne_missing(pl.col(f"{c}_d")).cast(pl.Int64)
                               for c in attrs])
    lists = [pl.col(c).str.split(";").list.eval(pl.element().filter(pl.element() != ""))
             for c in (LIST, f"{LIST}_d")]
    changed_list = both & pl.col(LIST).ne_missing(pl.col(f"{LIST}_d"))
    counts = j.select(
        pl.col(f"{KEY}_d").is_null().sum().alias("new"),
        pl.col(KEY).is_null().sum().alias("removed"),
        (both & (cells > 0)).sum().alias("changed_rows"),
        cells.filter(both).sum().alias("changed_cells"),
        lists[0].list.set_difference(lists[1]).list.len().filter(changed_list).sum()
        .alias("groups_to_add"),
        lists[1].list.set_difference(lists[0]).list.len().filter(changed_list).sum()
        .alias("groups_to_remove"),
    ).collect()
    row = {k: int(v or 0) for k, v in counts.row(0, named=True).items()}
    print(json.dumps({"method": "polars", **row}))


if __name__ == "__main__":
    main(sys.argv[1:])
