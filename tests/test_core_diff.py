"""The diff: one test per row of the design's action table, the fields, the order, the modes."""

from __future__ import annotations

import random
from typing import Any

import pytest

from dss_core import ADD, ERROR, NEW, OLD, REMOVE, UPDATE, Branch, Config, Model, Tree
from dss_core.testing import messages


class Student(Model):
    _lastfirst: str
    grade: int = 0
    courses: set[str] = set()

    @property
    def name(self) -> str:
        last, first = self._lastfirst.split(", ")
        return f"{first} {last}"


class Account(Model):
    name: str
    grade: int = 0
    courses: set[str] = set()


class Cohort(Model):
    members: set[str] = set()


class Sis(Tree):
    users = Branch(Student)
    groups = Branch(Cohort)


class Lms(Tree):
    users = Branch(Account)
    groups = Branch(Cohort)


def st(idnumber: str, lastfirst: str = "Doe, Jo", **kw: Any) -> dict[str, Any]:
    return {"idnumber": idnumber, "_lastfirst": lastfirst, **kw}


def ac(idnumber: str, name: str = "Jo Doe", **kw: Any) -> dict[str, Any]:
    return {"idnumber": idnumber, "name": name, **kw}


def only(actions: list[Any]) -> Any:
    assert len(actions) == 1, messages(actions)
    return actions[0]


# -- one test per row of the action table -------------------------------------


def test_new_branch_carries_the_source_object(dss_tree) -> None:
    source = dss_tree(Sis, users=[st("11111"), st("22222", "Roe, Al")])
    dest = dss_tree(Lms, users=[ac("11111")])
    a = only(list(source - dest))
    assert (a.kind, a.method, a.idnumber, a.branch) == (NEW, "new_users", "22222", "users")
    assert a.source is source.users["22222"]
    assert a.dest is None
    assert (a.attribute, a.value, a.old_value) == (None, None, None)
    assert a.tree == "lms"
    assert a.message == "new_users(idnumber='22222')"
    assert a.origin is source.users["22222"].dss_origin
    assert str(a.origin) == "sis.users record 2"
    assert a.key == "lms:users:new_users:22222"


def test_update_attribute_carries_old_and_new_value_and_both_objects(dss_tree) -> None:
    source = dss_tree(Sis, users=[st("11111", "Name, New", grade="10")])
    dest = dss_tree(Lms, users=[ac("11111", "Old Name", grade="10")])
    a = only(list(source - dest))
    assert (a.kind, a.method, a.branch, a.idnumber) == (UPDATE, "update_name", "users", "11111")
    assert (a.attribute, a.value, a.old_value) == ("name", "New Name", "Old Name")
    assert a.source is source.users["11111"]
    assert a.dest is dest.users["11111"]
    assert a.message == "update_name(idnumber='11111', attribute='name', value='New Name')"
    assert a.origin is source.users["11111"].dss_origin
    assert a.key == "lms:users:update_name:11111"


def test_update_of_int_attribute(dss_tree) -> None:
    source = dss_tree(Sis, users=[st("1", grade="11")])
    dest = dss_tree(Lms, users=[ac("1", grade=10)])
    a = only(list(source - dest))
    assert (a.method, a.value, a.old_value) == ("update_grade", 11, 10)
    assert a.message == "update_grade(idnumber='1', attribute='grade', value=11)"


def test_add_attribute_to_branch_carries_the_element(dss_tree) -> None:
    source = dss_tree(Sis, groups=[{"idnumber": "math", "members": ["1", "2"]}])
    dest = dss_tree(Lms, groups=[{"idnumber": "math", "members": ["1"]}])
    a = only(list(source - dest))
    assert (a.kind, a.method, a.branch, a.idnumber) == (
        ADD, "add_members_to_groups", "groups", "math")
    assert (a.attribute, a.value, a.old_value) == ("members", "2", None)
    assert a.source is source.groups["math"] and a.dest is dest.groups["math"]
    assert a.message == "add_members_to_groups(idnumber='math', attribute='members', value='2')"
    assert a.key == "lms:groups:add_members_to_groups:math:'2'"


def test_remove_attribute_from_branch_carries_the_element(dss_tree) -> None:
    source = dss_tree(Sis, groups=[{"idnumber": "math", "members": ["1"]}])
    dest = dss_tree(Lms, groups=[{"idnumber": "math", "members": ["1", "9"]}])
    a = only(list(source - dest))
    assert (a.kind, a.method, a.branch, a.idnumber) == (
        REMOVE, "remove_members_from_groups", "groups", "math")
    assert (a.attribute, a.value) == ("members", "9")
    assert a.source is source.groups["math"] and a.dest is dest.groups["math"]
    assert a.message == (
        "remove_members_from_groups(idnumber='math', attribute='members', value='9')")


