"""Registers an importer named 'same', as dss-dupe-a does."""

from __future__ import annotations

from dss_core import GeneratorImporter, hookimpl


class SameImporter(GeneratorImporter):
    name = "same"


@hookimpl
def dss_importers() -> list[type[GeneratorImporter]]:
    return [SameImporter]
