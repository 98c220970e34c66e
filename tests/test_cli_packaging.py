"""Packaging (issue 9.6): dss-core floors, one version per package, ``dss --version``,
``dss list --json``, a closed pipe, and dss-sql's fixtures named so they cannot collide."""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent

#: every package of the project: its folder, its distribution, its import package
PACKAGES = [
    (".", "dss-core", "dss_core"),
    ("plugins/dss-csv", "dss-csv", "dss_csv"),
    ("plugins/dss-sql", "dss-sql", "dss_sql"),
    ("plugins/dss-postgres", "dss-postgres", "dss_postgres"),
    ("plugins/dss-ldap", "dss-ldap", "dss_ldap"),
    ("plugins/dss-scim", "dss-scim", "dss_scim"),
    ("examples/school", "dss-school-demo", "school_sync"),
    ("examples/moodle", "dss-moodle-example", "moodle_sync"),
]
OURS = {dist for _, dist, _ in PACKAGES}

SOURCE = {"users": [{"idnumber": "1", "_lastfirst": "Doe, Jane", "department": "math"}]}
DEST = {"users": [{"idnumber": "9", "name": "Old One"}], "groups": []}


def _pyproject(folder: str) -> dict[str, Any]:
    return tomllib.loads((ROOT / folder / "pyproject.toml").read_text())


def test_the_list_of_packages_is_complete():
    found = {str(p.parent.relative_to(ROOT)) for p in ROOT.glob("*/*/pyproject.toml")
             if p.parent.parent.name in ("plugins", "examples")}
    assert found == {folder for folder, _, _ in PACKAGES[1:]}


@pytest.mark.parametrize("folder", [folder for folder, _, _ in PACKAGES[1:]])
def test_every_package_declares_a_floor_for_dss_core_and_its_dss_dependencies(folder: str):
    requirements = [Requirement(r) for r in _pyproject(folder)["project"]["dependencies"]]
    names = {r.name for r in requirements}
    assert "dss-core" in names
    for requirement in requirements:
        if requirement.name in OURS:
            floors = [s for s in requirement.specifier if s.operator in (">=", "~=", "==")]
            assert floors, f"{folder}: {requirement} has no version floor"
            assert all(s.version != "0" for s in floors)


