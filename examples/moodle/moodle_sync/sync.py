"""The sync: the registry's ``people.csv`` into Moodle's ``mdl_user`` and cohorts.

No SQL and no handler code: the mapping says where each branch lives in
Moodle's own tables, which rows the sync owns (``scope``), how an account is
retired (``suspended = 1``), what a new row needs (``defaults``) and how the
cohort members link rows by surrogate id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from dss_core import Branch, Importer, Model, Tree
from dss_csv import CSVImporter
from dss_sql import NOW, LinkMap, SQLMapping, TableMap, not_empty, starts_with


class Person(Model):
    """A student or a staff member of the registry; ``_homeroom``/``_department`` make the cohorts."""

    username: str
    firstname: str
    lastname: str
    email: str
    _homeroom: str = ""
    _department: str = ""


class Account(Model):
    """A row of ``mdl_user``."""

    username: str
    firstname: str
    lastname: str
    email: str


class Cohort(Model):
    """A row of ``mdl_cohort`` and its members (``mdl_cohort_members``), by user idnumber."""

    name: str
    members: set[str] = set()


class PeopleCSV(CSVImporter):
    """``people.csv``: one row per person (``path`` is a setting of ``[trees.registry.users]``)."""

    path = "people.csv"
    strip = True
    rename: ClassVar[dict[str, str]] = {
        "ID": "idnumber", "Username": "username", "First": "firstname", "Last": "lastname",
        "Email": "email", "Homeroom": "_homeroom", "Department": "_department"}


class CohortsFromPeople(Importer):
    """A cohort per homeroom (``homeroom-10A``) and per department (``dept-science``)."""

    derived = True

    def readin(self) -> Iterator[dict[str, Any]]:
        cohorts: dict[str, dict[str, Any]] = {}
        for person in self.tree.branch("users").values():
            assert isinstance(person, Person)
            for kind, value in (("homeroom", person._homeroom), ("dept", person._department)):
                if value:
                    key = f"{kind}-{value.lower()}"
                    title = f"Homeroom {value}" if kind == "homeroom" else value
                    cohorts.setdefault(key, {"idnumber": key, "name": title, "members": set()})
                    cohorts[key]["members"].add(person.idnumber)
        yield from (cohorts[k] for k in sorted(cohorts))


MAPPING = SQLMapping(
    users=TableMap(
        "mdl_user",
        scope={"idnumber": not_empty(), "deleted": 0},  # never the admin or guest, or a deleted row
        retire={"suspended": 1},  # SMALLINT NOT NULL DEFAULT 0: a live row is the default, 0
        defaults={"auth": "manual", "mnethostid": 1, "confirmed": 1,
                  "timecreated": NOW, "timemodified": NOW}),  # NOW: Unix seconds in a BIGINT
    groups=TableMap(
        "mdl_cohort",
        scope={"idnumber": starts_with("homeroom-", "dept-")},  # never a hand-made cohort
        defaults={"contextid": 1, "descriptionformat": 1, "timecreated": NOW, "timemodified": NOW},
        links={"members": LinkMap("mdl_cohort_members", owner="cohortid", member="userid",
                                  owner_id="id", member_table="mdl_user",
                                  defaults={"timeadded": NOW})}),
    url="sqlite:///moodle.sqlite",
)


class Registry(Tree):
    """The source: the registry's export."""

    name = "registry"
    users = Branch(Person, importer=PeopleCSV)
    groups = Branch(Cohort, importer=CohortsFromPeople)


class Moodle(Tree):
    """The destination: Moodle's own tables (``DSS_MOODLE_URL`` or ``[trees.moodle] url``)."""

    name = "moodle"
    handler = MAPPING.handler()
    users = Branch(Account, importer=MAPPING.importer("users"))
    groups = Branch(Cohort, importer=MAPPING.importer("groups"), references={"members": "users"})
