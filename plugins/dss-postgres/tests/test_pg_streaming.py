"""PostgresImporter streams with every read method (``cursor``, ``copy``, ``stream``).

* Peak Python memory (``tracemalloc``) while a table loads through the core,
  every record dropped by ``filter_out``, is the same for 20,000 and 100,000 rows.
* The first record arrives before the server has produced the last row: the
  query waits on an advisory lock at its last row, and that lock is still held
  when ``next(importer.records())`` returns. A full fetch (or a client-side
  cursor, which libpq fills with the whole result) could not return before the
  lock is released.
"""

from __future__ import annotations

import random
import threading
import tracemalloc
from collections.abc import Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from dss_postgres import PostgresImporter

from dss_core import Branch, Config, Model, Tree
from dss_core.importers import load_branch

pytestmark = pytest.mark.postgres

METHODS = ["cursor", "copy", "stream"]
WARM = 2_000
SMALL = 20_000
LARGE = 100_000
#: the large table's peak may be at most 2x the small one's plus this much
SLACK = 1024 * 1024
#: how long the lock is held at most before the test gives up waiting for a first record
WAIT = 5.0


class Row(Model):
    name: str


class DropEverything(PostgresImporter):
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
            conn.execute(sa.text("create table big (id integer primary key, name text)"))
        conn.execute(sa.text(
            "insert into big select g, 'name number ' || g || repeat('x', 40) "
            "from generate_series(cast(:a as integer), cast(:b as integer)) g"),
            {"a": start, "b": stop - 1})
    engine.dispose()


def make_tree(importer: type[PostgresImporter], url: str, **settings: Any) -> Tree:
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


@pytest.mark.parametrize("method", METHODS)
def test_memory_does_not_grow_with_the_table(dss_postgres_url, method):
    grow(dss_postgres_url, 0, WARM)
    tree = make_tree(DropEverything, dss_postgres_url, method=method)
    load_branch(tree.importer_for("rows"), tree.branch("rows"))  # warm up: imports, engine, caches
    grow(dss_postgres_url, WARM, SMALL)
    count, small = load_measured(tree)
    assert count == SMALL
    grow(dss_postgres_url, SMALL, LARGE)
    count, large = load_measured(tree)
    assert count == LARGE
    print(f"\n{method}: peak {small / 1024:.0f} KiB for {SMALL} rows, "
          f"{large / 1024:.0f} KiB for {LARGE} rows")
    assert large < 2 * small + SLACK, (
        f"{method}: peak memory grew with the table: {small} bytes for {SMALL} rows, "
        f"{large} bytes for {LARGE} rows")


@pytest.mark.parametrize("method", METHODS)
def test_the_first_record_arrives_before_the_last_row_is_produced(dss_postgres_url, method):
    grow(dss_postgres_url, 0, SMALL)
    key = random.getrandbits(62)

    class Blocked(PostgresImporter):
        # the last row (heap order of a freshly filled table) waits for the advisory lock
        query = ("select id as idnumber, name from big where case when id = "
                 f"{SMALL - 1} then pg_advisory_xact_lock_shared({key})::text = '' else true end")

    holder_engine = sa.create_engine(dss_postgres_url, poolclass=sa.pool.NullPool,
                                     isolation_level="AUTOCOMMIT")
    holder = holder_engine.connect()
    holder.execute(sa.text("select pg_advisory_lock(:k)"), {"k": key})
    released = threading.Event()
    once = threading.Lock()

    def release() -> None:
        with once:
            if not released.is_set():
                released.set()  # set first: a record seen while it is unset came under the lock
                holder.execute(sa.text("select pg_advisory_unlock(:k)"), {"k": key})

    timer = threading.Timer(WAIT, release)  # a full fetch would otherwise wait forever
    timer.start()
    try:
        tree = make_tree(Blocked, dss_postgres_url, method=method)
        records = tree.importer_for("rows").records()
        first = next(records)
        under_lock = not released.is_set()
        release()
        rest = sum(1 for _ in records)
    finally:
        timer.cancel()
        release()
        holder.close()
        holder_engine.dispose()
    assert first.values["idnumber"] == 0
    assert 1 + rest == SMALL
    assert under_lock, f"{method}: the first record came only after the whole result was produced"
