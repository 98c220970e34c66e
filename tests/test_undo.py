"""`dss undo RUN_ID` through the real `dss` command: the inverse of a journaled run.

The destination is a JSON file: an undo gives back its content as it was
before the run (rows compared by idnumber), a refusal leaves it byte for byte.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest


def people(ids: range, department: str) -> list[dict[str, str]]:
    return [{"idnumber": str(i), "_lastfirst": f"Doe, P{i}", "department": department}
            for i in ids]


def content(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The destination's rows, by idnumber (an undone delete comes back at the end of the file)."""
    data = json.loads(path.read_text())
    return {branch: sorted(rows, key=lambda r: r["idnumber"]) for branch, rows in data.items()}


@pytest.fixture
def site(tmp_path: Path, dss: Any, sync_files: Any) -> Any:
    """A synced site (20 users in math and art), then a run that changes it: its id in `run_id`."""

    class Site:
        src, dst = sync_files({"users": people(range(1, 11), "math") +
                                         people(range(11, 21), "art")},
                              {"users": [], "groups": []})

        def run(self, *args: str) -> Any:
            return dss(*args)

    s = Site()
    assert s.run("run", "testsync").code == 0
    s.before = content(s.dst)
    users = people(range(1, 11), "math") + people(range(11, 21), "art")
    users[1]["_lastfirst"] = "Roe, P2"  # update_name
    users[2]["department"] = "art"  # update_department, remove from math, add to art
    del users[3]  # old_users '4' (and removed from math)
    users += people(range(21, 22), "math")  # new_users '21' (and added to math)
    s.src.write_text(json.dumps({"users": users}))
    report = tmp_path / "night.json"
    night = s.run("run", "testsync", "--report", str(report))
    assert night.code == 0, night
    s.run_id = json.loads(report.read_text())["run"]["id"]
    s.after = content(s.dst)
    assert s.after != s.before
    return s


def test_undo_restores_the_destination_as_it_was_before_the_run(site: Any, tmp_path: Path) -> None:
    report = tmp_path / "undo.json"
    undone = site.run("undo", site.run_id[:8], "--report", str(report))
    assert undone.code == 0, undone
    assert content(site.dst) == site.before
    data = json.loads(report.read_text())
    assert data["run"]["exit_code"] == 0 and data["run"]["id"] != site.run_id
    methods = sorted(a["method"] for a in data["actions"])
    assert methods == sorted(["update_name", "update_department", "add_members_to_groups",
                              "remove_members_from_groups", "add_members_to_groups",
                              "remove_members_from_groups", "new_users", "old_users"])
    # the undo is journaled like any run: undoing it gives the night's result back
    again = site.run("undo", data["run"]["id"])
    assert again.code == 0, again
    assert content(site.dst) == site.after


def test_undo_dry_run_lists_the_inverse_and_changes_nothing(site: Any) -> None:
    before = site.dst.read_bytes()
    planned = site.run("undo", site.run_id, "--dry-run")
    assert planned.code == 0, planned
    out = planned.out + planned.err
    assert "new_users" in out and "old_users" in out and "update_name" in out
    assert "'4'" in out and "'21'" in out
    assert site.dst.read_bytes() == before


def test_an_unknown_run_id_is_exit_2_naming_it(site: Any) -> None:
    before = site.dst.read_bytes()
    result = site.run("undo", "nosuchrun")
    assert result.code == 2, result
    assert "'nosuchrun'" in result.err
    assert site.dst.read_bytes() == before


def test_a_destination_changed_since_the_run_is_refused_naming_the_object(site: Any) -> None:
    dest = json.loads(site.dst.read_text())
    two = next(u for u in dest["users"] if u["idnumber"] == "2")
    two["name"] = "Someone Else"
    site.dst.write_text(json.dumps(dest))
    before = site.dst.read_bytes()
    result = site.run("undo", site.run_id)
    assert result.code == 3, result
    assert f"dss: stopped: dst.users '2': name changed since run {site.run_id[:12]}" in result.err
    assert "nothing was undone" in result.err
    assert site.dst.read_bytes() == before


def test_the_deletion_limit_holds_for_an_undo(site: Any) -> None:
    users = json.loads(site.src.read_text())["users"]
    users += people(range(22, 30), "math")  # 8 new users: their undo retires 8 of 29
    site.src.write_text(json.dumps({"users": users}))
    report = site.dst.with_name("more.json")
    assert site.run("run", "testsync", "--report", str(report)).code == 0
    run_id = json.loads(report.read_text())["run"]["id"]
    before = site.dst.read_bytes()
    refused = site.run("undo", run_id)
    assert refused.code == 3, refused
    assert "--allow-deletions" in refused.err
    assert site.dst.read_bytes() == before
    allowed = site.run("undo", run_id, "--allow-deletions", "8")
    assert allowed.code == 0, allowed
    assert content(site.dst) == site.after


def test_undo_writes_the_html_report_of_the_inverse(site: Any, tmp_path: Path) -> None:
    page = tmp_path / "undo.html"
    undone = site.run("undo", site.run_id[:8], "--html", str(page), "--allow-deletions", "5")
    assert undone.code == 0, undone
    assert content(site.dst) == site.before
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    text = page.read_text(encoding="utf-8")
    kinds = re.findall(r'<tr data-kind="(\w+)" data-branch="[\w.]+" data-status="success"', text)
    assert "old" in kinds and "new" in kinds  # user 21 retired, user 4 back
