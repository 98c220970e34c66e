"""The builtin console reporter: what -v adds on stderr, and the summary at the end of plan and run."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dss_core import Action, Branch, Config, Datastore, Handler, Model, Run, Tree
from dss_core.errors import ConfigurationError
from dss_core.runner import execute

SOURCE = {"users": [{"idnumber": "1", "_lastfirst": "Doe, Jane", "department": "math"},
                    {"idnumber": "2", "_lastfirst": "Roe, Rick", "department": "math"}]}


def test_verbose_names_the_run_and_each_imported_branch(dss: Any, sync_files: Any) -> None:
    sync_files(SOURCE, {"users": [], "groups": []})
    result = dss("-v", "plan", "testsync")
    assert result.code == 0, result
    err = result.err.splitlines()
    assert err[0].startswith("dss plan testsync: run ")
    assert "imported src.users: 2 records, 2 objects" in err
    assert "imported src.groups: 2 records, 1 object" in err  # one row per member, merged
    assert "imported dst.users: 0 records, 0 objects" in err
    assert all("Doe" not in line for line in err)  # counts only, never values


def test_without_verbose_stderr_stays_empty(dss: Any, sync_files: Any) -> None:
    sync_files(SOURCE, {"users": [], "groups": []})
    result = dss("plan", "testsync")
    assert result.code == 0 and result.err == "", result


# -- the summary at the end of plan and run (issue 13) ---------------------------------------------
PEOPLE = {"users": [{"idnumber": "1", "_lastfirst": "Doe, Jane", "department": "math"},
                    {"idnumber": "2", "_lastfirst": "Roe, Rick", "department": "math"},
                    {"idnumber": "3", "_lastfirst": "Poe, Ed", "department": "art"}]}
LMS = {"users": [{"idnumber": "1", "name": "Jane Doe", "department": "math"},
                 {"idnumber": "2", "name": "Rick Rowe", "department": "math"},
                 {"idnumber": "9", "name": "Old Timer", "department": "history"},
                 {"idnumber": "8", "name": "Sam Staff", "department": "staff"}],
       "groups": [{"idnumber": "math", "members": ["1", "9"]},
                  {"idnumber": "history", "members": ["9"]}]}
TIME = r"\d+\.\d\d s"


def _rows(out: str) -> dict[str, list[str]]:
    """The summary table's rows: first cell -> the other cells (empty ones left out)."""
    return {cells[0]: cells[1:] for line in out.splitlines()
            if (cells := line.split()) and cells[0] in ("branch", "dst.users", "dst.groups", "total")}


def test_a_runs_summary_branches_down_kinds_across_outcomes_and_times(
        dss: Any, sync_files: Any) -> None:
    sync_files(PEOPLE, LMS, fail="3")
    result = dss("run", "testsync")
    assert result.code == 1, result
    out, err = result.out, result.err
    assert out.splitlines()[0] == "run testsync"
    assert _rows(out) == {
        "branch": ["new", "update", "add", "remove", "old", "total", "failed", "dropped"],
        "dst.users": ["1", "1", "2", "4", "1", "1"],  # new, update, old, total, failed, dropped
        "dst.groups": ["1", "1", "1", "1", "4"],
        "total": ["2", "1", "1", "1", "3", "8", "1", "1"]}
    assert "8 actions: 6 done, 1 raised an exception, 1 dropped by the handler" in out
    assert re.search(rf"^Time: import {TIME}, diff {TIME}, apply {TIME}$", out, re.M), out
    # what went wrong, on stderr only: the failure as it happened, then by method
    assert "EXCEPTION" not in out and "refused" not in out
    assert err.splitlines() == [
        "EXCEPTION: new_users(idnumber='3') [export.json[users] item 3]: "
        "RuntimeError: refused to touch 3",
        "Failed: new_users (1 action)"], err


def test_singular_and_plural_in_the_summary(dss: Any, sync_files: Any) -> None:
    sync_files({"users": PEOPLE["users"][:1]},
               {"users": [], "groups": [{"idnumber": "math", "members": ["1"]}]})
    result = dss("plan", "testsync")
    assert result.code == 0, result
    assert result.out.splitlines()[0] == "new_users(idnumber='1')"
    assert "1 action: 1 planned" in result.out
    assert _rows(result.out)["dst.users"] == ["1", "1"]  # one branch: no total row
    assert "total" not in _rows(result.out)
    assert re.search(rf"^Time: import {TIME}, diff {TIME}$", result.out, re.M), result.out


def test_nothing_to_do_is_said_with_the_time_it_took(dss: Any, sync_files: Any) -> None:
    sync_files({"users": PEOPLE["users"][:1]}, {
        "users": [{"idnumber": "1", "name": "Jane Doe", "department": "math"}],
        "groups": [{"idnumber": "math", "members": ["1"]}]})
    result = dss("run", "testsync")
    assert result.code == 0 and result.err == "", result
    assert result.out.splitlines()[0] == "Nothing to do: the destination matches the source."
    # a run with nothing to do still begins and ends its handlers: that is its apply time
    assert re.fullmatch(rf"Time: import {TIME}, diff {TIME}, apply {TIME}",
                        result.out.splitlines()[1]), result.out


def test_quiet_prints_only_the_failures(dss: Any, sync_files: Any) -> None:
    sync_files(PEOPLE, LMS, fail="3")
    result = dss("run", "testsync", "-q")
    assert result.code == 1 and result.out == "", result
    assert result.err.startswith("EXCEPTION: new_users(idnumber='3')"), result


class Person(Model):
    name: str
    phone: str = ""


class Account(Model):
    name: str


class Source(Tree):
    users = Branch(Person, [{"idnumber": "1", "name": "Ann", "phone": "555-0101"},
                            {"idnumber": "2", "name": "Bob"}])


class NoRetire(Handler):
    def new_users(self, action: Action) -> None: ...


class Lms(Tree):
    handler = NoRetire
    users = Branch(Account, [{"idnumber": "3", "name": "Cy"}])


class Accounts(Tree):
    name = "source"
    users = Branch(Account, [{"idnumber": "1", "name": "Ann"}])


def test_a_model_error_is_named_a_model_error_not_a_missing_method(
        dss_plugins: Any, capsys: Any) -> None:
    source, dests = Datastore("school", Source, Lms).open(plugins=dss_plugins)
    run = Run.create("plan", dss_plugins, Config(environ={}), datastore="school")
    with pytest.raises(ConfigurationError, match="1 model error"):
        execute(run, source, dests)
    out, err = capsys.readouterr()
    assert "3 actions: 3 planned; 1 model error" in out
    assert _rows(out)["branch"] == ["new", "update", "add", "remove", "old", "total", "err"]
    assert err.splitlines() == [
        "1 model error: the source and destination models do not match, so nothing can be "
        "applied until they do:",
        "  err_no_attr: lms.users (Account) has no attribute 'phone'"]
    assert "not implemented" not in (out + err).lower() and "555-0101" not in out + err


def test_methods_no_handler_implements_are_named_with_their_actions(
        dss_plugins: Any, capsys: Any) -> None:
    source, dests = Datastore("school", Accounts, Lms).open(plugins=dss_plugins)
    run = Run.create("apply", dss_plugins, Config(environ={}), datastore="school")
    summary = execute(run, source, dests)
    assert summary.exit_code == 0
    out, err = capsys.readouterr()
    assert "2 actions: 1 done, 1 not implemented" in out
    assert _rows(out)["branch"][-1] == "impl."  # the "not impl." column
    assert err == "Not implemented (no handler method, so not applied): old_users (1 action)\n"
