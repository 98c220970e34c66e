"""Issue 8, point 9: the bad-input table. Nothing destructive from a bad night.

Each case breaks one thing of a school sync that has run well once (so the
LMS is populated and ``DIR/.dss`` holds the last accepted source): a CSV
export, ``dss.toml``, an environment variable, the LMS's tables, a command
line option. The real ``dss`` command then runs ``dss run school`` in a
subprocess (the school example, dss-csv and dss-sql found through their entry
points), and the test asserts:

* the exit code (2 bad configuration or input, 3 stopped by a source gate or
  a deletion limit, 1 some actions failed);
* stderr: exactly one ``dss: error:`` line (exit 2), or ``dss: stopped:``
  lines and ``dss: nothing was applied`` (exit 3), holding the case's
  fragment; its first line is the recorded ``message`` (``DIR`` for the
  folder), which README.md shows;
* the LMS is untouched: the SQLite file byte for byte, and in the
  PostgreSQL variant (``@pytest.mark.postgres``, a fresh schema per test)
  the rows of every LMS table;
* the ``--report`` file is written, mode 0600, with ``exit_code`` and ``error``.

README.md's section between ``<!-- bad-input:start -->`` and
``<!-- bad-input:end -->`` is made from the same case list
(:func:`readme_section`); a test keeps them equal. After changing a case::

    .venv/bin/python tests/test_bad_input.py --record        # the real first lines, per case
    .venv/bin/python tests/test_bad_input.py --write-readme  # rewrite the README section
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
START, END = "<!-- bad-input:start -->", "<!-- bad-input:end -->"

USERS, SEED = 120, 7  # 110 students (3 withdrawn) and 10 staff: 117 accounts after the good run
SECRET = "s3cret-Passw0rd"  # a password in a URL: never printed, never in the report
CLOSED_PORT = 1  # nothing listens on 127.0.0.1:1
POSTGRES = ("127.0.0.1", 5432)
FOLDER = "DIR"  # how the test's folder is written in the recorded messages


# -- the setup a case breaks ---------------------------------------------------------------------
@dataclass
class Setup:
    """One copy of the school after a good run: its folder, the LMS URL and the dss invocation."""

    folder: Path
    url: str  # the LMS database (the SQLite file, or a fresh PostgreSQL schema)
    env: dict[str, str] = field(default_factory=dict)  # added to the environment of dss
    options: list[str] = field(default_factory=list)  # dss options before `run`
    args: list[str] = field(default_factory=list)  # options after `run school`
    report: Path | None = None  # --report REPORT; None: the case gives its own

    @property
    def sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    def path(self, name: str) -> Path:
        return self.folder / name

    def read(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def write(self, name: str, content: str | bytes) -> None:
        data = content.encode("utf-8") if isinstance(content, str) else content
        self.path(name).write_bytes(data)

    def lines(self, name: str) -> list[str]:
        """The lines of a CSV file, header first, each with its line break."""
        return self.read(name).splitlines(keepends=True)

    def replace(self, name: str, old: str, new: str, count: int = 1) -> None:
        text = self.read(name)
        assert text.count(old) >= count, f"{old!r} not {count} times in {name}"
        self.write(name, text.replace(old, new, count))

    def setting(self, table: str, line: str) -> None:
        """Add ``line`` to table ``[table]`` of dss.toml (the table is made when missing)."""
        text = self.read("dss.toml")
        header = f"[{table}]\n"
        if header in text:
            text = text.replace(header, header + line + "\n", 1)
        else:
            text += f"\n{header}{line}\n"
        self.write("dss.toml", text)

    def sql(self, *statements: str) -> None:
        """Run statements on the LMS database, in one transaction."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                for statement in statements:
                    conn.exec_driver_sql(statement)
        finally:
            engine.dispose()


def _students(s: Setup) -> list[str]:
    return s.lines("students.csv")


def _keep_rows(name: str, keep: Callable[[int, str], bool]) -> Callable[[Setup], None]:
    """A break keeping the header and the data rows (numbered from 0) ``keep`` says."""
    def breaks(s: Setup) -> None:
        header, *rows = s.lines(name)
        s.write(name, header + "".join(r for i, r in enumerate(rows) if keep(i, r)))
    return breaks


def _append(name: str, row: str) -> Callable[[Setup], None]:
    def breaks(s: Setup) -> None:
        s.write(name, s.read(name) + row + "\n")
    return breaks


def _setting(table: str, line: str) -> Callable[[Setup], None]:
    return lambda s: s.setting(table, line)


def _env(name: str, value: str) -> Callable[[Setup], None]:
    return lambda s: s.env.update({name: value})


def _args(*args: str) -> Callable[[Setup], None]:
    return lambda s: s.args.extend(args)


