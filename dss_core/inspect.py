"""What ``dss list``, ``dss show`` and ``dss check`` print: the installation and single objects explained."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from .actions import jsonable
from .errors import DssError


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
    lines += ["", "Datastores:"]
    if not registry.datastores:
        lines.append("  (none: install or write a plugin that registers one)")
    for name, ds in sorted(registry.datastores.items()):
        owner = registry.owners.get(("datastore", name), "")
        lines.append(f"  {name}  [{owner}]" + (f"  {ds.description}" if ds.description else ""))
        try:
            source, dests = ds.open(session.config, pm, registry.trees)
        except DssError as exc:
            lines.append(f"    error: {exc}")
            continue
        for role, tree in [("source", source)] + [("destination", d) for d in dests]:
            handler = f", handler {tree.handler.__name__}" if tree.handler else ""
            lines.append(f"    {role} tree {tree.name} ({type(tree).__name__}{handler})")
            for branch in tree.branch_order:
                declared = tree.branches[branch]
                mode = f", mode {declared.mode}" if declared.mode != "full" else ""
                lines.append(f"      {branch}: model {declared.model.__name__}, "
                             f"{_importer_label(tree, branch)}{mode}")
    return lines


def check_datastore(session: Any, name: str | None) -> tuple[list[str], bool]:
    """Lines for ``dss check`` and whether everything is consistent."""
    from .diff import compare_models
    from .importers import duplicate_policy

    registry = session.registry
    ds = registry.datastore(name, session.config)
    source, dests = ds.open(session.config, session.plugins, registry.trees)
    lines = [f"datastore {ds.name}: source {source.name}, destinations "
             f"{', '.join(d.name for d in dests)}: branches mirror ({', '.join(source.branch_order)})"]
    ok = True
    for tree in (source, *dests):
        for branch in tree.branch_order:
            try:
                duplicate_policy(tree.importer_for(branch), tree.branches[branch].on_duplicate)
                tree.mode_of(branch)
            except DssError as exc:
                ok = False
                lines.append(f"error: {exc}")
    for dest in dests:
        if dest.handler is not None:
            try:
                dest.handler(dest, None).verify()
                lines.append(f"destination {dest.name}: handler {dest.handler.__name__} is ready")
            except DssError as exc:
                ok = False
                lines.append(f"error: {exc}")
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


def show_object(session: Any, name: str | None, branch: str, idnumber: str) -> tuple[list[str], bool]:
    """Lines for ``dss show`` and whether the object exists on any tree."""
    from .diff import _attribute_error, diff_branch

    registry = session.registry
    ds = registry.datastore(name, session.config)
    source, dests = ds.open(session.config, session.plugins, registry.trees)
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
