"""History (issue 13.4): every run's report kept in the state folder, rotated; ``dss history``.

Through the real ``dss`` command and the test plugin installed with pip (the
``dss`` and ``sync_files`` fixtures of conftest.py); the rotation rule also
by hypothesis on :class:`History` itself.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dss_core import KINDS
from dss_core.builtin.history import History, RunEntry, stamp

SOURCE = {"users": [
    {"idnumber": "1", "_lastfirst": "Doe, Jane", "department": "math"},
    {"idnumber": "2", "_lastfirst": "Roe, Rick", "department": "math"},
    {"idnumber": "3", "_lastfirst": "Poe, Ed", "department": "art"},
]}
DEST = {"users": [{"idnumber": "1", "name": "Jane Doe", "department": "math"},
                  {"idnumber": "9", "name": "Old Timer", "department": "history"}],
        "groups": [{"idnumber": "math", "members": ["1", "9"]}]}
NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-(apply|plan)-[0-9a-f]{32}\.json$")


def _top(folder: Path, line: str) -> None:
    """Put a top-level setting into the test sync's dss.toml (before its tables)."""
    config = folder / "dss.toml"
    config.write_text(f"{line}\n\n{config.read_text()}")


def _kept(folder: Path) -> list[Path]:
    history = folder / ".dss" / "testsync.history"
    return sorted(history.iterdir()) if history.is_dir() else []


def _run_id(report: Path) -> str:
    return str(json.loads(report.read_text())["run"]["id"])


def test_each_run_and_plan_keeps_its_report_private(dss: Callable[..., Any],
                                                    sync_files: Callable[..., Any],
                                                    tmp_path: Path) -> None:
    sync_files(SOURCE, DEST)
    planned = dss("plan", "testsync", "--report", "plan.json")
    assert planned.code == 0, planned
    ran = dss("run", "testsync", "--report", "run.json")
    assert ran.code == 0, ran
    kept = _kept(tmp_path)  # oldest first: the plan, then the run
    assert [NAME.match(p.name)[1] for p in kept] == ["plan", "apply"]  # type: ignore[index]
    assert stat.S_IMODE(kept[0].parent.stat().st_mode) == 0o700
    for path, report in zip(kept, ("plan.json", "run.json"), strict=True):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        data, written = json.loads(path.read_text()), json.loads((tmp_path / report).read_text())
        assert data["run"]["id"] in path.name
        data["run"].pop("finished"), written["run"].pop("finished")
        assert data == written  # the same report as --report writes


def test_rotation_keeps_the_newest_runs_and_plans_apart(dss: Callable[..., Any],
                                                        sync_files: Callable[..., Any],
                                                        tmp_path: Path) -> None:
    sync_files(SOURCE, DEST)
    _top(tmp_path, "history = 2")
    runs, plans = [], []
    for i in range(3):
        done = dss("run", "testsync", "--report", f"run{i}.json")
        assert done.code == 0, done
        runs.append(_run_id(tmp_path / f"run{i}.json"))
    for i in range(4):
        done = dss("plan", "testsync", "--report", f"plan{i}.json")
        assert done.code == 0, done
        plans.append(_run_id(tmp_path / f"plan{i}.json"))
    kept = {p.name.split("-")[2].removesuffix(".json") for p in _kept(tmp_path)}
    assert kept == set(runs[-2:]) | set(plans[-2:])
    listed = json.loads(dss("history", "--json").out)["runs"]
    assert [r["id"] for r in listed if r["mode"] == "apply"] == runs[-2:]
    assert [r["id"] for r in listed if r["mode"] == "plan"] == plans[-2:]


def test_history_zero_keeps_none_and_removes_what_was_kept(dss: Callable[..., Any],
                                                          sync_files: Callable[..., Any],
                                                          tmp_path: Path) -> None:
    sync_files(SOURCE, DEST)
    assert dss("plan", "testsync").code == 0
    assert len(_kept(tmp_path)) == 1
    done = dss("plan", "testsync", env={"DSS_HISTORY": "0"})
    assert done.code == 0, done
    assert _kept(tmp_path) == []


