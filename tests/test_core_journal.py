"""The journal: intents before, outcomes after, interruptions told once, side effects once."""

from __future__ import annotations

import stat
from pathlib import Path

from dss_core import Action, Result, Status
from dss_core.journal import DONE, Journal


def action(idnumber: str) -> Action:
    return Action("new", "new_users", "users", idnumber, tree="lms")


def test_a_run_killed_mid_apply_is_told_once_with_its_counts(tmp_path: Path) -> None:
    killed = Journal.in_folder(tmp_path / ".dss", "school")
    killed.start("run-a" * 4, "school", "apply", "2026-11-27T01:00:00+00:00", planned=3)
    numbers = killed.intend([action("1")])
    killed.record(numbers, [Result(action("1"), Status.SUCCESS)])
    killed.intend([action("2")])  # handed over, then the process died: outcome unknown
    # (no finish(): the process was killed here)
    later = Journal.in_folder(tmp_path / ".dss", "school")
    later.run_id = "run-b"
    (told,) = later.interruptions("school")
    assert (told.planned, told.done, told.unknown) == (3, 1, 1)
    assert str(told).startswith("run run-arun-aru (started 2026-11-27T01:00:00+00:00) was "
                                "killed after 1 of 3 actions; 1 outcome unknown")
    assert later.interruptions("school") == []  # told once
    assert stat.S_IMODE((tmp_path / ".dss" / "school.journal.sqlite").stat().st_mode) == 0o600


def test_succeeded_answers_for_side_effects_that_must_happen_once(tmp_path: Path) -> None:
    journal = Journal.in_folder(tmp_path, "school")
    journal.start("r1", "school", "apply", "t", planned=2)
    welcome, other = action("1"), action("2")
    numbers = journal.intend([welcome, other])
    journal.record(numbers, [Result(welcome, Status.SUCCESS), Result(other, Status.FAILURE)])
    journal.finish(DONE, 1)
    assert journal.succeeded(welcome.key) and not journal.succeeded(other.key)
    assert [a["outcome"] for a in journal.actions_of("r1")] == ["success", "failure"]
    assert journal.interruptions("school") == []  # a finished run is not an interruption


def test_a_journal_written_before_undo_gets_the_object_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "school.journal.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE actions (run_id TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, "
        "tree TEXT NOT NULL, branch TEXT NOT NULL, method TEXT NOT NULL, kind TEXT NOT NULL, "
        "idnumber TEXT, attribute TEXT, value TEXT, old_value TEXT, intent TEXT NOT NULL, "
        "outcome TEXT, message TEXT, done TEXT, PRIMARY KEY (run_id, seq));"
        "INSERT INTO actions VALUES ('old', 1, 'k', 'lms', 'users', 'new_users', 'new', '1', "
        "NULL, 'null', 'null', 't', 'success', '', 't');")
    db.commit()
    db.close()
    journal = Journal(path)
    (old,) = journal.actions_of("old")
    assert old["object"] is None and old["outcome"] == "success"
    journal.start("r2", "school", "apply", "t", planned=1)
    journal.record(journal.intend([action("2")]), [Result(action("2"), Status.SUCCESS)])
    journal.finish(DONE, 0)
    assert journal.actions_of("r2")[0]["object"] is None  # a new without a source object
    journal.close()
    assert Journal(path).actions_of("old")  # opened again: the column is not added twice


def test_each_outcome_of_a_batch_is_its_own_though_runs_of_one_are_written_together(
        tmp_path: Path) -> None:
    journal = Journal.in_folder(tmp_path, "school")
    journal.start("r1", "school", "apply", "t", planned=9)
    first = [action(str(i)) for i in range(6)]
    statuses = [Status.SUCCESS, Status.SUCCESS, Status.FAILURE, Status.SUCCESS, Status.SUCCESS,
                Status.SKIPPED]
    journal.record(journal.intend(first), [
        Result(a, s, "no row" if s is Status.FAILURE else "") for a, s in zip(first, statuses, strict=True)])
    second = [action(str(i)) for i in range(6, 9)]
    numbers = journal.intend(second)  # the first batch's outcomes written with these intents
    journal.record(numbers[:2], [Result(a, Status.SUCCESS, "retired") for a in second[:2]])
    journal.finish(DONE, 1)  # the last one never got an outcome: unknown
    done = [(a["idnumber"], a["outcome"], a["message"]) for a in journal.actions_of("r1")]
    assert done == [("0", "success", ""), ("1", "success", ""), ("2", "failure", "no row"),
                    ("3", "success", ""), ("4", "success", ""), ("5", "skipped", ""),
                    ("6", "success", "retired"), ("7", "success", "retired"), ("8", None, None)]
