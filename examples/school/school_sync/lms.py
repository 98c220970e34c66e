"""The destination tree: the LMS database (SQLite by default, Postgres given a URL).

No SQL is written here for the common cases: a declarative
:class:`~dss_sql.SQLMapping` says which table holds each branch, and dss-sql
makes the importers and the handler from it. Retired accounts are marked
``suspended`` (never deleted), and a suspended account comes back when its
owner reappears in the SIS.

``enrolments`` has no table of its own: it lives in the link table
``lms_enrolments`` only, beside the accounts (``links_only``: a student's
first enrolment inserts link rows, never an account).
"""

from __future__ import annotations

from dss_core import Branch, Tree
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
    # the accounts belong to `users`: enrolments write (and delete) their link rows only
    enrolments=TableMap(USERS, key="idnumber", links={"courses": ENROLMENT_LINK}, links_only=True),
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
    """The mapping's generic methods: no handler code.

    A student's first or last enrolment (``new_enrolments`` /
    ``old_enrolments``) writes only the link table, as the mapping's
    ``links_only`` says; the account itself belongs to ``users``. A method
    named after an action (``def new_enrolments(self, action)``) would win
    over the mapping, for what it cannot say.
    """

    mapping = MAPPING


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
