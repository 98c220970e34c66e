"""Plugins: the builtin plugins, registration hooks, name clashes, taking over actions."""

from __future__ import annotations

from typing import Any

import pytest

from dss_core import (
    Action,
    Branch,
    Config,
    ConfigurationError,
    Datastore,
    GeneratorImporter,
    Handler,
    Importer,
    Model,
    PluginError,
    Status,
    Tree,
    hookimpl,
)
from dss_core.plugins import BUILTIN_PLUGINS, Registry, build_plugin_manager, find_importer


class User(Model):
    name: str


class Src(Tree):
    users = Branch(User, [{"idnumber": "1", "name": "Ann"}, {"idnumber": "2", "name": "Bob"}])


class Dst(Tree):
    users = Branch(User, [{"idnumber": "2", "name": "Robert"}, {"idnumber": "3", "name": "Cy"}])


def test_builtin_plugins_are_registered(dss_plugins) -> None:
    names = {dss_plugins.get_name(p) for p in dss_plugins.get_plugins()}
    assert set(BUILTIN_PLUGINS) <= names
    assert find_importer(dss_plugins, "generator") is GeneratorImporter


def test_unknown_importer_name_is_a_configuration_error(dss_plugins) -> None:
    with pytest.raises(ConfigurationError, match="'nope'"):
        find_importer(dss_plugins, "nope")


def test_no_autoload_gives_builtins_plus_extra() -> None:
    class Extra:
        @hookimpl
        def dss_importers(self) -> list[type[Importer]]:
            return [Named]

    class Named(GeneratorImporter):
        name = "named-for-test"

    pm = build_plugin_manager(autoload=False, extra=[Extra()])
    assert pm.loaded == [] and pm.load_failures == []
    assert find_importer(pm, "named-for-test") is Named


def test_registry_collects_trees_and_datastores(dss_plugins) -> None:
    class School:
        @hookimpl
        def dss_datastores(self, config: Config) -> list[Datastore]:
            return [Datastore("school", Src, [Dst])]

    dss_plugins.register(School(), name="school")
    config = Config(environ={})
    reg = Registry.collect(dss_plugins, config)
    assert reg.trees == {"src": Src, "dst": Dst}
    assert reg.datastore(None, config).name == "school"
    assert reg.datastore("school", config) is reg.datastores["school"]
    with pytest.raises(ConfigurationError, match="other"):
        reg.datastore("other", config)


def test_two_plugins_registering_one_name_is_an_error_naming_both(dss_plugins) -> None:
    class A(GeneratorImporter):
        name = "clash"

    class B(GeneratorImporter):
        name = "clash"

    class One:
        @hookimpl
        def dss_importers(self) -> list[type[Importer]]:
            return [A]

    class Two:
        @hookimpl
        def dss_importers(self) -> list[type[Importer]]:
            return [B]

    dss_plugins.register(One(), name="one")
    dss_plugins.register(Two(), name="two")
    with pytest.raises(PluginError) as info:
        Registry.collect(dss_plugins, Config(environ={}))
    assert "'one'" in str(info.value) and "'two'" in str(info.value)
    assert "clash" in str(info.value)


def test_plugin_may_take_over_some_actions(dss_plugins) -> None:
    handled: list[str] = []

    class TakesRetirements:
        @hookimpl
        def dss_handle_action(self, action: Action) -> Any:
            if action.kind == "old":
                return action.dropped("kept by the archive plugin")
            return None

    class H(Handler):
        def default(self, action: Action) -> None:
            handled.append(action.method)

    dest_cls = type("Dst2", (Dst,), {"name": "dst", "handler": H})
    dss_plugins.register(TakesRetirements())
    source = Src(plugins=dss_plugins).load()
    dest = dest_cls(plugins=dss_plugins).load()
    summary = source.apply(dest)
    statuses = {r.action.method: r.status for r in summary.results}
    assert statuses == {"new_users": Status.SUCCESS, "update_name": Status.SUCCESS,
                        "old_users": Status.DROPPED}
    assert handled == ["new_users", "update_name"]


def test_exception_in_a_plugin_hook_is_reported_for_that_action(dss_plugins) -> None:
    class Breaks:
        @hookimpl
        def dss_handle_action(self, action: Action) -> Any:
            if action.kind == "new":
                raise ValueError("plugin broke")
            return None

    class H(Handler):
        def default(self, action: Action) -> None: ...

    dest_cls = type("Dst3", (Dst,), {"name": "dst", "handler": H})
    dss_plugins.register(Breaks())
    summary = Src(plugins=dss_plugins).load().apply(dest_cls(plugins=dss_plugins).load())
    statuses = {r.action.method: r.status for r in summary.results}
    assert statuses == {"new_users": Status.EXCEPTION, "update_name": Status.SUCCESS,
                        "old_users": Status.SUCCESS}


def test_strict_unknown_only_plugin_is_an_error() -> None:
    with pytest.raises(PluginError, match="no-such-dss-plugin"):
        build_plugin_manager(only=["no-such-dss-plugin"])
