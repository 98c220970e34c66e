"""The destination tree: the LMS database (SQLite by default, Postgres given a URL).

No SQL is written here for the common cases: a declarative
:class:`~dss_sql.SQLMapping` says which table holds each branch, and dss-sql
makes the importers and the handler from it. Retired accounts are marked
``suspended`` (never deleted), and a suspended account comes back when its
owner reappears in the SIS.

The only handler code is for ``enrolments``, which has no table of its own:
it lives in the link table ``lms_enrolments`` only.
"""

from __future__ import annotations

from typing import Any

from dss_core import Action, Branch, Result, Tree
from dss_sql import LinkMap, SQLHandler, SQLImporter, SQLMapping, TableMap

from .models import Enrolment, Group, LMSUser

# The LMS tables (declared in full in schema.py, which only the generator and
# tests import: naming them here keeps SQLAlchemy out of `dss --help` and `dss list`).
USERS, COHORTS, COHORT_MEMBERS, ENROLMENTS = (
    "lms_users", "lms_cohorts", "lms_cohort_members", "lms_enrolments")

#: The LMS when no `url` setting (nor DSS_LMS_URL) is given: relative to the dss.toml folder.
DEFAULT_URL = "sqlite:///lms.sqlite"

ENROLMENT_LINK = LinkMap(ENROLMENTS, owner="user_idnumber", member="course")

MAPPING = SQLMapping(
    users=TableMap(USERS, key="idnumber", retire={"suspended": True}),
    enrolments=TableMap(USERS, key="idnumber", links={"courses": ENROLMENT_LINK}),
    groups=TableMap(COHORTS, key="idnumber", links={
        "members": LinkMap(COHORT_MEMBERS, owner="cohort_idnumber",
                           member="user_idnumber")}),
    url=DEFAULT_URL,
)


class EnrolmentsTable(SQLImporter):
    """Class enrolments of active accounts: one row per (user, course), merged by the core."""

    url = DEFAULT_URL
    query = (
        f"SELECT e.user_idnumber AS idnumber, e.course AS courses "
        f"FROM {ENROLMENTS} e JOIN {USERS} u "
        f"ON u.idnumber = e.user_idnumber WHERE NOT u.suspended "
        f"ORDER BY e.user_idnumber, e.course"
    )

    def describe(self) -> str:
        return ENROLMENTS


class LMSHandler(SQLHandler):
    """The mapping's generic methods, plus the two that enrolments need.

    ``add_courses_to_enrolments`` and ``remove_courses_from_enrolments`` are
    the generic link-row methods; a student's first or last enrolment is a
    ``new_enrolments`` / ``old_enrolments`` action, which here must only
    touch the link table (the account itself belongs to ``users``).
    """

    mapping = MAPPING
    # both write the link table only, through self.execute: run back to back in one SAVEPOINT
    batch_methods = frozenset({"new_enrolments", "old_enrolments"})

    def _courses(self, idnumber: str | None) -> Any:
        table = self.bound["enrolments"].links["courses"][1]
        return table, table.c.user_idnumber == idnumber

    def new_enrolments(self, action: Action) -> Result | None:
        """A student's first classes: insert one link row per course."""
        table, _ = self._courses(action.idnumber)
        assert isinstance(action.source, Enrolment)
        rows = [{"user_idnumber": action.idnumber, "course": c} for c in sorted(action.source.courses)]
        if rows:
            self.execute(table.insert(), rows)
        return None

    def old_enrolments(self, action: Action) -> Result | None:
        """No classes any more (a withdrawn student): delete the link rows, keep the account."""
        table, mine = self._courses(action.idnumber)
        self.execute(table.delete().where(mine))
        return None


class LMS(Tree):
    """The LMS: accounts, class enrolments and cohorts with their members.

    Registered by name (``dss_trees``): the ``school`` datastore names it
    ``"lms"``. Its ``groups`` branch (the cohorts, in ``lms_cohorts`` and
    ``lms_cohort_members``) comes from the plugin's ``dss_branches`` hook
    (:data:`GROUPS`), as on the SIS side.
    """

    name = "lms"
    description = "the LMS database"
    handler = LMSHandler
    order = ("users", "enrolments")  # added branches come last

    users = Branch(LMSUser, importer=MAPPING.importer("users"))
    # an enrolment belongs to the account of its idnumber: skipped when that account is not there
    enrolments = Branch(Enrolment, importer=EnrolmentsTable, references={"idnumber": "users"})


#: The cohorts on the LMS side: the plugin's ``dss_branches`` adds this branch to :class:`LMS`
#: (the mapping's ``groups`` table, which the handler writes).
GROUPS = Branch(Group, importer=MAPPING.importer("groups"), name="groups",
                references={"members": "users"})  # members are accounts
