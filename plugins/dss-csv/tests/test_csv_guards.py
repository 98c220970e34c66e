"""Guards for unattended runs: control characters in values, and rename/lists keys matching no column."""

from __future__ import annotations

import csv
import re

import pytest
from dss_csv import CSVImporter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dss_core import Config, ConfigurationError, InputError, Model


class Pupil(Model):
    name: str = ""
    lastfirst: str = ""
    homeroom: str = ""
    courses: set[str] = set()


def error(load, settings, kind=InputError, **kw) -> str:
    with pytest.raises(kind) as info:
        load(settings, **kw)
    assert type(info.value) is kind
    return str(info.value)


STUDENTS = ("student_number,name,lastfirst,Home_Room\n" + "".join(
    f"{i},N{i},\"Doe, J{i}\",10B\n" for i in range(1, 6)))


# -- control characters ----------------------------------------------------------------------
def test_a_nul_byte_names_file_line_and_column(load, write):
    write("students.csv", STUDENTS + "6,N6,Doe\x00J,10B\n")  # line 7
    message = error(load, {"path": "students.csv", "rename": {"student_number": "idnumber"}},
                    model=Pupil)
    assert message == "students.csv line 7: column 'lastfirst' (3) holds a control character U+0000 (NUL)"


@pytest.mark.parametrize(("char", "name"), [
    ("\x01", "U+0001 (SOH)"), ("\x07", "U+0007 (BEL)"), ("\x08", "U+0008 (BS)"),
    ("\x0b", "U+000B (VT)"), ("\x0c", "U+000C (FF)"), ("\x1b", "U+001B (ESC)"),
    ("\x1f", "U+001F (US)"), ("\x7f", "U+007F (DEL)"),
])
def test_every_control_character_is_named(load, write, char, name):
    write("s.csv", f"idnumber,name,email\n1,Ann,a@x\n2,Bo,b{char}@x\n")
    assert error(load, {"path": "s.csv"}) == (
        f"s.csv line 3: column 'email' (3) holds a control character {name}")


def test_a_control_character_inside_quotes_is_refused_too(load, write):
    write("s.csv", 'idnumber,name\n1,"Ann\x1b[31m, red"\n')
    assert error(load, {"path": "s.csv"}) == (
        "s.csv line 2: column 'name' (2) holds a control character U+001B (ESC)")


def test_tab_and_line_breaks_inside_quotes_are_values(load, write):
    write("s.csv", 'idnumber,name\n1,"Ann\tDoe"\n2,Bo\tJr\n3,"two\r\nlines\rand\nmore"\n')
    users = load({"path": "s.csv"}).branch("users")
    assert [users[i].name for i in "123"] == ["Ann\tDoe", "Bo\tJr", "two\r\nlines\rand\nmore"]


def test_c1_controls_and_unicode_line_separators_are_accepted(load, write):
    write("s.csv", "idnumber,name\n1,a\x85b\u2028c\x80\n")
    assert load({"path": "s.csv"}).branch("users")["1"].name == "a\x85b\u2028c\x80"


def test_a_control_character_on_a_later_line_of_a_quoted_value(load, write):
    write("s.csv", 'idnumber,name,email\n1,"first\nsecond\x00 line",a@x\n')
    assert error(load, {"path": "s.csv"}) == (
        "s.csv line 3: column 'name' (2) holds a control character U+0000 (NUL) "
        "(in the row starting on line 2)")


def test_a_row_of_control_characters_only_is_not_a_blank_row(load, write):
    # \x1c-\x1f are whitespace to str.strip(): such a row must not be skipped as blank
    write("s.csv", "idnumber,name\n1,A\n\x1c,\x1f\n")
    assert error(load, {"path": "s.csv"}) == (
        "s.csv line 3: column 'idnumber' (1) holds a control character U+001C (FS)")


def test_a_control_character_in_an_extra_field(load, write):
    write("s.csv", "idnumber,name\n1,A,\x07\n")
    assert error(load, {"path": "s.csv"}) == (
        "s.csv line 2: column 3 holds a control character U+0007 (BEL)")


