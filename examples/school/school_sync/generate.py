"""Make demo data: the SIS's nightly CSV exports and an LMS that is out of date.

    python -m school_sync.generate --users 1000 --out demo-output [--seed 7] [--url URL]
                                   [--directory URL [--directory-base DN] [--directory-bind-dn DN]]

writes into ``--out``:

* ``students.csv``: ``student_number, lastfirst ("Last, First"), home_room
  ("10B"), enroll_status (Active / Withdrawn), dob``;
* ``staff.csv``: ``teacher_number, lastfirst, department, title``;
* ``enrolments.csv``: one row per student and class;
* ``dss.toml``: the configuration ``dss`` reads (paths and the LMS URL);

and (re)creates the LMS database (``lms.sqlite`` in ``--out``, or ``--url`` /
``$DSS_LMS_URL``) as it stood *before* tonight's export: some students are
new, some withdrew or left, some changed their name, moved homeroom or
changed a class, a homeroom is new and a department group is gone. So the
first sync creates, updates, adds and removes members, and retires accounts.

With ``--directory URL`` it also prepares the second destination, a
directory (LDAP): it *replaces* ``ou=people``, ``ou=groups`` and
``ou=retired`` under ``--directory-base`` with the same out-of-date
accounts and groups as the LMS's (binding as ``--directory-bind-dn`` with
the password in ``$DSS_DIRECTORY_BIND_PASSWORD``), and dss.toml gets a
``[trees.directory]`` table: ``dss run school`` then syncs the SIS into
both. Point it at a directory made for the demo.

The same ``--seed`` and ``--users`` always give the same files.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dss_core import redact  # the function (dss_core.redaction holds it)

from . import directory_data, schema
from .groups import groups_of
from .models import SISUser, grade_of

FIRST_NAMES = [
    "Aaliyah", "Aarav", "Abdul", "Ada", "Adrian", "Aiko", "Akira", "Alejandro", "Alex", "Amara",
    "Amelia", "Ana", "Andrei", "Anna", "Arjun", "Aroha", "Beatriz", "Ben", "Bilal", "Björn",
    "Camille", "Carlos", "Chen", "Chloé", "Chloe", "Daniel", "David", "Dmitri", "Elena", "Eli",
    "Emma", "Eoin", "Erik", "Fatima", "Felix", "François", "Freya", "Gabriel", "Grace", "Hana",
    "Hannah", "Hugo", "Ibrahim", "Imani", "Isabel", "Ivan", "Jack", "Jamal", "James", "Jana",
    "Javier", "Jin", "José", "Joaquín", "Julia", "Kai", "Kenji", "Kofi", "Lara", "Leila", "Liam",
    "Lucas", "Lucía", "Maeve", "Malik", "Maria", "Mateo", "Maya", "Mei", "Mia", "Mohammed",
    "Nadia", "Niamh", "Noah", "Nora", "Olivia", "Omar", "Oscar", "Priya", "Rafael", "Rania",
    "Ravi", "Renée", "Rosa", "Sakura", "Samuel", "Sara", "Siobhán", "Sofia", "Søren", "Tariq",
    "Thomas", "Tomás", "Wei", "Yara", "Yusuf", "Zara", "Zoë",
]

LAST_NAMES = [
    "Abara", "Adeyemi", "Ahmed", "Almeida", "Andersen", "Bauer", "Bianchi", "Brown", "Byrne",
    "Castillo", "Chen", "Cohen", "Costa", "Dubois", "Dupont", "Eriksen", "Fernández", "Fischer",
    "García", "Gómez", "González", "Haddad", "Hansen", "Hernández", "Ivanova", "Jensen",
    "Johnson", "Kaur", "Kim", "Kowalski", "Kumar", "Larsen", "Laurent", "Lee", "Li", "López",
    "Martin", "Martínez", "Mensah", "Moreau", "Müller", "Murphy", "Nakamura", "Nguyen", "Novak",
    "O'Brien", "O'Connor", "Okafor", "Olsen", "Park", "Patel", "Pereira", "Petrov", "Popescu",
    "Rossi", "Sánchez", "Santos", "Schmidt", "Silva", "Singh", "Smith", "Suzuki", "Tanaka",
    "Taylor", "Torres", "Van der Berg", "Wang", "Weber", "Williams", "Wilson", "Yamamoto",
    "Yilmaz", "Zhang", "Ní Bhriain", "Smith-Jones",
]

GRADES = range(7, 13)  # grades 7 to 12
CLASS_SIZE = 25

#: course number prefix -> (course name, department teaching it); the first four are compulsory
SUBJECTS: dict[str, tuple[str, str]] = {
    "MATH": ("Mathematics", "Mathematics"),
    "ENG": ("English", "English"),
    "SCI": ("Science", "Science"),
    "HIST": ("History", "Humanities"),
    "ART": ("Visual Art", "Arts"),
    "MUS": ("Music", "Arts"),
    "PE": ("Physical Education", "Physical Education"),
    "FR": ("French", "Languages"),
    "CS": ("Computer Science", "Technology"),
}
COMPULSORY = ("MATH", "ENG", "SCI", "HIST")
ELECTIVES_PER_STUDENT = 2
DEPARTMENTS = sorted({d for _, d in SUBJECTS.values()} | {"Administration"})

STUDENT_FIELDS = ["student_number", "lastfirst", "home_room", "enroll_status", "dob"]
STAFF_FIELDS = ["teacher_number", "lastfirst", "department", "title"]
ENROLMENT_FIELDS = ["student_number", "course_number", "section_number", "course_name",
                    "teacher_number"]


@dataclass
class School:
    """Tonight's SIS export, as rows, plus the derived LMS truth."""

    students: list[dict[str, str]] = field(default_factory=list)
    staff: list[dict[str, str]] = field(default_factory=list)
    enrolments: list[dict[str, str]] = field(default_factory=list)

    def active_users(self) -> list[SISUser]:
        """Everyone the LMS should have an active account for, as model objects."""
        out = [SISUser(s["student_number"], _lastfirst=s["lastfirst"], _homeroom=s["home_room"])
               for s in self.students if s["enroll_status"] == "Active"]
        out += [SISUser(t["teacher_number"], _lastfirst=t["lastfirst"],
                        _department=t["department"]) for t in self.staff]
        return out

    def courses(self) -> dict[str, set[str]]:
        """Active students' class codes (``MATH10-2``) by student number."""
        active = {s["student_number"] for s in self.students if s["enroll_status"] == "Active"}
        out: dict[str, set[str]] = {}
        for e in self.enrolments:
            if e["student_number"] in active:
                out.setdefault(e["student_number"], set()).add(course_code(e))
        return out


