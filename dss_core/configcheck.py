"""The configuration check: every key known, every value of its type, before anything runs.

Uses the settings each part declares (:mod:`dss_core.settings`): the core's,
each branch's importer's and the destination handler's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .config import Config
from .declaration import TreeDeclaration
from .errors import ConfigurationError
from .loading import importer_class
from .settings import CORE_SETTINGS, TOP_LEVEL_SETTINGS, Setting, env_name, nearest, validate


def known_settings(tree: TreeDeclaration, branch: str) -> dict[str, Setting]:
    """Every setting branch ``branch`` of ``tree`` accepts: the core's, its importer's, the handler's."""
    out = {s.name: s for s in CORE_SETTINGS}
    try:
        importer = importer_class(tree, branch)
    except ConfigurationError:
        importer = None
    if importer is not None:
        out.update((s.name, s) for s in importer.declared_settings)
    if tree.handler is not None:
        out.update((s.name, s) for s in tree.handler.declared_settings)
    return out


def check_configuration(config: Config, trees: Sequence[TreeDeclaration]) -> None:
    """Refuse unknown keys and values of the wrong type for ``trees``, before anything runs.

    Looks at the top level, each tree's table and branch tables, and every
    ``DSS_<TREE>_...`` environment variable of these trees.
    """
    where_file = f"{config.path.name}: " if config.path else ""
    top = {s.name: s for s in TOP_LEVEL_SETTINGS}
    for key, value in config.data.items():
        if key not in top:
            raise ConfigurationError(
                f"{where_file}unknown setting {key!r}{nearest(key, top)}; the top level "
                f"holds {', '.join(sorted(top))}")
        if key != "trees":
            validate(top[key], value, f"{where_file}{key}")
    tables = config.data.get("trees", {})
    for tree in trees:
        per_branch = {b: known_settings(tree, b) for b in tree.branch_order}
        tree_known: dict[str, Setting] = {}
        for known in per_branch.values():
            tree_known.update(known)
        table = tables.get(tree.name, {}) if isinstance(tables, Mapping) else {}
        for key, value in table.items():
            where = f"{where_file}trees.{tree.name}.{key}"
            if key in per_branch and isinstance(value, Mapping):
                _check_table(value, per_branch[key], f"{where}", f"branch {tree.name}.{key}")
            elif key in tree_known:
                validate(tree_known[key], value, where)
            else:
                hint = nearest(key, [*tree_known, *per_branch])
                what = "branch or setting" if isinstance(value, Mapping) else "setting"
                raise ConfigurationError(
                    f"{where}: unknown {what} {key!r}{hint}; tree {tree.name} has branches "
                    f"{', '.join(tree.branch_order)} (dss list shows every setting)")
        _check_environment(config.environ, tree, per_branch, tree_known)


def _check_table(table: Mapping[str, Any], known: Mapping[str, Setting], where: str,
                 what: str) -> None:
    for key, value in table.items():
        setting = known.get(key)
        if setting is None:
            raise ConfigurationError(
                f"{where}.{key}: unknown setting {key!r}{nearest(key, known)} for {what} "
                f"(dss list shows every setting)")
        validate(setting, value, f"{where}.{key}")


def _check_environment(environ: Mapping[str, str], tree: TreeDeclaration,
                       per_branch: Mapping[str, Mapping[str, Setting]],
                       tree_known: Mapping[str, Setting]) -> None:
    prefix = f"DSS_{env_name(tree.name)}_"
    branch_prefixes = sorted(((f"{env_name(b)}_", b) for b in per_branch),
                             key=lambda p: -len(p[0]))
    for variable, value in environ.items():
        if not variable.startswith(prefix):
            continue
        rest = variable[len(prefix):]
        branch = next((b for p, b in branch_prefixes if rest.startswith(p)), None)
        key = (rest[len(env_name(branch)) + 1:] if branch else rest).lower()
        known = per_branch[branch] if branch else tree_known
        setting = known.get(key)
        if setting is None:
            names = [f"{prefix}{env_name(branch) + '_' if branch else ''}{k.upper()}" for k in known]
            raise ConfigurationError(
                f"environment variable {variable}: unknown setting {key!r} for "
                f"{'branch ' + tree.name + '.' + branch if branch else 'tree ' + tree.name}"
                f"{nearest(variable, names)}")
        validate(setting, value, f"environment variable {variable}", from_env=True)
