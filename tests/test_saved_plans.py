"""Saved plans through the real `dss` command: `dss plan NAME --out FILE`, then `dss apply FILE`.

The destination is a JSON file: each refusal leaves it byte for byte as it was.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest


def people(n: int, *, department: str = "math", start: int = 1) -> list[dict[str, str]]:
    return [{"idnumber": str(i), "_lastfirst": f"Doe, P{i}", "department": department}
            for i in range(start, start + n)]


@pytest.fixture
def site(tmp_path: Path, dss: Any, sync_files: Any) -> Any:
    """A synced site: 50 users, run once; then the source changes (2 new, 1 moved, 1 renamed)."""

    class Site:
        src, dst = sync_files({"users": people(50)}, {"users": [], "groups": []})
        plan = tmp_path / "tonight.plan"

        def source(self, users: list[dict[str, Any]]) -> None:
            self.src.write_text(json.dumps({"users": users}))

        def run(self, *args: str) -> Any:
            return dss(*args)

    s = Site()
    first = s.run("run", "testsync")
    assert first.code == 0, first
    users = people(52)
    users[2]["department"] = "art"
    users[3]["_lastfirst"] = "Roe, P4"
    s.source(users)
    return s


def test_plan_out_then_apply_gives_what_run_gives(site: Any, tmp_path: Path) -> None:
    before = site.dst.read_bytes()
    planned = site.run("plan", "testsync", "--out", str(site.plan))
    assert planned.code == 0, planned
    assert stat.S_IMODE(site.plan.stat().st_mode) == 0o600
    saved = json.loads(site.plan.read_text())
    assert saved["digest"].startswith("sha256:") and saved["datastore"] == "testsync"
    assert saved["run"] and saved["created"]
    methods = sorted(a["method"] for a in saved["actions"])
    assert methods.count("new_users") == 2 and "update_name" in methods
    new = next(a for a in saved["actions"] if a["method"] == "new_users")
    assert new["source"]["_lastfirst"].startswith("Doe, P5") and new["dest"] is None
    update = next(a for a in saved["actions"] if a["method"] == "update_name")
    assert update["dest"]["name"] == "P4 Doe" and update["value"] == "P4 Roe"
    assert site.dst.read_bytes() == before  # planning changes nothing

    # the same night, applied by `dss run` on a copy of the destination
    ran = tmp_path / "ran.json"
    shutil.copy(site.dst, site.dst.with_suffix(".bak"))
    assert site.run("run", "testsync").code == 0
    shutil.copy(site.dst, ran)
    shutil.copy(site.dst.with_suffix(".bak"), site.dst)

    report = tmp_path / "apply.json"
    applied = site.run("apply", str(site.plan), "--report", str(report))
    assert applied.code == 0, applied
    assert json.loads(site.dst.read_text()) == json.loads(ran.read_text())
    data = json.loads(report.read_text())
    assert data["run"]["mode"] == "apply" and data["run"]["exit_code"] == 0
    assert data["totals"]["actions"] == len(saved["actions"])


def test_a_modified_plan_is_refused_with_exit_2(site: Any) -> None:
    assert site.run("plan", "testsync", "--out", str(site.plan)).code == 0
    before = site.dst.read_bytes()
    site.plan.write_text(site.plan.read_text().replace("P4 Roe", "P4 Evil"))
    result = site.run("apply", str(site.plan))
    assert result.code == 2, result
    assert "was modified after dss plan wrote it" in result.err
    assert site.dst.read_bytes() == before


def test_a_destination_changed_since_the_plan_is_refused_naming_the_object(
        site: Any, tmp_path: Path) -> None:
    assert site.run("plan", "testsync", "--out", str(site.plan)).code == 0
    dest = json.loads(site.dst.read_text())
    four = next(u for u in dest["users"] if u["idnumber"] == "4")
    four["name"] = "Someone Else"
    site.dst.write_text(json.dumps(dest))
    before = site.dst.read_bytes()
    report = tmp_path / "refused.json"
    result = site.run("apply", str(site.plan), "--report", str(report))
    assert result.code == 3, result
    assert "dss: stopped: dst.users '4': name changed since the plan was made" in result.err
    assert "nothing was applied" in result.err
    assert site.dst.read_bytes() == before
    data = json.loads(report.read_text())
    assert data["run"]["exit_code"] == 3 and any("'4'" in g for g in data["gates"])


def test_many_drifted_objects_are_named_up_to_ten_then_counted(site: Any) -> None:
    site.source(people(50, department="art"))  # 50 updates
    assert site.run("plan", "testsync", "--out", str(site.plan)).code == 0
    dest = json.loads(site.dst.read_text())
    for user in dest["users"]:
        user["department"] = "music"
    site.dst.write_text(json.dumps(dest))
    result = site.run("apply", str(site.plan))
    assert result.code == 3, result
    assert result.err.count("department changed since the plan was made") == 10
    assert "... and 40 more objects changed" in result.err


def test_the_deletion_limit_holds_for_a_saved_plan(site: Any) -> None:
    site.source(people(42))  # 8 of 50 retired: past deletion_limit 10%
    planned = site.run("plan", "testsync", "--out", str(site.plan), "--allow-deletions", "8")
    assert planned.code == 0, planned
    before = site.dst.read_bytes()
    refused = site.run("apply", str(site.plan))
    assert refused.code == 3, refused
    assert "--allow-deletions dst.users=8" in refused.err
    assert site.dst.read_bytes() == before
    allowed = site.run("apply", str(site.plan), "--allow-deletions", "dst.users=8")
    assert allowed.code == 0, allowed
    assert len(json.loads(site.dst.read_text())["users"]) == 42


def test_a_plan_applied_twice_is_refused_the_second_time(site: Any) -> None:
    assert site.run("plan", "testsync", "--out", str(site.plan)).code == 0
    assert site.run("apply", str(site.plan)).code == 0
    after = site.dst.read_bytes()
    again = site.run("apply", str(site.plan))
    assert again.code == 3, again
    assert "dss: stopped: dst.users '51': is in the destination now" in again.err
    assert site.dst.read_bytes() == after


def test_out_is_for_plan_only(site: Any) -> None:
    before = site.dst.read_bytes()
    result = site.run("run", "testsync", "--out", str(site.plan))
    assert result.code == 2, result
    assert "use it with dss plan" in result.err
    assert site.dst.read_bytes() == before and not site.plan.exists()


def test_apply_writes_the_html_report_of_what_it_applied(site: Any, tmp_path: Path) -> None:
    assert site.run("plan", "testsync", "--out", str(site.plan)).code == 0
    page, report = tmp_path / "apply.html", tmp_path / "apply.json"
    applied = site.run("apply", str(site.plan), "--html", str(page), "--report", str(report))
    assert applied.code == 0, applied
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    text = page.read_text(encoding="utf-8")
    data = json.loads(report.read_text())
    rows = re.findall(r'<tr data-kind="(\w+)" data-branch="([\w.]+)" data-status="(\w+)"', text)
    assert len(rows) == data["totals"]["actions"] > 0
    assert all(status == "success" for _, _, status in rows)


def test_apply_takes_the_options_of_plugins_but_not_those_of_run(dss: Any) -> None:
    """--html and a plugin's own --greeting (its hook takes no ``command``) go on apply too;
    --out, --accept and --only are run's and plan's; apply's --allow-deletions is its own, once."""
    def options(command: str) -> list[str]:
        shown = dss(command, "--help")
        assert shown.code == 0, shown
        return re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", shown.out, re.M)

    applying = options("apply")
    assert "--html" in applying and "--greeting" in applying
    assert not {"--out", "--accept", "--only"} & set(applying)
    assert applying.count("--allow-deletions") == 1
    assert {"--html", "--greeting", "--out", "--accept", "--only"} <= set(options("plan"))