def course_code(row: dict[str, str]) -> str:
    """The LMS's code for a class: course number and section, ``MATH10-2``."""
    return f"{row['course_number']}-{row['section_number']}"


def section_letters(index: int) -> str:
    """Homeroom letters by number: 0 -> ``A``, 25 -> ``Z``, 26 -> ``AA`` (large schools)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _name(rng: random.Random) -> str:
    first = rng.choice(FIRST_NAMES)
    if rng.random() < 0.08:
        first = f"{first} {rng.choice(FIRST_NAMES)}"
    return f"{rng.choice(LAST_NAMES)}, {first}"


def make_school(users: int, seed: int) -> School:
    """Tonight's export for a school of ``users`` people (students and staff)."""
    rng = random.Random(seed)
    n_staff = max(len(DEPARTMENTS), users // 12) if users >= 24 else users // 6
    n_students = users - n_staff
    school = School()
    # staff: each department at least one member, then round-robin weighted to teaching
    used_usernames: set[str] = set()
    for i in range(n_staff):
        dept = DEPARTMENTS[i] if i < len(DEPARTMENTS) else rng.choice(DEPARTMENTS[:-1] + DEPARTMENTS)
        while True:  # staff usernames are first.last: keep them unique
            lastfirst = _name(rng)
            username = SISUser("T", _lastfirst=lastfirst, _department=dept).username
            if username not in used_usernames:
                used_usernames.add(username)
                break
        title = "Administrator" if dept == "Administration" else rng.choice(
            ["Teacher", "Teacher", "Teacher", "Head of Department", "Assistant Teacher"])
        school.staff.append({"teacher_number": f"T{1001 + i}", "lastfirst": lastfirst,
                             "department": dept, "title": title})
    teachers: dict[str, list[str]] = {}
    for t in school.staff:
        teachers.setdefault(t["department"], []).append(t["teacher_number"])
    # students: spread over grades 7-12 and homerooms of about CLASS_SIZE
    per_grade = math.ceil(n_students / len(GRADES))
    sections = max(1, math.ceil(per_grade / CLASS_SIZE))
    for i in range(n_students):
        grade = GRADES[i % len(GRADES)]
        letter = section_letters((i // len(GRADES)) % sections)
        year = 2024 - grade - 5
        school.students.append({
            "student_number": str(100001 + i),
            "lastfirst": _name(rng),
            "home_room": f"{grade}{letter}",
            "enroll_status": "Withdrawn" if rng.random() < 0.03 else "Active",
            "dob": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        })
    # enrolments: compulsory subjects plus electives, in sections of about CLASS_SIZE
    electives = [s for s in SUBJECTS if s not in COMPULSORY]
    for s in school.students:
        grade = grade_of(s["home_room"]) or GRADES[0]
        picks = list(COMPULSORY) + rng.sample(electives, ELECTIVES_PER_STUDENT)
        for subject in picks:
            name, dept = SUBJECTS[subject]
            section = rng.randint(1, sections)
            staff_pool = teachers.get(dept) or [t["teacher_number"] for t in school.staff]
            teacher = staff_pool[(grade * 7 + section) % len(staff_pool)] if staff_pool else ""
            school.enrolments.append({
                "student_number": s["student_number"], "course_number": f"{subject}{grade}",
                "section_number": str(section), "course_name": f"{name} {grade}",
                "teacher_number": teacher,
            })
    return school


def _strip_accents(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _account(user: SISUser) -> dict[str, Any]:
    return {"idnumber": user.idnumber, "username": user.username, "name": user.name,
            "email": user.email, "role": user.role, "grade": user.grade, "suspended": False}


def stale_lms(school: School, seed: int) -> dict[str, list[dict[str, Any]]]:
    """The LMS as it stood before tonight's export: the truth, aged and perturbed."""
    rng = random.Random(seed + 1)
    truth = school.active_users()
    accounts: dict[str, dict[str, Any]] = {}
    homerooms: dict[str, str] = {}  # idnumber -> homeroom the LMS thinks
    new_this_year: list[str] = []
    for user in truth:
        if user.role == "student" and rng.random() < 0.04:
            new_this_year.append(user.idnumber)  # enrolled since the last sync: no account
            continue
        account = _account(user)
        roll = rng.random()
        if roll < 0.015 and _strip_accents(user.name) != user.name:
            account["name"] = _strip_accents(user.name)  # an old system lost the accents
        elif roll < 0.03:
            old = SISUser(user.idnumber, _lastfirst=f"{rng.choice(LAST_NAMES)}, "
                          f"{user.name.split(' ')[0]}", _homeroom=user._homeroom,
                          _department=user._department)
            account.update(name=old.name, username=old.username, email=old.email)  # renamed
        elif roll < 0.05 and user.grade is not None and user.grade > 7:
            account["grade"] = user.grade - 1  # promotion not synced yet
        accounts[user.idnumber] = account
        if user._homeroom:
            homerooms[user.idnumber] = user._homeroom
    # two returning students whose old account is suspended: the sync must reactivate them
    for idnumber in new_this_year[:2]:
        user = next(u for u in truth if u.idnumber == idnumber)
        accounts[idnumber] = {**_account(user), "suspended": True}
    # withdrawn students still have an active account and their homeroom
    for s in school.students:
        if s["enroll_status"] != "Active":
            user = SISUser(s["student_number"], _lastfirst=s["lastfirst"], _homeroom=s["home_room"])
            accounts[user.idnumber] = _account(user)
            homerooms[user.idnumber] = user._homeroom
    # last year's leavers: some still active (to retire), some retired long ago
    leavers = max(2, len(school.students) // 50)
    for i in range(leavers):
        user = SISUser(str(90001 + i), _lastfirst=_name(rng), _homeroom=f"12{section_letters(i % 2)}")
        accounts[user.idnumber] = {**_account(user), "suspended": i % 3 == 2}
        if i % 3 != 2:
            homerooms[user.idnumber] = user._homeroom
    # a few students moved homeroom within their grade since the last sync
    rooms_by_grade: dict[int | None, set[str]] = {}
    for room in homerooms.values():
        rooms_by_grade.setdefault(grade_of(room), set()).add(room)
    for idnumber, room in sorted(homerooms.items()):
        others = sorted(rooms_by_grade[grade_of(room)] - {room})
        if others and rng.random() < 0.02:
            homerooms[idnumber] = rng.choice(others)
    # groups as the LMS has them: from its own accounts and homerooms
    active = [a for a in accounts.values() if not a["suspended"]]
    departments = {t["teacher_number"]: t["department"] for t in school.staff}
    lms_users = [SISUser(a["idnumber"], _lastfirst="X, Y",
                         _homeroom=homerooms.get(a["idnumber"], ""),
                         _department=departments.get(a["idnumber"], ""))
                 for a in active]
    groups = groups_of(lms_users)
    homeroom_groups = sorted(g for g in groups if g.startswith("homeroom-"))
    if len(homeroom_groups) > 1:
        del groups[homeroom_groups[-1]]  # a homeroom opened this year
    staff_ids = sorted(a["idnumber"] for a in active if a["role"] == "staff")
    groups["dept-latin"] = {"name": "Latin Department", "kind": "department",
                            "members": set(staff_ids[:2])}  # a department that closed
    # enrolments: the truth for accounts the LMS has, one elective swapped here and there
    courses: dict[str, set[str]] = {}  # every student's classes, withdrawn ones included
    for e in school.enrolments:
        courses.setdefault(e["student_number"], set()).add(course_code(e))
    lms_courses: dict[str, set[str]] = {}
    for s in school.students:
        idnumber = s["student_number"]
        if idnumber not in accounts or accounts[idnumber]["suspended"]:
            continue
        mine = set(courses.get(idnumber, ()))
        if mine and rng.random() < 0.04:  # changed section of one class
            dropped = sorted(mine)[-1]
            course, _, section = dropped.rpartition("-")
            mine = (mine - {dropped}) | {f"{course}-{int(section) + 1}"}
        lms_courses[idnumber] = mine
    return {
        "users": sorted(accounts.values(), key=lambda a: a["idnumber"]),
        "cohorts": [{"idnumber": g, "name": v["name"], "kind": v["kind"]}
                    for g, v in sorted(groups.items())],
        "members": [{"cohort_idnumber": g, "user_idnumber": m}
                    for g, v in sorted(groups.items()) for m in sorted(v["members"])],
        "enrolments": [{"user_idnumber": u, "course": c}
                       for u, cs in sorted(lms_courses.items()) for c in sorted(cs)],
    }


def write_csv(path: Path, fields: list[str], rows: list[dict[str, str]]) -> None:
    """Write ``rows`` as a UTF-8 CSV file with a header line."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


CONFIG_TEMPLATE = """\
# dss configuration for the school demo (written by python -m school_sync.generate).
# Paths are relative to this file. DSS_LMS_URL in the environment overrides the URL.
datastore = "school"

[trees.sis.users]
path = ["students.csv", "staff.csv"]

[trees.sis.enrolments]
path = "enrolments.csv"

[trees.lms]
url = "{url}"
"""

DIRECTORY_TEMPLATE = """
# The second destination: a directory of accounts and groups. With this table the school
# datastore syncs into the LMS and the directory; without it, into the LMS only.
# The bind password is a secret: give it in DSS_DIRECTORY_BIND_PASSWORD, never here.
[trees.directory]
url = "{url}"
bind_dn = "{bind_dn}"
base = "{base}"
"""

#: The demo directory's defaults: those of the local slapd `.ci/demo` starts (dss_ldap.testing).
DIRECTORY_BASE = "dc=example,dc=org"
DIRECTORY_BIND_DN = "cn=admin,dc=example,dc=org"


def _toml(text: str) -> str:
    """``text`` inside a TOML basic string."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def config_url(url: str) -> str:
    """``url`` as dss.toml may hold it: without its password (that comes from DSS_LMS_URL)."""
    parsed = sa.make_url(url)
    if parsed.password is None:
        return url
    return parsed._replace(password=None).render_as_string(hide_password=False)  # set() keeps it


def generate(out: Path, users: int = 1000, seed: int = 7, url: str | None = None,
             config: bool = True,
             directory: directory_data.Connection | None = None) -> dict[str, Any]:
    """Write the SIS exports (and ``dss.toml``) into ``out`` and create the stale LMS at ``url``.

    With ``directory``, the stale directory too (the same accounts and groups
    as the LMS), and dss.toml names it.
    """
    out.mkdir(parents=True, exist_ok=True)
    school = make_school(users, seed)
    write_csv(out / "students.csv", STUDENT_FIELDS, school.students)
    write_csv(out / "staff.csv", STAFF_FIELDS, school.staff)
    write_csv(out / "enrolments.csv", ENROLMENT_FIELDS, school.enrolments)
    given = url
    url = url or schema.default_url(out)
    state = stale_lms(school, seed)
    made = None
    if directory is not None:  # first: a directory that cannot be reached leaves the LMS as it was
        made = directory_data.create(directory, state["users"], state["cohorts"], state["members"])
    schema.create(url, state["users"], state["cohorts"], state["members"], state["enrolments"])
    if config:  # an explicit --url is written down (never its password); else the file next to dss.toml
        text = CONFIG_TEMPLATE.format(url=config_url(given) if given else "sqlite:///lms.sqlite")
        if directory is not None:
            text += DIRECTORY_TEMPLATE.format(url=_toml(directory.url),
                                              bind_dn=_toml(directory.bind_dn),
                                              base=_toml(directory.base))
        (out / "dss.toml").write_text(text, encoding="utf-8")
    return {
        "directory": made,
        "students": len(school.students),
        "withdrawn": sum(s["enroll_status"] != "Active" for s in school.students),
        "staff": len(school.staff),
        "enrolments": len(school.enrolments),
        "lms_users": len(state["users"]),
        "lms_cohorts": len(state["cohorts"]),
        "url": url,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``python -m school_sync.generate --users N --out DIR``."""
    parser = argparse.ArgumentParser(prog="python -m school_sync.generate",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=1000,
                        help="people at the school, students and staff (default 1000)")
    parser.add_argument("--out", type=Path, default=Path("demo-output"),
                        help="folder for the CSV exports, dss.toml and lms.sqlite")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--url", help="LMS database URL (default: $DSS_LMS_URL, else "
                        "lms.sqlite in --out)")
    parser.add_argument("--no-config", action="store_true", help="do not write dss.toml")
    parser.add_argument("--directory", metavar="URL",
                        help="also prepare a directory (ldap://host:port) as the second "
                             "destination: replaces ou=people, ou=groups and ou=retired under "
                             "--directory-base; the bind password is read from "
                             f"${directory_data.PASSWORD_VARIABLE}")
    parser.add_argument("--directory-base", metavar="DN", default=DIRECTORY_BASE,
                        help=f"the directory's base DN (default {DIRECTORY_BASE})")
    parser.add_argument("--directory-bind-dn", metavar="DN", default=DIRECTORY_BIND_DN,
                        help=f"whom to bind to the directory as (default {DIRECTORY_BIND_DN})")
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be at least 1")
    where = None
    if args.directory:
        where = directory_data.Connection(args.directory, args.directory_bind_dn,
                                          args.directory_base)
    try:
        info = generate(args.out, args.users, args.seed, args.url, not args.no_config, where)
    except directory_data.DirectoryError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    print(f"SIS export in {args.out}/: {info['students']} students ({info['withdrawn']} withdrawn), "
          f"{info['staff']} staff, {info['enrolments']} class enrolments")
    print(f"LMS before the sync: {info['lms_users']} accounts, {info['lms_cohorts']} groups "
          f"({redact(info['url'])})")
    if info["directory"] is not None:
        made = info["directory"]
        print(f"Directory before the sync: {made['people']} accounts in ou=people, "
              f"{made['retired']} retired, {made['groups']} groups ({args.directory}, base "
              f"{args.directory_base})")
    if args.url and not args.no_config and config_url(args.url) != args.url:
        print("dss.toml names the LMS without its password: give dss the whole URL in DSS_LMS_URL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