def test_a_control_character_in_the_header_row(load, write):
    write("s.csv", "idnumber,na\x08me\n1,A\n")
    assert error(load, {"path": "s.csv"}) == (
        "s.csv line 1: column 2 of the header row holds a control character U+0008 (BS)")


def test_utf16_read_as_utf8_is_refused_with_a_hint(load, write):
    write("s.csv", "idnumber,name\n1,A\n".encode("utf-16-le"))  # no byte order mark
    message = error(load, {"path": "s.csv"})
    assert message.startswith(
        "s.csv line 1: column 1 of the header row holds a control character U+0000 (NUL); ")
    assert 'encoding = "utf-16"' in message


def test_header_false_names_the_column_from_columns(load, write):
    write("s.csv", "1,Ann\n2,B\x00o\n")
    message = error(load, {"path": "s.csv", "header": False, "columns": ["idnumber", "name"]})
    assert message == "s.csv line 2: column 'name' (2) holds a control character U+0000 (NUL)"


def test_header_false_first_row(load, write):
    write("s.csv", "1,A\x00nn\n")
    message = error(load, {"path": "s.csv", "header": False, "columns": ["idnumber", "name"]})
    assert message == "s.csv line 1: column 'name' (2) holds a control character U+0000 (NUL)"


def test_far_into_a_large_file(load, write):
    rows = "".join(f"{i},\"Name, {i}\"\n" for i in range(1, 20_000))  # several 64K chunks
    write("s.csv", "idnumber,name\n" + rows + "20000,x\x7f\n" + rows.replace(",", "0,", 1))
    assert error(load, {"path": "s.csv"}) == (
        "s.csv line 20001: column 'name' (2) holds a control character U+007F (DEL)")


def test_second_file_of_a_list(load, write):
    write("a.csv", "idnumber,name\n1,A\n")
    write("b.csv", "name,idnumber\nB,2\nC\x00,3\n")
    assert error(load, {"path": ["a.csv", "b.csv"]}) == (
        "b.csv line 3: column 'name' (1) holds a control character U+0000 (NUL)")


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16", "utf-8-sig"])
def test_other_encodings(load, write, encoding):
    write("s.csv", "idnumber,name\n1,Zoë\n2,R\x00enée\n", encoding=encoding)
    assert error(load, {"path": "s.csv", "encoding": encoding}) == (
        "s.csv line 3: column 'name' (2) holds a control character U+0000 (NUL)")


def test_the_first_error_of_a_file_wins(load, write):
    write("s.csv", "idnumber,name\n1,A\n2,B,extra\n3,C\x00\n")
    assert error(load, {"path": "s.csv"}).startswith("s.csv line 3: 3 fields, but the header has 2")
    write("s.csv", "idnumber,name\n1,A\n3,C\x00\n2,B,extra\n")
    assert error(load, {"path": "s.csv"}).startswith("s.csv line 3: column 'name' (2) holds")


def test_records_before_the_bad_row_are_streamed(tmp_path, write, make_tree):
    write("s.csv", "idnumber,name\n1,A\n2,B\n3,C\x00\n")
    tree = make_tree(Config({"trees": {"sis": {"users": {"path": "s.csv"}}}},
                            path=tmp_path / "dss.toml", environ={}))
    records = tree.importer_for("users").records()
    assert [next(records).values["idnumber"] for _ in range(2)] == ["1", "2"]
    with pytest.raises(InputError, match=r"^s\.csv line 4: column 'name' \(2\) holds"):
        next(records)


def test_an_ascii_delimited_file_may_use_unit_separators(load, write):
    write("s.csv", "idnumber\x1fname\n1\x1fAnn\n2\x1fB\x1eo\n")
    assert error(load, {"path": "s.csv", "delimiter": "\x1f"}) == (
        "s.csv line 3: column 'name' (2) holds a control character U+001E (RS)")
    write("s.csv", "idnumber\x1fname\n1\x1fAnn\n")
    assert load({"path": "s.csv", "delimiter": "\x1f"}).branch("users")["1"].name == "Ann"


