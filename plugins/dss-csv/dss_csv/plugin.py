"""Hook implementations of the ``dss-csv`` plugin (registered under the ``dss`` entry-point group).

Kept thin on purpose: the importer module is imported only when the hook is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dss_core import hookimpl

if TYPE_CHECKING:
    from dss_core import Importer


@hookimpl
def dss_importers() -> list[type[Importer]]:
    """Register :class:`dss_csv.CSVImporter` under the name ``csv``."""
    from .importer import CSVImporter

    return [CSVImporter]
