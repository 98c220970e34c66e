"""`dss check` reads everything a run would read and writes nothing; `dss list` and `dss check` show settings.

The sync under test is a small plugin written into a folder with its own
``.dist-info`` (a real entry point, found by ``importlib.metadata``), and the
real ``dss`` command runs in a subprocess on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = '''
from dss_core import (Branch, ConfigurationError, Datastore, Handler, Importer, InputError,
                      Model, Origin, Record, Setting, Tree, hookimpl)


class LinesImporter(Importer):
    """One user per line, ``idnumber,name``; a name ``-`` is a withdrawn user (filtered out)."""

    name = "lines"
    declared_settings = (Setting("path", str, None, "the text file"),
                         Setting("token", str, None, "an API token", secret=True))

    def readin(self):
        path = self.tree.config.resolve_path(self.setting("path"))
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "," not in line:
                raise InputError("not idnumber,name", Origin(path.name, number, "line"))
            idnumber, name = line.split(",", 1)
            yield Record({"idnumber": idnumber, "name": name}, Origin(path.name, number, "line"))

    def filter_out(self, record):
        return record["name"] == "-"

    def describe(self):
        return str(self.setting("path"))


class User(Model):
    name: str


class Group(Model):
    members: set[str] = set()


def initials(importer):
    for user in importer.tree.branch("users").values():
        yield {"idnumber": user.name[0], "members": user.idnumber}


class Source(Tree):
    name = "src"
    users = Branch(User, importer="lines")
    groups = Branch(Group, importer=initials)


class MarkerHandler(Handler):
    """Writes a marker file when a run begins: `dss check` must never make one."""

    declared_settings = (
        Setting("password", str, None, "the destination's password", secret=True),
        Setting("problems", str, "", "problems verify() reports, comma-separated"),
    )

    def verify(self):
        problems = [p for p in str(self.settings.get("problems") or "").split(",") if p]
        if problems:
            error = ConfigurationError(problems[0])
            error.problems = problems
            raise error

    def begin(self):
        self.config.resolve_path("begun.txt").write_text("a run began")

    def new(self, action):
        return None


class Dest(Tree):
    name = "dst"
    handler = MarkerHandler
    users = Branch(User, importer="lines")
    groups = Branch(Group, importer=[])


@hookimpl
def dss_importers():
    return [LinesImporter]


@hookimpl
def dss_datastores():
    return [Datastore("lines", Source, [Dest], description="text lines -> text lines")]
'''

CONFIG = '''
[trees.src.users]
path = "users.txt"
token = "tok-SECRET-1"

[trees.dst]
password = "pw-SECRET-2"

[trees.dst.users]
path = "dest.txt"
'''


def plugin_site(folder: Path, name: str, source: str) -> Path:
    """A folder holding plugin module ``source`` as an installed distribution with a `dss` entry point."""
    site = folder / "site"
    site.mkdir()
    module = f"dss_{name}_plugin"
    (site / f"{module}.py").write_text(source)
    info = site / f"dss_{name}_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: dss-{name}-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[dss]\n{name} = {module}\n")
    return site


class Result:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code, self.out, self.err = proc.returncode, proc.stdout, proc.stderr
        self.lines = proc.stdout.splitlines()

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@pytest.fixture
def lines_sync(tmp_path: Path):
    """``dss(*args, env=None)``: the real `dss` command in ``tmp_path`` with the lines sync."""
    site = plugin_site(tmp_path, "lines", PLUGIN)
    (tmp_path / "dss.toml").write_text(CONFIG)
    (tmp_path / "users.txt").write_text("1,Ann\n2,Bob\n3,-\n")
    (tmp_path / "dest.txt").write_text("1,Ann\n")

    def dss(*args: str, env: dict[str, str] | None = None) -> Result:
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith("DSS_") and k != "PYTHONPATH"}
        environ["PYTHONPATH"] = str(site)
        environ.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "dss_core", "--plugin", "lines", *args],
                              cwd=tmp_path, env=environ, capture_output=True, text=True,
                              timeout=120)
        return Result(proc)

    return dss


def test_check_reads_every_branch_of_every_tree_and_shows_their_settings(lines_sync, tmp_path):
    result = lines_sync("check", env={"DSS_DST_USERS_TOKEN": "tok-SECRET-3"})
    assert result.code == 0, result
    lines = result.lines
    assert "source src.users: 2 objects from 3 records (users.txt)" in lines
    assert "source src.groups: 2 objects from 2 records (src.groups)" in lines
    assert "destination dst: handler MarkerHandler is ready" in lines
    assert "destination dst.users: 1 object from 1 record (dest.txt)" in lines
    assert "destination dst.groups: 0 objects from 0 records (dst.groups)" in lines
    # each branch's effective settings, the tree's included; secret ones never shown
    users = lines.index("source src.users: 2 objects from 3 records (users.txt)")
    assert lines[users + 1:users + 3] == ["    path = 'users.txt'", "    token = ***"]
    dest = lines.index("destination dst.users: 1 object from 1 record (dest.txt)")
    assert lines[dest + 1:dest + 4] == ["    password = ***", "    path = 'dest.txt'",
                                        "    token = ***  (from DSS_DST_USERS_TOKEN)"]
    assert "SECRET" not in result.out + result.err
    assert lines[-1] == "OK"
    assert not (tmp_path / "begun.txt").exists()  # the handler was verified, never begun


def test_an_importer_error_is_an_error_line_naming_the_branch_and_exit_2(lines_sync, tmp_path):
    (tmp_path / "users.txt").write_text("1,Ann\n2 Bob\n")
    before = (tmp_path / "dest.txt").read_bytes()
    result = lines_sync("check")
    assert result.code == 2, result
    assert "error: src.users: users.txt line 2: not idnumber,name" in result.lines
    # a branch derived from the failed one is not read; the other trees still are
    assert "source src.groups: not read: derived from users, which failed" in result.lines
    assert "destination dst.users: 1 object from 1 record (dest.txt)" in result.lines
    assert result.lines[-1] == "check failed"
    assert (tmp_path / "dest.txt").read_bytes() == before
    assert not (tmp_path / "begun.txt").exists()


def test_a_missing_file_is_an_error_line_too(lines_sync, tmp_path):
    (tmp_path / "dest.txt").unlink()
    result = lines_sync("check")
    assert result.code == 2, result
    errors = [line for line in result.lines if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: dst.users: FileNotFoundError: ")
    assert "dest.txt" in errors[0]
    assert "source src.users: 2 objects from 3 records (users.txt)" in result.lines


def test_every_problem_a_handler_reports_is_a_line(lines_sync):
    # a handler's ConfigurationError with a `problems` list (dss-sql's MappingProblems)
    result = lines_sync("check", env={"DSS_DST_PROBLEMS": "table a is missing,column b is wrong"})
    assert result.code == 2, result
    assert [line for line in result.lines if line.startswith("error:")] == [
        "error: table a is missing", "error: column b is wrong"]
    assert "handler MarkerHandler is ready" not in result.out


def test_list_shows_the_declared_settings_of_importers_handlers_and_the_core(lines_sync):
    result = lines_sync("list")
    assert result.code == 0, result
    lines = result.lines
    importer = next(i for i, line in enumerate(lines) if line.startswith("  lines  dss_lines_plugin.LinesImporter"))
    assert lines[importer + 1:importer + 3] == [
        "      path (str, default None): the text file",
        "      token (str, default (secret)): an API token"]
    tree = lines.index("    destination tree dst (Dest, handler MarkerHandler)")
    assert lines[tree + 1:tree + 4] == [
        "      handler MarkerHandler settings ([trees.dst]):",
        "        password (str, default (secret)): the destination's password",
        "        problems (str, default ''): problems verify() reports, comma-separated"]
    assert any(line.startswith("  mode ('full' | 'create-only'") for line in lines)
    assert any(line.startswith("  deletion_limit (") for line in lines)
    assert any(line.startswith("  state_dir (str, default '.dss')") for line in lines)
    assert "SECRET" not in result.out + result.err
