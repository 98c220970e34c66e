"""dss-postgres's hook implementations (the ``postgres`` entry point). Imports no SQLAlchemy or psycopg."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from dss_core import Importer, hookimpl, register_secret

if TYPE_CHECKING:
    from dss_core import Config


@hookimpl
def dss_configure(config: Config) -> None:
    """Hide ``PGPASSWORD`` from every output.

    libpq reads the password from ``PGPASSWORD`` itself (it never enters a
    URL, so dss would not know it): a driver's error message or a traceback
    could still show it. Registered as a secret, it is printed as ``***``.
    (A ``PGPASSFILE``'s passwords never reach dss at all.) The process's own
    ``PGPASSWORD`` is registered too: libpq reads that one, whatever
    environment the configuration was given.
    """
    register_secret(config.environ.get("PGPASSWORD"))
    register_secret(os.environ.get("PGPASSWORD"))


@hookimpl
def dss_importers() -> list[type[Importer]]:
    """Register :class:`~dss_postgres.PostgresImporter` as ``postgres``."""
    from .postgres import PostgresImporter

    return [PostgresImporter]
