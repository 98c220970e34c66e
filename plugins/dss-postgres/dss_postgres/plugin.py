"""dss-postgres's hook implementations (the ``postgres`` entry point). Imports no SQLAlchemy or psycopg."""

from __future__ import annotations

from dss_core import Importer, hookimpl


@hookimpl
def dss_importers() -> list[type[Importer]]:
    """Register :class:`~dss_postgres.PostgresImporter` as ``postgres``."""
    from .postgres import PostgresImporter

    return [PostgresImporter]
