"""The Moodle example end to end: a real CSV export, Moodle's real tables, the real ``dss`` command.

On SQLite, PostgreSQL and MariaDB (each skipped when its server is down): the
first run creates, renames, retires and links by surrogate id; the admin,
the guest, a deleted account and the hand-made "Chess club" cohort (with the
admin and a synced student in it) are never read nor touched; a second plan
finds nothing to do; the next day's export converges as well.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from moodle_sync import schema

HEADER = "ID,Username,First,Last,Email,Homeroom,Department\n"
DAY1 = [
    "s1001,ann.ames,Ann,Ames,ann@school.example,10A,",
    "s1003,cid.cole,Cid,Cole,cid@school.example,10B,",
    "s1004,dee.dunn,Dee,Dunn,dee@school.example,10A,",
    "t01,tom.tate,Tom,Tate,tom@school.example,,Science",
]
DAY2 = [  # Ann moves to 10B, Dee leaves, Eve arrives
    "s1001,ann.ames,Ann,Ames,ann@school.example,10B,",
    "s1003,cid.cole,Cid,Cole,cid@school.example,10B,",
    "s1005,eve.ek,Eve,Ek,eve@school.example,10A,",
    "t01,tom.tate,Tom,Tate,tom@school.example,,Science",
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                        pytest.param("mariadb", marks=pytest.mark.mariadb)])
def moodle(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    """A Moodle site as it is before the sync (its URL) and a folder with dss.toml."""
    url = str(request.getfixturevalue(f"dss_{request.param}_url"))
    schema.install(
        url,
        users=[{"username": "ann.ames", "idnumber": "s1001", "firstname": "Anne",
                "lastname": "Ames", "email": "ann@school.example"},
               {"username": "bob.bell", "idnumber": "s1002", "firstname": "Bob",
                "lastname": "Bell", "email": "bob@school.example"},
               {"username": "old.one", "idnumber": "s0999", "firstname": "Old", "deleted": 1}],
        cohorts=[{"name": "Homeroom 10A", "idnumber": "homeroom-10a"},
                 {"name": "Chess club", "idnumber": ""},
                 {"name": "Robotics", "idnumber": None}],
        members=[("Homeroom 10A", "ann.ames"), ("Homeroom 10A", "bob.bell"),
                 ("Chess club", "admin"), ("Chess club", "ann.ames"), ("Robotics", "bob.bell")])
    (tmp_path / "dss.toml").write_text('[trees.registry.users]\npath = "people.csv"\n')
    return tmp_path, url


def export(folder: Path, rows: list[str]) -> None:
    (folder / "people.csv").write_text(HEADER + "\n".join(rows) + "\n")


def dss(folder: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DSS_")}
    environ["DSS_MOODLE_URL"] = url
    return subprocess.run([sys.executable, "-m", "dss_core", "--plugin", "csv", "--plugin", "sql",
                           "--plugin", "moodle_sync", *args], cwd=folder, env=environ,
                          capture_output=True, text=True, timeout=300)


def untouched(rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, Any]:
    """The rows the sync must never touch: guest, admin, deleted, hand-made cohorts and their links."""
    users = [r for r in rows["mdl_user"] if r[9] in ("", "s0999")]  # idnumber
    cohorts = [r for r in rows["mdl_cohort"] if not (r[3] or "").startswith(("homeroom-", "dept-"))]
    ids = {r[0] for r in cohorts}
    return {"users": users, "cohorts": cohorts,
            "links": [r for r in rows["mdl_cohort_members"] if r[1] in ids]}


def accounts(url: str) -> dict[str, tuple[Any, ...]]:
    rows = schema.snapshot(url)["mdl_user"]
    # idnumber -> (username, firstname, suspended, auth, mnethostid, confirmed, timecreated)
    return {r[9]: (r[7], r[10], r[5], r[1], r[6], r[2], r[24]) for r in rows if r[9]}


def members(url: str) -> dict[str, set[str]]:
    rows = schema.snapshot(url)
    users = {r[0]: r[9] for r in rows["mdl_user"]}
    cohorts = {r[0]: r[3] for r in rows["mdl_cohort"]}
    out: dict[str, set[str]] = {}
    for _, cohort, user, _added in rows["mdl_cohort_members"]:
        out.setdefault(cohorts[cohort] or "", set()).add(users[user] or "admin")
    return out


def test_check_passes_on_moodles_tables(moodle):
    folder, url = moodle
    export(folder, DAY1)
    checked = dss(folder, url, "check", "moodle")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "destination moodle.users: 2 objects from 2 records (mdl_user)" in checked.stdout


def test_the_sync_converges_and_never_touches_what_it_does_not_own(moodle):
    folder, url = moodle
    export(folder, DAY1)
    before = untouched(schema.snapshot(url))
    planned = dss(folder, url, "plan", "moodle")
    assert planned.returncode == 0, planned.stderr
    assert "old_users(idnumber='s1002')" in planned.stdout
    assert "s0999" not in planned.stdout and "Chess" not in planned.stdout
    start = time.time()
    ran = dss(folder, url, "run", "moodle")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    users = accounts(url)
    assert users["s1001"][:3] == ("ann.ames", "Ann", 0)  # renamed
    assert users["s1002"][2] == 1  # retired: suspended = 1, never deleted
    for new in ("s1003", "s1004", "t01"):  # the mapping's defaults, NOW in Unix seconds
        assert users[new][2:6] == (0, "manual", 1, 1), users[new]
        assert start - 5 <= users[new][6] <= time.time() + 5
    found = members(url)
    assert found["homeroom-10a"] == {"s1001", "s1004"}
    assert found["homeroom-10b"] == {"s1003"} and found["dept-science"] == {"t01"}
    assert untouched(schema.snapshot(url)) == before  # admin, guest, deleted, chess club, robotics
    again = dss(folder, url, "plan", "moodle")
    assert again.returncode == 0 and "Nothing to do" in again.stdout, again.stdout

    export(folder, DAY2)  # the next night
    ran = dss(folder, url, "run", "moodle")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    found = members(url)
    assert found["homeroom-10a"] == {"s1005"} and found["homeroom-10b"] == {"s1001", "s1003"}
    assert accounts(url)["s1004"][2] == 1
    assert untouched(schema.snapshot(url)) == before
    assert "Nothing to do" in dss(folder, url, "plan", "moodle").stdout


def test_a_cohort_or_account_outside_the_scope_fails_and_changes_nothing(moodle):
    folder, url = moodle
    # s0999 is a deleted account (outside the scope): it is never brought back behind Moodle's back
    export(folder, [*DAY1, "s0999,old.one,Old,One,old@school.example,10A,"])
    before = schema.snapshot(url)
    ran = dss(folder, url, "run", "moodle", "--report", "report.json")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    import json

    report = json.loads((folder / "report.json").read_text())
    failed = {a["message"]: a.get("reason") or a.get("detail") or a
              for a in report["actions"] if a["result"] == "failure"}
    assert "new_users(idnumber='s0999')" in failed, failed
    assert "outside the scope" in json.dumps(failed["new_users(idnumber='s0999')"])
    after = schema.snapshot(url)
    assert [r for r in after["mdl_user"] if r[9] == "s0999"] == \
        [r for r in before["mdl_user"] if r[9] == "s0999"]
