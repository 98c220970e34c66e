"""Regression tests from a user's review: inputs and settings that used to break dss."""

from __future__ import annotations

from dss_core import Branch, Model, Tree
from dss_core.testing import messages

# the data of the installed test plugin (tests/plugins/dss-testplugin): one new user, one rename
SOURCE = {"users": [{"idnumber": "1", "_lastfirst": "Doe, Jane", "department": "math"},
                    {"idnumber": "2", "_lastfirst": "Roe, Rick", "department": "math"}]}
DEST = {"users": [{"idnumber": "1", "name": "Jane Doe", "department": "math"}],
        "groups": [{"idnumber": "math", "members": ["1"]}]}


class Marker(Model):
    """A model with no field: only its idnumber matters."""


class MarkersA(Tree):
    flags = Branch(Marker, importer=[{"idnumber": "1"}, {"idnumber": "2"}])


class MarkersB(Tree):
    flags = Branch(Marker, importer=[{"idnumber": "2"}, {"idnumber": "3"}])


def test_a_model_with_no_field_imports_and_diffs() -> None:
    a, b = +MarkersA(), +MarkersB()
    assert sorted(a.flags) == ["1", "2"]
    assert messages(a - b) == ["new_flags(idnumber='1')", "old_flags(idnumber='3')"]


def test_an_unwritable_report_is_one_line_before_anything_is_applied(dss, sync_files, tmp_path):
    _, dst = sync_files(SOURCE, DEST)
    before = dst.read_text()
    result = dss("run", "testsync", "--report", str(tmp_path / "missing" / "report.json"))
    assert result.code == 2, result
    assert result.err.strip().count("\n") == 0, result
    assert "cannot write the report" in result.err and "missing" in result.err, result
    assert "Traceback" not in result.err
    assert dst.read_text() == before  # nothing applied
    assert result.out == ""  # nothing imported or planned either
