"""Meta-tests: every hookspec is documented (tests/test_hooks_meta.py shows each one called)."""

from __future__ import annotations

import inspect

import pytest

from dss_core import hookspecs

HOOKS = hookspecs.hook_names()


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


# Every hook being called, with what its docstring promises, is shown by a real installed
# plugin in tests/test_hooks_meta.py (not by searching the test files for its name).
