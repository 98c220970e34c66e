"""dss-sql's hook implementations (the ``sql`` entry point). Imports no SQLAlchemy."""

from __future__ import annotations

from dss_core import Importer, hookimpl


@hookimpl
def dss_importers() -> list[type[Importer]]:
    """Register :class:`~dss_sql.SQLImporter` as ``sql``."""
    from .importer import SQLImporter

    return [SQLImporter]
