"""`dss check` on a SQL destination: what `dss run` would hit, found before anything is written.

A Moodle-like ``mdl_user`` table (``suspended SMALLINT NOT NULL DEFAULT 0``, a
NOT NULL ``auth`` without a default, an INTEGER ``age``, a SMALLINT
``confirmed``) and cohorts whose link table may be missing. The handler's
checks run in ``verify()`` (``dss check``) and in ``begin()`` (``dss run``
stops with exit code 2 and the database untouched). The sync is a plugin
written into a folder with its own ``.dist-info``; the real ``dss`` command
runs on it in a subprocess.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dss_sql import LinkMap, SQLMapping, TableMap
from dss_sql.handler import MappingProblems

from dss_core import Branch, Config, Datastore, Model, Tree

SCHEMA = [
    "create table mdl_user (idnumber varchar(100) primary key, firstname varchar(100) not null, "
    "age integer, confirmed smallint not null default 1, suspended smallint not null default 0, "
    "auth varchar(20) not null)",
    "create table mdl_cohort (idnumber varchar(100) primary key, name varchar(254) not null)",
    "insert into mdl_user (idnumber, firstname, age, confirmed, suspended, auth) values "
    "('u1', 'Ann', 30, 1, 0, 'manual'), ('u9', 'Zed', 40, 1, 0, 'manual')",
    "insert into mdl_cohort (idnumber, name) values ('c1', 'Cohort 1')",
]
LINK_TABLE = ("create table mdl_cohort_members (cohort_idnumber varchar(100), "
              "user_idnumber varchar(100), primary key (cohort_idnumber, user_idnumber))")

#: The models as a first try writes them: `age` text, `confirmed` a bool, no `auth`.
BROKEN_MODELS = '''
class Account(Model):
    firstname: str
    age: str = ""
    confirmed: bool = True
'''
#: The models fitting the table.
FIXED_MODELS = '''
class Account(Model):
    firstname: str
    auth: str = "manual"
    age: int | None = None
    confirmed: int = 1
'''

PLUGIN = '''
from dss_core import Branch, Datastore, Model, Tree, hookimpl
from dss_sql import LinkMap, TableMap
from @MODULE@ import @MAPPING@ as Mapping

@MODELS@

class Cohort(Model):
    name: str
    members: set[str] = set()


MAPPING = Mapping(
    users=TableMap("mdl_user", @USERS@),
    groups=TableMap("mdl_cohort", links={"members": LinkMap("mdl_cohort_members",
                                                            "cohort_idnumber", "user_idnumber")}),
)


class SIS(Tree):
    name = "sis"
    users = Branch(Account, importer=[
        {"idnumber": "u1", "firstname": "Ann", "auth": "manual", "age": 30, "confirmed": 1},
        {"idnumber": "u2", "firstname": "Bob", "auth": "manual", "age": 20, "confirmed": 1}])
    groups = Branch(Cohort, importer=[{"idnumber": "c1", "name": "Cohort 1",
                                       "members": ["u1", "u2"]}])


class LMS(Tree):
    name = "lms"
    handler = MAPPING.handler()
    users = Branch(Account, importer=MAPPING.importer("users"))
    groups = Branch(Cohort, importer=MAPPING.importer("groups"))


@hookimpl
def dss_datastores():
    return [Datastore("moodle", SIS, [LMS])]
'''


def plugin_site(folder: Path, name: str, source: str) -> Path:
    """A folder holding plugin module ``source`` as an installed distribution with a `dss` entry point."""
    site = folder / f"site-{name}"
    site.mkdir()
    module = f"dss_{name}_plugin"
    (site / f"{module}.py").write_text(source)
    info = site / f"dss_{name}_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: dss-{name}-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[dss]\n{name} = {module}\n")
    return site


def sync_plugin(models: str, users: str, module: str = "dss_sql",
                mapping: str = "SQLMapping") -> str:
    return (PLUGIN.replace("@MODELS@", models).replace("@USERS@", users)
            .replace("@MODULE@", module).replace("@MAPPING@", mapping))


def run_sql(url: str, *statements: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    out: list[tuple[Any, ...]] = []
    with engine.begin() as conn:
        for statement in statements:
            result = conn.execute(sa.text(statement))
            out = [tuple(r) for r in result] if result.returns_rows else out
    engine.dispose()
    return out


def dss(folder: Path, site: Path, *args: str, url: str) -> subprocess.CompletedProcess[str]:
    """The real `dss` command in ``folder``, the plugin in ``site``, DSS_LMS_URL=``url``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DSS_") and k != "PYTHONPATH"}
    environ["PYTHONPATH"] = str(site)
    environ["DSS_LMS_URL"] = url
    return subprocess.run([sys.executable, "-m", "dss_core", "--plugin", "sql", "--plugin", "moodle",
                           *args], cwd=folder, env=environ, capture_output=True, text=True,
                          timeout=120)


