"""Regression tests from a user's review: inputs and settings that used to break dss."""

from __future__ import annotations

from dss_core import Branch, Model, Tree
from dss_core.testing import messages


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
