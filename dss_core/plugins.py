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
from collections.abc import Callable, Iterable
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
    "dss_core.builtin.guards",
    "dss_core.builtin.saved_plans",
    "dss_core.builtin.undo",
    "dss_core.builtin.history",
    "dss_core.builtin.html_report",
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
    trace: bool | None = None,
) -> DssPluginManager:
    """Build the plugin manager for one command.

    Order: the builtin plugins, then each ``dss`` entry point (sorted by
    name, loaded one by one), then ``extra`` plugin objects (tests). An
    entry-point name that two distributions use is an error naming both
    (``--block NAME`` skips one): dss cannot tell which one the user meant. ``trace`` (default: the
    environment variable ``DSS_TRACE_HOOKS=1``) prints every hook call and
    what each implementation returned, on stderr.
    """
    pm = DssPluginManager()
    if trace if trace is not None else os.environ.get("DSS_TRACE_HOOKS", "") not in ("", "0"):
        enable_tracing(pm)
    _register_builtins(pm)
    if autoload is None:
        autoload = os.environ.get("DSS_DISABLE_PLUGIN_AUTOLOAD", "") in ("", "0")
    if only is None and os.environ.get("DSS_PLUGINS"):
        only = [p.strip() for p in os.environ["DSS_PLUGINS"].split(",") if p.strip()]
    wanted = set(only) if only is not None else None
    blocked = set(block)
    if autoload or wanted:
        owners: dict[str, str] = {}  # entry-point name -> the distribution that registered it
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in blocked or (wanted is not None and ep.name not in wanted):
                continue
            dist = ep.dist
            dist_name = dist.name if dist else "?"
            if ep.name in owners:
                if _same_distribution(owners[ep.name], dist_name):
                    continue  # one distribution found twice on the path: Python imports the first
                first, second = sorted((owners[ep.name], dist_name))
                raise PluginError(
                    f"two distributions register the dss plugin {ep.name!r}: "
                    f"{first} and {second}; uninstall one, or --block {ep.name}")
            owners[ep.name] = dist_name
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


def _same_distribution(a: str, b: str) -> bool:
    def norm(name: str) -> str:
        return name.lower().replace("_", "-").replace(".", "-")
    return norm(a) == norm(b)


def enable_tracing(pm: pluggy.PluginManager, write: Callable[[str], object] | None = None) -> None:
    """Print each hook call, its implementations and their results (``DSS_TRACE_HOOKS=1``, ``-vv``).

    Uses pluggy's own tracing, so wrappers and every implementation are shown
    as pluggy runs them. Values are printed redacted; tracing is for
    debugging a plugin and shows data values (never at the default level).
    """
    import sys

    from .redaction import redact

    def writer(text: str) -> None:
        (write or sys.stderr.write)(redact(text))

    pm.trace.root.setwriter(writer)
    pm.enable_tracing()


def owner_of(pm: pluggy.PluginManager, plugin: object) -> str:
    """Who registered ``plugin``: its distribution and plugin name, or dss-core."""
    name = str(pm.get_name(plugin) or getattr(plugin, "__name__", repr(plugin)))
    for info in getattr(pm, "loaded", []):
        if info.name == name:
            return f"{info.distribution} (plugin {name!r})"
    if name.startswith("dss_core."):
        return "dss-core"
    return f"plugin {name!r}"


def collect(pm: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
    """Call a collecting hook through pluggy, one plugin at a time, keeping who returned what.

    Each plugin's implementation is called through
    :meth:`pluggy.PluginManager.subset_hook_caller`, so its hook wrappers and
    tracing run as for any hook call; a plugin returning ``None`` adds nothing.
    """
    out: list[tuple[str, Any]] = []
    implementers = [impl.plugin for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls())]
    everyone = [p for _, p in pm.list_name_plugin()]
    for plugin in implementers:
        caller = pm.subset_hook_caller(hook_name, [p for p in everyone if p is not plugin])
        for items in caller(**kwargs):
            for item in items or ():
                out.append((owner_of(pm, plugin), item))
    return out


def registered_importers(pm: pluggy.PluginManager) -> tuple[dict[str, type[Importer]],
                                                            dict[str, str]]:
    """Every importer the plugins register, by name, and who registered each.

    The one way dss finds an importer by name (``Branch(..., importer="csv")``,
    ``dss list``): a name two plugins register is a :class:`PluginError`
    naming both.
    """
    importers: dict[str, type[Importer]] = {}
    owners: dict[str, str] = {}
    for owner, importer in collect(pm, "dss_importers"):
        name = importer.name or importer.__name__
        if name in importers and importers[name] is not importer:
            first, second = sorted((owners[name], owner))
            raise PluginError(f"two plugins register the importer {name!r}: {first} and {second}")
        importers[name] = importer
        owners[name] = owner
    return importers, owners


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
        importers, owners = registered_importers(pm)
        for name, importer in importers.items():
            reg._add("importer", name, importer, reg.importers, owners[name])
        for owner, tree in collect(pm, "dss_trees", config=config):
            reg._add("tree", tree.name, tree, reg.trees, owner)
        for owner, ds in collect(pm, "dss_datastores", config=config):
            reg._add("datastore", ds.name, ds, reg.datastores, owner)
            for spec in [ds.source, *ds.destinations]:
                if not isinstance(spec, str) and spec.name not in reg.trees:
                    reg.trees[spec.name] = spec
                    reg.owners[("tree", spec.name)] = owner
        return reg

    def _add(self, kind: str, name: str, obj: Any, table: dict[str, Any], owner: str) -> None:
        if name in table and table[name] is not obj:
            first, second = sorted((self.owners[(kind, name)], owner))
            raise PluginError(f"two plugins register the {kind} {name!r}: {first} and {second}")
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
    """The importer class registered under ``name`` (see :func:`registered_importers`)."""
    importers, _ = registered_importers(pm)
    try:
        return importers[name]
    except KeyError:
        known = ", ".join(sorted(importers)) or "none"
        raise ConfigurationError(
            f"{where + ': ' if where else ''}no importer named {name!r} is installed "
            f"(installed: {known}; see `dss list`)") from None
