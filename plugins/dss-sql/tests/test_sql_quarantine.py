"""SQLImporter's bad rows go through the core's one mechanism (issue 15): a NULL key, a value
that does not convert; quarantined with their row as raw text, or the run stops on the first."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from dss_sql import SQLImporter

from dss_core import Branch, Config, InputError, Model, Tree


class Student(Model):
    name: str
    year: int = 0


class Students(SQLImporter):
    table = "students"
    key = "sid"
    rename = {"full_name": "name", "yr": "year"}


def fill(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "create table students (n integer primary key, sid varchar(20), full_name varchar(100),"
            " yr varchar(10))"))
        conn.execute(sa.text("insert into students values (:n, :s, :f, :y)"), [
            {"n": 1, "s": "1", "f": "Ann", "y": "10"},
            {"n": 2, "s": None, "f": "Nobody", "y": "10"},
            {"n": 3, "s": "3", "f": "Cy", "y": "ten"},
            {"n": 4, "s": "4", "f": "Dee", "y": "11"}])
    engine.dispose()


def tree(url: str, **top: object) -> Tree:
    class SIS(Tree):
        name = "sis"
        users = Branch(Student, importer=Students)

    return SIS(config=Config({**top, "trees": {"sis": {"url": url}}}, environ={}))


def test_a_null_key_and_a_bad_value_are_quarantined(db_url: str) -> None:
    fill(db_url)
    sis = tree(db_url, on_bad_record="quarantine").load()
    assert sorted(sis.branch("users")) == ["1", "4"]
    bad = {r.origin.position: r for r in sis.branch("users").rejects}
    assert set(bad) == {2, 3}
    assert (bad[2].idnumber, bad[2].column, bad[2].reason) == (
        None, "sid", "column 'sid' (the idnumber) is NULL")
    assert json.loads(bad[2].raw or "") == {"n": 2, "sid": None, "full_name": "Nobody", "yr": "10"}
    assert (bad[3].idnumber, bad[3].column) == ("3", "year")
    assert str(bad[3].origin) == "students row 3"


def test_without_quarantine_a_null_key_stops_the_import(db_url: str) -> None:
    fill(db_url)
    with pytest.raises(InputError) as info:
        tree(db_url).load()
    assert str(info.value) == "students row 2: column 'sid' (the idnumber) is NULL"
