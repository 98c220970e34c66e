"""Hook implementations of the test sync (the ``csv2scim`` entry point)."""

from __future__ import annotations

from typing import Any

from dss_core import Datastore, hookimpl


@hookimpl
def dss_datastores(config: Any) -> list[Datastore]:
    """``csv2scim``: CSV files -> a SCIM service."""
    from .sync import datastore

    return [datastore()]
