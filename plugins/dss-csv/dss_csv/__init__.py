"""dss-csv: import a dss branch from one or more CSV files.

Subclass :class:`CSVImporter` or name it in a branch (``Branch(Student, importer="csv")``)
and configure it under ``[tool.dss.trees.<tree>.<branch>]``.
"""

from __future__ import annotations

from .importer import DEFAULT_MAX_FIELD_SIZE, CSVImporter

__version__ = "0.1.0"

__all__ = ["CSVImporter", "DEFAULT_MAX_FIELD_SIZE"]
