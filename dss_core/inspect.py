"""What ``dss list``, ``dss show`` and ``dss check`` print: the installation and single objects explained."""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Any

from .actions import jsonable
from .errors import DssError
from .settings import CORE_SETTINGS, TOP_LEVEL_SETTINGS
from .trees import open_datastore


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _importer_label(tree: Any, branch: str) -> str:
    spec = tree.branches[branch].importer
    if isinstance(spec, str):
        return f"importer {spec!r}"
    if isinstance(spec, type):
        return f"importer {spec.__name__}"
    return "importer (records)" if spec is not None else "no importer"


def describe_installation(session: Any) -> list[str]:
    """Lines for ``dss list``."""
    pm = session.plugins
    lines = [f"dss-core {_version('dss-core')}", "", "Plugins:"]
    if not pm.loaded and not pm.load_failures:
        lines.append("  (none installed)")
    for info in pm.loaded:
        lines.append(f"  {info.name}  {info.distribution} {info.version}  ({info.module})")
    for failure in pm.load_failures:
        lines.append(f"  {failure.name}  {failure.distribution}  BROKEN: {failure.error}")
    try:
        registry = session.registry
    except DssError as exc:
        lines += ["", f"error: {exc}"]
        return lines
    lines += ["", "Importers:"]
    for name, cls in sorted(registry.importers.items()):
        owner = registry.owners.get(("importer", name), "")
        lines.append(f"  {name}  {cls.__module__}.{cls.__qualname__}  [{owner}]")
        lines += [f"      {s.describe()}" for s in cls.declared_settings]
    lines += ["", "Settings of every branch (dss-core; [trees.<tree>] for all of a tree's "
                  "branches, [trees.<tree>.<branch>] for one):"]
    lines += [f"  {s.describe()}" for s in CORE_SETTINGS]
    lines += ["", "Top-level settings:"]
    lines += [f"  {s.describe()}" for s in TOP_LEVEL_SETTINGS]
    lines += ["", "Datastores:"]
    if not registry.datastores:
        lines.append("  (none: install or write a plugin that registers one)")
    for name, ds in sorted(registry.datastores.items()):
        owner = registry.owners.get(("datastore", name), "")
        lines.append(f"  {name}  [{owner}]" + (f"  {ds.description}" if ds.description else ""))
        try:
            source, dests = open_datastore(ds, session.config, pm, registry.trees)
        except DssError as exc:
            lines.append(f"    error: {exc}")
            continue
        for role, tree in [("source", source)] + [("destination", d) for d in dests]:
            handler = f", handler {tree.handler.__name__}" if tree.handler else ""
            lines.append(f"    {role} tree {tree.name} ({type(tree).__name__}{handler})")
            if tree.handler is not None and tree.handler.declared_settings:
                lines.append(f"      handler {tree.handler.__name__} settings "
                             f"([trees.{tree.name}]):")
                lines += [f"        {s.describe()}" for s in tree.handler.declared_settings]
            for branch in tree.branch_order:
                declared = tree.branches[branch]
                mode = f", mode {declared.mode}" if declared.mode != "full" else ""
                lines.append(f"      {branch}: model {declared.model.__name__}, "
                             f"{_importer_label(tree, branch)}{mode}")
    return lines


def check_datastore(session: Any, name: str | None) -> tuple[list[str], bool]:
    """Lines for ``dss check`` and whether everything is consistent.

    Everything a run would read is read, nothing is written: every importer of
    every tree runs (``sis.users: 977 objects from 1000 records``), each
    destination's handler checks its destination (:meth:`Handler.verify`),
    and the source and destination models are compared. A problem becomes an
    ``error:`` line naming its branch, and the check goes on with the next.
    Each branch's configured settings are shown (secret ones as ``***``).
    """
    from .diff import compare_models
    from .importers import duplicate_policy

    registry = session.registry
    ds = registry.datastore(name, session.config)
    source, dests = open_datastore(ds, session.config, session.plugins, registry.trees)
    lines = [f"datastore {ds.name}: source {source.name}, destinations "
             f"{', '.join(d.name for d in dests)}: branches mirror ({', '.join(source.branch_order)})"]
    ok = True

    def error(exc: BaseException, where: str = "") -> bool:
        """Add the error lines of ``exc``; False when each was already there."""
        nonlocal ok
        ok = False
        problems = getattr(exc, "problems", None)
        if not isinstance(problems, list) or not problems:
            problems = [str(exc) if isinstance(exc, DssError) else f"{type(exc).__name__}: {exc}"]
        added = False
        for problem in problems:
            text = str(problem)
            if where and not text.startswith(where):
                text = f"{where}: {text}"
            if f"error: {text}" not in lines:  # met already: a bad setting, a missing table
                lines.append(f"error: {text}")
                added = True
        return added

    for tree in (source, *dests):
        for branch in tree.branch_order:
            try:
                duplicate_policy(tree.importer_for(branch), tree.branches[branch].on_duplicate)
                tree.mode_of(branch)
            except DssError as exc:
                error(exc)
    try:
        for tree in (source, *dests):
            role = "source" if tree is source else "destination"
            if tree is not source and tree.handler is not None:
                try:
                    tree.handler(tree, None).verify()
                    lines.append(f"destination {tree.name}: handler {tree.handler.__name__} is ready")
                except Exception as exc:  # noqa: BLE001  (a plugin's own error is reported too)
                    error(exc)
            failed: list[str] = []
            for branch in tree.branch_order:
                lines += _load_branch(tree, branch, role, failed, error)
                lines += _settings_lines(tree, branch)
    finally:
        for tree in (source, *dests):
            tree.clear()
    for dest in dests:
        for branch in source.branch_order:
            s_model = source.branches[branch].model
            d_model = dest.branches[branch].model
            cmp = compare_models(branch, s_model, d_model, source.name, dest.name)
            for err in cmp.errors:
                ok = False
                lines.append(f"{err.method}: {err.error}")
            if not cmp.errors:
                lines.append(f"{source.name}.{branch} ~ {dest.name}.{branch}: "
                             f"{len(cmp.attributes)} tracked attribute"
                             f"{'' if len(cmp.attributes) == 1 else 's'} match "
                             f"({', '.join(cmp.attributes)})")
    lines.append("OK" if ok else "check failed")
    return lines, ok