# -- the breaks that need more than a line -------------------------------------------------------
def first_tenth(s: Setup) -> None:
    header, *rows = _students(s)
    s.write("students.csv", header + "".join(rows[: len(rows) // 10]))


def truncated(s: Setup) -> None:
    """A copy cut off half way, in the middle of a row."""
    data = s.path("students.csv").read_bytes()
    cut = len(data) // 2
    while data[cut - 1:cut] in (b"\n", b","):  # the cut lands inside a value
        cut += 1
    s.write("students.csv", data[:cut])


def unterminated(s: Setup) -> None:
    """The last row's quoted name loses its closing quote: the quote runs to the end of the file."""
    *rows, last = _students(s)
    opened = last.index('"')
    closed = last.index('"', opened + 1)
    s.write("students.csv", "".join(rows) + last[:closed] + last[closed + 1:])


def cp1252(s: Setup) -> None:
    """One name saved as cp1252 in a file that is otherwise (and declared) UTF-8."""
    header, first, *rows = _students(s)
    s.write("students.csv", (header + first).encode("utf-8")
            + '100001,"Núñez, Zoë",7A,Active,2012-09-23\n'.encode("cp1252")
            + "".join(rows).encode("utf-8"))


def case_twin(s: Setup) -> None:
    """A staff row whose id is another's in lower case: T1001 and t1001."""
    s.write("staff.csv", s.read("staff.csv") + "t1001,\"Okafor, Ada\",Science,Teacher\n")


def delete_students(s: Setup) -> None:
    """13 students spread over every grade left the export: 13 of 117 accounts (11%) to retire."""
    _keep_rows("students.csv", lambda i, _: not (i % 8 == 3 and i < 8 * 13))(s)


def move_homeroom_half(s: Setup) -> None:
    """10 of homeroom 10A's 18 students show up in 11A: 10A and grade 10 lose more than half."""
    header, *rows = _students(s)
    moved, out = 0, [header]
    for row in rows:
        if ",10A," in row and moved < 10:
            row, moved = row.replace(",10A,", ",11A,"), moved + 1
        out.append(row)
    assert moved == 10
    s.write("students.csv", "".join(out))


def corrupt_state(s: Setup) -> None:
    state = s.path(".dss/school.sources.json")
    state.write_text(state.read_text(encoding="utf-8")[:200], encoding="utf-8")


def lms_refuses(s: Setup) -> None:
    """Two students change their names; the LMS (a trigger) refuses to update one of them."""
    s.replace("students.csv", '100001,"Ivanova, Nora"', '100001,"Ivanova-Smith, Nora"')
    s.replace("students.csv", '100002,"Johnson, Alex"', '100002,"Johnson-Lee, Alex"')
    if s.sqlite:
        s.sql("CREATE TRIGGER refuse BEFORE UPDATE ON lms_users WHEN NEW.idnumber = '100002' "
              "BEGIN SELECT RAISE(ABORT, 'the LMS refuses to change account 100002'); END")
    else:
        s.sql("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
              "RAISE EXCEPTION 'the LMS refuses to change account 100002'; END $$ LANGUAGE plpgsql",
              "CREATE TRIGGER refuse BEFORE UPDATE ON lms_users FOR EACH ROW "
              "WHEN (NEW.idnumber = '100002') EXECUTE FUNCTION refuse()")


def suspended_date(s: Setup) -> None:
    """lms_users.suspended is a DATE where dss-sql's mapping writes booleans (True cannot be one)."""
    if not s.sqlite:
        s.sql("ALTER TABLE lms_users ALTER COLUMN suspended DROP DEFAULT",
              "ALTER TABLE lms_users ALTER COLUMN suspended DROP NOT NULL",
              "ALTER TABLE lms_users ALTER COLUMN suspended TYPE DATE USING NULL")
        return
    s.sql("CREATE TABLE lms_users_new (idnumber VARCHAR(64) NOT NULL PRIMARY KEY, "
          "username VARCHAR(100) NOT NULL, name VARCHAR(200) NOT NULL, "
          "email VARCHAR(200) NOT NULL, role VARCHAR(20) NOT NULL, grade INTEGER, "
          "suspended DATE)",
          "INSERT INTO lms_users_new SELECT idnumber, username, name, email, role, grade, NULL "
          "FROM lms_users",
          "DROP TABLE lms_users",
          "ALTER TABLE lms_users_new RENAME TO lms_users")


ASYMMETRIC_PLUGIN = '''\
"""The school sync with a tracked attribute the LMS model does not have (SISUser.phone)."""

from dss_core import Branch, Datastore, hookimpl
from school_sync.lms import LMS
from school_sync.models import SISUser
from school_sync.plugin import dss_branches  # the cohorts the (blocked) school plugin adds
from school_sync.sis import SIS, UsersCSV


class SISUserWithPhone(SISUser):
    @property
    def phone(self) -> str:
        return ""


class SISWithPhone(SIS):
    name = "sis"
    users = Branch(SISUserWithPhone, importer=UsersCSV)


@hookimpl
def dss_datastores():
    return [Datastore("school", source=SISWithPhone, destinations=[LMS])]
'''


def asymmetric_models(s: Setup) -> None:
    """A plugin (installed beside the school's, which is blocked) whose SIS model has ``phone``."""
    site = s.path("site")
    site.mkdir()
    (site / "school_asym.py").write_text(ASYMMETRIC_PLUGIN, encoding="utf-8")
    info = site / "school_asym-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: school-asym\nVersion: 0.0.1\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text("[dss]\nschool-asym = school_asym\n", encoding="utf-8")
    s.env["PYTHONPATH"] = str(site)
    s.options += ["--block", "school"]


def report_nowhere(s: Setup) -> None:
    s.report = None
    s.args += ["--report", str(s.path("no-such-folder/report.json"))]


# -- what the LMS cases need ---------------------------------------------------------------------
def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def postgres_server() -> str | None:
    if _reachable(*POSTGRES):
        return None
    reason = "PostgreSQL not reachable on {}:{}".format(*POSTGRES)
    if os.environ.get("DSS_REQUIRE_SERVERS", "") not in ("", "0"):
        pytest.fail(f"{reason} (DSS_REQUIRE_SERVERS=1 makes this a failure)", pytrace=False)
    return reason


def closed_port() -> str | None:
    return f"something listens on 127.0.0.1:{CLOSED_PORT}" if _reachable(
        "127.0.0.1", CLOSED_PORT) else None


# -- the cases -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One bad input: what breaks, the exit code, a fragment of the message and its first line."""

    id: str
    description: str
    breaks: Callable[[Setup], None]
    code: int
    fragment: str
    message: str  # the first line of stderr (exit 1: the failed action's line), FOLDER for the folder
    postgres: bool = False  # also run with the LMS in PostgreSQL
    postgres_fragment: str = ""  # the fragment there, when PostgreSQL's message is another
    needs: Callable[[], str | None] | None = None  # a reason to skip the case here, or None
    then: tuple[str, ...] = ()  # options of a second run that must exit 0, and apply
    applies: bool = False  # exit 1: the other actions were applied, by design
    known: str = ""  # a known departure from "one dss: error: line" (an xfail until fixed)

    def check_needs(self) -> None:
        """Skip the test when what the case needs is not there (a server, a closed port)."""
        reason = self.needs() if self.needs is not None else None
        if reason is not None:
            pytest.skip(reason)


CASES: tuple[Case, ...] = (
    # source gates (exit 3)
    Case("students-header-only", "students.csv holds its header row only",
         _keep_rows("students.csv", lambda i, _: False), 3, "10 objects, last accepted 117",
         "dss: stopped: sis.users: columns '_homeroom', 'dob', 'enroll_status' are gone (the last accepted source had 7 columns, tonight's has 4); if that is right, run again with --accept sis.users",
         postgres=True),
    Case("students-first-tenth", "students.csv cut to its first 10% of rows",
         first_tenth, 3, "more than shrink_limit 20%",
         "dss: stopped: sis.users: 21 objects, last accepted 117 (−82.1%, more than shrink_limit 20%); if that is right, run again with --accept sis.users",
         postgres=True),
    Case("staff-header-only", "staff.csv holds its header row only",
         _keep_rows("staff.csv", lambda i, _: False), 3, "sis.groups: 12 objects",
         "dss: stopped: sis.users: columns '_department', 'title' are gone (the last accepted source had 7 columns, tonight's has 5); if that is right, run again with --accept sis.users"),
    Case("enrolments-header-only", "enrolments.csv holds its header row only",
         _keep_rows("enrolments.csv", lambda i, _: False), 3, "sis.enrolments: the source is empty",
         "dss: stopped: sis.enrolments: the source is empty (0 objects, last accepted 107); if that is right, run again with --accept sis.enrolments"),
    Case("column-enroll-status-renamed", "column `enroll_status` renamed `status` in students.csv",
         lambda s: s.replace("students.csv", "enroll_status", "status"), 3,
         "column 'enroll_status' is gone",
         "dss: stopped: sis.users: column 'enroll_status' is gone (tonight's has 'status' instead); if that is right, run again with --accept sis.users",
         postgres=True),
    Case("column-home-room-renamed", "column `home_room` renamed `homeroom` in students.csv",
         lambda s: s.replace("students.csv", "home_room", "homeroom"), 2,
         "did you mean 'homeroom'?",
         "dss: error: sis.users: rename key 'home_room' matches no column of students.csv (columns: 'student_number', 'lastfirst', 'homeroom', 'enroll_status', 'dob') or staff.csv (columns: 'teacher_number', 'lastfirst', 'department', 'title'); did you mean 'homeroom'?"),
    # deletion and member-loss limits (exit 3), then let through
    Case("deletions-over-limit", "13 of 117 students gone from students.csv (11%); "
         "then `--allow-deletions 13` lets the run through", delete_students, 3,
         "more than deletion_limit 10%",
         "dss: stopped: lms.users: 13 of 117 objects would be retired or deleted (11.1%, more than deletion_limit 10% and deletion_floor 5); if intended, run with --allow-deletions lms.users=13",
         postgres=True, then=("--allow-deletions", "13")),
    Case("group-loses-half", "10 of homeroom 10A's 18 students moved to 11A",
         move_homeroom_half, 3, "'homeroom-10a': members would lose 10 of 18",
         "dss: stopped: lms.groups 'grade-10': members would lose 10 of 18 (55.6%, more than member_loss_limit 50% of a set of 10 or more); if intended, run with --allow-deletions lms.groups=10",
         postgres=True),
    # the CSV files (exit 2)
    Case("students-empty", "students.csv is empty: no header, no data",
         lambda s: s.write("students.csv", ""), 2, "the file is empty",
         "dss: error: students.csv: the file is empty (no header row and no data); set allow_empty = true to accept that",
         postgres=True),
    Case("students-missing", "students.csv is missing",
         lambda s: s.path("students.csv").unlink(), 2, "file not found",
         "dss: error: students.csv: file not found"),
    Case("students-truncated", "students.csv cut off half way, in the middle of a row",
         truncated, 2, "2 fields, but the header has 5",
         "dss: error: students.csv line 56: 2 fields, but the header has 5 (too few: missing fields or the wrong delimiter?)"),
    Case("row-too-many-fields", "a row of students.csv has an extra field",
         lambda s: s.replace("students.csv", "Active,", "Active,x,"), 2, "6 fields",
         "dss: error: students.csv line 2: 6 fields, but the header has 5 (too many: a delimiter inside an unquoted value?)",
         postgres=True),
    Case("row-too-few-fields", "a row of enrolments.csv lost a field",
         lambda s: s.replace("enrolments.csv", "\n100001,MATH7,1,", "\n100001,MATH7,"), 2,
         "4 fields",
         "dss: error: enrolments.csv line 2: 4 fields, but the header has 5 (too few: missing fields or the wrong delimiter?)"),
    Case("unterminated-quote", "the last row of students.csv opens a quote it never closes",
         unterminated, 2, "unterminated quoted field",
         "dss: error: students.csv line 111: unterminated quoted field: the quote opened on this line is never closed (the file ends at line 111)"),
    Case("stray-quote", "a quoted name in students.csv lost its closing quote mid-file",
         lambda s: s.replace("students.csv", '"Johnson, Alex"', '"Johnson, Alex'), 2,
         "malformed CSV",
         "dss: error: students.csv line 3: malformed CSV: ',' expected after '\"' (the row runs to line 4: an unbalanced quote?)"),
    Case("cp1252-in-utf8", "one row of students.csv saved as cp1252 (Núñez, Zoë)",
         cp1252, 2, "cannot decode as utf-8",
         "dss: error: students.csv line 3: cannot decode as utf-8: byte fa (invalid start byte) (set `encoding`, e.g. encoding = \"cp1252\")",
         postgres=True),
    Case("nul-byte", "a NUL byte inside a name in students.csv",
         lambda s: s.replace("students.csv", "Johnson, Alex", "Johnson,\x00 Alex"), 2,
         "U+0000 (NUL)",
         "dss: error: students.csv line 3: column 'lastfirst' (2) holds a control character U+0000 (NUL)",
         postgres=True),
    Case("escape-character", "an ESC control character in a title in staff.csv",
         lambda s: s.replace("staff.csv", "Administrator", "Admin\x1bistrator"), 2,
         "U+001B (ESC)",
         "dss: error: staff.csv line 2: column 'title' (4) holds a control character U+001B (ESC)"),
    Case("id-with-space-twin", "a second row for student `' 100001'` (with a space) in students.csv",
         _append("students.csv", ' 100001,"Ivanova, Nora",7A,Active,2012-09-23'), 2,
         "duplicate idnumber '100001'",
         "dss: error: students.csv line 112: sis.users: duplicate idnumber '100001' appears more than once (first at students.csv line 2); set on_duplicate to 'first' or 'last' to allow it",
         postgres=True),
    Case("id-case-twin", "staff.csv holds `T1001` and `t1001`", case_twin, 2,
         "differ only in case",
         "dss: error: staff.csv line 12: sis.users: idnumbers 'T1001' (at staff.csv line 2) and 't1001' differ only in case or whitespace; set on_duplicate to 'first' or 'last' to keep one"),
    Case("blank-id", "a row of students.csv has no `student_number`",
         _append("students.csv", ',"Nobody, Anna",9A,Active,2010-01-01'), 2, "empty idnumber",
         "dss: error: students.csv line 112: sis.users: empty idnumber"),
    Case("column-twice", "students.csv names column `dob` twice",
         lambda s: s.replace("students.csv", "enroll_status,dob", "enroll_status,dob,dob"), 2,
         "appears twice", "dss: error: students.csv line 1: column 'dob' appears twice"),
    # dss.toml and the environment (exit 2)
    Case("typo-mod", '`mod = "no-retire"` in `[trees.lms.users]`',
         _setting("trees.lms.users", 'mod = "no-retire"'), 2, "did you mean 'mode'",
         "dss: error: dss.toml: trees.lms.users.mod: unknown setting 'mod' (did you mean 'mode'?) for branch lms.users (dss list shows every setting)",
         postgres=True),
    Case("typo-delimter", '`delimter = ";"` in `[trees.sis.users]`',
         _setting("trees.sis.users", 'delimter = ";"'), 2, "did you mean 'delimiter'",
         "dss: error: dss.toml: trees.sis.users.delimter: unknown setting 'delimter' (did you mean 'delimiter'?) for branch sis.users (dss list shows every setting)"),
    Case("typo-pathh", '`pathh = "enrolments.csv"` in `[trees.sis.enrolments]`',
         _setting("trees.sis.enrolments", 'pathh = "enrolments.csv"'), 2,
         "did you mean 'path'",
         "dss: error: dss.toml: trees.sis.enrolments.pathh: unknown setting 'pathh' (did you mean 'path'?) for branch sis.enrolments (dss list shows every setting)"),
    Case("typo-env-delimter", "environment variable `DSS_SIS_USERS_DELIMTER=;`",
         _env("DSS_SIS_USERS_DELIMTER", ";"), 2, "did you mean 'DSS_SIS_USERS_DELIMITER'",
         "dss: error: environment variable DSS_SIS_USERS_DELIMTER: unknown setting 'delimter' for branch sis.users (did you mean 'DSS_SIS_USERS_DELIMITER'?)"),
    Case("typo-top-level", '`datastor = "school"` at the top of dss.toml',
         lambda s: s.write("dss.toml", 'datastor = "school"\n' + s.read("dss.toml")), 2,
         "did you mean 'datastore'",
         "dss: error: dss.toml: unknown setting 'datastor' (did you mean 'datastore'?); the top level holds datastore, history, on_bad_record, quarantine_limit, state_dir, trees"),
    Case("wrong-type-strip", '`strip = "yes"` in `[trees.sis.users]` (a string, not a boolean)',
         _setting("trees.sis.users", 'strip = "yes"'), 2, "not a valid strip",
         "dss: error: dss.toml: trees.sis.users.strip: 'yes' is not a valid strip (Input should be a valid boolean)"),
    Case("wrong-type-env", "environment variable `DSS_SIS_USERS_STRIP=perhaps`",
         _env("DSS_SIS_USERS_STRIP", "perhaps"), 2, "not a valid strip",
         "dss: error: environment variable DSS_SIS_USERS_STRIP: 'perhaps' is not a valid strip (Input should be a valid boolean, unable to interpret input)"),
    Case("bad-on-bad-record", '`on_bad_record = "skip"` at the top of dss.toml',
         lambda s: s.write("dss.toml", 'on_bad_record = "skip"\n' + s.read("dss.toml")), 2,
         "not a valid on_bad_record",
         "dss: error: dss.toml: on_bad_record: 'skip' is not a valid on_bad_record (Input should be 'stop' or 'quarantine')"),
    Case("bad-mode", '`mode = "sometimes"` in `[trees.lms.users]`',
         _setting("trees.lms.users", 'mode = "sometimes"'), 2, "not a valid mode",
         "dss: error: dss.toml: trees.lms.users.mode: 'sometimes' is not a valid mode (Input should be 'full', 'create-only', 'update-only' or 'no-retire')"),
    Case("bad-shrink-limit", '`shrink_limit = "a fifth"` in `[trees.sis]`',
         _setting("trees.sis", 'shrink_limit = "a fifth"'), 2, "is not a percentage",
         "dss: error: sis.users: shrink_limit: 'a fifth' is not a percentage (write \"20%\")"),
    Case("rename-no-column", "a rename key naming no column: `[trees.sis.enrolments]` "
         '`rename = {"student_number" = "idnumber", "teacher_no" = "teacher"}`',
         _setting("trees.sis.enrolments",
                  'rename = {"student_number" = "idnumber", "teacher_no" = "teacher"}'), 2,
         "did you mean 'teacher_number'",
         "dss: error: sis.enrolments: rename key 'teacher_no' matches no column of enrolments.csv (columns: 'student_number', 'course_number', 'section_number', 'course_name', 'teacher_number'); did you mean 'teacher_number'?"),
    Case("wrong-delimiter", '`delimiter = ";"` for the comma-separated students.csv',
         _setting("trees.sis.users", 'delimiter = ";"'), 2, "match no column",
         "dss: error: sis.users: rename keys 'student_number', 'teacher_number', 'lastfirst', 'home_room', 'department' match no column of students.csv (columns: 'student_number,lastfirst,home_room,enroll_status,dob') or staff.csv (columns: 'teacher_number,lastfirst,department,title'); the header holds ',': is that the delimiter? (delimiter = ',')"),
    Case("unknown-encoding", '`encoding = "utf-9"` in `[trees.sis.users]`',
         _setting("trees.sis.users", 'encoding = "utf-9"'), 2, "unknown encoding 'utf-9'",
         "dss: error: sis.users: unknown encoding 'utf-9'"),
    Case("toml-syntax", "dss.toml is not valid TOML (an unquoted value)",
         lambda s: s.write("dss.toml", s.read("dss.toml").replace(
             'path = "enrolments.csv"', "path = enrolments.csv")), 2, "(at line 9, column 8)",
         "dss: error: DIR/dss.toml: not valid TOML: Invalid value (at line 9, column 8)"),
    # the LMS (exit 2, 1)
    Case("model-attribute-missing", "the source model has a tracked attribute (`phone`) the LMS "
         "model lacks (a plugin)", asymmetric_models, 2, "has no attribute 'phone'",
         "dss: error: 1 model error (the source and destination models do not match; nothing was applied): err_no_attr: lms.users (LMSUser) has no attribute 'phone'",
         postgres=True),
    Case("lms-unreachable", "`DSS_LMS_URL` names PostgreSQL on a closed port (with a password)",
         _env("DSS_LMS_URL", f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:{CLOSED_PORT}/test"),
         2, "Connection refused",
         "dss: error: cannot connect to postgresql+psycopg://postgres:***@127.0.0.1:1/test: connection failed: connection to server at \"127.0.0.1\", port 1 failed: Connection refused Is the server running on that host and accepting TCP/IP connections?",
         needs=closed_port),
    Case("lms-wrong-user", "`DSS_LMS_URL` names a PostgreSQL user that does not exist "
         "(with a password)", _env("DSS_LMS_URL", f"postgresql+psycopg://intruder:{SECRET}"
                                   f"@{POSTGRES[0]}:{POSTGRES[1]}/test"),
         2, 'role "intruder" does not exist',
         "dss: error: cannot connect to postgresql+psycopg://intruder:***@127.0.0.1:5432/test: connection failed: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  role \"intruder\" does not exist",
         needs=postgres_server),
    Case("lms-sqlite-missing", "dss.toml names an LMS SQLite file that does not exist",
         lambda s: s.replace("dss.toml", "sqlite:///lms.sqlite", "sqlite:///lms-old.sqlite"), 2,
         "lms-old.sqlite does not exist",
         "dss: error: cannot connect to sqlite:///DIR/lms-old.sqlite: the database file DIR/lms-old.sqlite does not exist"),
    Case("lms-column-dropped", "the LMS's `lms_users` table lost its `email` column",
         lambda s: s.sql("ALTER TABLE lms_users DROP COLUMN email"), 2, "has no column 'email'",
         "dss: error: lms.users: table 'lms_users' has no column 'email' (sqlite:///DIR/lms.sqlite); it has idnumber, username, name, role, grade, suspended"),
    Case("lms-suspended-date", "the LMS's `lms_users.suspended` is a DATE, not BOOLEAN",
         suspended_date, 2, "does not fit column lms_users.suspended",
         "dss: error: lms.users: retire value True (bool) does not fit column lms_users.suspended DATE: write a date (an ISO string) or NOW",
         postgres=True),
    Case("lms-refuses-update", "the LMS refuses one of two name changes (a trigger): the other "
         "is applied, by design", lms_refuses, 1, "the LMS refuses to change account 100002",
         "FAILURE: update_name(idnumber='100002', attribute='name', value='Alex Johnson-Lee') [students.csv line 3]: the LMS refuses to change account 100002",
         postgres=True, applies=True),
    # the state folder and the command line (exit 2)
    Case("state-corrupt", "the state file `.dss/school.sources.json` is cut short",
         corrupt_state, 2, "the state file cannot be read",
         "dss: error: DIR/.dss/school.sources.json: the state file cannot be read (JSONDecodeError: Expecting ',' delimiter: line 11 column 3 (char 200)); the source gates need it: restore it, or delete it to start again from tonight's source",
         postgres=True),
    Case("accept-no-branch", "`--accept sis.user` (no such branch)", _args("--accept", "sis.user"),
         2, "did you mean 'sis.users'",
         "dss: error: --accept sis.user: no such tree or branch (did you mean 'sis.users'?) (write tree.branch, e.g. sis.users)"),
    Case("allow-deletions-text", "`--allow-deletions many`", _args("--allow-deletions", "many"), 2,
         "give a number",
         "dss: error: --allow-deletions many: give a number of objects, N or TREE.BRANCH=N"),
    Case("report-no-folder", "`--report` into a folder that does not exist", report_nowhere, 2,
         "cannot write the report",
         "dss: error: cannot write the report to DIR/no-such-folder/report.json: folder 'DIR/no-such-folder' does not exist"),
)


# -- running dss ---------------------------------------------------------------------------------
def dss_command() -> list[str]:
    """The installed ``dss`` script next to this Python, else ``python -m dss_core``."""
    script = Path(sys.executable).with_name("dss")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dss_core"]


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DSS_") and k != "PYTHONPATH"}


def run_dss(s: Setup, *extra: str) -> subprocess.CompletedProcess[str]:
    args = [*dss_command(), *s.options, "--config", str(s.path("dss.toml")), "run", "school",
            *s.args, *extra]
    if s.report is not None:
        args += ["--report", str(s.report)]
    return subprocess.run(args, cwd=s.folder, env={**clean_environ(), **s.env},
                          capture_output=True, text=True, timeout=120)


def make_template(folder: Path) -> Path:
    """The school after its first good run: CSV exports, dss.toml, lms.sqlite and .dss/."""
    env = clean_environ()
    subprocess.run([sys.executable, "-m", "school_sync.generate", "--users", str(USERS),
                    "--seed", str(SEED), "--out", str(folder)],
                   check=True, capture_output=True, env=env, timeout=120)
    done = subprocess.run([*dss_command(), "--config", str(folder / "dss.toml"), "run", "school",
                           "-q"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (folder / ".dss" / "school.sources.json").is_file()
    return folder


def first_line(case: Case, done: subprocess.CompletedProcess[str], folder: Path) -> str:
    """The line README shows: stderr's first (exit 1: the failed action's), the folder as DIR."""
    if case.code == 1:
        lines = [line.strip() for line in done.stderr.splitlines() if case.fragment in line]
    else:
        lines = done.stderr.splitlines()
    line = lines[0] if lines else ""
    for path in {str(folder), str(folder.resolve())}:
        line = line.replace(path, FOLDER)
    return line


# -- the README table ----------------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    body = _cell(text)
    return f"`` {body} ``" if "`" in body else f"`{body}`"


def readme_section() -> str:
    """The README text between the markers: the cases as a table."""
    rows = [f"| {c.id} | {_cell(c.description)} | {c.code} | {_code(c.message)} |" for c in CASES]
    applied = ", ".join(f"`{c.id}`" for c in CASES if c.applies)
    known = "".join(f" `{c.id}`: {c.known}." for c in CASES if c.known)
    known = f" Not yet one line:{known}" if known else ""
    intro = textwrap.dedent(f"""\
        ## What a bad night looks like

        Each row is a case of `tests/test_bad_input.py`: after a good first run of the
        school example ({USERS} people, `python -m school_sync.generate`), one thing is
        broken and `dss run school` runs. The LMS is left unchanged in every case but
        {applied} (byte for byte on SQLite, row for row on PostgreSQL), the
        `--report` file (0600) says why, and stderr holds one `dss: error:` line (exit 2)
        or `dss: stopped:` lines and `dss: nothing was applied` (exit 3). The message is
        the first line dss prints (`DIR` is the folder of dss.toml).{known}
        This table is made from the test's cases:
        `python tests/test_bad_input.py --write-readme`.

        | case | what is broken | exit | what dss says |
        |---|---|---|---|
        """)
    return "\n" + intro + "\n".join(rows) + "\n"


def readme_text() -> str:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end]


def write_readme() -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(START) + len(START), text.index(END)
    README.write_text(text[:start] + readme_section() + text[end:], encoding="utf-8")


# -- the destination, before and after -----------------------------------------------------------
def lms_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every LMS table, sorted."""
    import sqlalchemy as sa
    from school_sync import schema

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {t.name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=repr)
                    for t in schema.metadata.sorted_tables}
    finally:
        engine.dispose()


def copy_lms(template: Path, url: str) -> None:
    """The template's LMS, after its good run, copied into the database at ``url``."""
    from school_sync import schema

    rows = lms_rows(f"sqlite:///{template / 'lms.sqlite'}")
    names = [t.name for t in (schema.users, schema.cohorts, schema.cohort_members,
                              schema.enrolments)]
    tables = {t.name: t for t in schema.metadata.sorted_tables}
    schema.create(url, *([dict(zip(tables[n].c.keys(), r, strict=True)) for r in rows[n]]
                         for n in names))


# -- the tests -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(tmp_path_factory.mktemp("bad-input") / "school")


def _prepare(case: Case, template: Path, folder: Path, url: str | None = None) -> Setup:
    shutil.copytree(template, folder)
    s = Setup(folder, url or f"sqlite:///{folder / 'lms.sqlite'}")
    s.report = folder / "report.json"
    if url is not None:
        s.env["DSS_LMS_URL"] = url
    case.breaks(s)
    return s


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of the folder but the report, the run history and bytecode: the state in .dss/
    included (a run that stopped is kept in the history, by design: `dss history` lists it)."""
    return {os.fspath(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "report.json" and "__pycache__" not in p.parts
            and not any(part.endswith(".history") for part in p.parts)}


def _check_run(case: Case, s: Setup, done: subprocess.CompletedProcess[str]) -> bool:
    """Assert what dss said; False when only the case's ``known`` departure is seen."""
    code, fragment = case.code, case.fragment
    if not s.sqlite and case.postgres_fragment:
        fragment = case.postgres_fragment
    shown = f"exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    assert done.returncode == code, shown
    lines = done.stderr.splitlines()
    contract = True
    if code == 2:
        assert lines and lines[0].startswith("dss: error: "), shown
        contract = len(lines) == 1
        assert contract or case.known, shown
    elif code == 3:
        assert len(lines) >= 2 and lines[-1] == "dss: nothing was applied", shown
        assert all(line.startswith("dss: stopped: ") for line in lines[:-1]), shown
    assert fragment in done.stderr, shown  # a failed action (exit 1) too: failures go to stderr
    assert SECRET not in done.stdout + done.stderr, shown
    if s.report is not None:
        assert stat.S_IMODE(s.report.stat().st_mode) == 0o600
        written = s.report.read_text(encoding="utf-8")
        assert SECRET not in written
        data = json.loads(written)
        assert data["run"]["exit_code"] == code
        assert "error" in data
        if code in (2, 3):
            assert data["error"] and fragment in data["error"], data["error"]
        if code == 3:
            assert data["gates"] and all(f"dss: stopped: {g}" in lines for g in data["gates"])
        if code == 1:
            assert data["totals"]["failed"] > 0 and data["error"] is None
    return contract


def _check_applied(url: str) -> None:
    """lms-refuses-update: the refused account kept its name, the other one changed."""
    names = {r[0]: r[2] for r in lms_rows(url)["lms_users"]}
    assert (names["100001"], names["100002"]) == ("Nora Ivanova-Smith", "Alex Johnson")


def _known(case: Case, contract: bool) -> None:
    if case.known and contract:
        pytest.fail(f"{case.id}: fixed ({case.known}): remove known= from the case")
    if not contract:
        pytest.xfail(f"known: {case.known}")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_sqlite(case: Case, template: Path, tmp_path: Path) -> None:
    case.check_needs()
    s = _prepare(case, template, tmp_path / "school")
    lms = s.path("lms.sqlite")
    before, files = lms.read_bytes(), snapshot(s.folder)
    done = run_dss(s)
    contract = _check_run(case, s, done)
    assert first_line(case, done, s.folder) == case.message
    if case.applies:
        assert lms.read_bytes() != before
        _check_applied(s.url)
    else:
        assert lms.read_bytes() == before, "the LMS changed"
        assert snapshot(s.folder) == files, "a file changed (the accepted source in .dss/?)"
    if case.then:
        s.report = None
        again = run_dss(s, *case.then)
        assert again.returncode == 0, again.stdout + again.stderr
        assert lms.read_bytes() != before
    _known(case, contract)


POSTGRES_CASES = [c for c in CASES if c.postgres]


@pytest.mark.postgres
@pytest.mark.parametrize("case", POSTGRES_CASES, ids=[c.id for c in POSTGRES_CASES])
def test_bad_input_postgres(case: Case, template: Path, tmp_path: Path,
                            dss_postgres_url: str) -> None:
    case.check_needs()
    copy_lms(template, dss_postgres_url)
    s = _prepare(case, template, tmp_path / "school", dss_postgres_url)
    before, files = lms_rows(dss_postgres_url), snapshot(s.folder)
    assert len(before["lms_users"]) > USERS and len(before["lms_cohort_members"]) > 100
    done = run_dss(s)
    contract = _check_run(case, s, done)
    if case.applies:
        _check_applied(dss_postgres_url)
    else:
        assert lms_rows(dss_postgres_url) == before, "the LMS changed"
        assert snapshot(s.folder) == files, "a file changed (the accepted source in .dss/?)"
    if case.then:
        s.report = None
        again = run_dss(s, *case.then)
        assert again.returncode == 0, again.stdout + again.stderr
        assert lms_rows(dss_postgres_url) != before
    _known(case, contract)


def test_enough_cases() -> None:
    assert len(CASES) >= 30 and len(POSTGRES_CASES) >= 8
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(c.message for c in CASES), [c.id for c in CASES if not c.message]


def test_readme_shows_the_cases() -> None:
    assert readme_text() == readme_section(), (
        "README.md's bad-input table is out of date: python tests/test_bad_input.py --write-readme")


# -- the command line: record the real messages, rewrite the README ------------------------------
def record() -> Iterator[tuple[Case, int, str]]:
    """Run every case on SQLite: (case, exit code, first line)."""
    with tempfile.TemporaryDirectory(prefix="dss-bad-input-") as tmp:
        template = make_template(Path(tmp) / "template")
        for n, case in enumerate(CASES):
            folder = Path(tmp) / f"case{n}"
            shutil.copytree(template, folder)
            s = Setup(folder, f"sqlite:///{folder / 'lms.sqlite'}", report=folder / "report.json")
            case.breaks(s)
            done = run_dss(s)
            yield case, done.returncode, first_line(case, done, folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--record", action="store_true",
                        help="run every case and print its exit code and first line")
    parser.add_argument("--write-readme", action="store_true",
                        help="rewrite README.md's section between the bad-input markers")
    args = parser.parse_args(argv)
    if args.record:
        for case, code, line in record():
            flag = "" if (code, line) == (case.code, case.message) else "   <-- differs"
            print(f"{case.id}: exit {code}{flag}\n    {line!r}")
    if args.write_readme:
        write_readme()
        print(f"{README}: {len(CASES)} cases written")
    if not (args.record or args.write_readme):
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