def errors(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stdout.splitlines() if line.startswith("error:")]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the handler's checks, in-process, on SQLite and PostgreSQL -------------------------------

class Account(Model):
    firstname: str
    age: str = ""
    confirmed: bool = True


class Fitting(Model):
    firstname: str
    auth: str = "manual"
    age: int | None = None
    confirmed: int = 1


class NoAuth(Model):
    firstname: str
    age: int | None = None
    confirmed: int = 1


class Cohort(Model):
    name: str
    members: set[str] = set()


def moodle_trees(url: str, retire: dict[str, Any], active: dict[str, Any] | None = None,
                 model: type[Model] = Account) -> tuple[Tree, Tree]:
    mapping = SQLMapping(
        users=TableMap("mdl_user", retire=retire, active=active),
        groups=TableMap("mdl_cohort", links={"members": LinkMap(
            "mdl_cohort_members", "cohort_idnumber", "user_idnumber")}))

    class SIS(Tree):
        name = "sis"
        users = Branch(model, importer=[{"idnumber": "u2", "firstname": "Bob", "age": 20,
                                         "auth": "manual", "confirmed": 1}])
        groups = Branch(Cohort, importer=[])

    class LMS(Tree):
        name = "lms"
        handler = mapping.handler()
        users = Branch(model, importer=mapping.importer("users"))
        groups = Branch(Cohort, importer=mapping.importer("groups"))

    config = Config({"trees": {"lms": {"url": url}}}, environ={})
    source, (dest,) = Datastore("moodle", SIS, [LMS]).open(config)
    return source, dest


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        out = {n: sorted(tuple(r) for r in conn.execute(sa.text(f"select * from {n}")))
               for n in names}
    engine.dispose()
    return out


def types(url: str) -> tuple[str, str]:
    """How the database names the INTEGER and SMALLINT columns of SCHEMA."""
    return ("INTEGER(11)", "SMALLINT(6)") if url.startswith("mysql") else ("INTEGER", "SMALLINT")


def test_verify_lists_every_problem_of_the_mapping(db_url):
    run_sql(db_url, *SCHEMA)
    integer, smallint = types(db_url)
    _, dest = moodle_trees(db_url, retire={"suspended": True})
    with pytest.raises(MappingProblems) as info:
        dest.handler(dest, None).verify()
    problems = info.value.problems
    assert problems[0].startswith("lms.groups: table 'mdl_cohort_members' does not exist in ")
    assert problems[1:3] == [
        f"lms.users: column mdl_user.age is {integer} (int) but Account.age is str; declare "
        "age: int in Account, or make the column VARCHAR or TEXT",
        f"lms.users: column mdl_user.confirmed is {smallint} (int) but Account.confirmed is "
        "bool; declare confirmed: int in Account, or make the column BOOLEAN",
    ]  # retire={"suspended": True} is no problem: True is written as 1 in the SMALLINT (issue 11)
    assert problems[3].startswith("lms.users: table 'mdl_user' (")
    assert "column 'auth' is NOT NULL without a default" in problems[3]
    assert len(problems) == 4
    message = str(info.value)  # what `dss run` prints: one line, the first and how many more
    assert "\n" not in message and message.endswith("(and 3 more problems: dss check lists them)")


