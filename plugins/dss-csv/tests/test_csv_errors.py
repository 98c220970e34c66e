"""Point 6: every kind of bad input is one InputError naming file, line and what is wrong."""

from __future__ import annotations

import pytest
from dss_csv import CSVImporter

from dss_core import DuplicateIdError, InputError, Model


def error(load, settings, **kw) -> InputError:
    with pytest.raises(InputError) as info:
        load(settings, **kw)
    return info.value


def test_missing_file(load):
    exc = error(load, {"path": "nope.csv"})
    assert str(exc) == "nope.csv: file not found"


def test_directory_instead_of_file(load, tmp_path):
    (tmp_path / "dir.csv").mkdir()
    assert str(error(load, {"path": "dir.csv"})) == "dir.csv: is a directory, not a CSV file"


def test_missing_file_in_a_list(load, write):
    write("a.csv", "idnumber,name\n1,A\n")
    assert str(error(load, {"path": ["a.csv", "b.csv"]})) == "b.csv: file not found"


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xef\xbb\xbf"])
def test_empty_file(load, write, content):
    write("s.csv", content)
    exc = error(load, {"path": "s.csv"})
    assert str(exc).startswith("s.csv: the file is empty")


def test_empty_file_allowed(load, write):
    write("s.csv", b"")
    assert len(load({"path": "s.csv", "allow_empty": True}).branch("users")) == 0


def test_header_only_file_is_zero_records(load, write):
    write("s.csv", "idnumber,name\n")
    assert len(load({"path": "s.csv"}).branch("users")) == 0


def test_missing_idnumber_column(load, write):
    write("s.csv", "\nStudent ID,name\n1,A\n")
    exc = error(load, {"path": "s.csv"})
    assert str(exc).startswith("s.csv line 2: no idnumber column (columns: 'Student ID', 'name')")
    assert "rename" in str(exc) and "require_idnumber = false" in str(exc)


def test_missing_idnumber_column_after_renames(load, write):
    write("s.csv", "idnumber,name\n1,A\n")
    exc = error(load, {"path": "s.csv", "rename": {"idnumber": "old_id"}})
    assert "no idnumber column" in str(exc)


def test_require_idnumber_false_gives_running_numbers(load, write):
    write("s.csv", "name\nAnn\nBo\n")
    users = load({"path": "s.csv", "require_idnumber": False}).branch("users")
    assert {i: o.name for i, o in users.items()} == {"1": "Ann", "2": "Bo"}


def test_require_idnumber_as_class_attribute(load, write):
    write("s.csv", "name\nAnn\n")

    class Names(CSVImporter):
        path = "s.csv"
        require_idnumber = False

    assert list(load(importer=Names).branch("users")) == ["1"]


def test_empty_idnumber_value_names_the_line(load, write):
    write("s.csv", "idnumber,name\n1,A\n,B\n")
    assert str(error(load, {"path": "s.csv"})) == "s.csv line 3: sis.users: empty idnumber"


@pytest.mark.parametrize("row,count,hint", [("3,C,extra", 3, "too many"), ("3", 1, "too few")])
def test_ragged_row(load, write, row, count, hint):
    write("s.csv", f"idnumber,name\n1,A\n2,B\n{row}\n4,D\n")
    exc = error(load, {"path": "s.csv"})
    assert str(exc).startswith(f"s.csv line 4: {count} fields, but the header has 2 ({hint}")


def test_ragged_row_without_header(load, write):
    write("s.csv", "1,A\n2,B,C\n")
    exc = error(load, {"path": "s.csv", "header": False, "columns": ["idnumber", "name"]})
    assert str(exc).startswith("s.csv line 2: 3 fields, but the columns are 2")


def test_columns_not_matching_the_header(load, write):
    write("s.csv", "a,b,c\n1,2,3\n")
    exc = error(load, {"path": "s.csv", "columns": ["idnumber", "name"]})
    assert str(exc) == "s.csv line 1: the header row has 3 columns but `columns` names 2"


def test_duplicate_column(load, write):
    write("s.csv", "idnumber,name,Name\n1,A,B\n")
    exc = error(load, {"path": "s.csv", "rename": {"Name": "name"}})
    assert str(exc) == "s.csv line 1: column 'name' appears twice (after renaming 'Name')"