def test_csv_never_sees_a_nul_once_one_is_found(load, write, monkeypatch):
    """Python < 3.11's csv raised 'line contains NUL'; 3.11 passes NUL on. Both give the same error."""
    import dss_csv.importer

    real_reader = csv.reader

    def old_reader(lines, **kwargs):
        def refuse_nul(lines):
            for line in lines:
                if "\x00" in line:
                    raise csv.Error("line contains NUL")
                yield line
        return real_reader(refuse_nul(lines), **kwargs)

    monkeypatch.setattr(dss_csv.importer.csv, "reader", old_reader)
    write("s.csv", 'idnumber,name,email\n1,"A\x00\nB\x00",x\x00\n')
    assert error(load, {"path": "s.csv"}) == (
        "s.csv line 2: column 'name' (2) holds a control character U+0000 (NUL)")


def test_python_311_csv_passes_nul_through():
    """Why the check is needed: csv (3.11) puts a NUL into the value; Python <= 3.10 raised instead."""
    assert list(csv.reader(["a,b\x00c\n"])) == [["a", "b\x00c"]]


# property: a control character anywhere in a random small CSV is found at its line and column
CONTROLS = [chr(c) for c in range(0x20) if chr(c) not in "\t\r\n"] + ["\x7f"]
ALLOWED = ["\t", "\r\n", "\n", "\r"]
VALUE = st.text(alphabet=st.sampled_from(list("ab Zé,;\"' \n")), max_size=6)


class Wide(Model):
    c1: str = ""
    c2: str = ""
    c3: str = ""


@st.composite
def table(draw):
    width = draw(st.integers(2, 4))
    rows = [[str(i + 1)] + [draw(VALUE) for _ in range(width - 1)]
            for i in range(draw(st.integers(1, 5)))]
    row = draw(st.integers(0, len(rows) - 1))
    return rows, row, draw(st.integers(0, width - 1)), draw(st.integers(0, 6))


def cell(value: str) -> str:
    """A value as CSV: quoted if it holds a delimiter, quote, CR or LF (csv.writer leaves a lone CR)."""
    return f'"{value.replace(chr(34), 2 * chr(34))}"' if set(value) & set(',"\r\n') else value


def write_table(write, rows, terminator) -> tuple[str, list[int]]:
    """Write ``rows`` under a header idnumber,c1,...; return the text and each row's offset."""
    text = ",".join(["idnumber"] + [f"c{i}" for i in range(1, len(rows[0]))]) + terminator
    offsets = []
    for row in rows:
        offsets.append(len(text))
        text += ",".join(map(cell, row)) + terminator
    write("s.csv", text)
    return text, offsets


def line_of(text: str, offset: int) -> int:
    return len(re.findall(r"\r\n|\r|\n", text[:offset])) + 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table(), st.sampled_from(CONTROLS), st.sampled_from(["\n", "\r\n"]))
def test_property_a_control_character_is_found_at_its_line_and_column(
        load, write, drawn, char, terminator):
    rows, r, c, at = drawn
    value = rows[r][c]
    rows[r][c] = value[:at] + char + value[at:]
    text, offsets = write_table(write, rows, terminator)
    line, start = line_of(text, text.index(char)), line_of(text, offsets[r])
    header = "idnumber" if c == 0 else f"c{c}"
    expected = (f"s.csv line {line}: column {header!r} ({c + 1}) holds a control character "
                f"U+{ord(char):04X} (")
    message = error(load, {"path": "s.csv"}, model=Wide)
    assert message.startswith(expected)
    assert message.endswith(f" (in the row starting on line {start})" if start != line else ")")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table(), st.sampled_from(ALLOWED), st.sampled_from(["\n", "\r\n"]))
