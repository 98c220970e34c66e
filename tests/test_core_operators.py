"""Operators and their explicit forms: +tree, -tree, a - b, a > b, a >> b."""

from __future__ import annotations

from typing import Any

from dss_core import Branch, Model, Status, Tree
from dss_core.runner import Summary
from dss_core.testing import MemoryDatabase, messages, snapshot


class User(Model):
    name: str
    tags: set[str] = set()


class Group(Model):
    members: set[str] = set()


SRC_USERS = [{"idnumber": "1", "name": "Ann", "tags": ["a"]},
             {"idnumber": "2", "name": "Bob"}]
SRC_GROUPS = [{"idnumber": "g", "members": ["1", "2"]}]


class Src(Tree):
    users = Branch(User, SRC_USERS)
    groups = Branch(Group, SRC_GROUPS)


def _db() -> MemoryDatabase:
    return MemoryDatabase({
        "users": {"1": {"name": "Annie", "tags": {"b"}}, "3": {"name": "Cy", "tags": set()}},
        "groups": {"g": {"members": {"3"}}},
    })


def _pair(dss_plugins: Any, dss_memory_tree: Any) -> tuple[Tree, Tree, type[Tree]]:
    dest_cls = dss_memory_tree("lms", {"users": User, "groups": Group}, _db())
    source = Src(plugins=dss_plugins)
    dest = dest_cls(plugins=dss_plugins)
    return source, dest, dest_cls


EXPECTED = [
    "new_users(idnumber='2')",
    "update_name(idnumber='1', attribute='name', value='Ann')",
    "add_tags_to_users(idnumber='1', attribute='tags', value='a')",
    "remove_tags_from_users(idnumber='1', attribute='tags', value='b')",
    "add_members_to_groups(idnumber='g', attribute='members', value='1')",
    "add_members_to_groups(idnumber='g', attribute='members', value='2')",
    "remove_members_from_groups(idnumber='g', attribute='members', value='3')",
    "old_users(idnumber='3')",
]


def test_pos_imports_every_branch_like_load(dss_plugins) -> None:
    a = Src(plugins=dss_plugins)
    result = +a
    assert result is a
    assert sorted(a.users) == ["1", "2"] and list(a.groups) == ["g"]
    b = Src(plugins=dss_plugins).load()
    assert snapshot(a) == snapshot(b)


def test_pos_twice_does_not_duplicate(dss_plugins) -> None:
    a = Src(plugins=dss_plugins)
    +a  # noqa: B018
    +a  # noqa: B018  (would be a duplicate-id error if the old objects were kept)
    assert len(a.users) == 2


def test_neg_clears_like_clear(dss_plugins) -> None:
    a = Src(plugins=dss_plugins).load()
    b = Src(plugins=dss_plugins).load()
    assert -a is a
    assert b.clear() is b
    assert len(a.users) == len(a.groups) == 0
    assert snapshot(a) == snapshot(b) == {"users": {}, "groups": {}}


def test_sub_is_a_generator_of_actions_like_diff(dss_plugins, dss_memory_tree) -> None:
    source, dest, _ = _pair(dss_plugins, dss_memory_tree)
    +source  # noqa: B018
    +dest  # noqa: B018
    gen = source - dest
    assert iter(gen) is gen and next(gen).method == "new_users"
    assert messages(source - dest) == messages(source.diff(dest)) == EXPECTED


def test_gt_prints_each_message_and_changes_nothing(dss_plugins, dss_memory_tree, capsys) -> None:
    source, dest, dest_cls = _pair(dss_plugins, dss_memory_tree)
    source.load()
    dest.load()
    before = dest_cls.database.snapshot()
    summary = source > dest
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line in EXPECTED]
    assert lines == EXPECTED
    assert isinstance(summary, Summary)
    assert [r.status for r in summary.results] == [Status.PLANNED] * len(EXPECTED)
    assert dest_cls.recorded == []
    assert dest_cls.database.snapshot() == before

    explicit = source.plan(dest)
    out2 = capsys.readouterr().out
    assert [line for line in out2.splitlines() if line in EXPECTED] == EXPECTED
    assert [r.action.message for r in explicit.results] == [
        r.action.message for r in summary.results]
    assert dest_cls.database.snapshot() == before


def test_rshift_hands_actions_to_the_handler(dss_plugins, dss_memory_tree) -> None:
    source, dest, dest_cls = _pair(dss_plugins, dss_memory_tree)
    source.load()
    dest.load()
    summary = source >> dest
    assert messages(dest_cls.recorded) == EXPECTED
    assert [r.status for r in summary.results] == [Status.SUCCESS] * len(EXPECTED)
    assert summary.exit_code == 0
    db = dest_cls.database.snapshot()
    assert db["users"] == {"1": {"name": "Ann", "tags": {"a"}}, "2": {"name": "Bob", "tags": set()}}
    assert db["groups"] == {"g": {"members": {"1", "2"}}}
    dest.load()
    assert list(source - dest) == []


def test_apply_has_the_same_outcome_as_rshift(dss_plugins, dss_memory_tree) -> None:
    outcomes = []
    for use_operator in (True, False):
        source, dest, dest_cls = _pair(dss_plugins, dss_memory_tree)
        source.load()
        dest.load()
        summary = (source >> dest) if use_operator else source.apply(dest)
        outcomes.append((messages(dest_cls.recorded), [r.status for r in summary.results],
                         dest_cls.database.snapshot()))
    assert outcomes[0] == outcomes[1]
