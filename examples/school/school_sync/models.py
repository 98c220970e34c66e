"""The objects of the school sync: what is compared between the SIS and the LMS.

Every public attribute is *tracked* (compared between the two trees); a name
starting with an underscore is kept on the object for the code below but is
never compared, so the LMS need not have it.

The SIS side stores what the export gives (``_lastfirst``, ``_homeroom``,
``_department``) and *derives* what the LMS holds (``name``, ``grade``,
``username``, ``email``, ``role``) with properties. The LMS side stores those
values as plain columns, the directory side as entry attributes. ``groups``
and ``enrolments`` use one model on every side.
"""

from __future__ import annotations

import re
import unicodedata

from dss_core import Model

#: The mail domain of LMS accounts.
EMAIL_DOMAIN = "school.example"

_HOMEROOM = re.compile(r"^\s*(\d{1,2})\s*([A-Za-z]*)\s*$")


def split_lastfirst(lastfirst: str) -> tuple[str, str]:
    """``"Nguyen, Anna Maria"`` -> ``("Anna Maria", "Nguyen")``: (first names, last name)."""
    last, _, first = lastfirst.partition(",")
    return first.strip(), last.strip()


def ascii_letters(text: str) -> str:
    """``"O'Brien-Núñez"`` -> ``"obriennunez"``: lower-case ASCII letters only."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c for c in folded.lower() if c.isalpha())


def grade_of(homeroom: str) -> int | None:
    """The grade level in a homeroom code: ``"10B"`` -> ``10``; no code -> ``None``."""
    match = _HOMEROOM.match(homeroom or "")
    return int(match.group(1)) if match else None


class SISUser(Model):
    """A student (from ``students.csv``) or a staff member (from ``staff.csv``).

    The underscore fields hold the export's raw values; only the properties
    below them are compared with the LMS account.
    """

    _lastfirst: str  # "Last, First" as the SIS exports it
    _homeroom: str = ""  # "10B"; students only
    _department: str = ""  # "Science"; staff only

    @property
    def role(self) -> str:
        """``staff`` for someone with a department, else ``student``."""
        return "staff" if self._department else "student"

    @property
    def name(self) -> str:
        """The display name: ``"Nguyen, Anna"`` -> ``"Anna Nguyen"``."""
        first, last = split_lastfirst(self._lastfirst)
        return f"{first} {last}".strip()

    @property
    def grade(self) -> int | None:
        """The grade level from the homeroom (``"10B"`` -> ``10``); ``None`` for staff."""
        return grade_of(self._homeroom)

    @property
    def username(self) -> str:
        """The school's username rule.

        Students: first initial, last name and the last four digits of the
        student number (``anguyen0123``). Staff: ``first.last`` (``anna.nguyen``).
        Worked out once per object (``email`` and every write of the account
        ask again; the raw fields never change after the import).
        """
        known: str | None = self.__dict__.get("_username")
        if known is None:
            known = self.__dict__["_username"] = self._make_username()
        return known

    def _make_username(self) -> str:
        first, last = split_lastfirst(self._lastfirst)
        first_part, last_part = ascii_letters(first.split(" ")[0]), ascii_letters(last)
        if self.role == "staff":
            return f"{first_part}.{last_part}"
        return f"{first_part[:1]}{last_part}{self.idnumber[-4:]}"

    @property
    def email(self) -> str:
        """``<username>@school.example``."""
        return f"{self.username}@{EMAIL_DOMAIN}"


class LMSUser(Model):
    """An active account in the LMS ``users`` table (suspended accounts are not read)."""

    role: str
    name: str
    grade: int | None = None
    username: str = ""
    email: str = ""


class DirectoryUser(Model):
    """A live account in the directory (an ``inetOrgPerson`` under ``ou=people``).

    The same tracked attributes as :class:`LMSUser`: a destination compares
    what the source tracks, so both destinations hold the five values the
    SIS derives (``directory.py`` says which LDAP attribute holds each).
    Retired entries (under ``ou=retired``) are not read.
    """

    role: str
    name: str
    grade: int | None = None
    username: str = ""
    email: str = ""


class Group(Model):
    """A cohort: a homeroom (``homeroom-10b``), a grade (``grade-10``) or a department.

    ``members`` is a membership attribute: its elements (user idnumbers) are
    compared one by one, so a change is ``add_members_to_groups`` or
    ``remove_members_from_groups`` for one member, never a rewrite of the set.
    """

    name: str
    kind: str  # "homeroom", "grade" or "department"
    members: set[str] = set()


class Enrolment(Model):
    """One user's class enrolments: one object per student, one element per class.

    The SIS exports one row per student and class; rows with the same
    idnumber are merged into one object whose ``courses`` set holds them all.
    The LMS link table is read the same way.
    """

    courses: set[str] = set()
