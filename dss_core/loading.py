"""The import step of the engine: find each branch's importer and fill the tree from it.

Works on a :class:`~dss_core.declaration.TreeDeclaration`: which importer a
branch names (a class, a registered name, literal records or a function),
and :func:`load_tree`, which runs them in branch order through
:func:`~dss_core.importers.load_branch`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

import pluggy

from .declaration import TreeDeclaration
from .errors import ConfigurationError
from .importers import GeneratorImporter, Importer, load_branch
from .plugins import builtin_plugin_manager, find_importer


def plugins_of(tree: TreeDeclaration) -> pluggy.PluginManager:
    """The tree's plugin manager, or a manager with the builtin plugins only."""
    pm = tree.plugin_manager
    if pm is None:
        pm = builtin_plugin_manager()
        tree._plugins = pm
    return pm


def importer_class(tree: TreeDeclaration, branch: str) -> type[Importer]:
    """The importer class of ``tree.branch`` (a named importer is looked up in the plugins)."""
    spec = tree.branches[branch].importer
    if spec is None:
        raise ConfigurationError(f"{tree.name}.{branch} has no importer")
    if isinstance(spec, type) and issubclass(spec, Importer):
        return spec
    if isinstance(spec, str):
        return find_importer(plugins_of(tree), spec, where=f"{tree.name}.{branch}")
    if callable(spec) or isinstance(spec, Iterable):
        made: dict[str, type[Importer]] = tree.__dict__.setdefault("_generated_importers", {})
        if branch not in made:
            made[branch] = GeneratorImporter.of(spec, name=f"{tree.name}.{branch}")
        return made[branch]
    raise ConfigurationError(f"{tree.name}.{branch}: not an importer: {spec!r}")


def importer_for(tree: TreeDeclaration, branch: str) -> Importer:
    """A ready importer for ``tree.branch`` with its settings."""
    return importer_class(tree, branch)(tree, branch, tree.settings(branch))


def load_tree(tree: TreeDeclaration,
              on_branch: Callable[[str, int], None] | None = None,
              on_progress: Callable[[str, int], None] | None = None) -> None:
    """Run every branch importer of ``tree`` in branch order (what ``+tree`` does).

    ``on_branch(branch, records)`` hears each branch done; ``on_progress(branch,
    records)`` each branch start (0) and every so many records while it imports.
    """
    tree.clear()
    for name in tree.branch_order:
        progress = functools.partial(on_progress, name) if on_progress is not None else None
        count = load_branch(importer_for(tree, name), tree.branch(name),
                            tree.branches[name].on_duplicate, progress)
        if on_branch is not None:
            on_branch(name, count)


def load_records(tree: TreeDeclaration, records: dict[str, Iterable[Any]]) -> None:
    """Fill branches from literal records (tests and examples), through the same rules.

    A branch not given runs its own importer when that importer is
    *derived* (reads only branches imported before it); else it stays empty.
    """
    tree.clear()
    for name in tree.branch_order:
        if name in records:
            literal = GeneratorImporter.of(list(records[name]), name=f"{tree.name}.{name}")
            importer: Importer = literal(tree, name, tree.settings(name))
        elif tree.branches[name].importer is None:
            continue
        else:
            importer = importer_for(tree, name)
            if not importer.derived:
                continue
        load_branch(importer, tree.branch(name), tree.branches[name].on_duplicate)
