"""The journal claims no success the database could still roll back (Handler.commits, .uncommitted).

A kill is made real enough: ``handle_units`` raises ``BaseException`` on its
third batch and ``end`` rolls back the open transaction instead of committing
it, as a SIGKILL leaves it. Then the journal's ``done`` count, read back as the
next run reads it, must never exceed the rows the database holds, whatever
the handler committed part-way through a batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dss_core import Run
from dss_core.journal import Journal
from dss_core.runner import execute


class Killed(BaseException):
    """The kill, mid-apply."""


def _killed_run(url: str, sync: Any, kit: Any, folder: Path, broken: bool, seconds: float) -> tuple[int, int]:
    """Apply 500 new users in batches of 200, killed at the third; (journal's done, rows committed)."""
    kit.create_schema(url)
    mapping = kit.make_mapping()
    users = [{"idnumber": f"u{i:03}", "name": f"User {i}"} for i in range(500)]
    if broken:  # NOT NULL: the second batch's statement fails and its actions go one at a time
        users[250]["name"] = None
    calls: list[int] = []

    class Handler(mapping.handler()):  # type: ignore[misc]
        batch_size = 300  # a transaction holds at most 300 actions: it commits inside the 2nd batch
        batch_actions = 200
        sqlite_commit_seconds = seconds

        def handle_units(self, units: Any) -> Any:
            calls.append(len(units))
            if len(calls) == 3:
                raise Killed
            return super().handle_units(units)

        def end(self, failed: bool) -> None:  # the kill: the open transaction is lost
            if self._tx is not None:
                self._tx.rollback()
            self.connection.close()

    source, dest = sync(url, {"users": users, "groups": [{"idnumber": "g1", "title": "G", "members": []}]},
                        mapping, Handler)
    run = Run.create("apply", source.plugins, source.config)
    run.options["quiet"] = True
    run.journal = Journal.in_folder(folder, "t")
    with pytest.raises(Killed):
        execute(run, source, [dest], load=False)
    later = Journal.in_folder(folder, "t")
    later.run_id = "next"
    (datastore,) = later._db.execute("SELECT datastore FROM runs").fetchone()  # the one run
    (told,) = later.interruptions(datastore)
    with sa.create_engine(url).connect() as conn:
        rows = conn.exec_driver_sql("select count(*) from accounts").scalar()
    return told.done, int(rows or 0)


@pytest.mark.parametrize("broken", [True, False], ids=["batch-retried-one-by-one", "batches-whole"])
@pytest.mark.parametrize("seconds", [3600.0, 0.0], ids=["by-size", "by-time"])
def test_a_killed_run_claims_no_success_the_database_rolled_back(
        dss_sqlite_url: str, sync: Any, kit: Any, tmp_path: Path, broken: bool, seconds: float) -> None:
    done, rows = _killed_run(dss_sqlite_url, sync, kit, tmp_path, broken, seconds)
    assert done <= rows, f"the journal claims {done} done; the database holds {rows} rows"
    if not broken and seconds == 0.0:  # every batch ends in a commit: the journal knows them all
        assert done == rows == 400
