"""dss-ldap's hook implementations (the ``ldap`` entry point). Imports no ldap3."""

from __future__ import annotations

from dss_core import Importer, hookimpl


@hookimpl
def dss_importers() -> list[type[Importer]]:
    """Register :class:`~dss_ldap.LDAPImporter` as ``ldap``."""
    from .importer import LDAPImporter

    return [LDAPImporter]
