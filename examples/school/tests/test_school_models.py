"""The school plugin's models, importers and diff, with dss_core's pytest helpers (no database)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dss_core import Config, Datastore, Tree
from dss_core.diff import compare_models
from dss_core.testing import MemoryDatabase, check_conformance, memory_tree, messages

from school_sync.groups import groups_of, slug
from school_sync.lms import LMS
from school_sync.models import Enrolment, Group, LMSUser, SISUser, grade_of, split_lastfirst
from school_sync.sis import SIS

STUDENTS = ["student_number", "lastfirst", "home_room", "enroll_status", "dob"]
STAFF = ["teacher_number", "lastfirst", "department", "title"]
ENROLMENTS = ["student_number", "course_number", "section_number", "course_name", "teacher_number"]


def write(path: Path, fields: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(fields)
        writer.writerows(rows)


@pytest.fixture
def export(tmp_path: Path) -> Config:
    """A tiny SIS export: three students (one withdrawn), two staff, their classes."""
    write(tmp_path / "students.csv", STUDENTS, [
        ["100001", "Fernández, Chloé", "10B", "Active", "2009-01-02"],
        ["100002", "O'Brien, Liam", "10B", "Active", "2009-03-04"],
        ["100003", "Nguyen, Anna Maria", "11A", "Withdrawn", "2008-05-06"],
    ])
    write(tmp_path / "staff.csv", STAFF, [
        ["T1001", "Smith-Jones, Ada", "Science", "Teacher"],
        ["T1002", "Kim, Jin", "Physical Education", "Teacher"],
    ])
    write(tmp_path / "enrolments.csv", ENROLMENTS, [
        ["100001", "MATH10", "1", "Mathematics 10", "T1001"],
        ["100001", "SCI10", "2", "Science 10", "T1001"],
        ["100002", "MATH10", "1", "Mathematics 10", "T1001"],
        ["100003", "MATH11", "1", "Mathematics 11", "T1001"],  # withdrawn: filtered out
    ])
    (tmp_path / "dss.toml").write_text("", encoding="utf-8")
    return Config({}, path=tmp_path / "dss.toml", environ={})


# -- derived, tracked attributes --------------------------------------------------


def test_derived_attributes_of_a_student() -> None:
    user = SISUser("100042", _lastfirst="Fernández, Chloé", _homeroom="10B")
    assert (user.name, user.grade, user.role) == ("Chloé Fernández", 10, "student")
    assert user.username == "cfernandez0042"
    assert user.email == "cfernandez0042@school.example"


def test_derived_attributes_of_staff() -> None:
    user = SISUser("T1001", _lastfirst="O'Brien-Núñez, Ada Mary", _department="Science")
    assert (user.name, user.grade, user.role) == ("Ada Mary O'Brien-Núñez", None, "staff")
    assert user.username == "ada.obriennunez"


@pytest.mark.parametrize(("homeroom", "grade"), [("10B", 10), ("7a", 7), (" 12 ", 12), ("", None),
                                                 ("Library", None)])
def test_grade_from_homeroom(homeroom: str, grade: int | None) -> None:
    assert grade_of(homeroom) == grade


def test_lastfirst_without_comma() -> None:
    assert split_lastfirst("Madonna") == ("", "Madonna")
    assert SISUser("1", _lastfirst="Madonna").name == "Madonna"


def test_underscore_attributes_are_not_tracked() -> None:
    assert SISUser.tracked_attributes() == ("role", "name", "grade", "username", "email")
    assert "_lastfirst" not in SISUser("1", _lastfirst="A, B").values()


def test_both_sides_expose_the_same_attributes() -> None:
    for branch, source, dest in [("users", SISUser, LMSUser), ("enrolments", Enrolment, Enrolment),
                                 ("groups", Group, Group)]:
        assert compare_models(branch, source, dest, "sis", "lms").errors == []


def test_a_type_mismatch_is_an_error_action() -> None:
    class BadUser(LMSUser):
        grade: str | None = None  # type: ignore[assignment]

    errors = compare_models("users", SISUser, BadUser, "sis", "lms").errors
    assert [a.method for a in errors] == ["err_integrity"]


# -- importers ----------------------------------------------------------------------


def test_import_filters_withdrawn_students_and_merges_enrolments(export: Config,
                                                                 dss_plugins: Any) -> None:
    sis = SIS(config=export, plugins=dss_plugins).load()
    assert sorted(sis.users) == ["100001", "100002", "T1001", "T1002"]  # 100003 withdrew
    assert sis.users["100001"].name == "Chloé Fernández"
    assert str(sis.users["T1002"].dss_origin) == "staff.csv line 3"
    assert sis.enrolments["100001"].courses == {"MATH10-1", "SCI10-2"}  # two rows, one object
    assert "100003" not in sis.enrolments  # the withdrawn student's rows are filtered out


def test_groups_are_derived_from_users(export: Config, dss_plugins: Any) -> None:
    sis = SIS(config=export, plugins=dss_plugins).load()
    assert sis.branch_order == ["users", "enrolments", "groups"]
    assert sorted(sis.groups) == ["dept-physical-education", "dept-science", "grade-10",
                                  "homeroom-10b"]
    assert sis.groups["homeroom-10b"].members == {"100001", "100002"}
    assert sis.groups["dept-science"].name == "Science Department"


def test_grouping_rule() -> None:
    users = [SISUser("1", _lastfirst="A, B", _homeroom="9c"),
             SISUser("2", _lastfirst="C, D", _department="Arts")]
    assert groups_of(users) == {
        "homeroom-9c": {"name": "Homeroom 9C", "kind": "homeroom", "members": {"1"}},
        "grade-9": {"name": "Grade 9", "kind": "grade", "members": {"1"}},
        "dept-arts": {"name": "Arts Department", "kind": "department", "members": {"2"}},
    }
    assert slug("Physical Education") == "physical-education"


# -- the diff, on literal trees -------------------------------------------------------


def test_messages_of_a_small_sync(dss_tree: Callable[..., Tree]) -> None:
    sis = dss_tree(
        SIS,
        users=[{"idnumber": "100001", "_lastfirst": "Fernández, Chloé", "_homeroom": "10B"},
               {"idnumber": "100002", "_lastfirst": "Lee, Kai", "_homeroom": "11A"}],
        enrolments=[{"idnumber": "100001", "courses": "MATH10-1"},
                    {"idnumber": "100001", "courses": "SCI10-2"}],
        groups=[{"idnumber": "homeroom-10b", "name": "Homeroom 10B", "kind": "homeroom",
                 "members": {"100001"}}],
    )
    lms = dss_tree(
        LMS,
        users=[{"idnumber": "100001", "role": "student", "name": "Chloe Fernandez", "grade": 10,
                "username": "cfernandez0001", "email": "cfernandez0001@school.example"},
               {"idnumber": "100009", "role": "student", "name": "Old Leaver", "grade": 12,
                "username": "oleaver0009", "email": "oleaver0009@school.example"}],
        enrolments=[{"idnumber": "100001", "courses": "MATH10-1"},
                    {"idnumber": "100009", "courses": "MATH12-1"}],
        groups=[{"idnumber": "homeroom-10b", "name": "Homeroom 10B", "kind": "homeroom",
                 "members": {"100001", "100009"}}],
    )
    assert messages(sis - lms) == [
        "new_users(idnumber='100002')",
        "update_name(idnumber='100001', attribute='name', value='Chloé Fernández')",
        "add_courses_to_enrolments(idnumber='100001', attribute='courses', value='SCI10-2')",
        "remove_members_from_groups(idnumber='homeroom-10b', attribute='members', value='100009')",
        "old_enrolments(idnumber='100009')",
        "old_users(idnumber='100009')",
    ]
    assert list(sis - lms) == list(sis - lms)  # deterministic


# -- conformance against an in-memory LMS ------------------------------------------------


def test_conformance_with_an_in_memory_lms(export: Config, dss_plugins: Any) -> None:
    database = MemoryDatabase({"users": {"T1001": {
        "role": "staff", "name": "Ada Smith-Jones", "grade": None, "username": "ada.smithjones",
        "email": "ada.smithjones@school.example"}}})
    memory_lms = memory_tree("lms", {"users": LMSUser, "enrolments": Enrolment, "groups": Group},
                             database)
    datastore = Datastore("school-in-memory", source=SIS, destinations=[memory_lms])
    summary = check_conformance(datastore, config=export, plugins=dss_plugins)
    assert summary.count(kind="new", branch="users") == 3
    assert database.rows("groups")["homeroom-10b"]["members"] == {"100001", "100002"}
    assert database.rows("enrolments")["100001"]["courses"] == {"MATH10-1", "SCI10-2"}
