"""Test kit for plugin authors, loaded by pytest through the ``pytest11`` entry point.

In an in-house plugin's tests::

    def test_new_student_is_created(dss_tree):
        source = dss_tree(SIS, users=[{"idnumber": "1", "_lastfirst": "Doe, Jo"}])
        dest = dss_tree(LMS, users=[])
        assert messages(source - dest) == ["new_users(idnumber='1')"]

    def test_sync_converges(tmp_path):
        check_conformance(school_datastore, config=Config({...}))

What is here:

* fixtures ``dss_plugins`` (the builtin plugins only: nothing installed
  leaks in), ``dss_tree`` (a tree filled from literal records through the
  real import rules) and ``dss_memory_tree`` (an in-memory destination);
* :class:`RecordingHandler`: records every action it gets, applies it to a
  :class:`MemoryDatabase`, and fails chosen actions on request;
* :func:`check_conformance`: a dry run changes nothing, and applying the
  plan then planning again gives an empty plan.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .actions import Action, Result
from .config import Config
from .errors import DssError
from .gates import Allowances
from .handlers import Handler
from .importers import GeneratorImporter, Importer
from .model import Model
from .plugins import builtin_plugin_manager
from .runner import Run, Summary, execute
from .trees import Branch, Datastore, Tree, open_datastore


def messages(actions: Iterable[Action]) -> list[str]:
    """The one-line messages of ``actions``, in order."""
    return [a.message for a in actions]


class MemoryDatabase:
    """A destination kept in memory: branch -> idnumber -> field values."""

    def __init__(self, data: dict[str, dict[str, dict[str, Any]]] | None = None) -> None:
        self.data: dict[str, dict[str, dict[str, Any]]] = {
            b: {i: dict(v) for i, v in rows.items()} for b, rows in (data or {}).items()}

    def rows(self, branch: str) -> dict[str, dict[str, Any]]:
        return self.data.setdefault(branch, {})

    def records(self, branch: str) -> list[dict[str, Any]]:
        """The rows of ``branch`` as records an importer yields."""
        return [{"idnumber": i, **v} for i, v in sorted(self.rows(branch).items())]

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {b: {i: {k: (set(v) if isinstance(v, set) else v) for k, v in row.items()}
                    for i, row in rows.items()} for b, rows in self.data.items()}


class MemoryImporter(Importer):
    """Reads a branch back from the tree's :class:`MemoryDatabase`."""

    def readin(self) -> Iterable[dict[str, Any]]:
        return self.tree.database.records(self.branch)  # type: ignore[attr-defined]

    def describe(self) -> str:
        return f"memory:{self.tree.name}.{self.branch}"


class RecordingHandler(Handler):
    """Records every action and applies it to the tree's :class:`MemoryDatabase`.

    Set ``fail`` on the class (or tree) to method names, idnumbers or action
    keys that must fail; ``raise_on`` to ones whose handler must raise.
    Applied actions are appended to ``recorded`` on the tree class.
    """

    def _should(self, action: Action, names: Iterable[str]) -> bool:
        names = set(names)
        return bool(names & {action.method, action.idnumber or "", action.key})

    def default(self, action: Action) -> Result | None:
        tree: Any = self.tree
        tree.recorded.append(action)
        if self._should(action, tree.raise_on):
            raise RuntimeError(f"told to raise on {action.method}")
        if self._should(action, tree.fail):
            return action.failed("told to fail")
        db: MemoryDatabase = tree.database
        rows = db.rows(action.branch)
        if action.kind == "new":
            assert action.source is not None
            rows[action.idnumber or ""] = _stored(action.source)
        elif action.kind == "old":
            rows.pop(action.idnumber or "", None)
        elif action.kind == "update":
            rows[action.idnumber or ""][action.attribute or ""] = action.value
        elif action.kind in ("add", "remove"):
            members = rows[action.idnumber or ""].setdefault(action.attribute or "", set())
            members = set(members)
            if action.kind == "add":
                members.add(action.value)
            else:
                members.discard(action.value)
            rows[action.idnumber or ""][action.attribute or ""] = members
        else:
            return action.dropped("model errors are not applied")
        return None


