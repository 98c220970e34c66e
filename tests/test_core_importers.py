"""Importers: the two forms, per-record hooks, running numbers, merging, duplicates, order."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from dss_core import (
    Branch,
    Config,
    ConfigurationError,
    DuplicateIdError,
    Importer,
    InputError,
    Model,
    Origin,
    Record,
    Tree,
)


class User(Model):
    name: str
    department: str = ""
    grade: int = 0


class Enrolled(Model):
    name: str
    courses: set[str] = set()


class Group(Model):
    members: set[str] = set()


def _tree(branch: Branch, plugins: Any, config: Config | None = None, **attrs: Any) -> Tree:
    cls = type("Src", (Tree,), {"name": "src", "users": branch, **attrs})
    return cls(plugins=plugins, config=config).load()


def test_generator_form_readin(dss_plugins) -> None:
    class Gen(Importer):
        def readin(self):
            yield {"idnumber": "1", "name": "Ann"}
            yield {"idnumber": "2", "name": "Bob"}

    tree = _tree(Branch(User, Gen), dss_plugins)
    assert {k: o.name for k, o in tree.users.items()} == {"1": "Ann", "2": "Bob"}


class _Tracking:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.entered = False
        self.exited = False

    def __enter__(self) -> list[dict[str, Any]]:
        self.entered = True
        return self.rows

    def __exit__(self, *exc: object) -> None:
        self.exited = True


def test_reader_form_is_entered_and_exited(dss_plugins) -> None:
    seen: list[_Tracking] = []

    class FromReader(Importer):
        def reader(self):
            cm = _Tracking([{"idnumber": "1", "name": "Ann"}])
            seen.append(cm)
            return cm

    tree = _tree(Branch(User, FromReader), dss_plugins)
    assert tree.users["1"].name == "Ann"
    assert len(seen) == 1
    assert seen[0].entered and seen[0].exited


def test_reader_form_is_exited_when_the_consumer_raises(dss_plugins) -> None:
    seen: list[_Tracking] = []

    class FromReader(Importer):
        def reader(self):
            cm = _Tracking([{"idnumber": "1", "name": "Ann", "grade": "not a number"},
                            {"idnumber": "2", "name": "Bob"}])
            seen.append(cm)
            return cm

    with pytest.raises(InputError) as info:
        _tree(Branch(User, FromReader), dss_plugins)
    # still holding the exception (and its traceback): the reader must already be closed
    assert info.value is not None
    assert seen[0].entered
    assert seen[0].exited


def test_reader_form_with_contextmanager_generator(dss_plugins) -> None:
    events: list[str] = []

    class Session(Importer):
        @contextlib.contextmanager
        def _session(self) -> Iterator[list[dict[str, str]]]:
            events.append("open")
            try:
                yield [{"idnumber": "7", "name": "Cy"}]
            finally:
                events.append("close")

        def reader(self):
            return self._session()

    tree = _tree(Branch(User, Session), dss_plugins)
    assert list(tree.users) == ["7"]
    assert events == ["open", "close"]


def test_filter_out_skips_records(dss_plugins) -> None:
    class Gen(Importer):
        def readin(self):
            return [{"idnumber": "1", "name": "Ann", "department": "withdrawn"},
                    {"idnumber": "2", "name": "Bob"}]

        def filter_out(self, record):
            return record.get("department") == "withdrawn"

    tree = _tree(Branch(User, Gen), dss_plugins)
    assert list(tree.users) == ["2"]


def test_preprocess_rewrites_and_none_drops(dss_plugins) -> None:
    class Gen(Importer):
        def readin(self):
            return [{"idnumber": "1", "name": "ann"}, {"idnumber": "2", "name": "drop me"},
                    {"idnumber": "3", "name": "cy"}]

        def preprocess(self, record):
            if record["name"] == "drop me":
                return None
            record["name"] = record["name"].title()
            return record

    tree = _tree(Branch(User, Gen), dss_plugins)
    assert {k: o.name for k, o in tree.users.items()} == {"1": "Ann", "3": "Cy"}


def test_records_without_idnumber_get_running_numbers(dss_plugins) -> None:
    tree = _tree(Branch(User, [{"name": "Ann"}, {"name": "Bob"}, {"name": "Cy"}]), dss_plugins)
    assert {k: o.name for k, o in tree.users.items()} == {"1": "Ann", "2": "Bob", "3": "Cy"}


def test_same_idnumber_with_sets_merge_into_one_object(dss_plugins) -> None:
    rows = [{"idnumber": "1", "name": "Ann", "courses": "math"},
            {"idnumber": "2", "name": "Bob", "courses": "art"},
            {"idnumber": "1", "name": "Ann", "courses": "art"}]
    tree = _tree(Branch(Enrolled, rows), dss_plugins)
    assert len(tree.users) == 2
    assert tree.users["1"].courses == {"math", "art"}
    assert tree.users["2"].courses == {"art"}


def test_merge_with_conflicting_scalar_is_a_duplicate_error(dss_plugins) -> None:
    rows = [{"idnumber": "1", "name": "Ann", "courses": "math"},
            {"idnumber": "1", "name": "Anne", "courses": "art"}]
    with pytest.raises(DuplicateIdError, match="name"):
        _tree(Branch(Enrolled, rows), dss_plugins)


DUPES = [{"idnumber": "1", "name": "First"}, {"idnumber": "2", "name": "Other"},
         {"idnumber": "1", "name": "Last"}]


def test_duplicate_is_an_error_by_default_naming_both_origins(dss_plugins) -> None:
    with pytest.raises(DuplicateIdError) as info:
        _tree(Branch(User, DUPES), dss_plugins)
    text = str(info.value)
    assert "'1'" in text
    assert "record 1" in text
    assert "record 3" in text


@pytest.mark.parametrize(("policy", "kept"), [("first", "First"), ("last", "Last")])
def test_duplicate_policy_branch_argument(dss_plugins, policy: str, kept: str) -> None:
    tree = _tree(Branch(User, DUPES, on_duplicate=policy), dss_plugins)
    assert tree.users["1"].name == kept
    assert len(tree.users) == 2


@pytest.mark.parametrize(("policy", "kept"), [("first", "First"), ("last", "Last")])
def test_duplicate_policy_setting(dss_plugins, policy: str, kept: str) -> None:
    config = Config({"trees": {"src": {"users": {"on_duplicate": policy}}}}, environ={})
    tree = _tree(Branch(User, DUPES), dss_plugins, config)
    assert tree.users["1"].name == kept


def test_duplicate_policy_setting_overrides_the_declaration(dss_plugins) -> None:
    config = Config({"trees": {"src": {"users": {"on_duplicate": "last"}}}}, environ={})
    tree = _tree(Branch(User, DUPES, on_duplicate="first"), dss_plugins, config)
    assert tree.users["1"].name == "Last"


def test_duplicate_policy_importer_class_attribute(dss_plugins) -> None:
    class Keep(Importer):
        on_duplicate = "last"

        def readin(self):
            return DUPES

    assert _tree(Branch(User, Keep), dss_plugins).users["1"].name == "Last"


def test_unknown_duplicate_policy_is_a_configuration_error(dss_plugins) -> None:
    with pytest.raises(ConfigurationError, match="on_duplicate"):
        _tree(Branch(User, DUPES, on_duplicate="newest"), dss_plugins)


def _groups_from_users(importer: Importer) -> Iterator[dict[str, Any]]:
    users = importer.tree.branch("users")
    for user in users.values():
        yield {"idnumber": user.department, "members": user.idnumber}


USERS = [{"idnumber": "1", "name": "Ann", "department": "math"},
         {"idnumber": "2", "name": "Bob", "department": "art"},
         {"idnumber": "3", "name": "Cy", "department": "math"}]


def test_derived_branch_built_from_already_imported_branch(dss_plugins) -> None:
    class Sis(Tree):
        users = Branch(User, USERS)
        groups = Branch(Group, _groups_from_users)

    tree = Sis(plugins=dss_plugins).load()
    assert tree.branch_order == ["users", "groups"]
    assert {k: g.members for k, g in tree.groups.items()} == {
        "math": {"1", "3"}, "art": {"2"}}


def test_branch_order_matters_for_derived_branches(dss_plugins) -> None:
    class Declared(Tree):
        users = Branch(User, USERS)
        groups = Branch(Group, _groups_from_users)

    class Reversed(Declared):
        order = ("groups", "users")

    good = Declared(plugins=dss_plugins).load()
    bad = Reversed(plugins=dss_plugins).load()
    assert bad.branch_order == ["groups", "users"]
    assert len(good.groups) == 2
    assert len(bad.groups) == 0  # users were not imported yet when groups were derived
    assert len(bad.users) == 3


def test_order_naming_unknown_branch_is_a_configuration_error(dss_plugins) -> None:
    class Bad(Tree):
        order = ("users", "nope")
        users = Branch(User, USERS)

    with pytest.raises(ConfigurationError, match="nope"):
        Bad(plugins=dss_plugins)


def test_every_object_remembers_its_origin(dss_plugins) -> None:
    class Gen(Importer):
        def describe(self):
            return "students.csv"

        def readin(self):
            yield {"idnumber": "1", "name": "Ann"}
            yield Record({"idnumber": "2", "name": "Bob"}, Origin("students.csv", 9, "line"))

    tree = _tree(Branch(User, Gen), dss_plugins)
    first, second = tree.users["1"].dss_origin, tree.users["2"].dss_origin
    assert str(first) == "students.csv record 1"
    assert first.importer == "Gen"
    assert str(second) == "students.csv line 9"
    assert second.importer == "Gen"


def test_input_error_from_importer_names_its_origin(dss_plugins) -> None:
    rows = [{"idnumber": "1", "name": "Ann"}, {"idnumber": "2", "name": "Bob", "grade": "x"}]
    with pytest.raises(InputError) as info:
        _tree(Branch(User, rows), dss_plugins)
    assert "record 2" in str(info.value)
    assert "grade" in str(info.value)


def test_empty_idnumber_is_an_input_error(dss_plugins) -> None:
    with pytest.raises(InputError, match="empty idnumber"):
        _tree(Branch(User, [{"idnumber": "", "name": "Ann"}]), dss_plugins)


def test_importer_without_either_form_is_a_configuration_error(dss_plugins) -> None:
    class Nothing(Importer):
        pass

    with pytest.raises(ConfigurationError, match="neither"):
        _tree(Branch(User, Nothing), dss_plugins)


def test_importer_named_by_registered_name(dss_plugins) -> None:
    from dss_core import GeneratorImporter, hookimpl

    class Named(GeneratorImporter):
        name = "two-users"
        source = ({"idnumber": "1", "name": "Ann"}, {"idnumber": "2", "name": "Bob"})

    class Registers:
        @hookimpl
        def dss_importers(self):
            return [Named]

    dss_plugins.register(Registers())
    tree = _tree(Branch(User, "two-users"), dss_plugins)
    assert sorted(tree.users) == ["1", "2"]
    with pytest.raises(ConfigurationError, match="nosuch"):
        _tree(Branch(User, "nosuch"), dss_plugins)



def test_literal_records_follow_the_configured_duplicate_policy(dss_tree) -> None:
    class Src(Tree):
        users = Branch(User)

    config = Config({"trees": {"src": {"users": {"on_duplicate": "last"}}}}, environ={})
    assert dss_tree(Src, config=config, users=DUPES).users["1"].name == "Last"
    with pytest.raises(DuplicateIdError):
        dss_tree(Src, users=DUPES)


def test_literal_records_still_run_derived_branches(dss_tree):
    from dss_core import Branch, Importer, Model, Tree

    class Person(Model):
        homeroom: str

    class Group(Model):
        members: set[str]

    class FromFile(Importer):
        def readin(self):
            raise AssertionError("a non-derived importer must not run for literal records")

    class Cohorts(Importer):
        derived = True

        def readin(self):
            for p in self.tree.branch("users").values():
                yield {"idnumber": p.homeroom, "members": p.idnumber}

    class Sis(Tree):
        users = Branch(Person, importer=FromFile)
        groups = Branch(Group, importer=Cohorts)
        extra = Branch(Group, importer=FromFile)

    class Fn(Tree):
        users = Branch(Person, importer=FromFile)
        groups = Branch(Group, importer=lambda imp: [{"idnumber": "g", "members": "1"}])
        extra = Branch(Group, importer=FromFile)

    sis = dss_tree(Sis, users=[{"idnumber": "1", "homeroom": "10B"},
                               {"idnumber": "2", "homeroom": "10B"}])
    assert sis.groups["10B"].members == {"1", "2"}
    assert len(sis.extra) == 0
    assert dss_tree(Fn, users=[]).groups["g"].members == {"1"}
    # given records win over the derived importer
    assert list(dss_tree(Sis, users=[], groups=[{"idnumber": "x"}]).groups) == ["x"]
