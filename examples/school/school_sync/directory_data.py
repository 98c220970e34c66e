"""The directory as it stood before tonight's export: its layout and its entries (demo data).

Like :mod:`school_sync.schema` for the LMS, this is for the generator and the
tests only; the sync itself reads and writes the directory through dss-ldap
and :data:`school_sync.directory.MAPPING`. The entries are laid out as that
mapping reads them: people under ``ou=people`` (a suspended account under
``ou=retired``), groups under ``ou=groups``.

:func:`create` *replaces* ``ou=people``, ``ou=groups`` and ``ou=retired``
under the base it is given: point it at a directory made for the demo.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .directory import GROUPS_OU, PEOPLE, RETIRED, SURNAME_PLACEHOLDER

#: The variable holding the bind password: the one dss reads for tree ``directory`` too.
PASSWORD_VARIABLE = "DSS_DIRECTORY_BIND_PASSWORD"


class DirectoryError(Exception):
    """The directory cannot be reached or prepared (one line, never the password)."""


@dataclass(frozen=True)
class Connection:
    """Where the directory is and whom to bind as; the password comes from the environment."""

    url: str
    bind_dn: str
    base: str

    def open(self) -> Any:
        """A bound ldap3 connection; :class:`DirectoryError` when that fails."""
        import ldap3
        from ldap3.core.exceptions import LDAPException

        password = os.environ.get(PASSWORD_VARIABLE)
        if not password:
            raise DirectoryError(f"give the directory's bind password in {PASSWORD_VARIABLE}")
        try:
            return ldap3.Connection(ldap3.Server(self.url, get_info=ldap3.NONE, connect_timeout=10),
                                    self.bind_dn, password, auto_bind=True,
                                    raise_exceptions=True, receive_timeout=60)
        except LDAPException as exc:
            text = str(exc).replace(password, "***")
            raise DirectoryError(f"cannot bind to {self.url} as {self.bind_dn}: "
                                 f"{type(exc).__name__}: {text}") from None


def _rdn(attribute: str, value: str) -> str:
    from ldap3.utils.dn import escape_rdn

    return f"{attribute}={escape_rdn(value)}"


def _clear(conn: Any, dn: str) -> None:
    """Delete ``dn`` and everything under it, deepest first (nothing when it is not there)."""
    from ldap3.core.exceptions import LDAPNoSuchObjectResult

    try:
        found = conn.extend.standard.paged_search(dn, "(objectClass=*)", "SUBTREE",
                                                  attributes=["1.1"], paged_size=500,
                                                  generator=False)
    except LDAPNoSuchObjectResult:
        return
    dns = [e["dn"] for e in found if e.get("type") == "searchResEntry"]
    for entry in sorted(dns, key=lambda d: -d.count(",")):
        conn.delete(entry)


def create(where: Connection, users_rows: Iterable[Mapping[str, Any]],
           cohort_rows: Iterable[Mapping[str, Any]],
           member_rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """(Re)create ou=people, ou=groups and ou=retired under the base and fill them.

    The rows are the LMS's (:func:`school_sync.generate.stale_lms`): the
    directory is out of date in the same ways. Returns the entries made.
    """
    from ldap3.core.exceptions import LDAPException

    conn = where.open()
    try:
        if not conn.search(where.base, "(objectClass=*)", "BASE", attributes=["1.1"]):
            raise DirectoryError(f"the base {where.base} does not exist on {where.url}")
        people, groups, retired = (f"{ou},{where.base}" for ou in (PEOPLE, GROUPS_OU, RETIRED))
        for ou in (people, groups, retired):
            _clear(conn, ou)
            conn.add(ou, ["organizationalUnit"], {"ou": ou.split(",")[0].split("=")[1]})
        dns: dict[str, str] = {}
        made = {"people": 0, "retired": 0, "groups": 0}
        for row in users_rows:
            parent = retired if row["suspended"] else people
            dn = f"{_rdn('uid', row['username'])},{parent}"
            attributes = {"uid": row["username"], "cn": row["name"], "sn": SURNAME_PLACEHOLDER,
                          "mail": row["email"], "employeeNumber": row["idnumber"],
                          "employeeType": row["role"]}
            if row["grade"] is not None:
                attributes["departmentNumber"] = str(row["grade"])
            conn.add(dn, ["inetOrgPerson"], attributes)
            made["retired" if row["suspended"] else "people"] += 1
            if not row["suspended"]:
                dns[row["idnumber"]] = dn
        members: dict[str, list[str]] = {}
        for row in member_rows:
            members.setdefault(row["cohort_idnumber"], []).append(dns[row["user_idnumber"]])
        for row in cohort_rows:
            dn = f"{_rdn('cn', row['idnumber'])},{groups}"
            conn.add(dn, ["groupOfNames"], {
                "cn": row["idnumber"], "description": row["name"],
                "businessCategory": row["kind"],
                "member": sorted(members.get(row["idnumber"], [])) or [dn]})  # empty: itself
            made["groups"] += 1
        return made
    except LDAPException as exc:
        raise DirectoryError(f"preparing the directory at {where.url}: {type(exc).__name__}: "
                             f"{exc}") from None
    finally:
        conn.unbind()