def _stored(obj: Model) -> dict[str, Any]:
    values = obj.values()
    return {k: (set(v) if isinstance(v, (set, list)) else v) for k, v in values.items()}


def memory_tree(
    name: str,
    models: dict[str, type[Model]],
    database: MemoryDatabase | None = None,
    *,
    fail: Iterable[str] = (),
    raise_on: Iterable[str] = (),
    modes: dict[str, str] | None = None,
    handler: type[Handler] = RecordingHandler,
) -> type[Tree]:
    """A destination tree class kept in memory, with a :class:`RecordingHandler`."""
    attrs: dict[str, Any] = {
        "name": name,
        "handler": handler,
        "database": database if database is not None else MemoryDatabase(),
        "fail": set(fail),
        "raise_on": set(raise_on),
        "recorded": [],
    }
    for branch, model in models.items():
        attrs[branch] = Branch(model, MemoryImporter, mode=(modes or {}).get(branch, "full"))
    return type(name.title().replace("-", "").replace("_", ""), (Tree,), attrs)


def snapshot(tree: Tree) -> dict[str, dict[str, dict[str, Any]]]:
    """Every object of ``tree`` as tracked values: what a destination holds."""
    return {b: {i: o.values() for i, o in tree.branch(b).items()} for b in tree.branch_order}


def _quiet_run(mode: str, source: Tree) -> Run:
    # conformance is about the handler: the deletion limits are lifted (a guard is not a rule)
    run = Run.create(mode, source.plugins, source.config,
                     allow=Allowances(deletions={"*": sys.maxsize}))
    run.options["quiet"] = True
    return run


def check_conformance(
    datastore: Datastore,
    config: Config | None = None,
    plugins: Any = None,
    trees: dict[str, type[Tree]] | None = None,
) -> Summary:
    """Assert the rules every sync must keep; returns the summary of the applying run.

    The deletion and member-loss limits are lifted for these runs: a test
    destination may well be emptied on purpose.

    1. A dry run changes nothing in any destination.
    2. Applying the plan fails no action.
    3. Planning again afterwards gives an empty plan.
    """
    plugins = plugins or builtin_plugin_manager()

    def fresh() -> tuple[Tree, list[Tree]]:
        source, dests = open_datastore(datastore, config, plugins, trees)
        source.load()
        for d in dests:
            d.load()
        return source, dests

    source, dests = fresh()
    before = [snapshot(d) for d in dests]
    planned = execute(_quiet_run("plan", source), source, dests, load=False)
    source, dests = fresh()
    after = [snapshot(d) for d in dests]
    assert after == before, "a dry run changed a destination"
    applied = execute(_quiet_run("apply", source), source, dests, load=False)
    assert applied.failed == 0, (
        "applying the plan failed: " + "; ".join(
            f"{r.action.message}: {r.message}" for r in applied.results if r.failed))
    assert len(applied.results) == len(planned.results), "the applied run differs from the plan"
    source, dests = fresh()
    again = execute(_quiet_run("plan", source), source, dests, load=False)
    left = [r.action.message for r in again.results]
    assert not left, f"the sync does not converge; still planned after applying: {left[:10]}"
    return applied


@pytest.fixture
def dss_plugins() -> Any:
    """A plugin manager with the builtin plugins only: installed plugins do not leak into tests."""
    return builtin_plugin_manager()


@pytest.fixture
def dss_tree(dss_plugins: Any) -> Callable[..., Tree]:
    """Factory: ``dss_tree(TreeClass, users=[{...}], groups=[...])`` gives a loaded tree."""

    def make(cls: type[Tree], config: Config | None = None, **records: Iterable[Any]) -> Tree:
        tree = cls(config=config, plugins=dss_plugins)
        return tree.load_records({k: list(v) for k, v in records.items()})

    return make


