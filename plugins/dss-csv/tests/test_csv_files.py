"""Point 5: several files into one branch, each record remembering its file and line."""

from __future__ import annotations

import pytest

from dss_core import InputError, Model


class Enrolled(Model):
    name: str = ""
    courses: set[str] = set()


def origins(tree):
    return {i: str(o.dss_origin) for i, o in tree.branch("users").items()}


def test_glob_reads_every_match_in_sorted_order(load, write):
    write("terms/2024-2.csv", "idnumber,name\n3,C\n")
    write("terms/2024-1.csv", "idnumber,name\n1,A\n2,B\n")
    write("terms/notes.txt", "not csv")
    tree = load({"path": "terms/*.csv"})
    assert list(tree.branch("users")) == ["1", "2", "3"]
    assert origins(tree) == {"1": "terms/2024-1.csv line 2", "2": "terms/2024-1.csv line 3",
                             "3": "terms/2024-2.csv line 2"}


def test_list_of_paths_in_given_order(load, write):
    write("north.csv", "idnumber,name\nn1,N\n")
    write("south.csv", "idnumber,name\ns1,S\n")
    tree = load({"path": ["south.csv", "north.csv"]})
    assert list(tree.branch("users")) == ["s1", "n1"]
    assert origins(tree) == {"s1": "south.csv line 2", "n1": "north.csv line 2"}


def test_files_may_differ_in_column_order(load, write):
    write("a.csv", "idnumber,name\n1,A\n")
    write("b.csv", "name,idnumber\nB,2\n")
    users = load({"path": ["a.csv", "b.csv"]}).branch("users")
    assert (users["1"].name, users["2"].name) == ("A", "B")


def test_memberships_merge_across_files(load, write):
    write("school-a.csv", "idnumber,name,courses\n1,Ann,math\n")
    write("school-b.csv", "idnumber,name,courses\n1,Ann,art\n")
    users = load({"path": "school-*.csv"}, model=Enrolled).branch("users")
    assert users["1"].courses == {"math", "art"}


def test_glob_without_match_is_an_input_error(load, write):
    with pytest.raises(InputError, match=r"^terms/\*\.csv: no file matches 'terms/\*\.csv'"):
        load({"path": "terms/*.csv"})


def test_absolute_path_outside_the_config_folder_is_shown_whole(load, tmp_path_factory):
    other = tmp_path_factory.mktemp("elsewhere") / "s.csv"
    other.write_text("idnumber,name\n1,A\n", encoding="utf-8")
    assert origins(load({"path": str(other)})) == {"1": f"{other} line 2"}


def test_line_numbers_count_physical_lines_of_multiline_fields(load, write):
    write("s.csv", 'idnumber,name\n1,"two\nlines"\n\n2,"three\r\nphysical\nlines"\n3,plain\n')
    tree = load({"path": "s.csv"})
    assert tree.branch("users")["1"].name == "two\nlines"
    assert tree.branch("users")["2"].name == "three\r\nphysical\nlines"
    assert origins(tree) == {"1": "s.csv line 2", "2": "s.csv line 5", "3": "s.csv line 8"}


def test_line_numbers_with_crlf_and_leading_blank_lines(load, write):
    write("s.csv", "\r\n\r\nidnumber,name\r\n1,A\r\n\r\n2,B\r\n")
    assert origins(load({"path": "s.csv"})) == {"1": "s.csv line 4", "2": "s.csv line 6"}


def test_error_after_multiline_field_names_the_right_line(load, write):
    write("s.csv", 'idnumber,name\n1,"a\nb\nc"\n2,x,extra\n')
    with pytest.raises(InputError, match=r"^s\.csv line 5: 3 fields"):
        load({"path": "s.csv"})


def test_records_carry_origins_with_the_importer_name(load, write):
    write("s.csv", "idnumber,name\n1,A\n")
    origin = load({"path": "s.csv"}).branch("users")["1"].dss_origin
    assert (origin.source, origin.position, origin.unit, origin.importer) == (
        "s.csv", 2, "line", "CSVImporter")
