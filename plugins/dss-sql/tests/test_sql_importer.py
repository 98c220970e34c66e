"""SQLImporter: tables, queries, renames, joins merged into sets, settings and errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa
from dss_sql import SQLImporter, dispose_engines, get_engine

from dss_core import Branch, Config, ConfigurationError, Model, Tree


class Student(Model):
    name: str
    year: int = 0
    courses: set[str] = set()


def fill(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "create table students (sid varchar(20) primary key, full_name varchar(100), yr integer)"))
        conn.execute(sa.text("create table enrolments (sid varchar(20), course varchar(20))"))
        conn.execute(sa.text("insert into students values (:s, :n, :y)"),
                     [{"s": "1", "n": "Ann", "y": 10}, {"s": "2", "n": "Bob", "y": 11}])
        conn.execute(sa.text("insert into enrolments values (:s, :c)"),
                     [{"s": "1", "c": "math"}, {"s": "1", "c": "art"}, {"s": "2", "c": "bio"}])
    engine.dispose()


def tree_with(importer: type[SQLImporter], url: str | None, **settings: object) -> Tree:
    class SIS(Tree):
        name = "sis"
        users = Branch(Student, importer=importer)

    tree_settings = {"url": url} if url else {}
    return SIS(config=Config({"trees": {"sis": {**tree_settings, "users": settings}}}, environ={}))


def test_reads_a_table_with_key_and_rename(db_url):
    fill(db_url)

    class Students(SQLImporter):
        table = "students"
        key = "sid"
        rename = {"full_name": "name", "yr": "year"}

    tree = tree_with(Students, db_url).load()
    assert {i: (o.name, o.year) for i, o in tree.users.items()} == {"1": ("Ann", 10), "2": ("Bob", 11)}
    assert str(tree.users["2"].dss_origin) in ("students row 1", "students row 2")
    assert tree.users["1"].dss_origin.importer == "Students"


def test_a_join_merges_one_row_per_membership_into_a_set(db_url):
    fill(db_url)

    class Enrolled(SQLImporter):
        query = ("select s.sid as idnumber, s.full_name as name, e.course as courses "
                 "from students s join enrolments e on e.sid = s.sid order by s.sid, e.course")

    tree = tree_with(Enrolled, db_url).load()
    assert tree.users["1"].courses == {"math", "art"}
    assert tree.users["2"].courses == {"bio"}
    assert str(tree.users["1"].dss_origin) == "query row 1"


def test_query_as_a_select_and_everything_from_settings(dss_sqlite_url):
    fill(dss_sqlite_url)
    students = sa.table("students", sa.column("sid"), sa.column("full_name"))

    class Selected(SQLImporter):
        query = sa.select(students.c.sid.label("idnumber"), students.c.full_name.label("name"))

    assert sorted(tree_with(Selected, dss_sqlite_url).load().users) == ["1", "2"]
    # the registered importer configured from settings only
    tree = tree_with(SQLImporter, dss_sqlite_url, table="students", key="sid",
                     rename={"full_name": "name"}, yield_per=1)
    assert tree.load().users["1"].name == "Ann"


def test_the_url_comes_from_the_environment(dss_sqlite_url):
    fill(dss_sqlite_url)

    class SIS(Tree):
        name = "sis"
        users = Branch(Student, importer=SQLImporter)

    config = Config({"trees": {"sis": {"users": {"table": "students", "key": "sid",
                                                  "rename": {"full_name": "name"}}}}},
                    environ={"DSS_SIS_URL": dss_sqlite_url})
    assert len(SIS(config=config).load().users) == 2


def test_one_engine_per_url(dss_sqlite_url):
    assert get_engine(dss_sqlite_url) is get_engine(dss_sqlite_url)
    first = get_engine(dss_sqlite_url)
    dispose_engines(dss_sqlite_url)
    assert get_engine(dss_sqlite_url) is not first


def test_dbsession_commits_or_rolls_back(dss_sqlite_url):
    fill(dss_sqlite_url)

    class Custom(SQLImporter):
        def readin(self):
            with self.dbsession() as session:
                session.execute(sa.text("insert into students values ('3', 'Cy', 12)"))
            with pytest.raises(RuntimeError), self.dbsession() as session:
                session.execute(sa.text("insert into students values ('4', 'Di', 12)"))
                raise RuntimeError("boom")
            with self.dbsession() as session:
                for sid, name in session.execute(sa.text("select sid, full_name from students")):
                    yield {"idnumber": sid, "name": name}

    assert sorted(tree_with(Custom, dss_sqlite_url).load().users) == ["1", "2", "3"]


def test_missing_table_and_column_are_one_line_configuration_errors(db_url):
    fill(db_url)

    class NoTable(SQLImporter):
        table = "studnets"

    with pytest.raises(ConfigurationError, match="table 'studnets' does not exist") as info:
        tree_with(NoTable, db_url).load()
    assert "\n" not in str(info.value)

    class NoColumn(SQLImporter):
        query = "select sid as idnumber, fullname as name from students"

    with pytest.raises(ConfigurationError, match="fullname") as info:
        tree_with(NoColumn, db_url).load()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://dss:s3cr3tpw@127.0.0.1:1/test",
    "mysql+pymysql://dss:s3cr3tpw@127.0.0.1:1/test",
])
def test_unreachable_database_is_one_line_without_the_password(url):
    with pytest.raises(ConfigurationError) as info:
        tree_with(SQLImporter, url, table="students").load()
    message = str(info.value)
    assert message.startswith("cannot connect to ") and "***" in message
    assert "s3cr3tpw" not in message and "\n" not in message


@pytest.mark.mariadb
def test_wrong_credentials_on_mariadb(dss_mariadb_url):
    url = sa.make_url(dss_mariadb_url).set(username="nobody_dss", password="s3cr3tpw")
    with pytest.raises(ConfigurationError, match="cannot connect") as info:
        tree_with(SQLImporter, url.render_as_string(hide_password=False), table="x").load()
    assert "s3cr3tpw" not in str(info.value)


@pytest.mark.postgres
def test_unknown_role_on_postgres(dss_postgres_url):
    url = sa.make_url(dss_postgres_url).set(username="nobody_dss", password="s3cr3tpw")
    with pytest.raises(ConfigurationError, match="cannot connect") as info:
        tree_with(SQLImporter, url.render_as_string(hide_password=False), table="x").load()
    assert "s3cr3tpw" not in str(info.value)


def test_no_url_and_no_table_are_configuration_errors(dss_sqlite_url):
    with pytest.raises(ConfigurationError, match="no database url"):
        tree_with(SQLImporter, None, table="students").load()
    with pytest.raises(ConfigurationError, match="needs a table or a query"):
        tree_with(SQLImporter, dss_sqlite_url).load()


def test_registered_through_the_entry_point_without_importing_sqlalchemy():
    code = ("import sys\n"
            "from dss_core.plugins import build_plugin_manager, find_importer\n"
            "pm = build_plugin_manager(only=['sql'])\n"
            "assert find_importer(pm, 'sql').__name__ == 'SQLImporter'\n"
            "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported at plugin load'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sqlite_path_is_relative_to_the_configuration_file(tmp_path):
    fill(f"sqlite:///{tmp_path / 'sis.db'}")
    (tmp_path / "dss.toml").write_text(
        '[trees.sis]\nurl = "sqlite:///sis.db"\n[trees.sis.users]\ntable = "students"\n'
        'key = "sid"\nrename = {full_name = "name"}\n')

    class SIS(Tree):
        name = "sis"
        users = Branch(Student, importer="sql")

    from dss_core.plugins import build_plugin_manager

    tree = SIS(config=Config.load(tmp_path / "dss.toml"), plugins=build_plugin_manager(only=["sql"]))
    assert len(tree.load().users) == 2
    dispose_engines()
