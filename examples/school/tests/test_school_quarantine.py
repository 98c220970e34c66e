"""A bad row holds back its own object, not the whole night (issue 15), on the school example.

Each test makes the school's exports with the real generator, syncs the LMS
(SQLite) once so it matches, then writes tonight's ``students.csv`` with a
few legitimate changes and a few bad rows, and runs the real ``dss`` command
with ``on_bad_record = "quarantine"``.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

USERS = 20000


def dss(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("dss")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "dss_core"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_")}
    return subprocess.run([*command, *args], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)


def lms(folder: Path, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = sa.create_engine(f"sqlite:///{folder / 'lms.sqlite'}")
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def dump(folder: Path) -> list[list[tuple[object, ...]]]:
    """Every row of every LMS table, sorted: the destination as a whole."""
    tables = ["lms_users", "lms_cohorts", "lms_cohort_members", "lms_enrolments"]
    return [sorted(lms(folder, f"SELECT * FROM {t}"), key=repr) for t in tables]


class Export:
    """``students.csv`` as rows of bytes, changed row by row, written back byte for byte."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "students.csv"
        self.lines = self.path.read_bytes().splitlines()
        self.header = self.lines[0].decode().split(",")

    def index(self, idnumber: str) -> int:
        """The 0-based line index of a student (line number - 1)."""
        prefix = f"{idnumber},".encode()
        return next(i for i, line in enumerate(self.lines) if line.startswith(prefix))

    def fields(self, idnumber: str) -> list[str]:
        return next(csv.reader([self.lines[self.index(idnumber)].decode()]))

    def set(self, idnumber: str, **values: str) -> None:
        row = dict(zip(self.header, self.fields(idnumber), strict=True))
        row.update(values)
        self.replace(idnumber, self.encode(list(row.values())))

    @staticmethod
    def encode(fields: list[str]) -> bytes:
        return ",".join(f'"{f}"' if "," in f else f for f in fields).encode()

    def replace(self, idnumber: str, raw: bytes) -> int:
        """Put ``raw`` in place of the student's row; returns its line number."""
        i = self.index(idnumber)
        self.lines[i] = raw
        return i + 1

    def append(self, fields: list[str]) -> None:
        self.lines.append(self.encode(fields))

    def save(self) -> None:
        self.path.write_bytes(b"\n".join(self.lines) + b"\n")


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated school whose LMS matches its exports (one run), with quarantine configured.

    One student moves to homeroom 13Q, where no one else is: cohort
    ``homeroom-13q`` then exists only because of that student's row.
    """
    folder = tmp_path_factory.mktemp("school")
    subprocess.run([sys.executable, "-m", "school_sync.generate", "--users", str(USERS),
                    "--out", str(folder)], check=True, capture_output=True, timeout=300)
    export = Export(folder)
    export.set(students(folder)[0], home_room="13Q")
    export.save()
    done = dss(folder, "run", "school", "-q", "--allow-deletions", "100000")
    assert done.returncode == 0, done.stdout + done.stderr
    config = folder / "dss.toml"
    config.write_text(config.read_text().replace(
        'datastore = "school"', 'datastore = "school"\non_bad_record = "quarantine"'))
    return folder


def students(folder: Path) -> list[str]:
    """The idnumbers of the active students, in file order."""
    with open(folder / "students.csv", encoding="utf-8", newline="") as fh:
        return [r["student_number"] for r in csv.DictReader(fh) if r["enroll_status"] == "Active"]


@pytest.fixture
def school(synced: Path, tmp_path: Path) -> Path:
    """A copy of the synced school for one test (the LMS and the exports)."""
    folder = tmp_path / "school"
    folder.mkdir()
    for item in synced.iterdir():
        if item.is_file():
            (folder / item.name).write_bytes(item.read_bytes())
    return folder


def memberships(folder: Path, idnumber: str) -> list[tuple[object, ...]]:
    return sorted(lms(folder, "SELECT cohort_idnumber FROM lms_cohort_members "
                              "WHERE user_idnumber = :i", i=idnumber))


def account(folder: Path, idnumber: str) -> tuple[object, ...] | None:
    rows = lms(folder, "SELECT name, suspended FROM lms_users WHERE idnumber = :i", i=idnumber)
    return rows[0] if rows else None


def test_three_bad_rows_hold_back_their_own_pupils_and_the_night_goes_on(school: Path) -> None:
    ids = students(school)
    lonely, ragged, nul, undecodable, renamed, leaving = ids[0], ids[10], ids[20], ids[30], ids[40], ids[50]
    before = {i: (account(school, i), memberships(school, i)) for i in (lonely, ragged, nul, undecodable)}
    assert ("homeroom-13q",) in before[lonely][1]
    export = Export(school)
    export.set(renamed, lastfirst="Quarantine, Renamed")
    export.set(leaving, enroll_status="Withdrawn")
    export.append(["199999", "Newcomer, Nina", "7A", "Active", "2013-01-02"])
    lines = {
        ragged: export.replace(ragged, f"{ragged},\"Short, Row\",7A,Active".encode()),
        nul: export.replace(nul, f"{nul},\"Nul, Na\x00me\",7A,Active,2012-01-01".encode()),
        undecodable: export.replace(undecodable, f"{undecodable},\"Caf".encode() + b"\xe9"
                                    + b', Bad",7A,Active,2012-01-01'),
    }
    # the lonely homeroom's only student: the one bad row behind a derived object
    lines[lonely] = export.replace(lonely, f"{lonely},\"Lonely, Row\",13Q,Active".encode())
    export.save()

    done = dss(school, "run", "school", "--report", "report.json")

    assert done.returncode == 1, done.stdout + done.stderr
    # everything else of the night is applied
    assert account(school, renamed) == ("Renamed Quarantine", 0)
    assert account(school, leaving)[1] == 1  # type: ignore[index]
    assert account(school, "199999") == ("Nina Newcomer", 0)
    # the four pupils keep what they have: account, cohorts (the derived homeroom-13q too)
    for idnumber, kept in before.items():
        assert (account(school, idnumber), memberships(school, idnumber)) == kept
    assert lms(school, "SELECT count(*) FROM lms_cohorts WHERE idnumber IN "
                       "('homeroom-13q', 'grade-13')") == [(2,)]
    # the rejects file: beside the report, owner-only, one row per bad record with its raw row
    rejects = school / "report.rejects.csv"
    assert stat.S_IMODE(rejects.stat().st_mode) == 0o600
    assert "rows in report.rejects.csv" in done.stderr
    with open(rejects, encoding="utf-8", newline="") as fh:
        rows = {r["idnumber"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {lonely, ragged, nul, undecodable}
    assert {i: int(r["line"]) for i, r in rows.items()} == lines
    assert all(r["file"] == "students.csv" and r["branch"] == "users" for r in rows.values())
    assert rows[ragged]["reason"].startswith("4 fields, but the header has 5")
    assert rows[ragged]["raw"] == f'{ragged},"Short, Row",7A,Active'
    assert "U+0000" in rows[nul]["reason"] and rows[nul]["column"] == "lastfirst"
    assert rows[nul]["raw"] == f'{nul},"Nul, Na\\x00me",7A,Active,2012-01-01'
    assert "byte e9" in rows[undecodable]["reason"] and rows[undecodable]["column"] == "lastfirst"
    assert "Caf\\xe9, Bad" in rows[undecodable]["raw"]
    # the JSON report lists them apart from failed actions
    report = json.loads((school / "report.json").read_text())
    assert {r["idnumber"] for r in report["quarantined"]} == set(rows)
    assert report["totals"]["failed"] == 0 and report["totals"]["held"] >= 4
    assert report["run"]["exit_code"] == 1 and report["rejects_file"] == "report.rejects.csv"
    held = {(a["method"], a["idnumber"]) for a in report["actions"] if a["result"] == "held"}
    assert {("old_groups", "homeroom-13q"), ("old_groups", "grade-13")} <= held
    assert all(i in {lonely, ragged, nul, undecodable, "homeroom-13q", "grade-13"}
               or m == "remove_members_from_groups" for m, i in held)
    # the next plan holds them back again (and nothing else is left to do)
    again = dss(school, "plan", "school", "--report", "again.json")
    assert again.returncode == 1, again.stdout + again.stderr
    statuses = {a["result"] for a in json.loads((school / "again.json").read_text())["actions"]}
    assert statuses == {"held"}


def test_a_row_without_a_readable_idnumber_holds_back_every_retirement(school: Path) -> None:
    ids = students(school)
    leaving, blind = ids[5], ids[6]
    export = Export(school)
    export.set(leaving, enroll_status="Withdrawn")
    line = export.replace(blind, b'\x00' + f'{blind},"Blind, Row",7A,Active,2012-01-01'.encode())
    export.save()
    before = dump(school)

    done = dss(school, "run", "school", "--report", "report.json")

    assert done.returncode == 1, done.stdout + done.stderr
    assert dump(school) == before  # the withdrawal is held back, and nothing else changed
    report = json.loads((school / "report.json").read_text())
    [bad] = report["quarantined"]
    assert (bad["idnumber"], bad["origin"]["position"]) == (None, line)
    reasons = {a["method"]: a["result_message"] for a in report["actions"] if a["result"] == "held"}
    assert "old_users" in reasons
    assert f"students.csv line {line}" in reasons["old_users"]
    assert "nothing in users is retired tonight" in reasons["old_users"]


def test_more_bad_rows_than_the_limit_is_a_broken_export_and_stops(school: Path) -> None:
    ids = students(school)
    export = Export(school)
    broken = ids[: len(ids) // 20 + 1]  # just over 5% of the rows
    for idnumber in broken:
        export.replace(idnumber, f"{idnumber},\"Ragged, Row\"".encode())
    export.save()
    before = dump(school)

    done = dss(school, "run", "school", "--report", "report.json")

    assert done.returncode == 3, done.stdout + done.stderr
    assert "sis.users" in done.stderr and "quarantine_limit 1%" in done.stderr
    assert "--accept sis.users" in done.stderr
    assert dump(school) == before
    with open(school / "report.rejects.csv", encoding="utf-8", newline="") as fh:
        assert {r["idnumber"] for r in csv.DictReader(fh)} == set(broken)


def test_without_the_setting_a_bad_row_still_stops_the_run(school: Path) -> None:
    config = school / "dss.toml"
    config.write_text(config.read_text().replace('on_bad_record = "quarantine"\n', ""))
    ids = students(school)
    export = Export(school)
    line = export.replace(ids[3], f"{ids[3]},\"Short, Row\",7A,Active".encode())
    export.save()
    before = dump(school)

    done = dss(school, "run", "school")

    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"dss: error: students.csv line {line}: 4 fields, but the header has 5 "
        "(too few: missing fields or the wrong delimiter?)")
    assert dump(school) == before
    assert not (school / ".dss" / "school.rejects.csv").exists()
