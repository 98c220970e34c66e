"""Regression tests from a user's review: settings and files that used to give a traceback or a wrong hint."""

from __future__ import annotations

import pytest

from dss_core import ConfigurationError, InputError


@pytest.mark.parametrize(("settings", "message"), [
    ({"path": 3}, "sis.users: setting 'path' must be a path or a list of paths, not 3"),
    ({"path": ["s.csv", 3]}, "setting 'path' must be a path or a list of paths"),
    ({"path": "s.csv", "columns": 3}, "setting 'columns' must be a list of column names, not 3"),
    ({"path": "s.csv", "delimiter": '"'}, "settings 'delimiter' and 'quotechar' are both '\"'"),
    ({"path": "s.csv", "delimiter": ";", "escapechar": ";"},
     "settings 'delimiter' and 'escapechar' are both ';'"),
    ({"path": "s.csv", "delimiter": "\\n"}, "setting 'delimiter' cannot be a line break"),
])
def test_bad_settings_are_one_configuration_error(load, write, settings, message):
    write("s.csv", "idnumber,name\n1,A\n")
    with pytest.raises(ConfigurationError) as info:
        load(settings)
    assert message in str(info.value)


def test_a_codec_error_names_the_file(load, write):
    """utf-16 without a byte order mark raises a plain UnicodeError, not a UnicodeDecodeError."""
    write("s.csv", "idnumber,name\n1,A\n")
    with pytest.raises(InputError) as info:
        load({"path": "s.csv", "encoding": "utf-16"})
    assert str(info.value).startswith("s.csv line 1: cannot decode as utf-16")


def test_the_wrong_delimiter_is_hinted_at(load, write):
    """A semicolon export read with the default comma: say so, not only 'no idnumber column'."""
    write("s.csv", "idnumber;name\n1;A\n")
    with pytest.raises(InputError) as info:
        load({"path": "s.csv"})
    assert "the header holds ';': is that the delimiter? (delimiter = ';')" in str(info.value)
    assert len(load({"path": "s.csv", "delimiter": ";"}).branch("users")) == 1


def test_rows_of_delimiters_only_are_blank(load, write):
    """Spreadsheets save trailing empty rows as ',,': they hold no record (not 'empty idnumber')."""
    write("s.csv", "idnumber,name\r\n1,A\r\n,\r\n2,B\r\n,,\r\n\r\n")
    users = load({"path": "s.csv"}).branch("users")
    assert sorted(users) == ["1", "2"]
    assert str(users["2"].dss_origin) == "s.csv line 4"
