"""Every ``dss_report_result`` implementation hears every applied result, in pluggy's order.

The runner calls plain implementations straight (without pluggy's dispatch
for each of tens of thousands of results); a wrapper, keyword-only
arguments or hook tracing send each result through the hook instead. Either
way a reporter hears the same results in the same order as through pluggy.
"""

from __future__ import annotations

from typing import Any

import pytest

from dss_core import Branch, Model, Tree, hookimpl
from dss_core.actions import Result
from dss_core.plugins import builtin_plugin_manager, enable_tracing
from dss_core.testing import MemoryDatabase, RecordingHandler, memory_tree


class User(Model):
    name: str = ""


class Group(Model):
    members: set[str] = set()


def _heard() -> tuple[list[tuple[str, str]], list[object]]:
    heard: list[tuple[str, str]] = []

    class Both:
        @hookimpl
        def dss_report_result(self, run: Any, result: Result) -> None:
            assert run is not None
            heard.append(("both", result.action.key))

    class ResultOnly:
        @hookimpl
        def dss_report_result(self, result: Result) -> None:
            heard.append(("result", result.action.key))

    class RunOnly:
        @hookimpl(tryfirst=True)
        def dss_report_result(self, run: Any) -> None:
            heard.append(("run", ""))

    class Reversed:
        @hookimpl(trylast=True)
        def dss_report_result(self, result: Result, run: Any) -> None:
            heard.append(("reversed", result.action.key))

    return heard, [Both(), ResultOnly(), RunOnly(), Reversed()]


class Wrapper:
    def __init__(self, heard: list[tuple[str, str]]) -> None:
        self.heard = heard

    @hookimpl(wrapper=True)
    def dss_report_result(self, result: Result) -> Any:
        self.heard.append(("wrapper", result.action.key))
        return (yield)


def _apply(plugins: list[object], trace: list[str] | None = None) -> list[Result]:
    pm = builtin_plugin_manager()
    for plugin in plugins:
        pm.register(plugin)
    if trace is not None:
        enable_tracing(pm, trace.append)
    src = type("Src", (Tree,), {
        "name": "src",
        "users": Branch(User, [{"idnumber": f"u{i}", "name": "n"} for i in range(5)]),
        "groups": Branch(Group, [{"idnumber": "g", "members": ["u1", "u2"]}],
                         references={"members": "users"})})(plugins=pm).load()
    db = MemoryDatabase({"users": {"u9": {"name": "x"}, "u1": {"name": "old"}}, "groups": {}})
    dst = memory_tree("dst", {"users": User, "groups": Group}, db, handler=RecordingHandler,
                      fail={"u3"})(plugins=pm).load()
    return src.apply(dst, allow_deletions=10).results


def _pluggy_order(plugins: list[object]) -> list[str]:
    """The names pluggy calls for one result, in order (through the hook itself)."""
    heard, _ = _heard()
    pm = builtin_plugin_manager()
    for plugin in plugins:
        # the same classes, bound to this list
        pm.register(type(plugin)() if not isinstance(plugin, Wrapper) else Wrapper(heard))
    order: list[str] = []
    for impl in reversed(pm.hook.dss_report_result.get_hookimpls()):
        order.append(type(impl.plugin).__name__)
    return order


@pytest.mark.parametrize("wrapped", [False, True], ids=["plain", "with a wrapper"])
def test_every_reporter_hears_every_result_in_pluggys_order(wrapped: bool) -> None:
    heard, plugins = _heard()
    if wrapped:
        plugins.append(Wrapper(heard))
    results = _apply(plugins)
    assert len(results) >= 6 and any(r.failed for r in results)
    names = {"Both": "both", "ResultOnly": "result", "RunOnly": "run", "Reversed": "reversed",
             "Wrapper": "wrapper"}
    order = [names[n] for n in _pluggy_order(plugins) if n in names]
    expected = [(name, "" if name == "run" else r.action.key) for r in results for name in order]
    assert heard == expected


def test_with_hook_tracing_each_result_is_traced() -> None:
    heard, plugins = _heard()
    trace: list[str] = []
    results = _apply(plugins, trace)
    assert len([h for h in heard if h[0] == "both"]) == len(results)
    assert sum("dss_report_result" in line for line in trace) >= len(results)
