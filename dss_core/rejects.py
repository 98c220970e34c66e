"""Bad records: what an importer says about a record it cannot read.

An importer that finds one bad record (a row with the wrong number of
fields, a byte its encoding cannot decode, a control character) does not
raise: it yields a :class:`BadRecord` in the record's place and goes on
with the next one. The core then decides, by the branch's ``on_bad_record``
setting, whether the run stops on it (``"stop"``, the default: the reason
becomes the run's one error line) or sets it aside (``"quarantine"``: every
action for its idnumber is held back tonight, and it goes to the rejects
file). A plugin's own importer gets quarantine by yielding it too.
"""

from __future__ import annotations

from typing import Any

from .origin import Origin


class BadRecord:
    """One record that could not be read or built, and why.

    ``reason`` is one line saying what is wrong, without the place (``4
    fields, but the header has 5``); ``origin`` is the place (file and line,
    table and row); ``idnumber`` the record's id where it could still be
    read (None: unknown, which holds back every retirement of the branch);
    ``column`` the column or field at fault, where known; ``raw`` the record
    as the source holds it (the CSV row, the table row), for the rejects file.

    The core fills ``tree`` and ``branch`` when it sets the record aside.
    """

    __slots__ = ("reason", "origin", "idnumber", "column", "raw", "tree", "branch")

    def __init__(self, reason: str, origin: Origin | None = None, *, idnumber: str | None = None,
                 column: str | None = None, raw: str | None = None) -> None:
        self.reason = reason
        self.origin = origin
        self.idnumber = idnumber
        self.column = column
        self.raw = raw
        self.tree = ""
        self.branch = ""

    @property
    def where(self) -> str:
        """``tree.branch`` of the record."""
        return f"{self.tree}.{self.branch}"

    @property
    def message(self) -> str:
        """One line: place, id and reason (``students.csv line 7: idnumber '1042': ...``)."""
        who = f"idnumber {self.idnumber!r}" if self.idnumber is not None else "no readable idnumber"
        place = f"{self.origin}: " if self.origin is not None else ""
        return f"{place}{who}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values (no raw row: that goes to the rejects file only)."""
        return {"tree": self.tree, "branch": self.branch, "idnumber": self.idnumber,
                "column": self.column, "reason": self.reason,
                "origin": self.origin.to_dict() if self.origin is not None else None}

    def __repr__(self) -> str:
        return f"<BadRecord {self.where} {self.message}>"
