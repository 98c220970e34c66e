"""Rows read again (``fetch``) in ascending batches go on from where the last batch stopped.

A compact branch's rows are read again by row position; the core asks for them
in ascending batches of 65,536, and each read used to start at the top of the
file (at 100M rows a side: one pass over a 10 GB file per batch). Any order of
batches must give the rows the file holds at those positions.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from dss_csv.columnar import _Fetch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FIELDS = ["idnumber", "name"]


def fetcher(path: Path, rows: list[list[str]]) -> _Fetch:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([FIELDS, *rows])
    path.write_text(out.getvalue(), encoding="utf-8")
    plan = [(0, "idnumber", None), (1, "name", None)]
    return _Fetch(path, os.stat(path), {"delimiter": ",", "quotechar": '"'}, plan, FIELDS, path.name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(st.integers(0, 29), min_size=1, max_size=8), min_size=1, max_size=6),
       ascending=st.booleans())
def test_batches_in_any_order_read_the_rows_at_their_positions(tmp_path: Path, batches: list[list[int]],
                                                              ascending: bool) -> None:
    rows = [[f"{n:03d}", f"name, {n}" if n % 7 == 0 else f"n{n}"] for n in range(30)]
    fetch = fetcher(tmp_path / "u.csv", rows)
    if ascending:  # as the core asks: sorted rows, batch after batch
        flat = sorted({r for b in batches for r in b})
        batches = [flat[i:i + 3] for i in range(0, len(flat), 3)]
    for batch in batches:
        got = fetch(batch)
        assert got.rows() == [(*rows[r], r + 2) for r in batch]