@pytest.fixture
def dss_memory_tree() -> Callable[..., type[Tree]]:
    """Factory for :func:`memory_tree`: an in-memory destination tree class."""
    return memory_tree


# -- the columnar path against the object path --------------------------------------------

def object_path(importer: type[Importer]) -> type[Importer]:
    """``importer`` with its columnar reader turned off, under the same name (origins name it)."""
    return type(importer.__name__, (importer,), {"read_columns": lambda self: None})


def _described_origin(obj: Model | None) -> str | None:
    return None if obj is None else f"{obj.dss_origin} ({obj.dss_origin.importer})"  # type: ignore[union-attr]


def branch_outcome(model: type[Model], importer: type[Importer], settings: dict[str, Any],
                   source: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """Everything a user sees of a destination branch ``users`` read by ``importer``.

    Its objects with their values and origins, its columns, and the plan of a
    source of the records ``source`` against it; ``columnar`` says whether
    the branch was stored as columns. ``settings`` are the destination tree's
    (``{"url": ..., "users": {...}}``). A :class:`DssError` gives ``{"error": ...}``.
    Comparing it with the outcome of :func:`object_path` ``(importer)`` shows
    a columnar reader changes nothing a user sees.
    """
    class Src(Tree):
        name = "src"
        users = Branch(model, importer=GeneratorImporter.of(list(source), "source records"))

    class Dst(Tree):
        name = "dst"
        users = Branch(model, importer=importer)

    config = Config({"trees": {"dst": settings}}, environ={})
    src, dst = Src(config=config), Dst(config=config)
    try:
        src.load()
        dst.load()
        actions = list(src.diff(dst))
    except DssError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    branch = dst.branch("users")
    return {
        "objects": [(i, o.values(), _described_origin(o)) for i, o in branch.items()],
        "columns": sorted(branch.columns),
        "actions": [(a.message, a.kind, a.idnumber, a.attribute, repr(a.value), repr(a.old_value),
                     _described_origin(a.source), _described_origin(a.dest)) for a in actions],
        "columnar": branch.columnar is not None,
    }


# -- the real `dss` command on an installed test plugin (end-to-end tests of a plugin) ------

@dataclass
class DssResult:
    """What one run of the ``dss`` command gave: exit code, stdout, stderr (shown whole on failure)."""

    code: int
    out: str
    err: str

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def dss_command() -> list[str]:
    """The ``dss`` script beside this Python, else ``python -m dss_core``."""
    script = Path(sys.executable).with_name("dss")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dss_core"]


def run_dss(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> DssResult:
    """Run the real ``dss`` command with ``args``; the result, whatever the exit code."""
    proc = subprocess.run([*dss_command(), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    return DssResult(proc.returncode, proc.stdout, proc.stderr)


def install_package(package: Path, scratch: Path) -> Path:
    """Install the plugin package in folder ``package`` for real, into a new folder; return it.

    Put the folder on ``PYTHONPATH`` to use the plugin through its entry points.
    The package is copied into ``scratch`` first, so that building it leaves
    no ``build/`` or ``egg-info`` in the repository.
    """
    source = scratch / "src" / package.name
    shutil.copytree(package, source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = scratch / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(source)],
        capture_output=True, text=True)
    assert proc.returncode == 0, f"installing {package.name} failed:\n{proc.stdout}\n{proc.stderr}"
    return target


def servers_required() -> bool:
    """Whether a server a test needs must be there (``DSS_REQUIRE_SERVERS=1``, as in CI)."""
    return os.environ.get("DSS_REQUIRE_SERVERS", "") not in ("", "0")


def server_unavailable(reason: str) -> None:
    """Skip the test for ``reason`` (no server here), or fail it when servers are required."""
    if servers_required():
        pytest.fail(f"{reason} (DSS_REQUIRE_SERVERS=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
