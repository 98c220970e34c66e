"""dss-ldap: read from and write to an LDAP directory (OpenLDAP, Active Directory, FreeIPA), on ldap3.

* :class:`LDAPImporter` (importer name ``ldap``): the entries of a subtree,
  paged, multi-valued attributes as sets, each object's origin its entry's DN.
* :class:`LDAPMapping`, :class:`EntryMap`, :class:`MemberMap`: a declarative
  mapping of branches to entries that gives a ready :class:`LDAPHandler` and
  ready importers, so a directory destination needs no handler code.

Importing this package does not import ldap3; that happens when a directory
is first used. Passwords are never read, written or printed.
"""

from __future__ import annotations

from .directory import CONNECTION_SETTINGS, ConnectionSettings, Directory, Outcome, normal_dn
from .entries import SELF, EntryMap, EntryMapping, MemberMap
from .handler import BoundEntries, LDAPHandler, MappingProblems
from .importer import LDAPImporter
from .mapping import LDAPMapping, MappedLDAPImporter

__version__ = "0.1.0"

__all__ = [
    "CONNECTION_SETTINGS", "SELF", "BoundEntries", "ConnectionSettings", "Directory", "EntryMap",
    "EntryMapping", "LDAPHandler", "LDAPImporter", "LDAPMapping", "MappedLDAPImporter",
    "MappingProblems", "MemberMap", "Outcome", "normal_dn",
]
