"""What ``dss list``, ``dss show`` and ``dss check`` print: the installation and single objects explained."""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Any

from .actions import jsonable
from .errors import DssError
from .settings import CORE_SETTINGS, TOP_LEVEL_SETTINGS, Setting, type_name
from .trees import open_datastore


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _importer_of(tree: Any, branch: str) -> dict[str, Any]:
    """How a branch is read: a registered importer's name, a class, literal records, nothing."""
    spec = tree.branches[branch].importer
    if isinstance(spec, str):
        return {"importer": spec, "importer_kind": "registered"}
    if isinstance(spec, type):
        return {"importer": f"{spec.__module__}.{spec.__qualname__}", "importer_kind": "class"}
    return {"importer": None, "importer_kind": "records" if spec is not None else "none"}


def _importer_label(branch: dict[str, Any]) -> str:
    kind, importer = branch["importer_kind"], branch["importer"]
    if kind == "registered":
        return f"importer {importer!r}"
    if kind == "class":
        return f"importer {importer.rpartition('.')[2]}"
    return "importer (records)" if kind == "records" else "no importer"


def _setting(setting: Setting) -> dict[str, Any]:
    """A declared setting as JSON (a secret one without its default)."""
    return {"name": setting.name, "type": type_name(setting.type),
            "default": None if setting.secret else setting.default,
            "secret": setting.secret, "scope": setting.scope,
            "description": setting.description}


def _setting_line(setting: dict[str, Any]) -> str:
    """:meth:`Setting.describe` of a setting as JSON."""
    shown = "(secret)" if setting["secret"] else repr(setting["default"])
    return f"{setting['name']} ({setting['type']}, default {shown}): {setting['description']}"


def describe_versions(session: Any) -> list[str]:
    """Lines for ``dss --version``: dss-core, then every plugin with its distribution's version."""
    pm = session.plugins
    lines = [f"dss-core {_version('dss-core')}"]
    lines += [f"  plugin {info.name}: {info.distribution} {info.version}" for info in pm.loaded]
    lines += [f"  plugin {failure.name}: {failure.distribution} {_version(failure.distribution)} "
              "(failed to load)" for failure in pm.load_failures]
    return lines


