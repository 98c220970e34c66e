"""Provenance: where an object came from (importer, file and line, or table row)."""

from __future__ import annotations

from typing import Any


class Origin:
    """Where one object came from: an importer, a file or table, a line or row."""

    __slots__ = ("source", "position", "unit", "importer")

    def __init__(
        self, source: str, position: int | None = None, unit: str = "line", importer: str = ""
    ) -> None:
        self.source = source
        self.position = position
        self.unit = unit
        self.importer = importer

    def __str__(self) -> str:
        if self.position is None:
            return self.source
        return f"{self.source} {self.unit} {self.position}"

    def __repr__(self) -> str:
        return f"Origin({str(self)!r}, importer={self.importer!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Origin) and (
            self.source, self.position, self.unit, self.importer
        ) == (other.source, other.position, other.unit, other.importer)

    def __hash__(self) -> int:
        return hash((self.source, self.position, self.unit))

    def to_dict(self) -> dict[str, Any]:
        """The origin as JSON-ready values."""
        return {"source": self.source, "position": self.position, "unit": self.unit,
                "importer": self.importer, "text": str(self)}
