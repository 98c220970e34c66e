"""Part of a plan (issue 13 point 5): ``--only BRANCH|KIND``, ``--limit N``, ``--id BRANCH:IDNUMBER``.

On the generated school (its LMS a season out of date, so every kind of
action is planned), through the real ``dss`` command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

ALLOW = ("--allow-deletions", "100000")


def dss(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("dss")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "dss_core"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_")}
    return subprocess.run([*command, *args], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def school(tmp_path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "school_sync.generate", "--users", "400", "--out",
                    str(tmp_path)], check=True, capture_output=True, timeout=120)
    return tmp_path


def planned(folder: Path, *args: str) -> tuple[list[dict[str, object]], dict[str, object]]:
    done = dss(folder, "plan", "school", "--report", "plan.json", *ALLOW, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((folder / "plan.json").read_text())
    return report["actions"], report


def test_only_kinds_and_branches_combine(school: Path) -> None:
    everything, _ = planned(school)
    kinds = {a["kind"] for a in everything}
    assert {"new", "update", "add", "remove", "old"} <= kinds

    news, report = planned(school, "--only", "new")
    assert news == [a for a in everything if a["kind"] == "new"]
    assert report["left_out"] == len(everything) - len(news)
    said = dss(school, "plan", "school", "--only", "new", *ALLOW)
    assert (f"{len(everything) - len(news):,} actions left out (--only new); a run without them "
            "applies the rest.") in said.stdout

    mixed, _ = planned(school, "--only", "users", "--only", "lms.groups", "--only", "old")
    assert mixed == [a for a in everything
                     if a["kind"] == "old" and a["branch"] in ("users", "groups")]


def test_limit_takes_whole_objects_in_plan_order(school: Path) -> None:
    everything, _ = planned(school)
    some, report = planned(school, "--only", "update", "--limit", "7")
    updates = [a for a in everything if a["kind"] == "update"]
    assert 0 < len(some) <= 7 and some == updates[:len(some)]
    objects = {(a["branch"], a["idnumber"]) for a in some}
    assert all((a["branch"], a["idnumber"]) not in objects for a in updates[len(some):])
    assert report["left_out"] == len(everything) - len(some)


def test_one_person_is_synced_with_their_memberships_and_nothing_else(school: Path) -> None:
    everything, _ = planned(school)
    person = next(a["idnumber"] for a in everything if a["method"] == "new_users"
                  and any(m["value"] == a["idnumber"] for m in everything if m["kind"] == "add"))
    mine = [a for a in everything if a["idnumber"] == person
            or (a["kind"] in ("add", "remove") and a["value"] == person)]
    assert {a["branch"] for a in mine} >= {"users", "groups"}

    done = dss(school, "run", "school", "--id", f"users:{person}", "--report", "run.json", *ALLOW)

    assert done.returncode == 0, done.stdout + done.stderr
    ran = json.loads((school / "run.json").read_text())["actions"]
    assert [a["key"] for a in ran] == [a["key"] for a in mine]
    engine = sa.create_engine(f"sqlite:///{school / 'lms.sqlite'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM lms_users WHERE idnumber = :i"),
                            {"i": person}).scalar() == 1
    engine.dispose()
    left, _ = planned(school)
    assert [a["key"] for a in left] == [a["key"] for a in everything if a not in mine]


@pytest.mark.parametrize(("args", "message"), [
    (("--only", "user"), "dss: error: --only user: no such branch or kind (did you mean 'users'?)"),
    (("--id", "1001"), "dss: error: --id 1001: write BRANCH:IDNUMBER, e.g. users:1001"),
    (("--id", "pupils:1001"), "dss: error: --id pupils:1001: no branch 'pupils'"),
    (("--limit", "0"), "Invalid value for '--limit'"),
])
def test_a_selection_naming_nothing_is_refused_before_anything_runs(
        school: Path, args: tuple[str, ...], message: str) -> None:
    before = (school / "lms.sqlite").read_bytes()
    done = dss(school, "run", "school", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert (school / "lms.sqlite").read_bytes() == before
