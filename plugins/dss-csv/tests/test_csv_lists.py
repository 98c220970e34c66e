"""Point 4: list columns become set attributes, and one row per membership merges in the core."""

from __future__ import annotations

import pytest
from dss_csv import CSVImporter

from dss_core import DuplicateIdError, Model


class Enrolled(Model):
    name: str = ""
    courses: set[str] = set()


class Ordered(Model):
    tags: list[str] = []


def test_list_column_setting(load, write):
    write("s.csv", 'idnumber,name,courses\n1,Ann,"math; science ;;art"\n2,Bo,\n')
    tree = load({"path": "s.csv", "lists": {"courses": ";"}}, model=Enrolled)
    assert tree.branch("users")["1"].courses == {"math", "science", "art"}
    assert tree.branch("users")["2"].courses == set()


def test_list_columns_class_attribute_after_rename(load, write):
    write("s.csv", "ID,Classes\n1,math|art\n")

    class Students(CSVImporter):
        path = "s.csv"
        rename = {"ID": "idnumber", "Classes": "courses"}
        list_columns = {"courses": "|"}

    assert load(importer=Students, model=Enrolled).branch("users")["1"].courses == {"math", "art"}


def test_list_column_keyed_by_source_name(load, write):
    write("s.csv", "idnumber,Tags\n1,b/a\n")
    tree = load({"path": "s.csv", "rename": {"Tags": "tags"}, "lists": {"Tags": "/"}},
                model=Ordered)
    assert tree.branch("users")["1"].tags == ["b", "a"]  # a list keeps its order


def test_list_setting_from_environment(load, write):
    write("s.csv", "idnumber,courses\n1,x;y\n")
    tree = load({"path": "s.csv"}, model=Enrolled, environ={"DSS_SIS_USERS_LISTS": "courses=;"})
    assert tree.branch("users")["1"].courses == {"x", "y"}


def test_one_row_per_enrolment_merges_into_one_object(load, write):
    write("enrolments.csv",
          "idnumber,name,courses\n1,Ann,math\n2,Bo,art\n1,Ann,science\n1,Ann,math\n")
    users = load({"path": "enrolments.csv"}, model=Enrolled).branch("users")
    assert len(users) == 2
    assert users["1"].courses == {"math", "science"}
    assert users["2"].courses == {"art"}
    assert str(users["1"].dss_origin) == "enrolments.csv line 2"  # the first row


def test_enrolment_rows_with_list_columns_merge(load, write):
    write("e.csv", "idnumber,name,courses\n1,Ann,math;art\n1,Ann,science\n")
    users = load({"path": "e.csv", "lists": {"courses": ";"}}, model=Enrolled).branch("users")
    assert users["1"].courses == {"math", "art", "science"}


def test_merge_conflict_names_both_lines(load, write):
    write("e.csv", "idnumber,name,courses\n1,Ann,math\n1,Anne,art\n")
    with pytest.raises(DuplicateIdError) as info:
        load({"path": "e.csv"}, model=Enrolled)
    message = str(info.value)
    assert message.startswith("e.csv line 3: ")
    assert "differs in name" in message and "first at e.csv line 2" in message
