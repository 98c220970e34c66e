"""The plugin manager: builtin plugins, then the ``dss`` entry points, loaded one by one.

Built in one function, :func:`build_plugin_manager`, when a command needs it,
never at ``import dss_core``. A plugin that fails to import is recorded with
its entry point and distribution and skipped (``strict=True`` makes it an
error), so ``dss list`` still works and shows what to remove.

Escape hatches: ``autoload=False`` (``--no-plugins``, or the environment
variable ``DSS_DISABLE_PLUGIN_AUTOLOAD=1``) loads no third-party plugin;
``only=[...]`` (``--plugin NAME``, or ``DSS_PLUGINS=a,b``) loads just those;
``block=[...]`` (``--block NAME``) skips those.
"""

from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .errors import ConfigurationError, PluginError

if TYPE_CHECKING:
    from .config import Config
    from .declaration import Datastore, TreeDeclaration
    from .importers import Importer

ENTRY_POINT_GROUP = "dss"

#: The core's own defaults, registered through the same door as any plugin.
BUILTIN_PLUGINS = (
    "dss_core.builtin.importers",
    "dss_core.builtin.dispatch",
    "dss_core.builtin.console",
    "dss_core.builtin.json_report",
)


@dataclass
class LoadFailure:
    """A plugin entry point that could not be loaded."""

    name: str
    distribution: str
    error: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"plugin {self.name!r} from {self.distribution} failed to load: {self.error}"


@dataclass
class PluginInfo:
    """One loaded plugin, for ``dss list``."""

    name: str
    distribution: str
    version: str
    module: str


class DssPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers what it loaded and what failed."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.load_failures: list[LoadFailure] = []
        self.loaded: list[PluginInfo] = []


def _register_builtins(pm: DssPluginManager) -> None:
    for module_name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)


def builtin_plugin_manager() -> DssPluginManager:
    """A manager with the builtin plugins only (used when Python code makes trees directly)."""
    pm = DssPluginManager()
    _register_builtins(pm)
    return pm


def build_plugin_manager(
    *,
    autoload: bool | None = None,
    only: Iterable[str] | None = None,
    block: Iterable[str] = (),
    strict: bool = False,
    extra: Iterable[object] = (),
) -> DssPluginManager:
    """Build the plugin manager for one command.

    Order: the builtin plugins, then each ``dss`` entry point (sorted by
    name, loaded one by one), then ``extra`` plugin objects (tests).
    """
    pm = DssPluginManager()
    _register_builtins(pm)
    if autoload is None:
        autoload = os.environ.get("DSS_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
    if only is None and os.environ.get("DSS_PLUGINS"):
        only = [p.strip() for p in os.environ["DSS_PLUGINS"].split(",") if p.strip()]
    wanted = set(only) if only is not None else None
    blocked = set(block)
    if autoload or wanted:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in blocked or (wanted is not None and ep.name not in wanted):
                continue
            if pm.has_plugin(ep.name):
                continue
            dist = ep.dist
            dist_name = dist.name if dist else "?"
            try:
                plugin = ep.load()
                pm.register(plugin, name=ep.name)
            except Exception as exc:  # a broken plugin must not break dss
                failure = LoadFailure(ep.name, dist_name, f"{type(exc).__name__}: {exc}",
                                      traceback.format_exc())
                if strict:
                    raise PluginError(str(failure)) from exc
                pm.load_failures.append(failure)
                continue
            pm.loaded.append(PluginInfo(ep.name, dist_name, dist.version if dist else "?", ep.value))
        if wanted:
            missing = wanted - {p.name for p in pm.loaded} - {f.name for f in pm.load_failures}
            if missing:
                raise PluginError(f"no installed dss plugin named {', '.join(sorted(missing))}")
    for plugin in extra:
        pm.register(plugin)
    return pm


def _owner(pm: pluggy.PluginManager, plugin: object) -> str:
    name = str(pm.get_name(plugin) or getattr(plugin, "__name__", repr(plugin)))
    for info in getattr(pm, "loaded", []):
        if info.name == name:
            return f"{info.distribution} (plugin {name!r})"
    if name.startswith("dss_core."):
        return "dss-core"
    return f"plugin {name!r}"


def _collect(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call one collecting hook implementation by implementation, keeping who returned what."""
    out: list[tuple[str, Any]] = []
    hook = getattr(pm.hook, hook_name)
    for impl in reversed(hook.get_hookimpls()):
        args = {name: kwargs[name] for name in impl.argnames}
        items = impl.function(**args)
        for item in items or ():
            out.append((_owner(pm, impl.plugin), item))
    return out


@dataclass
class Registry:
    """Everything the plugins registered: importers, trees and datastores, by name."""

    importers: dict[str, type[Importer]] = field(default_factory=dict)
    trees: dict[str, type[TreeDeclaration]] = field(default_factory=dict)
    datastores: dict[str, Datastore] = field(default_factory=dict)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def collect(cls, pm: pluggy.PluginManager, config: Config) -> Registry:
        """Ask every plugin for its importers, trees and datastores; reject clashing names."""
        reg = cls()
        for owner, importer in _collect(pm, "dss_importers"):
            reg._add("importer", importer.name or importer.__name__, importer, reg.importers, owner)
        for owner, tree in _collect(pm, "dss_trees", config=config):
            reg._add("tree", tree.name, tree, reg.trees, owner)
        for owner, ds in _collect(pm, "dss_datastores", config=config):
            reg._add("datastore", ds.name, ds, reg.datastores, owner)
            for spec in [ds.source, *ds.destinations]:
                if not isinstance(spec, str) and spec.name not in reg.trees:
                    reg.trees[spec.name] = spec
                    reg.owners[("tree", spec.name)] = owner
        return reg

    def _add(self, kind: str, name: str, obj: Any, table: dict[str, Any], owner: str) -> None:
        if name in table and table[name] is not obj:
            raise PluginError(
                f"two plugins register the {kind} {name!r}: {self.owners[(kind, name)]} and {owner}")
        table[name] = obj
        self.owners[(kind, name)] = owner

    def datastore(self, name: str | None, config: Config) -> Datastore:
        """The datastore called ``name``; with one installed, or one configured, ``name`` may be None."""
        name = name or config.datastore
        if name is None:
            if len(self.datastores) == 1:
                return next(iter(self.datastores.values()))
            if not self.datastores:
                raise ConfigurationError(
                    "no datastore is installed: install a plugin that registers one "
                    "(see `dss list`)")
            raise ConfigurationError(
                f"several datastores are installed ({', '.join(sorted(self.datastores))}): "
                "name one, e.g. `dss run NAME`")
        try:
            return self.datastores[name]
        except KeyError:
            known = ", ".join(sorted(self.datastores)) or "none"
            raise ConfigurationError(f"no datastore named {name!r} (installed: {known})") from None


def find_importer(pm: pluggy.PluginManager, name: str, where: str = "") -> type[Importer]:
    """The importer class registered under ``name``."""
    for importers in pm.hook.dss_importers():
        for importer in importers or ():
            if importer.name == name:
                return importer
    raise ConfigurationError(
        f"{where + ': ' if where else ''}no importer named {name!r} is installed (see `dss list`)")