def test_retire_and_active_values_are_adapted_to_the_column(db_url):
    # issue 11: a bool in a SMALLINT is written as 0/1, and a live row's value is the
    # column's own default (suspended DEFAULT 0), so none of these needs active=
    run_sql(db_url, *SCHEMA, LINK_TABLE)
    for retire, active in [({"suspended": 1}, None), ({"suspended": True}, None),
                           ({"suspended": 1}, {"suspended": False}),
                           ({"suspended": 1}, {"suspended": 0})]:
        _, dest = moodle_trees(db_url, retire=retire, active=active, model=Fitting)
        dest.handler(dest, None).verify()
    _, dest = moodle_trees(db_url, retire={"suspended": 1}, active={"suspended": 1},
                           model=Fitting)
    with pytest.raises(MappingProblems, match="would read as retired"):
        dest.handler(dest, None).verify()
    _, dest = moodle_trees(db_url, retire={"suspended": "yes"}, model=Fitting)
    with pytest.raises(MappingProblems) as info:
        dest.handler(dest, None).verify()
    assert info.value.problems == [
        "lms.users: retire value 'yes' (str) does not fit column mdl_user.suspended "
        f"{types(db_url)[1]}: write an int"]


def test_begin_refuses_before_anything_is_written(db_url):
    # the importers read these tables fine, and a plan is right: only writing would fail
    from dss_core import Run
    from dss_core.runner import execute

    run_sql(db_url, *SCHEMA, LINK_TABLE)
    before = snapshot(db_url)
    source, dest = moodle_trees(db_url, retire={"suspended": 1}, model=NoAuth)
    run = Run.create("apply", source.plugins, source.config)
    run.options["quiet"] = True
    with pytest.raises(MappingProblems) as info:
        execute(run, source, [dest])
    (problem,) = info.value.problems  # suspended: 1 is adapted, its live value its default 0
    assert "column 'auth' is NOT NULL without a default" in problem
    assert snapshot(db_url) == before


def test_bool_in_a_boolean_column_and_int_in_a_text_column_fit(dss_sqlite_url):
    from dss_sql.tables import fits

    md = sa.MetaData()
    table = sa.Table("t", md, sa.Column("b", sa.Boolean), sa.Column("s", sa.String(10)),
                     sa.Column("i", sa.Integer), sa.Column("f", sa.Float),
                     sa.Column("d", sa.DateTime))
    assert fits(bool, table.c.b) and fits(int, table.c.s) and fits(bool, table.c.s)
    assert fits(int, table.c.f) and fits(str, table.c.d) and fits(int, table.c.i)
    assert not fits(bool, table.c.i) and not fits(str, table.c.i) and not fits(int, table.c.b)
    assert not fits(float, table.c.i) and not fits(str, table.c.f)

    from sqlalchemy.dialects import mysql
    tiny = sa.Table("m", sa.MetaData(), sa.Column("flag", mysql.TINYINT))
    assert fits(bool, tiny.c.flag, mysql.dialect())  # MySQL's BOOLEAN
    assert not fits(bool, tiny.c.flag)


# -- `dss check` and `dss run` on the command line, SQLite ------------------------------------