def test_property_tab_and_line_breaks_in_quoted_values_round_trip(
        load, write, drawn, char, terminator):
    rows, r, c, at = drawn
    c = max(c, 1)  # not into the idnumber
    rows[r][c] = rows[r][c][:at] + char + rows[r][c][at:]
    write_table(write, rows, terminator)
    users = load({"path": "s.csv"}, model=Wide).branch("users")
    width = len(rows[0])
    assert {i: [getattr(o, f"c{k}") for k in range(1, width)] for i, o in users.items()} == {
        row[0]: row[1:] for row in rows}


# -- rename and lists keys ---------------------------------------------------------------------
def test_a_rename_key_matching_no_column(load, write):
    write("students.csv", STUDENTS)
    message = error(load, {"path": "students.csv",
                           "rename": {"student_number": "idnumber", "HomeRoom": "homeroom"}},
                    ConfigurationError, model=Pupil)
    assert message == (
        "sis.users: rename key 'HomeRoom' matches no column of students.csv (columns: "
        "'student_number', 'name', 'lastfirst', 'Home_Room'); did you mean 'Home_Room'?")


def test_it_is_raised_before_the_first_record(tmp_path, write, make_tree):
    write("a.csv", "idnumber,name\n1,A\n")
    write("b.csv", "idnumber,nmae\n2,B\n")
    tree = make_tree(Config({"trees": {"sis": {"users": {
        "path": ["a.csv", "b.csv"], "rename": {"name": "name", "mane": "name"}}}}},
        path=tmp_path / "dss.toml", environ={}))
    records = tree.importer_for("users").records()
    with pytest.raises(ConfigurationError, match="rename key 'mane' matches no column of a.csv"):
        next(records)


def test_files_with_different_headers_renamed_to_one_attribute(load, write):
    write("students.csv", "student_number,name\n1,Ann\n")
    write("staff.csv", "teacher_number,name\nT1,Tom\n")
    users = load({"path": ["students.csv", "staff.csv"],
                  "rename": {"student_number": "idnumber", "teacher_number": "idnumber"}}
                 ).branch("users")
    assert {i: o.name for i, o in users.items()} == {"1": "Ann", "T1": "Tom"}


def test_a_key_in_no_file_names_every_file_and_header(load, write):
    write("students.csv", "student_number,name\n1,Ann\n")
    write("staff.csv", "teacher_number,name\nT1,Tom\n")
    message = error(load, {"path": ["students.csv", "staff.csv"], "rename": {
        "student_number": "idnumber", "teacher_number": "idnumber", "staff_number": "idnumber"}},
        ConfigurationError)
    assert message == (
        "sis.users: rename key 'staff_number' matches no column of students.csv (columns: "
        "'student_number', 'name') or staff.csv (columns: 'teacher_number', 'name'); "
        "did you mean 'teacher_number'?")


def test_many_files_with_one_header_are_named_briefly(load, write):
    for n in range(1, 6):
        write(f"exports/school-{n}.csv", f"idnumber,name\n{n},N\n")
    message = error(load, {"path": "exports/*.csv", "rename": {"Name": "name"}}, ConfigurationError)
    assert message == (
        "sis.users: rename key 'Name' matches no column of exports/school-1.csv, "
        "exports/school-2.csv, exports/school-3.csv and 2 more (columns: 'idnumber', 'name'); "
        "did you mean 'name'?")


def test_several_bad_keys_in_one_message(load, write):
    write("s.csv", "idnumber,Full Name,Home_Room\n1,A,10B\n")
    message = error(load, {"path": "s.csv", "rename": {
        "FullName": "name", "HomeRoom": "homeroom", "zzz": "x"}}, ConfigurationError, model=Pupil)
    assert message == (
        "sis.users: rename keys 'FullName', 'HomeRoom', 'zzz' match no column of s.csv (columns: "
        "'idnumber', 'Full Name', 'Home_Room'); did you mean 'Full Name' (for 'FullName'), "
        "'Home_Room' (for 'HomeRoom')?")


