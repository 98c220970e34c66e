"""The source tree: the school information system's nightly CSV exports.

Three branches, imported in this order (later ones are built from earlier ones):

``users``
    ``students.csv`` and ``staff.csv`` through one CSV importer; withdrawn
    students are filtered out, so the LMS retires their accounts.
``enrolments``
    ``enrolments.csv``: one row per student and class, merged by the core
    into one object per student with a set of ``courses``; rows of students
    who are not in ``users`` (withdrawn) are filtered out.
``groups``
    not read from a file at all: derived from the imported ``users``
    (homerooms, grades, departments). Not declared by :class:`SIS`: the
    cohorts are an add-on, :data:`GROUPS`, that the plugin's ``dss_branches``
    hook gives to this tree (and :data:`school_sync.lms.GROUPS` to the LMS).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from dss_core import Branch, Importer, Tree
from dss_csv import CSVImporter

from .groups import groups_of
from .models import Enrolment, Group, SISUser


class UsersCSV(CSVImporter):
    """Students and staff from the two SIS exports, renamed onto :class:`SISUser`.

    The columns differ per file; ``rename`` maps each file's columns (the
    student number and the teacher number both become ``idnumber``).
    Settings under ``[trees.sis.users]`` (``path``, ``delimiter``,
    ``encoding``...) override these attributes.
    """

    path = ("students.csv", "staff.csv")
    rename: ClassVar[Mapping[str, str]] = {
        "student_number": "idnumber",
        "teacher_number": "idnumber",
        "lastfirst": "_lastfirst",
        "home_room": "_homeroom",
        "department": "_department",
    }
    strip = True

    def filter_out(self, record: Mapping[str, Any]) -> bool:
        """Skip withdrawn students: they keep their SIS row but lose their LMS account."""
        return str(record.get("enroll_status", "Active")).strip().lower() == "withdrawn"


class EnrolmentsCSV(CSVImporter):
    """One row per student and class, merged into one :class:`Enrolment` per student."""

    path = "enrolments.csv"
    rename: ClassVar[Mapping[str, str]] = {"student_number": "idnumber"}
    strip = True

    def filter_out(self, record: Mapping[str, Any]) -> bool:
        """Skip the classes of students not in ``users`` (withdrawn): the SIS keeps their rows."""
        return record.get("idnumber") not in self.tree.branch("users")

    def preprocess(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """Name the class as the LMS does: course and section, ``MATH10-2``."""
        return {"idnumber": record["idnumber"],
                "courses": f"{record['course_number']}-{record['section_number']}"}


class GroupsFromUsers(Importer):
    """Derives the cohorts from the already imported ``users`` branch (generator form)."""

    derived = True  # reads only `users`: trees built from literal records in tests run it too

    def readin(self) -> Iterator[dict[str, Any]]:
        users = [u for u in self.tree.branch("users").values() if isinstance(u, SISUser)]
        for idnumber, group in sorted(groups_of(users).items()):
            yield {"idnumber": idnumber, **group}

    def describe(self) -> str:
        return "groups derived from sis.users"


class SIS(Tree):
    """The point of truth: the school information system's exports.

    Registered by name (``dss_trees``): the ``school`` datastore names it
    ``"sis"``. Its ``groups`` branch comes from the plugin's ``dss_branches``
    hook (:data:`GROUPS`); a branch a plugin adds imports after the declared
    ones, so the cohorts are derived once ``users`` is there.
    """

    name = "sis"
    description = "the SIS's nightly CSV exports"
    order = ("users", "enrolments")  # enrolments need users first; added branches come last

    users = Branch(SISUser, importer=UsersCSV)
    enrolments = Branch(Enrolment, importer=EnrolmentsCSV)


#: The cohorts on the SIS side: the plugin's ``dss_branches`` adds this branch to :class:`SIS`.
GROUPS = Branch(Group, importer=GroupsFromUsers, name="groups")
