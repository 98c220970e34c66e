#!/usr/bin/env python3
"""csv-diff (Simon Willison's library, the `csv-diff` command's own code): load both files
keyed on idnumber, compare, count what it reports.

Usage: diff_csvdiff.py SOURCE.csv DEST.csv
Prints one JSON line with the counts (the keys of ../yardsticks/diff_plain.py). The
destination is csv-diff's "previous" and the source its "current": "added" rows are new.
"""

import json
import sys

from csv_diff import compare, load_csv

KEY = "idnumber"
LIST = "groups"


def members(value: str) -> set[str]:
    return set(value.split(";")) - {""}


def main(argv: list[str]) -> None:
    src_path, dst_path = argv[:2]
    with open(dst_path, newline="") as previous, open(src_path, newline="") as current:
        diff = compare(load_csv(previous, key=KEY), load_csv(current, key=KEY))
    to_add = to_remove = 0
    for row in diff["changed"]:
        if LIST in row["changes"]:
            old, new = row["changes"][LIST]
            to_add += len(members(new) - members(old))
            to_remove += len(members(old) - members(new))
    print(json.dumps({
        "method": "csv-diff",
        "new": len(diff["added"]), "removed": len(diff["removed"]),
        "changed_rows": len(diff["changed"]),
        "changed_cells": sum(len(row["changes"]) for row in diff["changed"]),
        "groups_to_add": to_add, "groups_to_remove": to_remove,
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
