"""Regression tests from a user's review: inputs and settings that used to break dss."""

from __future__ import annotations

from typing import Any

import pytest

from dss_core import Branch, ConfigurationError, Handler, InputError, Model, Tree, hookimpl
from dss_core.config import Config
from dss_core.plugins import builtin_plugin_manager
from dss_core.runner import Run, execute
from dss_core.store import Store
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


class Person(Model):
    name: str


class Team(Model):
    members: set[str]

    @property
    def size(self) -> int:
        if "broken" in self.members:
            raise ValueError("cannot count a broken team")
        return len(self.members)


class People(Tree):
    users = Branch(Person, importer=[{"idnumber": "1", "name": "Ann"}])
    groups = Branch(Team, importer=[{"idnumber": "t", "members": ["broken"]}])


class Recording(Handler):
    log: list[str] = []

    def begin(self) -> None:
        self.log.append("begin")

    def default(self, action: Any) -> None:
        self.log.append(action.message)

    def end(self, failed: bool) -> None:
        self.log.append(f"end failed={failed}")


class Accounts(Tree):
    handler = Recording
    users = Branch(Person, importer=[])
    groups = Branch(Team, importer=[{"idnumber": "t", "members": []}])


def test_bad_data_in_a_later_branch_applies_nothing() -> None:
    """A property failing in branch 2 must not leave branch 1's actions applied (and committed)."""
    Recording.log = []
    source, dest = +People(), +Accounts()
    with pytest.raises(InputError, match="cannot count a broken team"):
        source >> dest
    assert Recording.log == []


def test_a_bad_mode_in_a_later_branch_fails_before_anything_is_applied() -> None:
    Recording.log = []
    config = Config({"trees": {"accounts": {"groups": {"mode": "bogus"}}}})
    source, dest = People(config=config), Accounts(config=config)
    with pytest.raises(ConfigurationError, match="mode must be one of"):
        execute(Run.create("apply", source.plugins, config), source, [dest])
    assert Recording.log == []


def test_end_hears_of_a_run_broken_by_an_exception() -> None:
    """A reporter raising mid-run: end(failed=True), so a transactional handler rolls back."""
    Recording.log = []

    class Boom:
        @hookimpl
        def dss_report_result(self, result: Any) -> None:
            raise RuntimeError("reporter broke")

    pm = builtin_plugin_manager()
    pm.register(Boom())
    source = Accounts(plugins=pm).load_records({"users": [{"idnumber": "1", "name": "A"}]})
    dest = Accounts(plugins=pm, store=Store())
    with pytest.raises(RuntimeError):
        source.apply(dest)
    assert Recording.log[-1] == "end failed=True"


def test_check_finds_a_bad_on_duplicate_setting(dss, sync_files, tmp_path):
    sync_files(SOURCE, DEST)
    config = tmp_path / "dss.toml"
    config.write_text(config.read_text().replace(
        'path = "export.json"', 'path = "export.json"\non_duplicate = "x"'))
    result = dss("check", "testsync")
    assert result.code == 2, result
    assert result.err.strip() == ("dss: error: dss.toml: trees.src.users.on_duplicate: 'x' is not "
                                  "a valid on_duplicate (Input should be 'error', 'first' or 'last')")


class Club(Model):
    members: set[str]
    ranks: list[int] = []


class ClubsA(Tree):
    groups = Branch(Club, importer=[])


class ClubsB(Tree):
    groups = Branch(Club, importer=[])


def test_none_elements_are_no_members() -> None:
    """A NULL member (an outer join's empty side) must not become the member 'None'."""
    a = ClubsA().load_records({"groups": [{"idnumber": "g", "members": ["a", None]},
                                          {"idnumber": "h", "members": (x for x in [None])}]})
    b = ClubsB().load_records({"groups": [{"idnumber": "g", "members": ["a"], "ranks": [None, 2]},
                                          {"idnumber": "h", "members": {None}}]})
    assert a.groups["g"].members == {"a"} and a.groups["h"].members == set()
    assert b.groups["g"].ranks == [2] and b.groups["h"].members == set()
    assert Club(idnumber="x", members=[None]).members == set()
    assert messages(a - b) == [
        "remove_ranks_from_groups(idnumber='g', attribute='ranks', value=2)"]


@pytest.mark.parametrize(("text", "what"), [
    ('[trees]\nsrc = "postgresql://u:pw@db/x"\n', "`trees.src` must be a table"),
    ("trees = 3\n", "`trees` must be a table"),
])
def test_a_tree_setting_that_is_no_table_is_one_line(dss, sync_files, tmp_path, text, what):
    sync_files(SOURCE, DEST)
    (tmp_path / "dss.toml").write_text(text)
    result = dss("plan", "testsync")
    assert result.code == 2, result
    assert what in result.err and "dss.toml" in result.err, result
    assert "AttributeError" not in result.err and "pw" not in result.err


def test_dss_show_names_the_object_whose_property_fails() -> None:
    from dss_core.inspect import show_object
    from dss_core.trees import Datastore

    class Session:
        config = Config()
        plugins = builtin_plugin_manager()

        class registry:  # noqa: N801
            trees: dict[str, Any] = {}

            @staticmethod
            def datastore(name: Any, config: Any) -> Datastore:
                return Datastore("teams", People, [Accounts])

    with pytest.raises(InputError) as info:
        show_object(Session(), None, "groups", "t")
    assert str(info.value) == ("people.groups record 1: people.groups idnumber 't': cannot compute "
                               "its attributes: ValueError: cannot count a broken team")
