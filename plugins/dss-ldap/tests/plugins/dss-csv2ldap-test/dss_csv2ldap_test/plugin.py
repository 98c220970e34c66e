"""Hook implementations of the test sync (the ``csv2ldap`` entry point). Imports no ldap3."""

from __future__ import annotations

from typing import Any

from dss_core import Datastore, hookimpl


@hookimpl
def dss_datastores(config: Any) -> list[Datastore]:
    """``csv2ldap`` (inetOrgPerson and groupOfNames) and ``csv2edu`` (also eduPerson, a class
    the test server's schema lacks)."""
    from .sync import datastore

    return [datastore("csv2ldap", ("inetOrgPerson",)),
            datastore("csv2edu", ("inetOrgPerson", "eduPerson"))]
