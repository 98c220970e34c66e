"""dss-sql: read from and write to any database SQLAlchemy 2 speaks.

* :class:`SQLImporter` (importer name ``sql``): a table or a query, streamed.
* :class:`SQLMapping`, :class:`TableMap`, :class:`LinkMap`: a declarative
  mapping of branches to tables that gives a ready :class:`SQLHandler` and
  ready importers, so a SQL destination needs no handler code: link tables
  holding idnumbers or surrogate keys, a ``scope`` of the rows a branch owns
  (:func:`not_empty`, :func:`starts_with`, :func:`one_of`, :func:`none_of`),
  typed ``retire``/``active`` values and ``defaults`` (:data:`NOW`).

Importing this package does not import SQLAlchemy; that happens when a
database is first used.
"""

from __future__ import annotations

from .engine import dispose_engines, get_engine, one_line, resolve_url
from .handler import BoundLink, BoundTable, MappingProblems, SQLHandler
from .importer import SQLImporter, reflect_table
from .mapping import MappedImporter, SQLMapping
from .tables import (
    NOW,
    Condition,
    LinkMap,
    TableMap,
    TableMapping,
    none_of,
    not_empty,
    one_of,
    starts_with,
)

__version__ = "0.1.0"

__all__ = [
    "NOW", "BoundLink", "BoundTable", "Condition", "LinkMap", "MappedImporter", "MappingProblems",
    "SQLHandler", "SQLImporter", "SQLMapping", "TableMap", "TableMapping",
    "none_of", "not_empty", "one_of", "starts_with",
    "dispose_engines", "get_engine", "one_line", "reflect_table", "resolve_url",
]