def installation(session: Any) -> dict[str, Any]:
    """What ``dss list`` shows, as JSON (``dss list --json``); the text is made from it.

    Keys: ``dss_core`` (its version), ``plugins`` and ``load_failures``;
    ``error`` (the plugins' registrations clash; nothing more is there
    then), ``importers``, ``branch_settings``, ``top_level_settings`` and
    ``datastores``, each with its ``trees`` (role, handler, handler settings,
    ``branches``) or its ``error``.
    """
    pm = session.plugins
    data: dict[str, Any] = {
        "dss_core": {"distribution": "dss-core", "version": _version("dss-core")},
        "plugins": [{"name": info.name, "distribution": info.distribution,
                     "version": info.version, "module": info.module} for info in pm.loaded],
        "load_failures": [{"name": failure.name, "distribution": failure.distribution,
                           "error": failure.error} for failure in pm.load_failures],
        "error": None,
    }
    try:
        registry = session.registry
    except DssError as exc:
        data["error"] = str(exc)
        return _as_json(data)
    data["importers"] = [
        {"name": name, "class": f"{cls.__module__}.{cls.__qualname__}",
         "owner": registry.owners.get(("importer", name), ""),
         "settings": [_setting(s) for s in cls.declared_settings]}
        for name, cls in sorted(registry.importers.items())]
    data["branch_settings"] = [_setting(s) for s in CORE_SETTINGS]
    data["top_level_settings"] = [_setting(s) for s in TOP_LEVEL_SETTINGS]
    data["datastores"] = []
    for name, ds in sorted(registry.datastores.items()):
        entry: dict[str, Any] = {"name": name, "owner": registry.owners.get(("datastore", name), ""),
                                 "description": ds.description or "", "error": None, "trees": []}
        data["datastores"].append(entry)
        try:
            source, dests = open_datastore(ds, session.config, pm, registry.trees)
        except DssError as exc:
            entry["error"] = str(exc)
            continue
        for role, tree in [("source", source)] + [("destination", d) for d in dests]:
            handler = tree.handler
            entry["trees"].append({
                "role": role, "name": tree.name,
                "class": f"{type(tree).__module__}.{type(tree).__qualname__}",
                "handler": f"{handler.__module__}.{handler.__qualname__}" if handler else None,
                "handler_settings": [_setting(s) for s in handler.declared_settings]
                if handler is not None else [],
                "branches": [{"name": branch, "model": _class_name(tree.branches[branch].model),
                              "mode": tree.branches[branch].mode, **_importer_of(tree, branch)}
                             for branch in tree.branch_order]})
    return _as_json(data)


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _as_json(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as ``json.loads`` gives it back (a tuple becomes a list): text and JSON agree."""
    import json

    loaded: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return loaded


def _short(qualified: str) -> str:
    return qualified.rpartition(".")[2]


def describe_installation(session: Any) -> list[str]:
    """Lines for ``dss list``."""
    return installation_lines(installation(session))


def installation_lines(data: dict[str, Any]) -> list[str]:
    """The lines of ``dss list`` from :func:`installation`'s data (or its JSON, read back)."""
    lines = [f"dss-core {data['dss_core']['version']}", "", "Plugins:"]
    if not data["plugins"] and not data["load_failures"]:
        lines.append("  (none installed)")
    for info in data["plugins"]:
        lines.append(f"  {info['name']}  {info['distribution']} {info['version']}  ({info['module']})")
    for failure in data["load_failures"]:
        lines.append(f"  {failure['name']}  {failure['distribution']}  BROKEN: {failure['error']}")
    if data["error"] is not None:
        lines += ["", f"error: {data['error']}"]
        return lines
    lines += ["", "Importers:"]
    for importer in data["importers"]:
        lines.append(f"  {importer['name']}  {importer['class']}  [{importer['owner']}]")
        lines += [f"      {_setting_line(s)}" for s in importer["settings"]]
    lines += ["", "Settings of every branch (dss-core; [trees.<tree>] for all of a tree's "
                  "branches, [trees.<tree>.<branch>] for one):"]
    lines += [f"  {_setting_line(s)}" for s in data["branch_settings"]]
    lines += ["", "Top-level settings:"]
    lines += [f"  {_setting_line(s)}" for s in data["top_level_settings"]]
    lines += ["", "Datastores:"]
    if not data["datastores"]:
        lines.append("  (none: install or write a plugin that registers one)")
    for ds in data["datastores"]:
        lines.append(f"  {ds['name']}  [{ds['owner']}]"
                     + (f"  {ds['description']}" if ds["description"] else ""))
        if ds["error"] is not None:
            lines.append(f"    error: {ds['error']}")
            continue
        for tree in ds["trees"]:
            handler = _short(tree["handler"]) if tree["handler"] else None
            shown = f", handler {handler}" if handler else ""
            lines.append(f"    {tree['role']} tree {tree['name']} ({_short(tree['class'])}{shown})")
            if tree["handler_settings"]:
                lines.append(f"      handler {handler} settings ([trees.{tree['name']}]):")
                lines += [f"        {_setting_line(s)}" for s in tree["handler_settings"]]
            for branch in tree["branches"]:
                mode = f", mode {branch['mode']}" if branch["mode"] != "full" else ""
                lines.append(f"      {branch['name']}: model {_short(branch['model'])}, "
                             f"{_importer_label(branch)}{mode}")
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
    skipping = "".join(f"; {d.name} skips {', '.join(d.skips)}" for d in dests if d.skips)
    lines = [f"datastore {ds.name}: source {source.name}, destinations "
             f"{', '.join(d.name for d in dests)}: branches mirror ({', '.join(source.branch_order)})"
             f"{skipping}"]
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
            if not dest.takes(branch):
                continue
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
    for tree in (source, *(d for d in dests if d.takes(branch))):
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
            raise _attribute_error(exc, obj)[0] from exc
        for attr, value in values.items():
            shown = jsonable(value) if isinstance(value, (set, frozenset)) else value
            lines.append(f"    {attr} = {shown!r}")
    for dest in dests:
        if not dest.takes(branch):
            continue
        actions, olds = diff_branch(source, dest, branch)
        mine = [a for a in actions + olds if a.idnumber == idnumber]
        if mine:
            lines.append(f"differences with {dest.name}:")
            lines += [f"    {a.message}" for a in mine]
        elif found:
            lines.append(f"no differences with {dest.name}")
    return lines, found
