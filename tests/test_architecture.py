"""The architecture, kept by contracts: dss-core and dss-sql layered, plugins on public APIs.

The contracts live in ``.importlinter`` and are checked by import-linter
(``lint-imports``), which counts every import, type-checking-only ones
included. CONTRIBUTING.md's picture of the core's layers is generated from
the code by :func:`mermaid_graph` (grimp, import-linter's own import graph);
a test keeps the two equal. After changing the core's imports::

    .venv/bin/python tests/test_architecture.py --write   # rewrite CONTRIBUTING.md's graph
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONTRACTS = REPO / ".importlinter"
CONTRIBUTING = REPO / "CONTRIBUTING.md"
START, END = "<!-- import-graph:start -->", "<!-- import-graph:end -->"

grimp = pytest.importorskip("grimp", reason="import-linter is a dev dependency (pip install -e .[dev])")


def lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(script), "--config", str(config), "--no-cache"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def layers() -> list[str]:
    """The core's layers, top first, as the contract lists them (``a | b`` for siblings)."""
    parser = configparser.ConfigParser()
    parser.read(CONTRACTS)
    text = parser["importlinter:contract:core-layers"]["layers"]
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_every_contract_is_kept() -> None:
    done = lint_imports(CONTRACTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
    assert done.stdout.count(" KEPT") == 4


def test_the_layers_contract_catches_an_import_from_below(tmp_path: Path) -> None:
    """The same contract with two layers swapped must fail: the check is not vacuous."""
    text = CONTRACTS.read_text()
    swapped = text.replace("    runner\n    applying | read_ahead\n", "    applying | read_ahead\n    runner\n")
    assert swapped != text
    config = tmp_path / "contracts.ini"
    config.write_text(swapped)
    done = lint_imports(config)
    assert done.returncode == 1
    assert "dss_core.runner is not allowed to import dss_core.applying" in done.stdout


def test_every_core_module_is_in_a_layer() -> None:
    """A new module must be placed in the contract, or the layers would say nothing about it."""
    named = {m.strip() for layer in layers() for m in layer.split("|")}
    modules = {p.stem for p in (REPO / "dss_core").glob("*.py") if p.stem != "__init__"}
    modules |= {"builtin"}
    assert modules == named, f"not in a layer: {sorted(modules - named)}; gone: {sorted(named - modules)}"


def test_plugins_may_import_no_core_module_but_the_public_ones() -> None:
    """Every core submodule is forbidden to the plugins (they use ``dss_core``'s top-level names),
    but the entry points the plugins and tests are meant to name; and every plugin is checked."""
    import configparser

    parser = configparser.ConfigParser()
    parser.read(CONTRACTS)
    contract = parser["importlinter:contract:plugins-public-core"]
    forbidden = {m.strip().removeprefix("dss_core.") for m in contract["forbidden_modules"].split()}
    modules = {p.stem for p in (REPO / "dss_core").glob("*.py")} | {"builtin"}
    public = {"__init__", "__main__", "testing"}
    assert forbidden == modules - public, f"missing: {sorted(modules - public - forbidden)}"
    packages = {p.parent.name for p in REPO.glob("*/*/*/__init__.py")
                if p.parent.parent.parent.name in ("plugins", "examples") and p.parent.name != "tests"}
    sources = {m.strip() for m in contract["source_modules"].split()}
    assert packages == sources, f"plugins not checked: {sorted(packages - sources)}"


def mermaid_graph() -> str:
    """A Mermaid flowchart of dss-core's modules, top layer first, an arrow per direct import."""
    graph = grimp.build_graph("dss_core", include_external_packages=False)

    def short(module: str) -> str:
        name = module.removeprefix("dss_core.")
        return name.split(".")[0]  # the builtin plugins as one node

    lines = ["```mermaid", "flowchart TD"]
    for index, layer in enumerate(layers()):
        members = [m.strip() for m in layer.split("|")]
        lines.append(f"  subgraph L{index} [\" \"]")
        lines += [f"    {m}" for m in members]
        lines.append("  end")
    edges: set[tuple[str, str]] = set()
    for module in graph.modules:
        if module == "dss_core":
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            if imported != "dss_core" and short(module) != short(imported):
                edges.add((short(module), short(imported)))
    lines += [f"  {a} --> {b}" for a, b in sorted(edges)]
    lines.append("```")
    return "\n".join(lines) + "\n"


def section() -> str:
    return f"{START}\n{mermaid_graph()}{END}"


def test_contributing_shows_the_graph_of_the_code() -> None:
    text = CONTRIBUTING.read_text()
    assert START in text and END in text
    current = text[text.index(START):text.index(END) + len(END)]
    assert current == section(), (
        "CONTRIBUTING.md's import graph is out of date: python tests/test_architecture.py --write")


def test_no_arrow_points_up() -> None:
    """Read off the generated graph: every import goes to the same layer or one below."""
    rank = {m.strip(): i for i, layer in enumerate(layers()) for m in layer.split("|")}
    for line in mermaid_graph().splitlines():
        if "-->" in line:
            a, b = (part.strip() for part in line.split("-->"))
            assert rank[a] < rank[b], f"{a} imports {b}, which is not below it"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        text = CONTRIBUTING.read_text()
        new = text[:text.index(START)] + section() + text[text.index(END) + len(END):]
        CONTRIBUTING.write_text(new)
        print(f"{CONTRIBUTING}: import graph written")
    else:
        print(mermaid_graph())
