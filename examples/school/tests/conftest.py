"""The school plugin's own hooks in every test's plugin manager.

The trees get their ``groups`` branch from the plugin's ``dss_branches`` hook,
so a test making ``SIS`` or ``LMS`` needs the plugin registered: ``dss_plugins``
(dss-core's fixture: the builtin plugins only) gets this one module too, and
nothing else that is installed.
"""

from __future__ import annotations

from typing import Any

import pytest
from dss_core.plugins import builtin_plugin_manager

from school_sync import plugin


@pytest.fixture
def dss_plugins() -> Any:
    """The builtin plugins and ``school_sync.plugin`` (as the ``school`` entry point registers it)."""
    pm = builtin_plugin_manager()
    pm.register(plugin, name="school")
    return pm
