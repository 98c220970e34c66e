"""SQLImporter streams: peak Python memory while a table loads does not grow with the table.

Each test fills a table, loads it through the core (``load_branch``) with an
importer whose ``filter_out`` drops every record (so the branch itself holds
nothing), and measures the peak of Python allocations with ``tracemalloc``.
A full fetch into memory would make the peak grow with the number of rows;
streaming keeps it at about one batch (``yield_per`` rows).
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from dss_sql import SQLImporter

from dss_core import Branch, Config, Model, Tree
from dss_core.importers import load_branch

WARM = 2_000
SMALL = 20_000
LARGE = 100_000
#: the large table's peak may be at most 2x the small one's plus this much
SLACK = 1024 * 1024


class Row(Model):
    name: str


class DropEverything(SQLImporter):
    """Reads table ``big``; every record is read and then dropped by ``filter_out``."""

    table = "big"
    key = "id"

    def filter_out(self, record: Mapping[str, Any]) -> bool:
        return True


def grow(url: str, start: int, stop: int) -> None:
    """Add rows ``start`` .. ``stop - 1`` to table ``big`` (created when ``start`` is 0)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        if start == 0:
            conn.execute(sa.text("create table big (id integer primary key, name varchar(80))"))
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(
                "insert into big select g, 'name number ' || g || repeat('x', 40) "
                "from generate_series(cast(:a as integer), cast(:b as integer)) g"),
                         {"a": start, "b": stop - 1})
        else:
            filler = "x" * 40
            conn.execute(sa.text("insert into big (id, name) values (:i, :n)"),
                         [{"i": i, "n": f"name number {i}{filler}"} for i in range(start, stop)])
    engine.dispose()


def make_tree(importer: type[SQLImporter], url: str, **settings: Any) -> Tree:
    class Source(Tree):
        name = "source"
        rows = Branch(Row, importer=importer)

    return Source(config=Config({"trees": {"source": {"url": url, "rows": settings}}}, environ={}))


def load_measured(tree: Tree) -> tuple[int, int]:
    """Load branch ``rows`` through the core; (records read, peak traced Python memory in bytes)."""
    importer = tree.importer_for("rows")
    data = tree.branch("rows")
    tracemalloc.start()
    try:
        count = load_branch(importer, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(data) == 0  # filter_out dropped every record
    return count, peak


def peaks(url: str, importer: type[SQLImporter] = DropEverything,
          **settings: Any) -> tuple[int, int]:
    """Peak memory loading ``SMALL`` rows, then the same table grown to ``LARGE`` rows."""
    grow(url, 0, WARM)
    tree = make_tree(importer, url, **settings)
    load_branch(tree.importer_for("rows"), tree.branch("rows"))  # warm up: imports, engine, caches
    grow(url, WARM, SMALL)
    count, small = load_measured(tree)
    assert count == SMALL
    grow(url, SMALL, LARGE)
    count, large = load_measured(tree)
    assert count == LARGE
    return small, large


def test_memory_does_not_grow_with_the_table(db_url):
    small, large = peaks(db_url)
    print(f"\npeak {small / 1024:.0f} KiB for {SMALL} rows, {large / 1024:.0f} KiB for {LARGE} rows")
    assert large < 2 * small + SLACK, (
        f"peak memory grew with the table: {small} bytes for {SMALL} rows, "
        f"{large} bytes for {LARGE} rows")


def test_the_measurement_sees_a_full_fetch(dss_sqlite_url):
    """The check above can fail: an importer that fetches every row first is caught."""

    class FetchAll(DropEverything):
        def stream(self, conn: Any, stmt: Any) -> Iterator[Mapping[str, Any]]:
            return iter([row._mapping for row in conn.execute(stmt).fetchall()])

    small, large = peaks(dss_sqlite_url, FetchAll)
    print(f"\nfull fetch: peak {small / 1024:.0f} KiB for {SMALL} rows, "
          f"{large / 1024:.0f} KiB for {LARGE} rows")
    assert large > 2 * small + SLACK, (small, large)