@pytest.mark.parametrize(("folder", "dist", "package"), PACKAGES)
def test_the_version_is_written_once_in_the_package(folder: str, dist: str, package: str):
    project = _pyproject(folder)["project"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = _pyproject(folder)["tool"]["setuptools"]["dynamic"]
    assert dynamic["version"] == {"attr": f"{package}.__version__"}
    # a literal, so that setuptools reads it without importing the package
    init = next((ROOT / folder).glob(f"{package}/__init__.py"))
    versions = [node.value.value for node in ast.parse(init.read_text()).body
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and [getattr(t, "id", "") for t in node.targets] == ["__version__"]]
    assert len(versions) == 1 and re.fullmatch(r"\d+\.\d+\.\d+\S*", versions[0])
    # the installed distribution says the same (.ci/setup-venv reinstalls on a change)
    assert metadata.version(dist) == versions[0] == importlib.import_module(package).__version__


# ---------------------------------------------------------------------------
# The dss command
# ---------------------------------------------------------------------------

def _environ(site: Path, **extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DSS_") and k != "PYTHONPATH"}
    environ["PYTHONPATH"] = str(site)
    environ.update(extra)
    return environ


def _dss(site: Path, cwd: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("capture_output", True)
    return subprocess.run([sys.executable, "-m", "dss_core", *args], cwd=cwd, env=_environ(site),
                          text=True, timeout=120, **kwargs)


@pytest.fixture
def sync_folder(tmp_path: Path) -> Path:
    (tmp_path / "export.json").write_text(json.dumps(SOURCE))
    (tmp_path / "lms.json").write_text(json.dumps(DEST))
    (tmp_path / "dss.toml").write_text('[trees.src.users]\npath = "export.json"\n')
    return tmp_path


def test_version_lists_dss_core_and_every_plugin_with_its_version(broken_site: Path,
                                                                   tmp_path: Path):
    result = _dss(broken_site, tmp_path, "--version")
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert lines[0] == f"dss-core {metadata.version('dss-core')}"
    listed = json.loads(_dss(broken_site, tmp_path, "list", "--json").stdout)
    assert {p["name"] for p in listed["plugins"]} >= {"testplugin", "csv", "sql"}
    for plugin in listed["plugins"]:
        assert f"  plugin {plugin['name']}: {plugin['distribution']} {plugin['version']}" in lines
        if plugin["distribution"] in OURS:
            assert plugin["version"] == metadata.version(plugin["distribution"])
    assert "  plugin testplugin: dss-testplugin 1.2.3" in lines
    assert "  plugin broken: dss-broken 0.0.1 (failed to load)" in lines
    assert len(lines) == 1 + len(listed["plugins"]) + 1
    only_core = _dss(broken_site, tmp_path, "--no-plugins", "--version")
    assert only_core.stdout.splitlines() == lines[:1] and only_core.stderr == ""


def _assert_json_matches_text(site: Path, cwd: Path, *options: str) -> dict[str, Any]:
    from dss_core.inspect import installation_lines

    text = _dss(site, cwd, *options, "list")
    as_json = _dss(site, cwd, *options, "list", "--json")
    assert text.returncode == as_json.returncode == 0, (text, as_json)
    assert text.stderr == as_json.stderr
    data = json.loads(as_json.stdout)
    assert installation_lines(data) == text.stdout.splitlines()
    return data


def test_list_json_holds_what_list_shows(broken_site: Path, sync_folder: Path):
    data = _assert_json_matches_text(broken_site, sync_folder)
    assert data["dss_core"] == {"distribution": "dss-core", "version": metadata.version("dss-core")}
    plugins = {p["name"]: p for p in data["plugins"]}
    assert plugins["testplugin"] == {"name": "testplugin", "distribution": "dss-testplugin",
                                     "version": "1.2.3", "module": "dss_testplugin.plugin"}
    assert data["load_failures"] == [{
        "name": "broken", "distribution": "dss-broken",
        "error": "ModuleNotFoundError: No module named 'dss_no_such_dependency'"}]
    assert data["error"] is None
    importers = {i["name"]: i for i in data["importers"]}
    assert importers["json"]["class"] == "dss_testplugin.sync.JSONImporter"
    assert importers["json"]["owner"] == "dss-testplugin (plugin 'testplugin')"
    assert importers["json"]["settings"] == [{
        "name": "path", "type": "str", "default": None, "secret": False, "scope": "branch",
        "description": "the JSON file"}]
    assert "mode" in {s["name"] for s in data["branch_settings"]}
    assert "datastore" in {s["name"] for s in data["top_level_settings"]}
    testsync = next(d for d in data["datastores"] if d["name"] == "testsync")
    assert testsync["description"] == "JSON export -> JSON file" and testsync["error"] is None
    source, dest = testsync["trees"]
    assert (source["role"], source["name"], source["handler"]) == ("source", "src", None)
    assert source["class"] == "dss_testplugin.sync.Source"
    assert source["branches"][0] == {
        "name": "users", "model": "dss_testplugin.sync.User", "mode": "full",
        "importer": "json", "importer_kind": "registered"}
    assert source["branches"][1]["importer_kind"] == "records"  # a generator function
    assert (dest["role"], dest["handler"]) == ("destination", "dss_testplugin.sync.JSONHandler")
    assert [s["name"] for s in dest["handler_settings"]] == ["path", "fail"]


def test_list_json_without_plugins(broken_site: Path, sync_folder: Path):
    data = _assert_json_matches_text(broken_site, sync_folder, "--no-plugins")
    assert data["plugins"] == [] and data["load_failures"] == [] and data["datastores"] == []
    assert {i["name"] for i in data["importers"]} == {"generator"}


def test_a_setting_declared_secret_has_no_default_in_the_json(broken_site: Path,
                                                              sync_folder: Path):
    data = json.loads(_dss(broken_site, sync_folder, "list", "--json").stdout)
    settings = [s for i in data["importers"] for s in i["settings"]]
    settings += [s for d in data["datastores"] for t in d["trees"] for s in t["handler_settings"]]
    secret = [s for s in settings if s["secret"]]
    assert secret, "no plugin installed here declares a secret setting"
    assert all(s["default"] is None for s in secret)


# ---------------------------------------------------------------------------
# A closed pipe
# ---------------------------------------------------------------------------

CLOSED_PIPE_COMMANDS = {
    "list": (["list"], 0),
    "list --json": (["list", "--json"], 0),
    "--help": (["--help"], 0),
    "run --help": (["run", "--help"], 0),
    "--version": (["--version"], 0),
    "show": (["show", "users", "1", "--datastore", "testsync"], 0),
    "show (not found)": (["show", "users", "nobody", "--datastore", "testsync"], 1),
    "check": (["check", "testsync"], 0),
    "plan": (["plan", "testsync"], 0),
    "run": (["run", "testsync"], 0),
    "hello": (["hello"], 0),
}


@pytest.mark.parametrize("command", list(CLOSED_PIPE_COMMANDS))
def test_a_closed_stdout_ends_quietly_with_the_commands_own_exit_code(
        command: str, testplugin_site: Path, sync_folder: Path):
    args, code = CLOSED_PIPE_COMMANDS[command]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before dss writes anything: every write fails
    try:
        result = _dss(testplugin_site, sync_folder, *args, stdout=write_end,
                      stderr=subprocess.PIPE, capture_output=False)
    finally:
        os.close(write_end)
    assert result.stderr == "", result.stderr
    assert result.returncode == code
    if command == "run":  # the run went on to the end: the destination is in sync
        users = {u["idnumber"] for u in json.loads((sync_folder / "lms.json").read_text())["users"]}
        assert users == {"1"}


def test_stdout_and_stderr_closed_together(broken_site: Path, sync_folder: Path):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = _dss(broken_site, sync_folder, "list", stdout=write_end, stderr=write_end,
                      capture_output=False)
    finally:
        os.close(write_end)
    assert result.returncode == 0


@pytest.mark.parametrize(("args", "first"), [("list", "dss-core "), ("list --json", "{"),
                                             ("--help", "Usage: dss ")])
def test_dss_piped_into_head(args: str, first: str, testplugin_site: Path, sync_folder: Path):
    script = (f"set -o pipefail; {sys.executable} -m dss_core {args} | head -1; "
              "echo \"status ${PIPESTATUS[*]}\" >&2")
    result = subprocess.run(["bash", "-c", script], cwd=sync_folder, env=_environ(testplugin_site),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result
    assert result.stderr == "status 0 0\n", result.stderr
    assert result.stdout.startswith(first) and result.stdout.count("\n") == 1


# ---------------------------------------------------------------------------
# dss-sql's pytest fixtures
# ---------------------------------------------------------------------------

OLD_FIXTURES = ("sqlite_url", "postgres_url", "mariadb_url")


def test_dss_sql_fixtures_are_named_so_they_cannot_collide(tmp_path: Path):
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider",
                           "-q", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = set(re.findall(r"^(\w+)(?: \[.*?\])?(?: --.*)?$", proc.stdout, re.MULTILINE))
    assert {"dss_sqlite_url", "dss_postgres_url", "dss_mariadb_url"} <= names, proc.stdout
    assert not names & set(OLD_FIXTURES), proc.stdout


def _fixture_name(node: ast.expr) -> str:
    """A fixture name as written: ``'x_url'``, or ``'{}_url'`` for ``f"{db}_url"``."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return ""


def test_no_test_asks_for_the_old_fixture_names():
    asking = []
    for folder in ("tests", "plugins", "examples"):
        for path in (ROOT / folder).rglob("*.py"):
            if "build" in path.parts or ".venv" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    params = {a.arg for a in [*node.args.posonlyargs, *node.args.args,
                                              *node.args.kwonlyargs]}
                    asking += [f"{where} {node.name}({name})"
                               for name in params & set(OLD_FIXTURES)]
                # request.getfixturevalue(f"{db}_url"), pytest.mark.usefixtures("sqlite_url")
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in ("getfixturevalue", "usefixtures")):
                    names = [_fixture_name(arg) for arg in node.args]
                    asking += [f"{where} {node.func.attr}({name!r})" for name in names
                               if name.endswith("_url") and not name.startswith("dss_")]
    assert not asking
