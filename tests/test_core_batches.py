"""Batches: a handler that writes many actions at once (``Handler.handle_batch``).

The runner joins consecutive single-action units of one method that the
handler calls batchable, up to ``batch_actions``; a batch never holds an action
waiting on another of the same run, and every action keeps its own result.
A handler with ``batch_units`` is handed runs of whole units of one branch
(``handle_units``): each unit keeps the outcome it has alone, all or nothing.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from dss_core import Action, Branch, Model, ObjectUnit, Result, Status, Tree
from dss_core.plugins import builtin_plugin_manager
from dss_core.testing import MemoryDatabase, RecordingHandler, memory_tree


class User(Model):
    name: str = ""


class Group(Model):
    members: set[str] = set()


class BatchingHandler(RecordingHandler):
    """Applies new/old/update actions in batches (of ``batch_actions``), recording each batch."""

    batch_actions: int = 3
    batches: ClassVar[list[list[str]]] = []
    broken: ClassVar[set[str]] = set()  # methods whose batch raises

    def batchable(self, action: Action) -> bool:
        return action.kind in ("new", "old", "update")

    def handle_batch(self, actions: Sequence[Action]) -> list[Result]:
        type(self).batches.append([a.method for a in actions])
        if actions[0].method in type(self).broken:
            raise RuntimeError("the whole batch failed")
        return super().handle_batch(actions)


def _trees(source_users: dict[str, str], dest_users: dict[str, str],
           source_groups: dict[str, set[str]], dest_groups: dict[str, set[str]],
           handler: type[RecordingHandler], fail: set[str]) -> tuple[Tree, Tree, MemoryDatabase]:
    src = type("Src", (Tree,), {
        "name": "src",
        "users": Branch(User, [{"idnumber": i, "name": n} for i, n in source_users.items()]),
        "groups": Branch(Group, [{"idnumber": g, "members": sorted(m)} for g, m in source_groups.items()],
                         references={"members": "users"})})(plugins=builtin_plugin_manager()).load()
    db = MemoryDatabase({"users": {i: {"name": n} for i, n in dest_users.items()},
                         "groups": {g: {"members": set(m)} for g, m in dest_groups.items()}})
    dst = memory_tree("dst", {"users": User, "groups": Group}, db, handler=handler, fail=fail)
    return src, dst(plugins=builtin_plugin_manager()).load(), db


ids = st.sampled_from([f"u{i}" for i in range(10)])
names = st.sampled_from(["a", "b"])


@settings(max_examples=80, deadline=None)
@given(su=st.dictionaries(ids, names), du=st.dictionaries(ids, names),
       sg=st.dictionaries(st.sampled_from(["g1", "g2", "g3"]), st.sets(ids)),
       dg=st.dictionaries(st.sampled_from(["g1", "g2", "g3"]), st.sets(ids)),
       fail=st.sets(ids, max_size=2))
def test_batches_give_the_same_outcome_as_one_action_at_a_time(
        su: dict[str, str], du: dict[str, str], sg: dict[str, set[str]], dg: dict[str, set[str]],
        fail: set[str]) -> None:
    sg = {g: {m for m in members if m in su} for g, members in sg.items()}
    BatchingHandler.batches = []
    src, dst, batched_db = _trees(su, du, sg, dg, BatchingHandler, fail)
    batched = src.apply(dst, allow_deletions=1000)
    src, dst, plain_db = _trees(su, du, sg, dg, RecordingHandler, fail)
    plain = src.apply(dst, allow_deletions=1000)

    assert batched_db.snapshot() == plain_db.snapshot()
    assert ([(r.action.key, r.status, r.message) for r in batched.results]
            == [(r.action.key, r.status, r.message) for r in plain.results])
    for batch in BatchingHandler.batches:
        assert len(set(batch)) == 1 and 1 <= len(batch) <= 3


def test_a_failed_new_in_a_batch_holds_back_what_needs_it_in_the_next() -> None:
    BatchingHandler.batches = []
    users = {f"u{i}": "n" for i in range(7)}
    src, dst, db = _trees(users, {}, {"g1": {"u1", "u2"}, "g2": {"u3"}}, {}, BatchingHandler, {"u2"})
    summary = src.apply(dst)
    # g1 waits on u2, whose new failed: skipped alone, never handed to the handler
    assert BatchingHandler.batches == [["new_users"] * 3, ["new_users"] * 3, ["new_users"],
                                       ["new_groups"]]
    results = {r.action.key: r for r in summary.results}
    assert results["dst:groups:new_groups:g1"].status is Status.SKIPPED
    assert results["dst:groups:new_groups:g1"].message == (
        "skipped: members names 'u2': new_users('u2') failed")
    assert set(db.rows("groups")) == {"g2"}


def test_a_batch_that_raises_is_an_exception_for_each_of_its_actions_and_the_run_goes_on() -> None:
    BatchingHandler.batches = []
    BatchingHandler.broken = {"old_users"}
    try:
        src, dst, db = _trees({"u1": "a"}, {"u1": "b", "u8": "x", "u9": "y"}, {}, {},
                              BatchingHandler, set())
        summary = src.apply(dst, allow_deletions=10)
    finally:
        BatchingHandler.broken = set()
    statuses = {r.action.method: r.status for r in summary.results}
    assert statuses == {"update_name": Status.SUCCESS, "old_users": Status.EXCEPTION}
    assert db.rows("users")["u1"] == {"name": "a"}
    assert summary.exit_code == 1


def test_a_handler_returning_too_few_results_fails_the_batch_plainly() -> None:
    class Short(BatchingHandler):
        def handle_batch(self, actions: Sequence[Action]) -> list[Result]:
            return super().handle_batch(actions)[:-1]

    src, dst, _ = _trees({"u1": "a", "u2": "b"}, {}, {}, {}, Short, set())
    summary = src.apply(dst)
    assert {r.status for r in summary.results} == {Status.EXCEPTION}
    assert "returned 1 results for 2 actions" in summary.results[0].message


def test_no_batching_by_default(monkeypatch: Any) -> None:
    seen: list[int] = []

    class Counting(RecordingHandler):
        def handle_batch(self, actions: Sequence[Action]) -> list[Result]:
            seen.append(len(actions))
            return super().handle_batch(actions)

    src, dst, db = _trees({"u1": "a", "u2": "b"}, {}, {}, {}, Counting, set())
    src.apply(dst)
    assert seen == [] and set(db.rows("users")) == {"u1", "u2"}


# -- runs of whole units (Handler.batch_units, handle_units) ------------------------------------
class AtomicHandler(RecordingHandler):
    """Undoes an object's changes when one fails (as a database's savepoint does)."""

    @contextlib.contextmanager
    def object_unit(self, actions: Sequence[Action]) -> Iterator[ObjectUnit]:
        db: MemoryDatabase = self.tree.database  # type: ignore[attr-defined]
        saved = copy.deepcopy(db.data)
        unit = ObjectUnit(atomic=True)
        yield unit
        if unit.failed:
            db.data.clear()
            db.data.update(saved)


class UnitBatchingHandler(AtomicHandler):
    """Hands runs of whole units to ``handle_units`` (up to ``batch_actions`` actions), recording them."""

    batch_actions: int = 4
    batch_units = True
    unit_batches: ClassVar[list[list[list[str]]]] = []

    def batchable(self, action: Action) -> bool:
        return True

    def handle_units(self, units: Sequence[Sequence[Action]]) -> list[list[Result]]:
        type(self).unit_batches.append([[a.key for a in unit] for unit in units])
        return super().handle_units(units)


failing = st.sets(st.one_of(ids, st.sampled_from(["g1", "g2", "update_name", "add_members_to_groups",
                                                  "remove_members_from_groups"])), max_size=3)


@settings(max_examples=80, deadline=None)
@given(su=st.dictionaries(ids, names), du=st.dictionaries(ids, names),
       sg=st.dictionaries(st.sampled_from(["g1", "g2", "g3"]), st.sets(ids)),
       dg=st.dictionaries(st.sampled_from(["g1", "g2", "g3"]), st.sets(ids)),
       fail=failing)
def test_runs_of_units_give_the_same_outcome_as_one_unit_at_a_time(
        su: dict[str, str], du: dict[str, str], sg: dict[str, set[str]], dg: dict[str, set[str]],
        fail: set[str]) -> None:
    """Whole units in batches: the rows and every result as one unit at a time (a unit that fails
    fails whole, rolled back, and alone); a batch holds whole units of one branch, in plan order."""
    sg = {g: {m for m in members if m in su} for g, members in sg.items()}
    UnitBatchingHandler.unit_batches = []
    src, dst, batched_db = _trees(su, du, sg, dg, UnitBatchingHandler, fail)
    plan = [a.key for a in src - dst]
    batched = src.apply(dst, allow_deletions=1000)
    src, dst, plain_db = _trees(su, du, sg, dg, AtomicHandler, fail)
    plain = src.apply(dst, allow_deletions=1000)

    assert batched_db.snapshot() == plain_db.snapshot()
    assert ([(r.action.key, r.status, r.message) for r in batched.results]
            == [(r.action.key, r.status, r.message) for r in plain.results])
    in_batches = [key for batch in UnitBatchingHandler.unit_batches for unit in batch for key in unit]
    assert in_batches == [k for k in plan if k in set(in_batches)]  # plan order
    for batch in UnitBatchingHandler.unit_batches:
        assert len({key.split(":")[1] for unit in batch for key in unit}) == 1  # one branch
        size = sum(len(unit) for unit in batch)
        assert size <= 4 or len(batch) == 1
        for unit in batch:  # whole units: the changes of one object together
            assert len({key.split(":")[3] for key in unit}) == 1


def test_a_unit_that_fails_in_a_batch_fails_whole_and_alone() -> None:
    UnitBatchingHandler.unit_batches = []
    UnitBatchingHandler.batch_actions = 100
    try:
        src, dst, db = _trees({f"u{i}": "b" for i in range(4)}, {f"u{i}": "a" for i in range(4)},
                              {"g1": {"u0", "u1"}, "g2": {"u2", "u3"}},
                              {"g1": {"u2", "u3"}, "g2": {"u0", "u1"}},
                              UnitBatchingHandler, {"dst:groups:remove_members_from_groups:g1:'u3'"})
        summary = src.apply(dst)
    finally:
        UnitBatchingHandler.batch_actions = 4
    assert [len(b) for b in UnitBatchingHandler.unit_batches] == [4, 2]  # 4 renames; 2 cohorts
    outcome = {r.action.key.split(":", 2)[2]: (r.status, r.message) for r in summary.results}
    failed = "remove_members_from_groups of this object failed (told to fail)"
    assert outcome["add_members_to_groups:g1:'u0'"] == (Status.SKIPPED, f"rolled back: {failed}")
    assert outcome["remove_members_from_groups:g1:'u2'"] == (Status.SKIPPED,
                                                              f"rolled back: {failed}")
    assert outcome["remove_members_from_groups:g1:'u3'"][0] is Status.FAILURE
    assert {s for k, (s, _) in outcome.items() if ":g2:" in k} == {Status.SUCCESS}
    assert db.rows("groups")["g1"]["members"] == {"u2", "u3"}  # untouched
    assert db.rows("groups")["g2"]["members"] == {"u2", "u3"}


def test_a_run_of_units_that_raises_is_an_exception_for_each_of_its_actions() -> None:
    class Raising(UnitBatchingHandler):
        def handle_units(self, units: Sequence[Sequence[Action]]) -> list[list[Result]]:
            raise RuntimeError("the whole batch failed")

    src, dst, _ = _trees({"u1": "a", "u2": "b"}, {}, {}, {}, Raising, set())
    summary = src.apply(dst)
    assert [(r.status, r.message) for r in summary.results] == [
        (Status.EXCEPTION, "RuntimeError: the whole batch failed")] * 2


def test_the_default_handle_units_applies_one_unit_at_a_time() -> None:
    class Default(AtomicHandler):
        batch_actions = 10
        batch_units = True

        def batchable(self, action: Action) -> bool:
            return True

    src, dst, db = _trees({"u1": "a", "u2": "b"}, {"u3": "c"}, {"g1": {"u1", "u2"}}, {},
                          Default, {"u2"})
    summary = src.apply(dst, allow_deletions=10)
    statuses = {r.action.key.split(":", 2)[2]: r.status for r in summary.results}
    assert statuses == {"new_users:u1": Status.SUCCESS, "new_users:u2": Status.FAILURE,
                        "new_groups:g1": Status.SKIPPED, "old_users:u3": Status.SUCCESS}
    assert db.snapshot() == {"users": {"u1": {"name": "a"}}, "groups": {}}