def test_each_element_is_its_own_action_sorted(dss_tree) -> None:
    source = dss_tree(Sis, users=[st("1", courses=["c", "a", "x"])])
    dest = dss_tree(Lms, users=[ac("1", courses=["x", "z", "b"])])
    assert [(a.method, a.value) for a in source - dest] == [
        ("add_courses_to_users", "a"), ("add_courses_to_users", "c"),
        ("remove_courses_from_users", "b"), ("remove_courses_from_users", "z")]


def test_old_branch_carries_the_destination_object(dss_tree) -> None:
    source = dss_tree(Sis, users=[st("1")])
    dest = dss_tree(Lms, users=[ac("1"), ac("99", "Gone Person")])
    a = only(list(source - dest))
    assert (a.kind, a.method, a.idnumber, a.branch) == (OLD, "old_users", "99", "users")
    assert a.dest is dest.users["99"]
    assert a.source is None
    assert a.message == "old_users(idnumber='99')"
    assert a.origin is dest.users["99"].dss_origin
    assert str(a.origin) == "lms.users record 2"


def test_err_no_attr_attribute_missing_in_destination(dss_tree) -> None:
    class NoGrade(Model):
        name: str
        courses: set[str] = set()

    class Dst(Tree):
        name = "lms"
        users = Branch(NoGrade)
        groups = Branch(Cohort)

    source = dss_tree(Sis, users=[st("1", grade=5)])
    dest = dss_tree(Dst, users=[ac("1")])
    a = only(list(source - dest))
    assert (a.kind, a.method, a.branch, a.attribute, a.idnumber) == (
        ERROR, "err_no_attr", "users", "grade", None)
    assert "lms.users" in a.error and "grade" in a.error
    assert a.message.startswith("err_no_attr(branch='users', attribute='grade', message=")


def test_err_no_attr_attribute_missing_in_source(dss_tree) -> None:
    class Extra(Model):
        name: str
        grade: int = 0
        courses: set[str] = set()
        email: str = ""

    class Dst(Tree):
        name = "lms"
        users = Branch(Extra)
        groups = Branch(Cohort)

    source = dss_tree(Sis, users=[st("1")])
    dest = dss_tree(Dst, users=[ac("1", email="jo@example.org")])
    a = only(list(source - dest))
    assert (a.method, a.attribute) == ("err_no_attr", "email")
    assert "sis.users" in a.error


def test_err_no_attr_is_reported_even_without_objects(dss_tree) -> None:
    class NoGrade(Model):
        name: str
        courses: set[str] = set()

    class Dst(Tree):
        users = Branch(NoGrade)
        groups = Branch(Cohort)

    assert messages(dss_tree(Sis) - dss_tree(Dst))[0].startswith("err_no_attr(")


def test_err_integrity_type_mismatch_at_class_level(dss_tree) -> None:
    class StrGrade(Model):
        name: str
        grade: str = ""
        courses: set[str] = set()

    class Dst(Tree):
        name = "lms"
        users = Branch(StrGrade)
        groups = Branch(Cohort)

    source = dss_tree(Sis, users=[st("1", grade=5)])
    dest = dss_tree(Dst, users=[ac("1", grade="five")])
    a = only(list(source - dest))
    assert (a.kind, a.method, a.attribute, a.idnumber) == (ERROR, "err_integrity", "grade", None)
    assert "int" in a.error and "str" in a.error


def test_err_integrity_scalar_versus_set(dss_tree) -> None:
    class ScalarCourses(Model):
        name: str
        grade: int = 0
        courses: str = ""

    class Dst(Tree):
        users = Branch(ScalarCourses)
        groups = Branch(Cohort)

    a = only(list(dss_tree(Sis) - dss_tree(Dst)))
    assert (a.method, a.attribute) == ("err_integrity", "courses")


def test_err_integrity_per_value_for_unannotated_properties(dss_tree) -> None:
    class Loose(Model):
        _room: str

        @property
        def room(self):  # no annotation: its type is only known per value
            return int(self._room) if self._room.isdigit() else self._room

    class Typed(Model):
        room: str

    class Src(Tree):
        rooms = Branch(Loose)

    class Dst(Tree):
        rooms = Branch(Typed)

    source = dss_tree(Src, rooms=[{"idnumber": "a", "_room": "101"},
                                  {"idnumber": "b", "_room": "lab"}])
    dest = dss_tree(Dst, rooms=[{"idnumber": "a", "room": "101"},
                                {"idnumber": "b", "room": "gym"}])
    actions = list(source - dest)
    assert [(a.method, a.idnumber) for a in actions] == [
        ("err_integrity", "a"), ("update_room", "b")]
    err = actions[0]
    assert (err.attribute, err.value, err.old_value) == ("room", 101, "101")
    assert err.source is source.rooms["a"] and err.dest is dest.rooms["a"]
    assert "int" in err.error and "str" in err.error


