"""Fixtures of the dss-csv tests: a tree whose branch is read by the CSV importer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dss_csv.plugin
import pytest

from dss_core import Branch, Config, Model, Tree
from dss_core.plugins import builtin_plugin_manager


class Student(Model):
    """The model most tests read into."""

    name: str = ""
    email: str = ""


@pytest.fixture
def csv_plugins() -> Any:
    """The builtin plugins plus dss-csv's hooks (nothing else installed leaks in)."""
    pm = builtin_plugin_manager()
    pm.register(dss_csv.plugin, name="csv")
    return pm


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """``write("students.csv", text, encoding="utf-8")`` writes a file in tmp_path (bytes as given)."""

    def make(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return make


@pytest.fixture
def make_tree(csv_plugins: Any) -> Callable[..., Tree]:
    """``make_tree(config, model=Student, importer="csv")``: an unloaded tree ``sis``."""

    def make(config: Config, model: type[Model] = Student, importer: Any = "csv",
             on_duplicate: str | None = None) -> Tree:
        class SIS(Tree):
            name = "sis"
            users = Branch(model, importer=importer, on_duplicate=on_duplicate)

        return SIS(config=config, plugins=csv_plugins)

    return make


@pytest.fixture
def load(tmp_path: Path, make_tree: Callable[..., Tree]) -> Callable[..., Tree]:
    """``load(settings, model=Student, importer="csv", environ={})``: a loaded tree ``sis``.

    The settings are the ``[tool.dss.trees.sis.users]`` table of a configuration
    file in tmp_path, so relative paths resolve there.
    """

    def make(settings: dict[str, Any] | None = None, model: type[Model] = Student,
             importer: Any = "csv", environ: dict[str, str] | None = None,
             on_duplicate: str | None = None) -> Tree:
        config = Config({"trees": {"sis": {"users": dict(settings or {})}}},
                        path=tmp_path / "dss.toml", environ=environ or {})
        return make_tree(config, model, importer, on_duplicate).load()

    return make
