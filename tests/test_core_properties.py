"""Property-based tests: applying the plan converges, the diff is deterministic and complete."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dss_core import ADD, NEW, OLD, REMOVE, UPDATE, Branch, Datastore, Model, Tree
from dss_core.plugins import builtin_plugin_manager
from dss_core.testing import MemoryDatabase, check_conformance, memory_tree


class Item(Model):
    title: str = ""
    tags: set[str] = set()


class Team(Model):
    members: set[str] = set()


IDS = st.sampled_from("abcdef")
VALUES = st.tuples(st.text(alphabet="xy", max_size=2), st.frozensets(st.sampled_from("pqrs")))
SIDE = st.dictionaries(IDS, VALUES, max_size=6)
TEAMS = st.dictionaries(IDS, st.frozensets(IDS), max_size=4)
FAST = settings(max_examples=50, deadline=None)


def _records(side: dict[str, tuple[str, frozenset[str]]]) -> list[dict[str, Any]]:
    return [{"idnumber": i, "title": t, "tags": sorted(tags)} for i, (t, tags) in side.items()]


def _team_records(teams: dict[str, frozenset[str]]) -> list[dict[str, Any]]:
    return [{"idnumber": i, "members": sorted(m)} for i, m in teams.items()]


def _source_cls(items: list[dict[str, Any]], teams: list[dict[str, Any]]) -> type[Tree]:
    return type("Src", (Tree,), {"name": "src", "items": Branch(Item, items),
                                 "teams": Branch(Team, teams)})


def _dest_db(side: dict[str, tuple[str, frozenset[str]]],
             teams: dict[str, frozenset[str]]) -> MemoryDatabase:
    return MemoryDatabase({
        "items": {i: {"title": t, "tags": set(tags)} for i, (t, tags) in side.items()},
        "teams": {i: {"members": set(m)} for i, m in teams.items()},
    })


@FAST
@given(src=SIDE, dst=SIDE, src_teams=TEAMS, dst_teams=TEAMS)
def test_applying_the_plan_makes_the_destination_equal_the_source(
        src: Any, dst: Any, src_teams: Any, dst_teams: Any) -> None:
    source_cls = _source_cls(_records(src), _team_records(src_teams))
    dest_cls = memory_tree("dst", {"items": Item, "teams": Team}, _dest_db(dst, dst_teams))
    check_conformance(Datastore("prop", source_cls, dest_cls), plugins=builtin_plugin_manager())
    assert dest_cls.database.snapshot() == _dest_db(src, src_teams).snapshot()


def _keys(source_cls: type[Tree], dest_cls: type[Tree], plugins: Any) -> list[str]:
    source = source_cls(plugins=plugins).load()
    dest = dest_cls(plugins=plugins).load()
    return [a.key for a in source - dest]


@FAST
@given(src=SIDE, dst=SIDE, src_teams=TEAMS, dst_teams=TEAMS, seed=st.integers(0, 2**16))
def test_diff_is_deterministic_and_independent_of_record_order(
        src: Any, dst: Any, src_teams: Any, dst_teams: Any, seed: int) -> None:
    plugins = builtin_plugin_manager()
    items, teams = _records(src), _team_records(src_teams)
    dest_cls = memory_tree("dst", {"items": Item, "teams": Team}, _dest_db(dst, dst_teams))
    first = _keys(_source_cls(items, teams), dest_cls, plugins)
    assert _keys(_source_cls(items, teams), dest_cls, plugins) == first
    rnd = random.Random(seed)
    rnd.shuffle(items)
    rnd.shuffle(teams)
    assert _keys(_source_cls(items, teams), dest_cls, plugins) == first
    assert len(set(first)) == len(first)  # no difference is reported twice


@FAST
@given(src=SIDE, dst=SIDE)
def test_action_counts_match_the_set_differences(src: Any, dst: Any) -> None:
    plugins = builtin_plugin_manager()
    source_cls = _source_cls(_records(src), [])
    dest_cls = memory_tree("dst", {"items": Item, "teams": Team}, _dest_db(dst, {}))
    source = source_cls(plugins=plugins).load()
    dest = dest_cls(plugins=plugins).load()
    actions = list(source - dest)
    by_kind: dict[str, list[Any]] = {}
    for a in actions:
        by_kind.setdefault(a.kind, []).append(a)
    both = set(src) & set(dst)
    assert sorted(a.idnumber for a in by_kind.get(NEW, [])) == sorted(set(src) - set(dst))
    assert sorted(a.idnumber for a in by_kind.get(OLD, [])) == sorted(set(dst) - set(src))
    assert sorted(a.idnumber for a in by_kind.get(UPDATE, [])) == sorted(
        i for i in both if src[i][0] != dst[i][0])
    assert sorted((a.idnumber, a.value) for a in by_kind.get(ADD, [])) == sorted(
        (i, t) for i in both for t in src[i][1] - dst[i][1])
    assert sorted((a.idnumber, a.value) for a in by_kind.get(REMOVE, [])) == sorted(
        (i, t) for i in both for t in dst[i][1] - src[i][1])
    assert set(by_kind) <= {NEW, OLD, UPDATE, ADD, REMOVE}
