"""`dss check` and `dss run` on PostgreSQL through dss-postgres: the mapping checked before any write.

Moodle's ``mdl_user.suspended`` is ``SMALLINT NOT NULL DEFAULT 0``: a
``retire={"suspended": True}`` mapping would fail every ``old_users`` (and its
importer every read) on PostgreSQL, and ``retire={"suspended": 1}`` without
``active`` would write NULL over it on every insert. With a NOT NULL column
without a default, a missing link table and wrong attribute types beside, the
real ``dss`` command (a plugin with its own ``.dist-info``, in a subprocess)
must name each problem, exit 2, and leave every row as it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.postgres

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

BROKEN = ('''
class Account(Model):
    firstname: str
    age: str = ""
    confirmed: bool = True
''', 'retire={"suspended": "yes"}')
FITTING = '''
class Account(Model):
    firstname: str
    auth: str = "manual"
    age: int | None = None
    confirmed: int = 1
'''

PLUGIN = '''
from dss_core import Branch, Datastore, Model, Tree, hookimpl
from dss_postgres import PostgresMapping
from dss_sql import LinkMap, TableMap

@MODELS@

class Cohort(Model):
    name: str
    members: set[str] = set()


MAPPING = PostgresMapping(
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


def run_sql(url: str, *statements: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the test schema and its rows."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        out = {n: sorted(tuple(r) for r in conn.execute(sa.text(f"select * from {n}")))
               for n in names}
    engine.dispose()
    return out


@pytest.fixture
def moodle(tmp_path: Path, dss_postgres_url: str):
    """``dss(models, users, *args)``: the real `dss` on the sync with these models and users map."""
    pytest.importorskip("dss_postgres", reason="dss-postgres is not installed")
    count = iter(range(100))

    def dss(models: str, users: str, *args: str) -> subprocess.CompletedProcess[str]:
        site = tmp_path / f"site{next(count)}"
        site.mkdir()
        (site / "dss_moodle_plugin.py").write_text(
            PLUGIN.replace("@MODELS@", models).replace("@USERS@", users))
        info = site / "dss_moodle_plugin-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dss-moodle-plugin\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text("[dss]\nmoodle = dss_moodle_plugin\n")
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith("DSS_") and k != "PYTHONPATH"}
        environ["PYTHONPATH"] = str(site)
        environ["DSS_LMS_URL"] = dss_postgres_url
        return subprocess.run([sys.executable, "-m", "dss_core", "--plugin", "postgres",
                               "--plugin", "moodle", *args], cwd=tmp_path, env=environ,
                              capture_output=True, text=True, timeout=120)

    return dss


def errors(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stdout.splitlines() if line.startswith("error:")]


def test_check_names_every_problem_and_leaves_the_rows(moodle, dss_postgres_url):
    run_sql(dss_postgres_url, *SCHEMA)
    before = snapshot(dss_postgres_url)
    checked = moodle(*BROKEN, "check", "moodle")
    assert checked.returncode == 2, checked
    found = errors(checked)
    assert found[0].startswith("error: lms.groups: table 'mdl_cohort_members' does not exist in "
                               "postgresql+psycopg://postgres@")
    assert found[1:4] == [
        "error: lms.users: column mdl_user.age is INTEGER (int) but Account.age is str; declare "
        "age: int in Account, or make the column VARCHAR or TEXT",
        "error: lms.users: column mdl_user.confirmed is SMALLINT (int) but Account.confirmed is "
        "bool; declare confirmed: int in Account, or make the column BOOLEAN",
        "error: lms.users: retire value 'yes' (str) does not fit column mdl_user.suspended "
        "SMALLINT: write an int",
    ]
    assert found[4].startswith("error: lms.users: table 'mdl_user' (postgresql+psycopg://")
    assert "column 'auth' is NOT NULL without a default" in found[4]
    # PostgreSQL refuses the importer's read too: `suspended IS DISTINCT FROM 'yes'`
    assert found[5].startswith("error: lms.users: reading mdl_user: invalid input syntax for type "
                               'smallint: "yes"')
    assert len(found) == 6, checked.stdout
    assert "destination lms.groups: not read (the error above)" in checked.stdout
    assert checked.stdout.rstrip().endswith("check failed")
    assert snapshot(dss_postgres_url) == before

    ran = moodle(*BROKEN, "run", "moodle")
    assert ran.returncode == 2 and len(ran.stderr.strip().splitlines()) == 1, ran
    assert snapshot(dss_postgres_url) == before


def test_a_live_value_comes_from_the_column_default_when_active_is_not_declared(
        moodle, dss_postgres_url):
    """retire={"suspended": 1} alone: a live row's suspended is the column's DEFAULT 0 (Moodle's
    own), so check passes and the run writes 0 on new rows, 1 on the leaver, and converges."""
    run_sql(dss_postgres_url, *SCHEMA, LINK_TABLE)
    checked = moodle(FITTING, 'retire={"suspended": 1}', "check", "moodle")
    assert checked.returncode == 0, checked
    ran = moodle(FITTING, 'retire={"suspended": 1}', "run", "moodle")
    assert ran.returncode == 0, ran
    rows = snapshot(dss_postgres_url)
    assert [(r[0], r[4]) for r in rows["mdl_user"]] == [("u1", 0), ("u2", 0), ("u9", 1)]
    assert "Nothing to do" in moodle(FITTING, 'retire={"suspended": 1}', "plan", "moodle").stdout


def test_the_fixes_check_names_make_a_run_work(moodle, dss_postgres_url):
    run_sql(dss_postgres_url, *SCHEMA, LINK_TABLE)
    users = 'retire={"suspended": 1}, active={"suspended": 0}'
    checked = moodle(FITTING, users, "check", "moodle")
    assert checked.returncode == 0, checked
    assert "destination lms: handler PostgresHandler is ready" in checked.stdout
    ran = moodle(FITTING, users, "run", "moodle")
    assert ran.returncode == 0, ran
    rows = snapshot(dss_postgres_url)
    assert [(r[0], r[4]) for r in rows["mdl_user"]] == [("u1", 0), ("u2", 0), ("u9", 1)]
    assert rows["mdl_cohort_members"] == [("c1", "u1"), ("c1", "u2")]
    assert "Nothing to do" in moodle(FITTING, users, "plan", "moodle").stdout
