"""Handlers: dispatch order, what each return means, exceptions, not implemented, stop on failure."""

from __future__ import annotations

from typing import Any

import pytest

from dss_core import Action, Branch, Handler, Model, Status, Tree


class Person(Model):
    name: str
    grade: int = 0


class Team(Model):
    name: str
    members: set[str] = set()


class Src(Tree):
    users = Branch(Person)
    groups = Branch(Team)


SRC = {
    "users": [{"idnumber": "1", "name": "New", "grade": "2"}, {"idnumber": "2", "name": "Bo"}],
    "groups": [{"idnumber": "g", "name": "Renamed", "members": ["1"]}],
}
DST = {
    "users": [{"idnumber": "1", "name": "Old", "grade": "1"}, {"idnumber": "3", "name": "Cy"}],
    "groups": [{"idnumber": "g", "name": "Team", "members": ["1"]}],
}


def _apply(dss_tree: Any, handler: type[Handler], stop_on_failure: bool = False,
           src: dict[str, Any] = SRC, dst: dict[str, Any] = DST) -> Any:
    dest_cls = type("Dst", (Tree,), {"name": "dst", "handler": handler,
                                     "users": Branch(Person), "groups": Branch(Team)})
    source = dss_tree(Src, **src)
    dest = dss_tree(dest_cls, **dst)
    return source.apply(dest, stop_on_failure=stop_on_failure)


def by_message(summary: Any) -> dict[str, Any]:
    return {r.action.message: r for r in summary.results}


def test_dispatch_most_specific_method_first(dss_tree) -> None:
    class H(Handler):
        def update_users_name(self, action: Action) -> None: ...
        def update_name(self, action: Action) -> None: ...
        def update(self, action: Action) -> None: ...
        def default(self, action: Action) -> None: ...

    summary = _apply(dss_tree, H)
    ran = [(r.action.method, r.action.branch, r.handler) for r in summary.results]
    assert ran == [
        ("new_users", "users", "default"),
        ("update_name", "users", "update_users_name"),
        ("update_grade", "users", "update"),
        ("update_name", "groups", "update_name"),
        ("old_users", "users", "default"),
    ]
    assert all(r.status is Status.SUCCESS for r in summary.results)


def test_dispatch_kind_method_before_default(dss_tree) -> None:
    class H(Handler):
        def new(self, action: Action) -> None: ...
        def old_users(self, action: Action) -> None: ...
        def old(self, action: Action) -> None: ...
        def default(self, action: Action) -> None: ...

    ran = {r.action.method: r.handler for r in _apply(dss_tree, H).results}
    assert ran["new_users"] == "new"
    assert ran["old_users"] == "old_users"
    assert ran["update_name"] == "default"


def test_handler_methods_receive_the_action(dss_tree) -> None:
    seen: list[Action] = []

    class H(Handler):
        def new_users(self, action: Action) -> None:
            seen.append(action)

    _apply(dss_tree, H)
    assert [(a.method, a.idnumber, a.source.name) for a in seen] == [("new_users", "2", "Bo")]


@pytest.mark.parametrize("value", [None, True])
def test_none_or_true_is_success(dss_tree, value: Any) -> None:
    class H(Handler):
        def default(self, action: Action) -> Any:
            return value

    summary = _apply(dss_tree, H)
    assert {r.status for r in summary.results} == {Status.SUCCESS}
    assert summary.failed == 0 and summary.exit_code == 0


def test_false_or_failed_is_failure(dss_tree) -> None:
    class H(Handler):
        def new_users(self, action: Action) -> bool:
            return False

        def old_users(self, action: Action) -> Any:
            return action.failed("cannot retire")

        def default(self, action: Action) -> None:
            return None

    summary = _apply(dss_tree, H)
    results = by_message(summary)
    assert results["new_users(idnumber='2')"].status is Status.FAILURE
    old = results["old_users(idnumber='3')"]
    assert (old.status, old.message, old.handler) == (Status.FAILURE, "cannot retire", "old_users")
    assert summary.failed == 2
    assert summary.exit_code == 1
    assert sum(r.status is Status.SUCCESS for r in summary.results) == len(summary.results) - 2


