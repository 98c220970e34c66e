"""The deletion and member-loss limits and model errors, as rules over any data (hypothesis).

Through the API (``source >> dest`` on an in-memory destination): a run either
applies everything or, when a limit trips, nothing at all.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dss_core import Branch, ConfigurationError, Model, Tree
from dss_core.errors import GateError
from dss_core.gates import Allowances, check_source
from dss_core.plugins import builtin_plugin_manager
from dss_core.state import SourceSnapshot
from dss_core.testing import MemoryDatabase, memory_tree


class Item(Model):
    title: str = ""


class Team(Model):
    members: set[str] = set()


FAST = settings(max_examples=60, deadline=None)


def _source(items: list[str], teams: dict[str, set[str]]) -> Tree:
    cls = type("Src", (Tree,), {
        "name": "src",
        "items": Branch(Item, [{"idnumber": i} for i in items]),
        "teams": Branch(Team, [{"idnumber": t, "members": sorted(m)} for t, m in teams.items()])})
    return cls(plugins=builtin_plugin_manager()).load()


def _dest(items: list[str], teams: dict[str, set[str]]) -> tuple[Tree, MemoryDatabase]:
    db = MemoryDatabase({"items": {i: {"title": ""} for i in items},
                         "teams": {t: {"members": set(m)} for t, m in teams.items()}})
    cls = memory_tree("dst", {"items": Item, "teams": Team}, db)
    return cls(plugins=builtin_plugin_manager()).load(), db


@FAST
@given(size=st.integers(0, 60), kept=st.integers(0, 60))
def test_a_run_retires_at_most_the_limit_or_nothing(size: int, kept: int) -> None:
    kept = min(kept, size)
    ids = [f"u{i}" for i in range(size)]
    source = _source(ids[:kept], {})
    dest, db = _dest(ids, {})
    before = db.snapshot()
    retiring = size - kept
    try:
        source >> dest
    except GateError as exc:
        assert db.snapshot() == before  # nothing applied at all
        assert retiring > 5 and retiring / size > 0.10
        assert exc.trips[0].startswith(f"dst.items: {retiring:,} of {size:,} objects")
    else:
        assert retiring <= 5 or retiring / size <= 0.10
        assert set(db.rows("items")) == set(ids[:kept])


@FAST
@given(members=st.integers(0, 30), kept=st.integers(0, 30), allowed=st.integers(0, 30))
def test_a_set_loses_at_most_the_limit_or_nothing(members: int, kept: int, allowed: int) -> None:
    kept = min(kept, members)
    everyone = {f"m{i}" for i in range(members)}
    staying = set(sorted(everyone)[:kept])
    source = _source([], {"t": staying})
    dest, db = _dest([], {"t": everyone})
    before = db.snapshot()
    lost = members - kept
    try:
        source.apply(dest, allow_deletions=allowed)
    except GateError:
        assert db.snapshot() == before
        assert lost > allowed
    else:
        assert lost <= allowed
        assert db.rows("teams")["t"]["members"] == staying
    source, (dest, db) = _source([], {"t": staying}), _dest([], {"t": everyone})
    try:
        source >> dest
    except GateError as exc:
        assert members >= 10 and lost / members > 0.5
        assert f"members would lose {lost} of {members}" in exc.trips[0]
    else:
        assert members < 10 or lost / members <= 0.5


@FAST
@given(last=st.integers(0, 1000), now=st.integers(0, 1000))
def test_the_shrink_gate_trips_exactly_past_the_limit(last: int, now: int) -> None:
    source = _source([], {})
    snap = {f"src.{b}": SourceSnapshot(now if b == "items" else 1, (), "d")
            for b in source.branch_order}
    accepted = {f"src.{b}": SourceSnapshot(last if b == "items" else 1, (), "d")
                for b in source.branch_order}
    trips = check_source(source, snap, accepted, Allowances())
    shrunk = last > 0 and (last - now) / last > 0.2
    empty = now == 0 and last > 0
    assert bool(trips) == (shrunk or empty)
    assert not check_source(source, snap, accepted, Allowances(frozenset({"src.items"})))


def test_model_errors_stop_the_run_before_any_handler_begins() -> None:
    class Wide(Model):
        title: str = ""
        colour: str = ""

    source = type("Src", (Tree,), {"name": "src", "items": Branch(Wide, [
        {"idnumber": "new", "title": "x"}])})(plugins=builtin_plugin_manager()).load()
    db = MemoryDatabase({"items": {"old": {"title": ""}}})
    one = memory_tree("dst", {"items": Item}, db)(plugins=builtin_plugin_manager()).load()
    before = db.snapshot()
    with pytest.raises(ConfigurationError) as info:
        source >> one
    assert "1 model error" in str(info.value)
    assert "err_no_attr: dst.items (Item) has no attribute 'colour'" in str(info.value)
    assert db.snapshot() == before
    with pytest.raises(ConfigurationError):
        source > one  # the plan lists them, then stops the same way


def test_plan_lists_the_actions_before_a_limit_stops_it(capsys: Any) -> None:
    ids = [f"u{i}" for i in range(20)]
    source = _source(ids[:10], {})
    dest, db = _dest(ids, {})
    with pytest.raises(GateError):
        source > dest
    printed = capsys.readouterr().out
    assert printed.count("old_items(") == 10