def _load_branch(tree: Any, branch: str, role: str, failed: list[str],
                 error: Callable[[BaseException, str], bool]) -> list[str]:
    """Run one branch's importer as a run would, into the tree; its line, or an error."""
    from .importers import load_branch

    where = f"{tree.name}.{branch}"
    try:
        importer = tree.importer_for(branch)
        if failed and importer.derived:
            return [f"{role} {where}: not read: derived from {', '.join(failed)}, which failed"]
        data = tree.branch(branch)
        count = load_branch(importer, data, tree.branches[branch].on_duplicate)
        described = importer.describe()
    except Exception as exc:  # noqa: BLE001  (an importer's error names its branch and goes on)
        failed.append(branch)
        if error(exc, where):
            return []
        return [f"{role} {where}: not read (the error above)"]
    objects = len(data)
    return [f"{role} {where}: {objects} object{'' if objects == 1 else 's'} from {count} "
            f"record{'' if count == 1 else 's'} ({described})"]


def _settings_lines(tree: Any, branch: str) -> list[str]:
    """The branch's configured settings as ``    key = value``; secret ones as ``***``."""
    from .configcheck import known_settings
    from .settings import env_name

    known = known_settings(tree, branch)
    environ = tree.config.environ
    prefix = f"DSS_{env_name(tree.name)}_"
    out = []
    for key, value in tree.settings(branch).items():
        setting = known.get(key)
        shown = "***" if setting is None or setting.secret else repr(value)
        variable = next((v for v in (f"{prefix}{env_name(branch)}_{key.upper()}",
                                     f"{prefix}{key.upper()}") if v in environ), None)
        out.append(f"    {key} = {shown}" + (f"  (from {variable})" if variable else ""))
    return out


def show_object(session: Any, name: str | None, branch: str, idnumber: str) -> tuple[list[str], bool]:
    """Lines for ``dss show`` and whether the object exists on any tree."""
    from .diff import _attribute_error, diff_branch

    registry = session.registry
    ds = registry.datastore(name, session.config)
    source, dests = open_datastore(ds, session.config, session.plugins, registry.trees)
    if branch not in source.branches:
        raise DssError(f"datastore {ds.name} has no branch {branch!r} "
                       f"(branches: {', '.join(source.branch_order)})")
    lines: list[str] = []
    found = False
    for tree in (source, *dests):
        tree.load()
        obj = tree.branch(branch).get(idnumber)
        role = "source" if tree is source else "destination"
        if obj is None:
            lines.append(f"{role} {tree.name}.{branch}: no object {idnumber!r}")
            continue
        found = True
        lines.append(f"{role} {tree.name}.{branch} {idnumber!r}  from {obj.dss_origin}")
        try:
            values = obj.values()
        except Exception as exc:  # a derived property failed on this object's data
            raise _attribute_error(exc, obj) from exc
        for attr, value in values.items():
            shown = jsonable(value) if isinstance(value, (set, frozenset)) else value
            lines.append(f"    {attr} = {shown!r}")
    for dest in dests:
        actions, olds = diff_branch(source, dest, branch)
        mine = [a for a in actions + olds if a.idnumber == idnumber]
        if mine:
            lines.append(f"differences with {dest.name}:")
            lines += [f"    {a.message}" for a in mine]
        elif found:
            lines.append(f"no differences with {dest.name}")
    return lines, found