def test_unbalanced_quote_at_end_of_file(load, write):
    write("s.csv", 'idnumber,name\n1,A\n2,"B\n3,C\n4,D\n')
    exc = error(load, {"path": "s.csv"})
    assert str(exc) == ("s.csv line 3: unterminated quoted field: the quote opened on this line "
                        "is never closed (the file ends at line 5)")


def test_garbage_after_closing_quote(load, write):
    write("s.csv", 'idnumber,name\n1,"A"x\n')
    exc = error(load, {"path": "s.csv"})
    assert str(exc) == "s.csv line 2: malformed CSV: ',' expected after '\"'"


def test_undecodable_bytes(load, write):
    write("s.csv", b"idnumber,name\n1,A\n2,\x81\x82\n")
    exc = error(load, {"path": "s.csv"})
    assert str(exc).startswith("s.csv line 3: cannot decode as utf-8: byte 81")


def test_duplicate_idnumber_names_both_places(load, write):
    write("a.csv", "idnumber,name\n1,A\n2,B\n")
    write("b.csv", "idnumber,name\n3,C\n2,B\n")
    with pytest.raises(DuplicateIdError) as info:
        load({"path": ["a.csv", "b.csv"]})
    message = str(info.value)
    assert message.startswith("b.csv line 3: sis.users: duplicate idnumber '2' appears more than once")
    assert "(first at a.csv line 3)" in message


def test_duplicate_policy_last_from_settings(load, write):
    write("s.csv", "idnumber,name\n1,A\n1,B\n")
    tree = load({"path": "s.csv", "on_duplicate": "last"})
    assert tree.branch("users")["1"].name == "B"
    assert str(tree.branch("users")["1"].dss_origin) == "s.csv line 3"


def test_field_over_max_field_size(load, write):
    write("s.csv", "idnumber,name\n1,A\n2," + "x" * 101 + "\n")
    exc = error(load, {"path": "s.csv", "max_field_size": 100})
    assert str(exc) == "s.csv line 3: a field has more than max_field_size (100) characters"


def test_field_at_max_field_size_is_fine(load, write):
    write("s.csv", "idnumber,name\n1," + "x" * 100 + "\n")
    assert len(load({"path": "s.csv", "max_field_size": "100"}).branch("users")["1"].name) == 100


def test_runaway_quoted_field_is_stopped_at_max_field_size(load, write):
    # a stray quote swallows the following lines until the field is too big
    lines = "".join(f"{i},name {i}\n" for i in range(3, 400))
    write("s.csv", 'idnumber,name\n1,A\n2,"B\n' + lines + '999,"x"\n')
    exc = error(load, {"path": "s.csv", "max_field_size": 1000})
    assert str(exc) == ("s.csv line 3: a field has more than max_field_size (1000) "
                               "characters (the row runs to line 96: an unbalanced quote?)")


def test_stray_quote_closed_later_names_the_line_it_opened(load, write):
    lines = "".join(f"{i},name {i}\n" for i in range(3, 400))
    write("s.csv", 'idnumber,name\n1,A\n2,"B\n' + lines + '999,"x"\n')
    exc = error(load, {"path": "s.csv"})
    assert str(exc) == ("s.csv line 3: malformed CSV: ',' expected after '\"' "
                        "(the row runs to line 401: an unbalanced quote?)")


def test_the_csv_modules_global_limit_is_left_as_it_was(load, write):
    import csv

    before = csv.field_size_limit()
    write("s.csv", "idnumber,name\n1,A\n")
    load({"path": "s.csv", "max_field_size": 10})
    assert csv.field_size_limit() == before


def test_field_over_one_mebibyte_by_default(load, write):
    write("s.csv", "idnumber,name\n1," + "x" * (1024 * 1024 + 1) + "\n")
    assert "more than max_field_size (1048576)" in str(error(load, {"path": "s.csv"}))


def test_bad_value_for_a_typed_field_names_the_line(load, write):
    class Pupil(Model):
        grade: int = 0

    write("s.csv", "idnumber,grade\n1,10\n2,ten\n")
    exc = error(load, {"path": "s.csv"}, model=Pupil)
    assert str(exc).startswith("s.csv line 3: idnumber '2': field 'grade': cannot read 'ten'")


def test_a_bad_file_stops_the_load_before_anything_is_kept(load, write):
    write("s.csv", "idnumber,name\n1,A\n2\n")
    with pytest.raises(InputError):
        load({"path": "s.csv"})
