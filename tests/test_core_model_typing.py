"""Model subclasses are understood by type checkers (``typing.dataclass_transform``).

A small plugin's models and three usage files are written to a temporary
folder: one with only correct constructions, and two that each add exactly
one deliberate error (a wrong type, a misspelt keyword). mypy, and pyright
where it can run here, must find exactly that error in each and nothing else.
The correct file is also run, so what the checkers accept does run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dss_core.model import Model

ROOT = Path(__file__).resolve().parents[1]  # the folder holding dss_core

PLUGIN = '''\
"""A small plugin's models, declared as the docs say."""

from __future__ import annotations

from typing import ClassVar

from dss_core.model import Model


class Student(Model):
    _lastfirst: str  # untracked: starts with an underscore
    grade: int
    homeroom: str = ""
    courses: set[str] = set()
    nickname: str | None = None
    table: ClassVar[str] = "students"  # no field

    @property
    def name(self) -> str:  # tracked, derived
        last, first = self._lastfirst.split(", ")
        return f"{first} {last}"


class Boarder(Student):
    house: str = "North"
'''

CORRECT = '''\
from __future__ import annotations

from typing import Any

from dss_core.model import Model
from dss_core.origin import Origin
from school_plugin import Boarder, Student


def build(model: type[Model], record: dict[str, Any]) -> Model:
    return model(idnumber=record.pop("id"), **record)  # the generic form takes any field


jo = Student(idnumber="1", _lastfirst="Doe, Jo", grade=10)
al = Student("2", _lastfirst="Roe, Al", grade=9, homeroom="9B", courses={"math", "art"},
             nickname=None)
ed = Student(idnumber="3", _lastfirst="Poe, Ed", grade=11, _origin=Origin("students.csv", 4))
ann = Boarder(idnumber="4", _lastfirst="Lee, Ann", grade=12, house="South")
any_model = build(Student, {"id": "5", "_lastfirst": "Kim, Bo", "grade": "8"})

name: str = jo.name
grade: int = al.grade
courses: set[str] = al.courses
house: str = ann.house
nickname: str | None = ann.nickname
assert (name, grade, courses, house) == ("Jo Doe", 9, {"math", "art"}, "South")
assert jo.courses == set() and jo.homeroom == "" and nickname is None
assert ed.dss_origin is not None and any_model.values()["grade"] == 8
'''

# each adds one line with one error to the correct file
ERRORS = {
    "wrong_type": ('bad = Student(idnumber="6", _lastfirst="A, B", grade=9, homeroom=10)',
                   "arg-type", "reportArgumentType"),
    "unknown_keyword": ('bad = Student(idnumber="7", _lastfirst="A, B", grade=9, nmae="Bo")',
                        "call-arg", "reportCallIssue"),
}


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("typed_plugin")
    (folder / "school_plugin.py").write_text(PLUGIN)
    (folder / "usage_correct.py").write_text(CORRECT)
    for case, (line, _, _) in ERRORS.items():
        (folder / f"usage_{case}.py").write_text(CORRECT + line + "  # deliberate error\n")
    return folder


def _files(folder: Path) -> list[str]:
    return ["school_plugin.py", "usage_correct.py"] + [f"usage_{c}.py" for c in ERRORS]


ERROR_LINE = len(CORRECT.splitlines()) + 1  # the line each error file adds


def _env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(ROOT)])
    env["MYPYPATH"] = str(ROOT)
    env["PYRIGHT_PYTHON_IGNORE_WARNINGS"] = "1"
    return env


def test_runtime_is_unchanged_by_the_typing_marker() -> None:
    # dataclass_transform and the bookkeeping fields are for type checkers only
    assert Model.__mro__ == (Model, object)
    for name in ("_dss_origin", "_dss_line", "_dss_where", "idnumber"):
        assert name not in vars(Model)


def test_what_the_checkers_accept_runs(plugin: Path) -> None:
    run = subprocess.run([sys.executable, "usage_correct.py"], cwd=plugin, env=_env(plugin),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_mypy_finds_exactly_the_deliberate_errors(plugin: Path, tmp_path: Path) -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[test]')")
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n")
    # dss_core is read for its types; its own errors (if any) are not this test's business
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), "--no-incremental",
         "--cache-dir", str(tmp_path / "cache"), "--follow-imports=silent",
         "--python-version=3.11", "--no-error-summary", "--show-error-codes", *_files(plugin)],
        cwd=plugin, env=_env(plugin), capture_output=True, text=True, timeout=600)
    errors = re.findall(r"^(\S+?\.py):(\d+): error: .*\[([\w-]+)\]$", run.stdout, re.M)
    expected = sorted((f"usage_{case}.py", str(ERROR_LINE), code)
                      for case, (_, code, _) in ERRORS.items())
    assert sorted(errors) == expected, run.stdout + run.stderr
    assert run.returncode == 1, run.stdout + run.stderr


def _pyright_or_skip(env: dict[str, str]) -> None:
    if importlib.util.find_spec("pyright") is None:
        pytest.skip("pyright is not installed (pip install -e '.[test]')")
    try:
        probe = subprocess.run([sys.executable, "-m", "pyright", "--version"], env=env,
                               capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.skip("pyright did not start in 120 s (it may be fetching Node.js)")
    if probe.returncode != 0:
        pytest.skip(f"pyright cannot run here (it needs Node.js): {probe.stderr.strip()[-300:]}")


def test_pyright_finds_exactly_the_deliberate_errors(plugin: Path, tmp_path: Path) -> None:
    env = _env(plugin)
    _pyright_or_skip(env)
    config = tmp_path / "pyrightconfig.json"
    config.write_text(json.dumps({"pythonVersion": "3.11", "typeCheckingMode": "standard",
                                  "extraPaths": [str(ROOT), str(plugin)]}))
    run = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "--project", str(config),
         "--pythonpath", sys.executable, *_files(plugin)],
        cwd=plugin, env=env, capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"pyright gave no report: {run.stdout[-2000:]}{run.stderr[-2000:]}")
    errors = sorted((Path(d["file"]).name, d["range"]["start"]["line"] + 1, d.get("rule", ""))
                    for d in report["generalDiagnostics"] if d["severity"] == "error")
    expected = sorted((f"usage_{case}.py", ERROR_LINE, rule)
                      for case, (_, _, rule) in ERRORS.items())
    assert errors == expected, textwrap.shorten(json.dumps(report["generalDiagnostics"]), 3000)