def test_numbers_are_comparable_across_int_and_float(dss_tree) -> None:
    class F(Model):
        grade: float = 0.0

    class I(Model):  # noqa: E742
        grade: int = 0

    class Src(Tree):
        users = Branch(F)

    class Dst(Tree):
        users = Branch(I)

    source = dss_tree(Src, users=[{"idnumber": "1", "grade": "2.5"}])
    dest = dss_tree(Dst, users=[{"idnumber": "1", "grade": "2"}])
    assert [(a.method, a.value) for a in source - dest] == [("update_grade", 2.5)]


def test_equal_trees_give_no_actions(dss_tree) -> None:
    source = dss_tree(Sis, users=[st("1", courses="a")], groups=[{"idnumber": "g"}])
    dest = dss_tree(Lms, users=[ac("1", courses="a")], groups=[{"idnumber": "g"}])
    assert list(source - dest) == []


def test_diff_is_a_generator_and_checks_the_mirror(dss_tree) -> None:
    from dss_core import ConfigurationError

    class Other(Tree):
        users = Branch(Account)

    gen = dss_tree(Sis) - dss_tree(Lms)
    assert iter(gen) is gen
    with pytest.raises(ConfigurationError):
        list(dss_tree(Sis) - dss_tree(Other))


# -- order ---------------------------------------------------------------------

SRC_USERS = [st("3"), st("1", "Smith, Ann", courses=["b", "a"]), st("5"), st("7")]
DST_USERS = [ac("1", courses=["a", "c"]), ac("2"), ac("4"), ac("7")]
SRC_GROUPS = [{"idnumber": "g2", "members": ["1"]}, {"idnumber": "g1", "members": ["3", "1"]}]
DST_GROUPS = [{"idnumber": "g1", "members": ["2"]}, {"idnumber": "g0"}]


def test_order_creations_in_branch_order_retirements_reversed(dss_tree) -> None:
    source = dss_tree(Sis, users=SRC_USERS, groups=SRC_GROUPS)
    dest = dss_tree(Lms, users=DST_USERS, groups=DST_GROUPS)
    assert messages(source - dest) == [
        "new_users(idnumber='3')",
        "new_users(idnumber='5')",
        "update_name(idnumber='1', attribute='name', value='Ann Smith')",
        "add_courses_to_users(idnumber='1', attribute='courses', value='b')",
        "remove_courses_from_users(idnumber='1', attribute='courses', value='c')",
        "new_groups(idnumber='g2')",
        "add_members_to_groups(idnumber='g1', attribute='members', value='1')",
        "add_members_to_groups(idnumber='g1', attribute='members', value='3')",
        "remove_members_from_groups(idnumber='g1', attribute='members', value='2')",
        "old_groups(idnumber='g0')",
        "old_users(idnumber='2')",
        "old_users(idnumber='4')",
    ]


def test_diff_is_deterministic(dss_tree) -> None:
    runs = [messages(dss_tree(Sis, users=SRC_USERS, groups=SRC_GROUPS)
                     - dss_tree(Lms, users=DST_USERS, groups=DST_GROUPS)) for _ in range(2)]
    assert runs[0] == runs[1]
    assert len(runs[0]) == 12


@pytest.mark.parametrize("seed", range(5))
def test_diff_does_not_depend_on_record_order(dss_tree, seed: int) -> None:
    expected = [a.key for a in dss_tree(Sis, users=SRC_USERS, groups=SRC_GROUPS)
                - dss_tree(Lms, users=DST_USERS, groups=DST_GROUPS)]
    rnd = random.Random(seed)
    lists = [list(x) for x in (SRC_USERS, SRC_GROUPS, DST_USERS, DST_GROUPS)]
    for records in lists:
        rnd.shuffle(records)
    su, sg, du, dg = lists
    got = [a.key for a in dss_tree(Sis, users=su, groups=sg) - dss_tree(Lms, users=du, groups=dg)]
    assert got == expected


def test_declared_order_decides_the_branch_order(dss_tree) -> None:
    class GroupsFirst(Sis):
        name = "sis"
        order = ("groups", "users")

    class GroupsFirstLms(Lms):
        name = "lms"
        order = ("groups", "users")

    source = dss_tree(GroupsFirst, users=[st("1")], groups=[{"idnumber": "g"}])
    dest = dss_tree(GroupsFirstLms, users=[ac("9")], groups=[{"idnumber": "h"}])
    assert messages(source - dest) == [
        "new_groups(idnumber='g')", "new_users(idnumber='1')",
        "old_users(idnumber='9')", "old_groups(idnumber='h')"]


# -- sync modes ----------------------------------------------------------------