def test_a_bad_history_setting_stops_before_anything_is_applied(dss: Callable[..., Any],
                                                                sync_files: Callable[..., Any],
                                                                tmp_path: Path) -> None:
    _, dst = sync_files(SOURCE, DEST)
    before = dst.read_text()
    for env, line, message in (
            ({}, "history = -1", "dss: error: dss.toml: history: -1 is not a number of runs to "
                                 "keep (a whole number, 0 keeps none)"),
            ({}, 'history = "many"', "dss: error: dss.toml: history: 'many' is not a valid "
                                     "history (Input should be a valid integer)"),
            ({"DSS_HISTORY": "lots"}, "", "dss: error: environment variable DSS_HISTORY: 'lots' "
                                          "is not a number of runs to keep")):
        sync_files(SOURCE, DEST)
        if line:
            _top(tmp_path, line)
        done = dss("run", "testsync", env=env)
        assert done.code == 2, done
        assert done.err.splitlines()[0].startswith(message), done
        assert dst.read_text() == before
        assert _kept(tmp_path) == []


def test_a_stopped_run_is_kept_with_its_exit_code_and_why(dss: Callable[..., Any],
                                                         sync_files: Callable[..., Any],
                                                         tmp_path: Path) -> None:
    sync_files(SOURCE, DEST)
    assert dss("run", "testsync").code == 0
    sync_files({"users": []}, DEST)  # tonight's export is empty: a source gate stops the run
    stopped = dss("run", "testsync")
    assert stopped.code == 3, stopped
    runs = json.loads(dss("history", "--json").out)["runs"]
    assert [r["exit_code"] for r in runs] == [0, 3]
    assert runs[1]["why"].startswith("src.users: the source is empty"), runs[1]
    assert runs[1]["actions"] == 0
    assert sum(runs[0]["kinds"].values()) == runs[0]["actions"] > 0


def test_dss_history_lists_the_runs_as_a_table(dss: Callable[..., Any],
                                               sync_files: Callable[..., Any],
                                               tmp_path: Path) -> None:
    sync_files(SOURCE, DEST, fail="3")
    assert dss("plan", "testsync").code == 0
    failed = dss("run", "testsync", "--report", "run.json")
    assert failed.code == 1, failed
    run_id = _run_id(tmp_path / "run.json")
    shown = dss("history")
    assert shown.code == 0, shown
    lines = shown.out.splitlines()
    header = next(line for line in lines if "started (UTC)" in line)
    assert header.split() == ["started", "(UTC)", "mode", "run", "new", "update", "add", "remove",
                              "old", "err", "failed", "held", "exit", "took", "stopped", "by"]
    rows = [line.split() for line in lines if re.match(r"\s+\d{4}-\d\d-\d\d \d\d:\d\d ", line)]
    assert [r[2] for r in rows] == ["plan", "run"]
    run_row = rows[1]
    assert run_row[3] == run_id[:8]
    data = json.loads((tmp_path / "run.json").read_text())
    kinds: dict[str, int] = {}
    for per_kind in data["counts"].values():
        for kind, statuses in per_kind.items():
            kinds[kind] = kinds.get(kind, 0) + sum(statuses.values())
    # empty cells (no err, nothing held) print nothing: the row's words are the numbers shown
    shown_numbers = [str(kinds[k]) for k in KINDS if kinds.get(k)] + ["1", "1"]
    assert run_row[4:-1] == shown_numbers, (run_row, kinds)  # ... failed 1, exit 1
    assert re.fullmatch(r"\d+s", run_row[-1]), run_row  # took (seconds)
    assert dss("history", "--no-plans", "--json").out.count('"mode"') == 1
    assert json.loads(dss("history", "--last", "1", "--json").out)["runs"][0]["id"] == run_id


def test_dss_history_with_nothing_kept_and_with_a_broken_file(dss: Callable[..., Any],
                                                              sync_files: Callable[..., Any],
                                                              tmp_path: Path) -> None:
    sync_files(SOURCE, DEST)
    empty = dss("history", "testsync")
    assert empty.code == 0 and "No run of testsync is kept" in empty.out, empty
    assert dss("plan", "testsync").code == 0
    broken = tmp_path / ".dss" / "testsync.history" / f"20200101T000000Z-apply-{'a' * 32}.json"
    broken.write_text("{not json")
    shown = dss("history", "--json")
    assert shown.code == 0, shown
    assert f"dss: warning: {broken}: not a readable report; skipped" in shown.err
    assert len(json.loads(shown.out)["runs"]) == 1