def test_no_suggestion_without_a_close_name(load, write):
    write("s.csv", "idnumber,name\n1,A\n")
    message = error(load, {"path": "s.csv", "rename": {"Homeroom": "homeroom"}}, ConfigurationError)
    assert message == ("sis.users: rename key 'Homeroom' matches no column of s.csv "
                       "(columns: 'idnumber', 'name')")


def test_it_comes_before_the_missing_idnumber_error(load, write):
    write("s.csv", "Student ID,name\n1,A\n")
    message = error(load, {"path": "s.csv", "rename": {"Student_ID": "idnumber"}},
                    ConfigurationError)
    assert message.endswith("; did you mean 'Student ID'?")


def test_a_rename_key_from_the_environment(load, write):
    write("s.csv", "Student ID,name\n1,A\n")
    message = error(load, {"path": "s.csv"}, ConfigurationError,
                    environ={"DSS_SIS_USERS_RENAME": "Student ID=idnumber,Full Name=name"})
    assert message.startswith("sis.users: rename key 'Full Name' matches no column of s.csv")


def test_a_lists_key_matching_no_column_nor_attribute(load, write):
    write("s.csv", "ID,Classes\n1,math;art\n")
    message = error(load, {"path": "s.csv", "rename": {"ID": "idnumber", "Classes": "courses"},
                           "lists": {"course": ";"}}, ConfigurationError, model=Pupil)
    assert message == (
        "sis.users: lists key 'course' matches no column (nor attribute after renaming) of s.csv "
        "(columns: 'ID', 'Classes'); did you mean 'courses'?")


def test_lists_keys_by_column_or_by_attribute(load, write):
    write("s.csv", "ID,Classes,Tags\n1,math;art,x;y\n")
    tree = load({"path": "s.csv", "rename": {"ID": "idnumber", "Classes": "courses"},
                 "lists": {"courses": ";", "Tags": ";"}}, model=Pupil)
    assert tree.branch("users")["1"].courses == {"math", "art"}


def test_list_columns_class_attribute_is_named_as_such(load, write):
    write("s.csv", "idnumber,Courses\n1,a|b\n")

    class Students(CSVImporter):
        path = "s.csv"
        list_columns = {"courses": "|"}

    message = error(load, importer=Students, model=Pupil, settings=None, kind=ConfigurationError)
    assert message.startswith("sis.users: list_columns key 'courses' matches no column")
    assert message.endswith("; did you mean 'Courses'?")  # case is ignored when suggesting


def test_header_false_is_checked_against_columns(load, write):
    write("s.csv", "1,Ann,10B\n")
    message = error(load, {"path": "s.csv", "header": False,
                           "columns": ["idnumber", "name", "Home_Room"],
                           "rename": {"HomeRoom": "homeroom"}}, ConfigurationError, model=Pupil)
    assert message == ("sis.users: rename key 'HomeRoom' matches no column of s.csv (columns: "
                       "'idnumber', 'name', 'Home_Room'); did you mean 'Home_Room'?")


def test_columns_replacing_the_header_are_what_keys_match(load, write):
    write("s.csv", "ID,Room\n1,10B\n")
    settings = {"path": "s.csv", "columns": ["idnumber", "room"], "rename": {"Room": "homeroom"}}
    assert "rename key 'Room' matches no column" in error(load, settings, ConfigurationError)
    settings["rename"] = {"room": "homeroom"}
    assert load(settings, model=Pupil).branch("users")["1"].homeroom == "10B"


def test_empty_files_have_no_columns_to_check(load, write):
    write("empty.csv", "")
    write("s.csv", "idnumber,Home_Room\n1,10B\n")
    assert len(load({"path": "empty.csv", "allow_empty": True,
                     "rename": {"HomeRoom": "homeroom"}}).branch("users")) == 0
    message = error(load, {"path": ["empty.csv", "s.csv"], "allow_empty": True,
                           "rename": {"HomeRoom": "homeroom"}}, ConfigurationError)
    assert "matches no column of s.csv (columns: 'idnumber', 'Home_Room')" in message
