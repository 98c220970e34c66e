"""Hook implementations of the ``dss-csv`` plugin (registered under the ``dss`` entry-point group).

Kept thin on purpose: the importer module and the command module are imported
only when their hook is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dss_core import hookimpl

if TYPE_CHECKING:
    import click

    from dss_core import Importer


@hookimpl
def dss_importers() -> list[type[Importer]]:
    """Register :class:`dss_csv.CSVImporter` under the name ``csv``."""
    from .importer import CSVImporter

    return [CSVImporter]


@hookimpl
def dss_register_commands(cli: click.Group) -> None:
    """Add ``dss csv-columns FILE``: a CSV file's columns and the importer's settings for it."""
    from .columns import csv_columns

    cli.add_command(csv_columns)