def test_history_that_cannot_be_written_is_a_warning_not_a_failure(dss: Callable[..., Any],
                                                                   sync_files: Callable[..., Any],
                                                                   tmp_path: Path) -> None:
    _, dst = sync_files(SOURCE, DEST)
    (tmp_path / ".dss").mkdir()
    (tmp_path / ".dss" / "testsync.history").write_text("a file where the folder would be")
    done = dss("run", "testsync")
    assert done.code == 0, done
    assert "dss: warning: the run's history was not kept in" in done.err
    assert "Old Timer" not in dst.read_text()  # applied all the same


def test_run_entry_of_a_report() -> None:
    entry = RunEntry.of({
        "run": {"id": "x" * 32, "mode": "apply", "started": "2025-05-14T02:00:00+00:00",
                "finished": "2025-05-14T02:01:30+00:00", "exit_code": 3},
        "error": "lms.users: 13 of 117 objects would be retired\nmore", "interrupted": None,
        "counts": {"lms.users": {"old": {"planned": 13}, "new": {"success": 2, "failure": 1}},
                   "lms.groups": {"old": {"success": 1}}},
        "totals": {"actions": 17, "failed": 1, "held": 0, "quarantined": 0}})
    assert entry.kinds == {"old": 14, "new": 3}
    assert (entry.seconds, entry.failed, entry.exit_code) == (90.0, 1, 3)
    assert entry.why == "lms.users: 13 of 117 objects would be retired"
    two_hours = dt.timezone(dt.timedelta(hours=2))
    assert stamp(dt.datetime(2025, 5, 14, 4, 0, 1, 5, two_hours)) == "20250514T020001.000005Z"


def _report(i: int, mode: str) -> dict[str, Any]:
    started = f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00"
    return {"run": {"id": f"{i:032x}", "mode": mode, "started": started, "finished": started,
                    "exit_code": 0}, "counts": {}, "totals": {"actions": 0}}


@settings(max_examples=40, deadline=None)
@given(modes=st.lists(st.sampled_from(["apply", "plan"]), max_size=14),
       keep=st.integers(min_value=0, max_value=5))
def test_rotation_keeps_the_newest_of_each_mode(modes: list[str], keep: int) -> None:
    """Whatever the sequence of runs and plans, the newest ``keep`` of each mode are kept."""
    with tempfile.TemporaryDirectory() as folder:
        history = History(Path(folder), "school")
        for i, mode in enumerate(modes):
            history.record(_report(i, mode), keep)
        kept = [e.id for e in history.entries()[0]]
        expected = [f"{i:032x}" for i, mode in enumerate(modes)
                    if [m for m in modes[i:] if m == mode].__len__() <= keep]
        assert kept == expected
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in history.files())


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.text(), max_size=5), kinds=st.dictionaries(
    st.sampled_from(list(KINDS)), st.integers(min_value=0, max_value=10**6), max_size=6))
def test_the_summary_read_without_the_actions_is_the_whole_reports(values: list[str],
                                                                   kinds: dict[str, int]) -> None:
    """``dss history`` parses a report up to its actions; what it reads must not change."""
    report = {"run": {"id": "f" * 32, "mode": "apply", "started": "2025-01-01T00:00:00+00:00",
                      "finished": "2025-01-01T00:00:09+00:00", "exit_code": 1},
              "actions": [{"value": v, "message": f'\n "actions": [{v}'} for v in values],
              "counts": {"lms.users": {k: {"success": n} for k, n in kinds.items()}},
              "error": "\n".join(values) or None, "totals": {"actions": len(values)}}
    with tempfile.TemporaryDirectory() as folder:
        history = History(Path(folder), "school")
        path = history.record(report, 3)
        assert path is not None
        (entry,), unreadable = history.entries()
        assert not unreadable
        whole = RunEntry.of(json.loads(path.read_text()), path.name)
        assert entry == whole
        assert entry.kinds == {k: n for k, n in kinds.items()}