def test_check_names_every_problem_and_run_refuses_sqlite_unchanged(tmp_path, dss_sqlite_url):
    run_sql(dss_sqlite_url, *SCHEMA)
    database = Path(dss_sqlite_url.removeprefix("sqlite:///"))
    before = digest(database)
    site = plugin_site(tmp_path, "moodle", sync_plugin(BROKEN_MODELS, 'retire={"suspended": True}'))
    checked = dss(tmp_path, site, "check", "moodle", url=dss_sqlite_url)
    assert checked.returncode == 2, checked
    found = errors(checked)
    assert found[0].startswith("error: lms.groups: table 'mdl_cohort_members' does not exist in ")
    assert found[1:3] == [
        "error: lms.users: column mdl_user.age is INTEGER (int) but Account.age is str; declare "
        "age: int in Account, or make the column VARCHAR or TEXT",
        "error: lms.users: column mdl_user.confirmed is SMALLINT (int) but Account.confirmed is "
        "bool; declare confirmed: int in Account, or make the column BOOLEAN",
    ]  # retire={"suspended": True} is adapted to 1 (issue 11)
    assert "column 'auth' is NOT NULL without a default" in found[3]
    assert len(found) == 4, checked.stdout  # the importer's own missing table: the same line
    # the importers still ran: the source's branches and the destination's readable one
    assert "source sis.users: 2 objects from 2 records (sis.users)" in checked.stdout
    assert "destination lms.users: 2 objects from 2 records (mdl_user)" in checked.stdout
    assert "destination lms.groups: not read (the error above)" in checked.stdout
    assert "    url = ***  (from DSS_LMS_URL)" in checked.stdout
    assert checked.stdout.rstrip().endswith("check failed")
    assert digest(database) == before

    ran = dss(tmp_path, site, "run", "moodle", url=dss_sqlite_url)
    assert ran.returncode == 2, ran
    assert ran.stderr.startswith("dss: error: ") and len(ran.stderr.strip().splitlines()) == 1
    assert digest(database) == before


def test_a_bool_retire_value_in_a_smallint_checks_and_runs_sqlite(tmp_path, dss_sqlite_url):
    # issue 11: retire={"suspended": True} on Moodle's SMALLINT NOT NULL DEFAULT 0 is written
    # as 1, read back as 1, and a new row keeps the column's default (no NULL written over it)
    run_sql(dss_sqlite_url, *SCHEMA, LINK_TABLE)
    site = plugin_site(tmp_path, "moodle", sync_plugin(FIXED_MODELS, 'retire={"suspended": True}'))
    checked = dss(tmp_path, site, "check", "moodle", url=dss_sqlite_url)
    assert checked.returncode == 0, checked
    ran = dss(tmp_path, site, "run", "moodle", url=dss_sqlite_url)
    assert ran.returncode == 0, ran
    assert run_sql(dss_sqlite_url, "select idnumber, suspended from mdl_user order by 1") == [
        ("u1", 0), ("u2", 0), ("u9", 1)]
    assert "Nothing to do" in dss(tmp_path, site, "plan", "moodle", url=dss_sqlite_url).stdout


def test_the_fixed_mapping_checks_and_runs(tmp_path, dss_sqlite_url):
    run_sql(dss_sqlite_url, *SCHEMA, LINK_TABLE)
    site = plugin_site(tmp_path, "moodle", sync_plugin(
        FIXED_MODELS, 'retire={"suspended": 1}, active={"suspended": 0}'))
    checked = dss(tmp_path, site, "check", "moodle", url=dss_sqlite_url)
    assert checked.returncode == 0, checked
    assert "destination lms: handler SQLHandler is ready" in checked.stdout
    ran = dss(tmp_path, site, "run", "moodle", url=dss_sqlite_url)
    assert ran.returncode == 0, ran
    assert run_sql(dss_sqlite_url, "select idnumber, suspended, auth from mdl_user order by 1") == [
        ("u1", 0, "manual"), ("u2", 0, "manual"), ("u9", 1, "manual")]
    assert "Nothing to do" in dss(tmp_path, site, "plan", "moodle", url=dss_sqlite_url).stdout


# -- the school example ------------------------------------------------------------------------

