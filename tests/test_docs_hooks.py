"""Meta-tests: every hookspec is documented, and every hook is exercised somewhere in the tests."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from dss_core import hookspecs

HOOKS = hookspecs.hook_names()
TESTS = Path(__file__).parent


def test_there_are_hooks_for_every_phase():
    for name in ["dss_configure", "dss_cli_options", "dss_register_commands", "dss_importers",
                 "dss_trees", "dss_datastores", "dss_branches", "dss_import_done",
                 "dss_handle_action", "dss_report_start", "dss_report_result",
                 "dss_report_finish"]:
        assert name in HOOKS


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_documents_every_argument_and_return(name: str):
    func = getattr(hookspecs, name)
    doc = inspect.getdoc(func) or ""
    assert doc, f"{name} has no docstring"
    for arg in inspect.signature(func).parameters:
        assert f":param {arg}:" in doc, f"{name} does not document {arg}"
    assert ":return:" in doc
    firstresult = func.dss_spec["firstresult"]
    assert ("First result wins" in doc) == firstresult


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_exercised_by_a_test(name: str):
    texts = [p.read_text() for p in TESTS.rglob("*.py") if p.name != Path(__file__).name]
    assert any(f"def {name}(" in t or f"hook.{name}(" in t for t in texts), (
        f"no test or test plugin implements {name}")
