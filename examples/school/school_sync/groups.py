"""The school's grouping rule: which cohorts exist and who is in them.

Kept apart from the importers as a plain function over user objects, so the
rule is easy to test and the data generator can use the very same rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .models import SISUser


def slug(text: str) -> str:
    """``"Physical Education"`` -> ``"physical-education"``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def groups_of(users: Iterable[SISUser]) -> dict[str, dict[str, Any]]:
    """Cohorts by idnumber, each ``{"name", "kind", "members"}``.

    * every homeroom is a cohort of its students: ``homeroom-10b`` "Homeroom 10B";
    * every grade is a cohort of its students: ``grade-10`` "Grade 10";
    * every department is a cohort of its staff: ``dept-science`` "Science Department".
    """
    groups: dict[str, dict[str, Any]] = {}

    def join(idnumber: str, name: str, kind: str, member: str) -> None:
        group = groups.setdefault(idnumber, {"name": name, "kind": kind, "members": set()})
        group["members"].add(member)

    for user in users:
        if user._homeroom:
            room = user._homeroom.strip().upper()
            join(f"homeroom-{room.lower()}", f"Homeroom {room}", "homeroom", user.idnumber)
            if user.grade is not None:
                join(f"grade-{user.grade}", f"Grade {user.grade}", "grade", user.idnumber)
        if user._department:
            dept = user._department.strip()
            join(f"dept-{slug(dept)}", f"{dept} Department", "department", user.idnumber)
    return groups