TYPO_PLUGIN = '''
from dss_core import Branch, Datastore, hookimpl
from school_sync.lms import LMS, EnrolmentsTable
from school_sync.models import Enrolment
from school_sync.sis import SIS


class TypoEnrolments(EnrolmentsTable):
    query = EnrolmentsTable.query.replace("NOT u.suspended", "NOT u.suspendd")


class TypoLMS(LMS):
    name = "lms"
    enrolments = Branch(Enrolment, importer=TypoEnrolments)


@hookimpl
def dss_datastores():
    return [Datastore("typo", SIS, [TypoLMS])]
'''


@pytest.fixture
def school(tmp_path: Path) -> Path:
    pytest.importorskip("school_sync", reason="the school example is not installed")
    pytest.importorskip("dss_csv", reason="dss-csv is not installed")
    out = tmp_path / "school"
    proc = subprocess.run([sys.executable, "-m", "school_sync.generate", "--users", "50",
                           "--out", str(out)], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("DSS_")})
    assert proc.returncode == 0, proc.stderr
    return out


def school_dss(folder: Path, *args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DSS_") and k != "PYTHONPATH"}
    if site is not None:
        environ["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "dss_core", *args], cwd=folder, env=environ,
                          capture_output=True, text=True, timeout=120)


def test_check_passes_on_the_school_example(school):
    checked = school_dss(school, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[-1] == "OK"
    assert "source sis.users: 50 objects from 50 records (students.csv, staff.csv)" in lines
    assert "destination lms: handler LMSHandler is ready" in lines
    assert any(line.startswith("destination lms.enrolments: ") for line in lines)
    assert "    path = 'enrolments.csv'" in lines and "    url = ***" in lines


def test_check_catches_a_broken_school_query_in_the_configuration(school):
    before = digest(school / "lms.sqlite")
    with (school / "dss.toml").open("a") as toml:
        toml.write('\n[trees.lms.enrolments]\nquery = "SELECT user_idnumber AS idnumber, '
                   'course AS courses FROM lms_enrolment"\n')
    checked = school_dss(school, "check")
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert errors(checked) == [
        f"error: lms.enrolments: reading lms_enrolments: no such table: lms_enrolment "
        f"(sqlite:///{school / 'lms.sqlite'})"]
    assert "    query = 'SELECT user_idnumber AS idnumber, course AS courses FROM " \
        "lms_enrolment'" in checked.stdout.splitlines()
    assert digest(school / "lms.sqlite") == before


def test_check_catches_a_broken_school_query_in_a_subclass(school, tmp_path):
    before = digest(school / "lms.sqlite")
    site = plugin_site(tmp_path, "typo", TYPO_PLUGIN)
    checked = school_dss(school, "check", "typo", site=site)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    (line,) = errors(checked)
    assert line.startswith("error: lms.enrolments: reading lms_enrolments: no such column: "
                           "u.suspendd")
    assert digest(school / "lms.sqlite") == before


def test_link_members_are_judged_but_text_idnumbers_pass_a_number_column(dss_sqlite_url):
    run_sql(dss_sqlite_url, "create table flags (idnumber varchar(10) primary key)",
            "create table flag_users (flag varchar(10), userid integer, on_off smallint)")

    def verify(member_type: Any, member: str) -> None:
        model = type("Flag", (Model,), {"__annotations__": {"members": set[member_type]},
                                        "members": set()})
        mapping = SQLMapping(groups=TableMap("flags", links={
            "members": LinkMap("flag_users", "flag", member)}))
        tree = type("LMS", (Tree,), {"name": "lms", "handler": mapping.handler(),
                                     "groups": Branch(model, importer=[])})
        dest = tree(config=Config({"trees": {"lms": {"url": dss_sqlite_url}}}, environ={}))
        dest.handler(dest, None).verify()

    verify(str, "userid")  # user idnumbers, converted to the INTEGER column like a key
    with pytest.raises(MappingProblems) as info:
        verify(bool, "on_off")
    assert info.value.problems == [
        "lms.groups: column flag_users.on_off is SMALLINT (int) but the elements of "
        "Flag.members are bool; declare them int, or make the column BOOLEAN"]
