"""The journal: intents before, outcomes after, interruptions told once, side effects once."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dss_core import Action, Result, Status
from dss_core.errors import ConfigurationError
from dss_core.journal import DONE, SCHEMA_VERSION, Journal


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


#: the journal's tables as written before outcomes became ranges (dss up to 90f67e4)
OLD_SCHEMA = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY, datastore TEXT NOT NULL, mode TEXT NOT NULL,
    started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
    pid INTEGER, host TEXT, planned INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER, reported INTEGER NOT NULL DEFAULT 0);
CREATE TABLE actions (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, tree TEXT NOT NULL,
    branch TEXT NOT NULL, method TEXT NOT NULL, kind TEXT NOT NULL, idnumber TEXT,
    attribute TEXT, value TEXT, old_value TEXT, intent TEXT NOT NULL,
    outcome TEXT, message TEXT, done TEXT, object TEXT,
    PRIMARY KEY (run_id, seq));
CREATE INDEX actions_by_key ON actions (key, outcome);
"""


def test_a_journal_with_outcomes_in_each_action_row_reads_as_before(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "school.journal.sqlite"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.execute("INSERT INTO runs (id, datastore, mode, started, status, planned) "
               "VALUES ('old', 'school', 'apply', 't0', 'running', 4)")
    for seq, outcome, message in [(1, "success", ""), (2, "failure", "no row"), (3, None, None)]:
        db.execute("INSERT INTO actions (run_id, seq, key, tree, branch, method, kind, idnumber, "
                   "value, old_value, intent, outcome, message) VALUES ('old', ?, ?, 'lms', "
                   "'users', 'new_users', 'new', ?, 'null', 'null', 't', ?, ?)",
                   (seq, action(str(seq)).key, str(seq), outcome, message))
    db.commit()
    db.close()
    journal = Journal(path)
    journal.start("new", "school", "apply", "t1", planned=2)
    (told,) = journal.interruptions("school")  # killed: 2 outcomes of 3 intents, 4 planned
    assert (told.run_id, told.planned, told.done, told.unknown) == ("old", 4, 2, 1)
    assert journal.succeeded(action("1").key) and not journal.succeeded(action("2").key)
    assert [(a["outcome"], a["message"]) for a in journal.actions_of("old")] == [
        ("success", ""), ("failure", "no row"), (None, None)]
    two, four = action("2"), action("4")  # this run: outcomes written the new way, same file
    journal.record(journal.intend([two, four]), [Result(two, Status.SUCCESS), Result(four, Status.FAILURE, "x")])
    journal.finish(DONE, 1)
    assert journal.succeeded(two.key) and not journal.succeeded(four.key)
    assert [(a["outcome"], a["message"]) for a in journal.actions_of("new")] == [
        ("success", ""), ("failure", "x")]
    assert [(a["outcome"]) for a in journal.actions_of("old")] == ["success", "failure", None]


@settings(max_examples=20, deadline=None)
@given(units=st.lists(st.lists(st.sampled_from(["success", "failure", "skipped", "unknown"]),
                               min_size=1, max_size=6), min_size=1, max_size=5),
       idnumbers=st.lists(st.sampled_from("abcd"), min_size=30, max_size=30))
def test_every_action_reads_back_its_own_outcome_and_the_kill_counts(
        units: list[list[str]], idnumbers: list[str]) -> None:
    """Units of outcomes (``unknown``: the run was killed before its outcome was written)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.in_folder(Path(tmp), "school")
        planned = sum(map(len, units))
        journal.start("r1", "school", "apply", "t", planned=planned + 1)
        made = iter(idnumbers)
        expected = []
        for unit in units:
            acts = [action(next(made)) for _ in unit]
            numbers = journal.intend(acts)
            known = [(n, a, s) for n, a, s in zip(numbers, acts, unit, strict=True) if s != "unknown"]
            journal.record([n for n, _, _ in known],
                           [Result(a, Status(s), f"m{len(expected) % 2}") for _, a, s in known])
            expected += [(a.idnumber, None if s == "unknown" else s) for a, s in zip(acts, unit, strict=True)]
        with journal._db:  # the process dies here: what was recorded is written, nothing ends
            journal._db.execute("BEGIN")
            journal._write_outcomes()
        got = [(a["idnumber"], a["outcome"]) for a in journal.actions_of("r1")]
        assert got == expected
        for idnumber in "abcd":
            assert journal.succeeded(action(idnumber).key) == ((idnumber, "success") in expected)
        later = Journal.in_folder(Path(tmp), "school")
        later.run_id = "r2"
        (told,) = later.interruptions("school")
        unknown = sum(1 for _, s in expected if s is None)
        assert (told.planned, told.done, told.unknown) == (planned + 1, planned - unknown, unknown)
        journal.close()
        later.close()


def test_a_journal_of_a_newer_schema_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    """A newer dss's journal is not misread (undo finding nothing done): one line, the file kept."""
    path = tmp_path / "school.journal.sqlite"
    Journal(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(ConfigurationError, match=r"written by a newer dss \(journal schema 3"):
        Journal(path)
    assert path.read_bytes() == before


def test_outcomes_held_for_the_handlers_commit_are_written_once_released(tmp_path: Path) -> None:
    journal = Journal.in_folder(tmp_path, "school")
    journal.start("run-held", "school", "apply", "t", planned=3)
    one, two, three = action("1"), action("2"), action("3")
    journal.record(journal.intend([one]), [Result(one, Status.SUCCESS)], held=True)
    journal.record(journal.intend([two]), [Result(two, Status.SUCCESS)], held=True)
    journal.release()  # the handler committed both
    journal.record(journal.intend([three]), [Result(three, Status.SUCCESS)], held=True)
    journal.intend([action("4")])  # killed here: three's change was never committed
    later = Journal.in_folder(tmp_path, "school")
    later.run_id = "run-b"
    (told,) = later.interruptions("school")
    assert (told.done, told.unknown) == (2, 2)  # never claims the uncommitted one
