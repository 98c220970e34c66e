"""Reporting: the JSON report and the order of the reporting hooks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dss_core import Action, Branch, Config, Datastore, Handler, Model, Run, Tree, hookimpl
from dss_core.builtin.json_report import report_data
from dss_core.runner import Summary, execute


class User(Model):
    name: str


class Group(Model):
    members: set[str] = set()


class Src(Tree):
    users = Branch(User, [{"idnumber": "1", "name": "Ann"}, {"idnumber": "2", "name": "Bob"},
                          {"idnumber": "4", "name": "Di"}])
    groups = Branch(Group, [{"idnumber": "g", "members": ["1", "2"]}])


class H(Handler):
    def new_users(self, action: Action) -> Any:
        return action.failed("no room") if action.idnumber == "4" else None

    def update_name(self, action: Action) -> None: ...


class Dst(Tree):
    handler = H
    users = Branch(User, [{"idnumber": "1", "name": "Annie"}, {"idnumber": "3", "name": "Cy"}])
    groups = Branch(Group, [{"idnumber": "g", "members": ["3"]}])


def _run(plugins: Any, mode: str = "apply", **kwargs: Any) -> tuple[Run, Summary]:
    source, dests = Datastore("school", Src, Dst).open(plugins=plugins)
    run = Run.create(mode, plugins, Config(environ={}), datastore="school", **kwargs)
    run.options["quiet"] = True
    return run, execute(run, source, dests)


def test_json_report_has_every_action_with_its_result_and_counts(dss_plugins) -> None:
    run, summary = _run(dss_plugins)
    data = report_data(run, summary)
    assert json.loads(json.dumps(data)) == data
    assert data["run"]["mode"] == "apply"
    assert data["run"]["datastore"] == "school"
    assert data["run"]["id"] == run.id
    assert data["run"]["exit_code"] == 1
    assert {k: v["objects"] for k, v in data["imported"].items()} == {
        "src.users": 3, "src.groups": 1, "dst.users": 2, "dst.groups": 1}
    assert all(v["records"] >= v["objects"] for v in data["imported"].values())
    rows = [(a["method"], a["idnumber"], a["result"], a["handler"]) for a in data["actions"]]
    assert rows == [
        ("new_users", "2", "success", "new_users"),
        ("new_users", "4", "failure", "new_users"),
        ("update_name", "1", "success", "update_name"),
        ("add_members_to_groups", "g", "not_implemented", None),
        ("add_members_to_groups", "g", "not_implemented", None),
        ("remove_members_from_groups", "g", "not_implemented", None),
        ("old_users", "3", "not_implemented", None),
    ]
    failed = data["actions"][1]
    assert failed["result_message"] == "no room"
    assert failed["origin"] == "src.users record 3"
    assert failed["message"] == "new_users(idnumber='4')"
    assert data["counts"] == {
        "dst.users": {"new": {"success": 1, "failure": 1}, "update": {"success": 1},
                      "old": {"not_implemented": 1}},
        "dst.groups": {"add": {"not_implemented": 2}, "remove": {"not_implemented": 1}},
    }
    assert data["totals"] == {"actions": 7, "failed": 1, "errors": 0, "held": 0, "quarantined": 0}
    assert data["not_implemented"] == {
        "add_members_to_groups": 2, "old_users": 1, "remove_members_from_groups": 1}


def test_json_report_is_written_to_the_report_path(dss_plugins, tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    _run(dss_plugins, mode="plan", report_path=path)
    data = json.loads(path.read_text())
    assert data["run"]["mode"] == "plan"
    assert {a["result"] for a in data["actions"]} == {"planned"}
    assert len(data["actions"]) == 7


def test_reporting_hooks_are_called_in_order(dss_plugins) -> None:
    calls: list[tuple[Any, ...]] = []

    class Recorder:
        @hookimpl
        def dss_report_start(self, run: Run) -> None:
            calls.append(("start", run.mode))

        @hookimpl
        def dss_import_done(self, tree: Tree, branch: str, count: int) -> None:
            calls.append(("import_done", tree.name, branch, count))

        @hookimpl
        def dss_report_result(self, result: Any) -> None:
            calls.append(("result", result.action.message, result.status.value))

        @hookimpl
        def dss_report_finish(self, summary: Summary) -> None:
            calls.append(("finish", len(summary.results)))

    dss_plugins.register(Recorder())
    _, summary = _run(dss_plugins)
    assert calls[0] == ("start", "apply")
    assert calls[1:5] == [("import_done", "src", "users", 3), ("import_done", "src", "groups", 1),
                          ("import_done", "dst", "users", 2), ("import_done", "dst", "groups", 1)]
    assert calls[5:-1] == [("result", r.action.message, r.status.value) for r in summary.results]
    assert calls[-1] == ("finish", 7)


def test_summary_counts_by_branch_and_kind(dss_plugins) -> None:
    _, summary = _run(dss_plugins)
    assert summary.by_branch() == {"dst.groups": {"add": 2, "remove": 1},
                                   "dst.users": {"new": 2, "old": 1, "update": 1}}
    assert summary.count(kind="new") == 2
    assert summary.count(branch="groups") == 3
    assert summary.count(status="failure") == 1


def test_console_reporter_prints_failures_with_origin(dss_plugins, capsys) -> None:
    source, dests = Datastore("school", Src, Dst).open(plugins=dss_plugins)
    run = Run.create("apply", dss_plugins, Config(environ={}), datastore="school")
    execute(run, source, dests)
    out, err = capsys.readouterr()
    assert "FAILURE: new_users(idnumber='4') [src.users record 3]: no room" in err
    assert "FAILURE" not in out  # the plan and the summary on stdout, failures on stderr
    assert "Failed: new_users (1 action)" in err
    assert ("Not implemented (no handler method, so not applied): add_members_to_groups "
            "(2 actions), old_users (1 action), remove_members_from_groups (1 action)") in err
    assert "7 actions: 2 done, 1 failed, 4 not implemented" in out
