"""The model: how objects are built from records, what is tracked, and coercion."""

from __future__ import annotations

import pytest

from dss_core import Branch, InputError, Model, Origin, Tree
from dss_core.testing import messages


class Student(Model):
    _lastfirst: str
    homeroom: str = ""
    grade: int = 0
    active: bool = True
    courses: set[str] = set()
    notes: list[str] = []
    _internal: str = ""

    @property
    def name(self) -> str:
        last, first = self._lastfirst.split(", ")
        return f"{first} {last}"

    @property
    def _secret(self) -> str:
        return "hidden"


class Account(Model):
    name: str
    homeroom: str = ""
    grade: int = 0
    active: bool = True
    courses: set[str] = set()
    notes: list[str] = []
    _internal: str = ""


def test_built_by_keyword_with_idnumber_first() -> None:
    s = Student(idnumber="11111", _lastfirst="Doe, Jo", homeroom="10B")
    assert s.idnumber == "11111"
    assert s.homeroom == "10B"
    positional = Student("22222", _lastfirst="Roe, Al")
    assert positional.idnumber == "22222"


def test_non_str_idnumber_becomes_str() -> None:
    s = Student(idnumber=42, _lastfirst="Doe, Jo")
    assert s.idnumber == "42"
    assert isinstance(s.idnumber, str)


def test_tracked_are_public_fields_then_public_properties() -> None:
    assert Student.tracked_attributes() == (
        "homeroom", "grade", "active", "courses", "notes", "name")
    s = Student(idnumber="1", _lastfirst="Doe, Jo")
    assert s.values()["name"] == "Jo Doe"
    assert "_lastfirst" not in s.values()
    assert "_secret" not in s.values()
    assert "_internal" not in s.values()


def test_underscore_names_are_never_compared(dss_plugins) -> None:
    class Src(Tree):
        users = Branch(Student)

    class Dst(Tree):
        users = Branch(Account)

    source = Src(plugins=dss_plugins).load_records(
        {"users": [{"idnumber": "1", "_lastfirst": "Doe, Jo", "_internal": "a"}]})
    dest = Dst(plugins=dss_plugins).load_records(
        {"users": [{"idnumber": "1", "name": "Jo Doe", "_internal": "completely different"}]})
    assert source.users["1"]._internal != dest.users["1"]._internal
    assert list(source - dest) == []


def test_lists_and_sets_are_membership_attributes() -> None:
    assert Student.schema().membership == frozenset({"courses", "notes"})


def test_coercion_of_strings_to_declared_types() -> None:
    s = Student(idnumber="1", _lastfirst="Doe, Jo", grade="3", active="yes")
    assert s.grade == 3 and type(s.grade) is int
    assert s.active is True
    assert Student(idnumber="1", _lastfirst="Doe, Jo", active="no").active is False


def test_single_string_becomes_one_element_set() -> None:
    s = Student(idnumber="1", _lastfirst="Doe, Jo", courses="math")
    assert s.courses == {"math"}
    assert Student(idnumber="1", _lastfirst="Doe, Jo", notes="n").notes == ["n"]


@pytest.mark.parametrize("empty", ["", None])
def test_empty_or_none_becomes_empty_set(empty: object) -> None:
    s = Student(idnumber="1", _lastfirst="Doe, Jo", courses=empty)
    assert s.courses == set()


def test_membership_default_is_not_shared_between_objects() -> None:
    a = Student(idnumber="1", _lastfirst="Doe, Jo")
    b = Student(idnumber="2", _lastfirst="Doe, Al")
    a.courses.add("math")
    assert b.courses == set()


def test_bad_value_names_idnumber_field_and_origin() -> None:
    origin = Origin("students.csv", 7, "line")
    with pytest.raises(InputError) as info:
        Student(idnumber="11111", _lastfirst="Doe, Jo", grade="abc", _origin=origin)
    text = str(info.value)
    assert "11111" in text
    assert "grade" in text
    assert "students.csv line 7" in text
    assert info.value.where is origin


def test_bad_bool_value_raises_input_error() -> None:
    with pytest.raises(InputError, match="active"):
        Student(idnumber="1", _lastfirst="Doe, Jo", active="maybe")


def test_missing_required_field_raises_input_error() -> None:
    with pytest.raises(InputError) as info:
        Student(idnumber="11111", homeroom="10B")
    assert "_lastfirst" in str(info.value)
    assert "11111" in str(info.value)


def test_unknown_field_raises_input_error() -> None:
    with pytest.raises(InputError, match="nosuchfield"):
        Student(idnumber="1", _lastfirst="Doe, Jo", nosuchfield="x")


def test_repr_names_tree_branch_and_idnumber_once_stored(dss_plugins) -> None:
    class Sis(Tree):
        users = Branch(Student)

    loose = Student(idnumber="11111", _lastfirst="Doe, Jo")
    assert "sis" not in repr(loose)
    tree = Sis(plugins=dss_plugins).load_records(
        {"users": [{"idnumber": "11111", "_lastfirst": "Doe, Jo"}]})
    text = repr(tree.users["11111"])
    assert "sis.users" in text
    assert "11111" in text


def test_equal_objects_compare_tracked_values_only() -> None:
    a = Student(idnumber="1", _lastfirst="Doe, Jo", _internal="x")
    b = Student(idnumber="1", _lastfirst="Doe, Jo", _internal="y")
    c = Student(idnumber="1", _lastfirst="Doe, Al")
    assert a == b
    assert a != c


def test_derived_property_change_is_an_update_of_name(dss_plugins) -> None:
    class Src(Tree):
        users = Branch(Student)

    class Dst(Tree):
        users = Branch(Account)

    source = Src(plugins=dss_plugins).load_records(
        {"users": [{"idnumber": "11111", "_lastfirst": "Name, New"}]})
    dest = Dst(plugins=dss_plugins).load_records(
        {"users": [{"idnumber": "11111", "name": "Old Name"}]})
    assert messages(source - dest) == [
        "update_name(idnumber='11111', attribute='name', value='New Name')"]


def test_generated_builder_matches_keyword_construction_and_keeps_errors(dss_tree):
    import pytest

    from dss_core import Branch, InputError, Model, Tree

    class M(Model):
        n: int
        flag: bool = False
        g: set[str]
        s: str = "x"
        items: list[int] = []

    class T(Tree):
        b = Branch(M)

    record = {"idnumber": "1", "n": "3", "flag": "yes", "g": ["a", "b"], "items": ["1", "2"],
              "not_a_field": "ignored"}
    built = dss_tree(T, b=[record]).b["1"]
    direct = M(idnumber="1", n="3", flag="yes", g=["a", "b"], items=["1", "2"])
    assert built == direct and built.values() == {"n": 3, "flag": True, "g": {"a", "b"},
                                                  "s": "x", "items": [1, 2]}
    other = dss_tree(T, b=[{"idnumber": "2", "n": 1}]).b["2"]
    other.items.append(5)  # mutable defaults are copied per object
    assert M.schema().fields["items"].default == [] and other.g == set()
    with pytest.raises(InputError, match=r"t\.b record 1: idnumber '3': field 'n': cannot read 'x'"):
        dss_tree(T, b=[{"idnumber": "3", "n": "x"}])
    with pytest.raises(InputError, match=r"idnumber '4': no value for field 'n'"):
        dss_tree(T, b=[{"idnumber": "4"}])
