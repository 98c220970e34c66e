"""dss-sql: read from and write to any database SQLAlchemy 2 speaks.

* :class:`SQLImporter` (importer name ``sql``): a table or a query, streamed.
* :class:`SQLMapping`, :class:`TableMap`, :class:`LinkMap`: a declarative
  mapping of branches to tables that gives a ready :class:`SQLHandler` and
  ready importers, so a SQL destination needs no handler code.

Importing this package does not import SQLAlchemy; that happens when a
database is first used.
"""

from __future__ import annotations

from .engine import dispose_engines, get_engine, one_line, resolve_url
from .handler import BoundTable, MappingProblems, SQLHandler
from .importer import SQLImporter, reflect_table
from .mapping import MappedImporter, SQLMapping
from .tables import LinkMap, TableMap, TableMapping

__version__ = "0.1.0"

__all__ = [
    "BoundTable", "LinkMap", "MappedImporter", "MappingProblems", "SQLHandler", "SQLImporter",
    "SQLMapping", "TableMap", "TableMapping",
    "dispose_engines", "get_engine", "one_line", "reflect_table", "resolve_url",
]