MODE_EXPECTED = {
    "full": {"new_users", "update_name", "add_courses_to_users", "remove_courses_from_users",
             "old_users"},
    "create-only": {"new_users"},
    "update-only": {"update_name", "add_courses_to_users", "remove_courses_from_users"},
    "no-retire": {"new_users", "update_name", "add_courses_to_users",
                  "remove_courses_from_users"},
}
MODE_SRC = [st("1", "New, Name", courses=["a"]), st("2"), st("5", courses=["x"])]
MODE_DST = [ac("1", "Old Name", courses=["b"]), ac("3"), ac("5")]


@pytest.mark.parametrize("mode", sorted(MODE_EXPECTED))
def test_mode_declared_on_the_destination_branch(dss_tree, mode: str) -> None:
    class Dst(Tree):
        name = "lms"
        users = Branch(Account, mode=mode)
        groups = Branch(Cohort)

    source = dss_tree(Sis, users=MODE_SRC, groups=[{"idnumber": "g"}])
    dest = dss_tree(Dst, users=MODE_DST, groups=[{"idnumber": "h"}])
    actions = list(source - dest)
    assert {a.method for a in actions if a.branch == "users"} == MODE_EXPECTED[mode]
    # the other branch keeps the full mode
    assert {a.method for a in actions if a.branch == "groups"} == {"new_groups", "old_groups"}


@pytest.mark.parametrize("mode", sorted(MODE_EXPECTED))
def test_mode_from_configuration(dss_tree, mode: str) -> None:
    config = Config({"trees": {"lms": {"users": {"mode": mode}}}}, environ={})
    source = dss_tree(Sis, users=MODE_SRC, groups=[{"idnumber": "g"}])
    dest = dss_tree(Lms, config=config, users=MODE_DST, groups=[{"idnumber": "h"}])
    actions = list(source - dest)
    assert {a.method for a in actions if a.branch == "users"} == MODE_EXPECTED[mode]
    assert {a.method for a in actions if a.branch == "groups"} == {"new_groups", "old_groups"}


def test_configured_mode_overrides_the_declared_mode(dss_tree) -> None:
    class Dst(Tree):
        name = "lms"
        users = Branch(Account, mode="create-only")
        groups = Branch(Cohort)

    config = Config({"trees": {"lms": {"users": {"mode": "no-retire"}}}}, environ={})
    actions = list(dss_tree(Sis, users=MODE_SRC) - dss_tree(Dst, config=config, users=MODE_DST))
    assert {a.method for a in actions} == MODE_EXPECTED["no-retire"]


def test_bad_configured_mode_is_a_configuration_error(dss_tree) -> None:
    from dss_core import ConfigurationError

    config = Config({"trees": {"lms": {"users": {"mode": "sometimes"}}}}, environ={})
    with pytest.raises(ConfigurationError, match="sometimes"):
        list(dss_tree(Sis) - dss_tree(Lms, config=config))


def test_action_to_dict_is_json_ready(dss_tree) -> None:
    import json

    source = dss_tree(Sis, users=[st("1", courses=["b", "a"])])
    dest = dss_tree(Lms)
    data = only(list(source - dest)).to_dict()
    assert data["method"] == "new_users"
    assert data["origin"] == "sis.users record 1"
    assert json.loads(json.dumps(data)) == data


def test_every_action_of_a_diff_has_its_own_key(dss_tree) -> None:
    class Bare(Model):
        extra: str = ""

    class Dst(Tree):
        users = Branch(Bare)
        groups = Branch(Cohort)

    source = dss_tree(Sis, users=[st("1", courses=["a", "b"])])
    dest = dss_tree(Dst, users=[{"idnumber": "1"}, {"idnumber": "2"}])
    actions = list(source - dest)
    assert [a.method for a in actions].count("err_no_attr") == 4  # grade, courses, name, extra
    keys = [a.key for a in actions]
    assert len(set(keys)) == len(keys), keys


def test_a_failing_derived_property_names_the_object_and_its_origin(dss_tree):
    import pytest

    from dss_core import Branch, InputError, Model, Tree

    class Person(Model):
        _lastfirst: str

        @property
        def name(self) -> str:
            last, first = self._lastfirst.split(", ")
            return f"{first} {last}"

    class Src(Tree):
        users = Branch(Person)

    class Dst(Tree):
        users = Branch(Person)

    good = {"idnumber": "1", "_lastfirst": "Doe, Jo"}
    source = dss_tree(Src, users=[good, {"idnumber": "2", "_lastfirst": "Cher"}])
    dest = dss_tree(Dst, users=[good, {"idnumber": "2", "_lastfirst": "Doe, Al"}])
    with pytest.raises(InputError) as info:
        list(source - dest)
    assert "src.users idnumber '2'" in str(info.value)
    assert "src.users record 2" in str(info.value)