def test_dropped_is_not_a_failure(dss_tree) -> None:
    class H(Handler):
        def old_users(self, action: Action) -> Any:
            return action.dropped("accounts are never deleted")

        def default(self, action: Action) -> None:
            return None

    summary = _apply(dss_tree, H)
    old = by_message(summary)["old_users(idnumber='3')"]
    assert (old.status, old.message) == (Status.DROPPED, "accounts are never deleted")
    assert summary.failed == 0 and summary.exit_code == 0
    assert summary.count(status="dropped") == 1


def test_exception_is_reported_for_that_action_only(dss_tree) -> None:
    done: list[str] = []

    class H(Handler):
        def update_grade(self, action: Action) -> None:
            raise RuntimeError("database is down")

        def default(self, action: Action) -> None:
            done.append(action.method)

    summary = _apply(dss_tree, H)
    failed = [r for r in summary.results if r.failed]
    assert len(failed) == 1
    assert failed[0].action.method == "update_grade"
    assert failed[0].status is Status.EXCEPTION
    assert "RuntimeError: database is down" in failed[0].message
    assert "database is down" in failed[0].details["traceback"]
    assert len(done) == len(summary.results) - 1
    assert "old_users" in done  # actions after the exception still ran
    assert summary.exit_code == 1


def test_not_implemented_is_counted_and_exit_code_stays_zero(dss_tree) -> None:
    class H(Handler):
        def new_users(self, action: Action) -> None: ...

    summary = _apply(dss_tree, H)
    statuses = {r.action.method: r.status for r in summary.results}
    assert statuses.pop("new_users") is Status.SUCCESS
    assert set(statuses.values()) == {Status.NOT_IMPLEMENTED}
    assert dict(summary.not_implemented) == {
        "update_name": 2, "update_grade": 1, "old_users": 1}
    assert summary.failed == 0
    assert summary.exit_code == 0


def test_stop_on_failure_skips_the_rest(dss_tree) -> None:
    calls: list[str] = []

    class H(Handler):
        def update_name(self, action: Action) -> bool:
            calls.append(action.message)
            return False

        def default(self, action: Action) -> None:
            calls.append(action.message)

    summary = _apply(dss_tree, H, stop_on_failure=True)
    statuses = [(r.action.method, r.status) for r in summary.results]
    first_failure = next(i for i, (_, s) in enumerate(statuses) if s is Status.FAILURE)
    assert statuses[first_failure][0] == "update_name"
    assert all(s is Status.SKIPPED for _, s in statuses[first_failure + 1:])
    assert len(statuses) > first_failure + 1
    assert len(calls) == first_failure + 1
    assert summary.stopped and summary.exit_code == 1


def test_without_stop_on_failure_every_action_runs(dss_tree) -> None:
    class H(Handler):
        def update_name(self, action: Action) -> bool:
            return False

        def default(self, action: Action) -> None: ...

    summary = _apply(dss_tree, H)
    failed_objects = {(r.action.branch, r.action.idnumber) for r in summary.results if r.failed}
    for r in summary.results:  # only the rest of a failed object's changes is held back
        if r.status is Status.SKIPPED:
            assert (r.action.branch, r.action.idnumber) in failed_objects
            assert r.message.startswith("not attempted: update_name of this object failed")
    assert any(r.status is Status.SUCCESS and (r.action.branch, r.action.idnumber)
               not in failed_objects for r in summary.results)
    assert summary.failed == 2 and not summary.stopped


def test_begin_and_end_bracket_the_actions(dss_tree) -> None:
    events: list[str] = []

    class H(Handler):
        def begin(self) -> None:
            events.append("begin")

        def end(self, failed: bool) -> None:
            events.append(f"end failed={failed}")

        def default(self, action: Action) -> None:
            events.append(action.method)

    summary = _apply(dss_tree, H)
    assert events[0] == "begin" and events[-1] == "end failed=False"
    assert events[1:-1] == [r.action.method for r in summary.results]
