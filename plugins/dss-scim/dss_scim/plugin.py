"""dss-scim's hook implementations (the ``scim`` entry point). Imports no HTTP client."""

from __future__ import annotations

from dss_core import Importer, hookimpl


@hookimpl
def dss_importers() -> list[type[Importer]]:
    """Register :class:`~dss_scim.SCIMImporter` as ``scim``."""
    from .importer import SCIMImporter

    return [SCIMImporter]
