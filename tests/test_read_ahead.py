"""A destination read only from local files is read while the source is imported (a thread).

What users see does not change: the plan, the log lines and the import hooks
in their order, the first error (the source's before the destination's, a
source gate's before anything of the destination).
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

import dss_csv.plugin
import pytest
from dss_csv import CSVImporter

from dss_core import Branch, Config, Datastore, GateError, InputError, Model, Run, Tree, hookimpl
from dss_core.plugins import builtin_plugin_manager
from dss_core.runner import execute
from dss_core.state import StateDir


class User(Model):
    name: str
    groups: set[str] = set()


HEADER = "idnumber,name,groups\n"


class Heard:
    """A plugin recording the import hooks, and the thread each CSV file was read in."""

    def __init__(self) -> None:
        self.hooks: list[tuple[Any, ...]] = []
        self.threads: dict[str, str] = {}

    @hookimpl
    def dss_import_progress(self, tree: Any, branch: str, count: int) -> None:
        self.hooks.append(("progress", tree.name, branch, count))

    @hookimpl
    def dss_import_done(self, tree: Any, branch: str, count: int) -> None:
        self.hooks.append(("done", tree.name, branch, count))


def _trees(tmp_path: Path, heard: Heard, ahead: bool) -> tuple[type[Tree], type[Tree]]:
    def importer(file: str) -> type[CSVImporter]:
        class Users(CSVImporter):
            path = str(tmp_path / file)
            list_columns = {"groups": ";"}  # noqa: RUF012
            read_ahead = ahead

            def readin(self) -> Any:
                heard.threads[file] = threading.current_thread().name
                return super().readin()

        return Users

    class Src(Tree):
        name = "src"
        users = Branch(User, importer=importer("source.csv"))

    class Dst(Tree):
        name = "dst"
        users = Branch(User, importer=importer("dest.csv"))

    return Src, Dst


def _plan(tmp_path: Path, ahead: bool, caplog: Any, state: bool = False) -> tuple[Any, Heard, list[str]]:
    heard = Heard()
    plugins = builtin_plugin_manager()
    plugins.register(dss_csv.plugin, name="csv")
    plugins.register(heard, name="heard")
    src, dst = _trees(tmp_path, heard, ahead)
    source, dests = Datastore("ds", src, dst).open(plugins=plugins)
    run = Run.create("plan", plugins, Config(environ={}), datastore="ds",
                     state=StateDir(tmp_path, "ds") if state else None)
    run.options["quiet"] = True
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dss_core"):
        try:
            outcome: Any = [(a.message, a.origin) for a in
                            (r.action for r in execute(run, source, dests).results)]
        except Exception as exc:  # noqa: BLE001 - the outcome compared
            outcome = (type(exc).__name__, str(exc))
    logs = [re.sub(r"\b[0-9a-f]{32}\b", "<run>", r.getMessage()) for r in caplog.records]
    return outcome, heard, logs


def _files(tmp_path: Path, source: str, dest: str | None) -> None:
    (tmp_path / "source.csv").write_text(source)
    if dest is not None:
        (tmp_path / "dest.csv").write_text(dest)


def test_a_csv_destination_is_read_in_a_thread_and_the_run_is_the_same(tmp_path: Path, caplog: Any) -> None:
    _files(tmp_path, HEADER + "1,Ann,a;b\n2,Bob,b\n4,\"Di, Jr\",c\n",
           HEADER + "1,Annie,a\n3,Cy,\n4,\"Di, Jr\",c\n")
    ahead = _plan(tmp_path, True, caplog)
    inline = _plan(tmp_path, False, caplog)
    assert ahead[1].threads["dest.csv"].startswith("dss-read-ahead-dst")
    assert ahead[1].threads["source.csv"] == inline[1].threads["dest.csv"] == threading.current_thread().name
    assert ahead[0] == inline[0] and len(ahead[0]) == 4
    assert ahead[1].hooks == inline[1].hooks  # in the same order: the source's, then the destination's
    assert [h[1] for h in ahead[1].hooks] == ["src", "src", "dst", "dst"]
    assert ahead[2] == inline[2]
    assert any(line.startswith("imported dst.users") for line in ahead[2])


@pytest.mark.parametrize("dest", [None, HEADER + "1,Ann,\x01\n", "idnumber,name\n1\n"])
def test_the_source_error_comes_first_and_the_destination_is_not_heard(
        tmp_path: Path, caplog: Any, dest: str | None) -> None:
    _files(tmp_path, HEADER + "1,Ann,a\n2,\"Bob\n", dest)  # the source: a quote never closed
    ahead = _plan(tmp_path, True, caplog)
    inline = _plan(tmp_path, False, caplog)
    assert ahead[0] == inline[0] and ahead[0][0] == InputError.__name__ and "source.csv" in ahead[0][1]
    assert ahead[1].hooks == inline[1].hooks
    assert all(h[1] == "src" for h in ahead[1].hooks)
    assert ahead[2] == inline[2]


@pytest.mark.parametrize("dest", [None, HEADER + "1,Ann,\x01\n", HEADER + "1,Ann,a\n"])
def test_a_source_gate_stops_the_run_before_the_destination_is_heard(
        tmp_path: Path, caplog: Any, dest: str | None) -> None:
    _files(tmp_path, HEADER, dest)  # an empty source: stopped even on the first run
    ahead = _plan(tmp_path, True, caplog, state=True)
    inline = _plan(tmp_path, False, caplog, state=True)
    assert ahead[0] == inline[0] and ahead[0][0] == GateError.__name__
    assert ahead[1].hooks == inline[1].hooks
    assert all(h[1] == "src" for h in ahead[1].hooks)
    assert ahead[2] == inline[2]


@pytest.mark.parametrize("dest", [None, HEADER + "1,Ann,\x01\n", "idnumber,name,groups\n1,Ann\n"])
def test_a_destination_error_is_the_same_as_when_read_in_its_turn(
        tmp_path: Path, caplog: Any, dest: str | None) -> None:
    _files(tmp_path, HEADER + "1,Ann,a\n", dest)
    ahead = _plan(tmp_path, True, caplog)
    inline = _plan(tmp_path, False, caplog)
    assert ahead[0] == inline[0] and ahead[0][0] == InputError.__name__ and "dest.csv" in ahead[0][1]
    assert ahead[1].hooks == inline[1].hooks
    assert ahead[2] == inline[2]
