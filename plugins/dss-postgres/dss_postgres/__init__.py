"""dss-postgres: PostgreSQL first-class, built on dss-sql.

* :class:`PostgresImporter` (importer name ``postgres``): psycopg 3, the usual
  libpq settings, and fast reads of large tables (``COPY ... TO STDOUT``).
* :class:`PostgresMapping` / :class:`PostgresHandler`: the dss-sql mapping
  with ``INSERT ... ON CONFLICT`` writes.

Importing this package imports neither SQLAlchemy nor psycopg.
"""

from __future__ import annotations

from .postgres import (
    READ_METHODS,
    PostgresHandler,
    PostgresImporter,
    PostgresMapping,
    postgres_url,
)

__version__ = "0.1.0"

__all__ = ["READ_METHODS", "PostgresHandler", "PostgresImporter", "PostgresMapping", "postgres_url"]
