"""Builtin plugin: registers the core's importers (``generator``)."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..importers import GeneratorImporter, Importer


@hookimpl(trylast=True)
def dss_importers() -> list[type[Importer]]:
    return [GeneratorImporter]
