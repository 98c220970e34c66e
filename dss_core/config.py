"""Configuration: ``[tool.dss]`` in ``pyproject.toml`` or a ``dss.toml``, plus the environment.

Layout (in ``dss.toml`` drop the ``tool.dss`` prefix)::

    [tool.dss]
    datastore = "school"              # the default for `dss run`

    [tool.dss.trees.lms]              # settings for every branch of tree `lms`
    url = "sqlite:///lms.db"

    [tool.dss.trees.sis.users]        # settings for one branch's importer
    path = "exports/students.csv"
    delimiter = "\\t"
    mode = "no-retire"                # sync mode of this branch

Environment variables override files, for secrets:
``DSS_<TREE>_<KEY>`` for a tree (``DSS_LMS_URL``) and
``DSS_<TREE>_<BRANCH>_<KEY>`` for one branch (``DSS_SIS_USERS_PATH``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigurationError
from .redaction import register_secret, register_url_secrets

CONFIG_FILES = ("dss.toml", "pyproject.toml")


class Config:
    """Loaded settings for one invocation; importers read theirs with :meth:`settings_for`."""

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        path: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.data: dict[str, Any] = dict(data or {})
        self.path = path
        self.base_dir = path.parent if path else Path.cwd()
        self.environ = os.environ if environ is None else environ
        self.options: dict[str, Any] = {}  # values of plugin CLI options
        _register_secrets(self.data, self.environ)

    @classmethod
    def load(cls, path: str | Path | None = None, cwd: Path | None = None) -> Config:
        """Read ``path``, or the first of ``dss.toml`` / ``pyproject.toml`` in ``cwd``."""
        if path is not None:
            file = Path(path)
            if not file.is_file():
                raise ConfigurationError(f"configuration file not found: {file}")
            return cls(_read(file), file.resolve())
        base = cwd or Path.cwd()
        for name in CONFIG_FILES:
            file = base / name
            if file.is_file():
                data = _read(file)
                if data or name == "dss.toml":
                    return cls(data, file.resolve())
        return cls()

    @property
    def datastore(self) -> str | None:
        """The default datastore name, if configured."""
        value = self.environ.get("DSS_DATASTORE") or self.data.get("datastore")
        return str(value) if value else None

    def settings_for(
        self, tree: str, branch: str | None = None, branches: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Settings of ``tree`` (and ``branch``): file values, then environment overrides.

        ``branches`` names every branch of the tree: a table under the tree
        whose name is not a branch (``rename = {...}``) is then a tree-wide
        setting, and a branch's environment variables stay with that branch.
        Without it every table under the tree is taken for a branch.
        """
        trees = _check_trees(self.data, self.path)
        tree_table = trees.get(tree, {})
        names = set(branches) if branches is not None else None

        def is_branch(key: str, value: Any) -> bool:
            return isinstance(value, dict) and (names is None or key in names)

        merged = {k: v for k, v in tree_table.items() if not is_branch(k, v)}
        if branch is not None:
            branch_table = tree_table.get(branch, {})
            if isinstance(branch_table, dict):
                merged.update(branch_table)
        tree_prefix = f"DSS_{_env(tree)}_"
        other_branches = tuple(f"{tree_prefix}{_env(b)}_" for b in (names or ()) if b != branch)
        branch_prefix = f"{tree_prefix}{_env(branch)}_" if branch is not None else None
        tree_level: dict[str, Any] = {}
        branch_level: dict[str, Any] = {}
        for key, value in self.environ.items():
            if branch_prefix and key.startswith(branch_prefix):
                branch_level[key[len(branch_prefix):].lower()] = value
            elif key.startswith(tree_prefix) and not key.startswith(other_branches):
                tree_level[key[len(tree_prefix):].lower()] = value
        merged.update(tree_level)
        merged.update(branch_level)
        return merged

    def resolve_path(self, value: str | os.PathLike[str]) -> Path:
        """A path from a setting, relative to the configuration file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p


_SECRET_KEYS = ("password", "token", "secret")


def _register_secrets(data: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """Register the secrets of the settings and of ``DSS_*`` variables, so output never shows them.

    A setting (at any depth) or a ``DSS_*`` variable named ``url``, ``password``, ``token``,
    ``secret`` or ending in ``_url``, ``_password``, ... is a secret (a URL: its passwords);
    so are the passwords of any other value written as ``scheme://user:password@...``.
    """
    def register(key: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                register(str(k), v)
        elif isinstance(value, list | tuple):
            for v in value:
                register(key, v)
        elif value is not None and not isinstance(value, bool):
            name = key.lower()
            if name in _SECRET_KEYS or name.endswith(tuple(f"_{k}" for k in _SECRET_KEYS)):
                register_secret(value)
            elif name == "url" or name.endswith("_url") or "://" in str(value):
                register_url_secrets(value)

    register("", data)
    for key, value in environ.items():
        if key.startswith("DSS_"):
            register(key, value)


def _env(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).upper()


def _check_trees(data: Mapping[str, Any], file: Path | None) -> dict[str, Any]:
    """The ``trees`` table of ``data``; ConfigurationError unless it and each tree's entry are tables."""
    where = f"{file}: " if file else ""
    trees = data.get("trees", {})
    if not isinstance(trees, dict):
        raise ConfigurationError(f"{where}`trees` must be a table ([trees.<tree>]), "
                                 f"not a {type(trees).__name__}")
    for name, table in trees.items():
        if not isinstance(table, dict):
            raise ConfigurationError(f"{where}`trees.{name}` must be a table ([trees.{name}]), "
                                     f"not a {type(table).__name__}")
    return trees


def _read(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{file}: not valid TOML: {exc}") from None
    if file.name == "pyproject.toml":
        data = data.get("tool", {}).get("dss", {})
    _check_trees(data, file)
    return dict(data)
