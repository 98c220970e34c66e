"""Hook implementations of the test sync (the ``csv2sql`` entry point).

Imports neither dss-sql nor dss-postgres until the datastores are asked for.
"""

from __future__ import annotations

from typing import Any

from dss_core import Datastore, hookimpl


@hookimpl
def dss_datastores(config: Any) -> list[Datastore]:
    """``csv2sql`` (any database, dss-sql) and ``csv2pg`` (PostgreSQL, dss-postgres)."""
    from dss_sql import SQLMapping

    from .sync import datastore

    stores = [datastore("csv2sql", SQLMapping)]
    try:
        from dss_postgres import PostgresMapping
    except ImportError:  # dss-postgres is optional: csv2sql works without it
        return stores
    return [*stores, datastore("csv2pg", PostgresMapping)]
