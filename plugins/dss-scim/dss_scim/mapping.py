"""The declarative mapping: branches to SCIM resource types, so a SCIM destination needs no handler code.

::

    mapping = SCIMMapping(
        users=ResourceMap("User", key="externalId",
                          attributes={"username": "userName", "name": "displayName",
                                      "email": "emails[primary].value"},
                          retire="deactivate"),                 # old_users: active = false
        groups=ResourceMap("Group", key="externalId",
                           attributes={"title": "displayName"},
                           members={"members": "users"}),       # member ids <-> user idnumbers
    )

    class IdP(Tree):
        handler = mapping.handler()
        users = Branch(Account, importer=mapping.importer("users"))
        groups = Branch(Team, importer=mapping.importer("groups"), references={"members": "users"})
"""

from __future__ import annotations

from typing import Any, ClassVar

from dss_core import ConfigurationError

from .handler import SCIMHandler
from .importer import SCIMImporter
from .resources import MemberMap, ResourceMap, ResourceMapping

__all__ = ["MappedImporter", "MemberMap", "ResourceMap", "SCIMMapping"]


class SCIMMapping(ResourceMapping):
    """Branch name -> :class:`ResourceMap`; makes the destination's handler and importers.

    ``SCIMMapping(users=ResourceMap("User", ...), groups=ResourceMap("Group", ...))``.
    ``url`` is a fallback base URL (the tree setting ``url`` wins);
    ``page_size`` the resources asked for per page when reading.
    """

    def handler(self, base: type[SCIMHandler] | None = None, **attrs: Any) -> type[SCIMHandler]:
        """A handler class applying actions through this mapping (subclass it to add methods)."""
        base = base or SCIMHandler
        return type(base.__name__, (base,), {"mapping": self, **attrs})

    def importer(self, branch: str, base: type[SCIMImporter] | None = None,
                 **attrs: Any) -> type[SCIMImporter]:
        """An importer class reading ``branch`` back from its resource type (page by page)."""
        if branch not in self.resources:
            raise ConfigurationError(f"the SCIM mapping has no branch {branch!r}")
        base = base or SCIMImporter
        return type(f"Mapped{base.__name__}", (MappedImporter, base),
                    {"mapping": self, "mapped_branch": branch, "url": self.url,
                     "page_size": self.page_size, "name": None, **attrs})


class MappedImporter(SCIMImporter):
    """Reads a branch through a :class:`SCIMMapping` (made by :meth:`SCIMMapping.importer`)."""

    mapping: ClassVar[SCIMMapping]
    mapped_branch: ClassVar[str]

    def resource_map(self) -> ResourceMap:
        rmap = self.mapping[self.mapped_branch]
        retire = self.settings.get("retire")
        if retire and retire != rmap.retire:  # the handler's setting says how old ones look
            from dataclasses import replace

            return replace(rmap, retire=retire)
        return rmap

    def describe(self) -> str:
        return self.mapping[self.mapped_branch].resource

    def member_resource_map(self, member: MemberMap) -> ResourceMap | None:
        return self.mapping.resources.get(member.branch)
