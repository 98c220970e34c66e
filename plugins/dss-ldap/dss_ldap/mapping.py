"""The declarative mapping: branches to entries, so a directory destination needs no handler code.

::

    mapping = LDAPMapping(
        users=EntryMap("ou=people", object_classes=("inetOrgPerson",), key="uid",
                       attributes={"name": "cn", "surname": "sn", "email": "mail"},
                       retire_to="ou=retired"),                 # old_users moves, never deletes
        groups=EntryMap("ou=groups", object_classes=("groupOfNames",), key="cn",
                        attributes={"title": "description"},
                        members={"members": MemberMap("member", branch="users")}),
    )

    class Directory(Tree):
        handler = mapping.handler()
        users = Branch(Account, importer=mapping.importer("users"))
        groups = Branch(Group, importer=mapping.importer("groups"),
                        references=mapping.references("groups"))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from dss_core import ConfigurationError

from .directory import Directory, normal_dn
from .entries import EntryMap, EntryMapping, MemberMap
from .handler import LDAPHandler
from .importer import LDAPImporter, entries_under, read_ids

__all__ = ["EntryMap", "LDAPMapping", "MappedLDAPImporter", "MemberMap"]


class LDAPMapping(EntryMapping):
    """Branch name -> :class:`EntryMap`; makes the destination's handler and importers.

    ``LDAPMapping(users=EntryMap(...), groups=EntryMap(...), url=None, base=None)``:
    ``url`` and ``base`` are fallbacks for the tree settings of those names.
    """

    importer_base: ClassVar[type[LDAPImporter]] = LDAPImporter

    def handler(self, base: type[LDAPHandler] | None = None, **attrs: Any) -> type[LDAPHandler]:
        """A handler class applying actions through this mapping (subclass it to add methods)."""
        base = base or LDAPHandler
        return type(base.__name__, (base,), {"mapping": self, **attrs})

    def importer(self, branch: str, base: type[LDAPImporter] | None = None,
                 **attrs: Any) -> type[LDAPImporter]:
        """An importer class reading ``branch`` back from its entries.

        Retired entries (under ``retire_to``, or holding the ``retire``
        values) are skipped; member DNs are read as the idnumbers of their
        entries (one search of the members' branch), the placeholder left out,
        and a DN that names no entry of that branch is kept as the DN (so
        the plan removes it).
        """
        if branch not in self.entries:
            raise ConfigurationError(f"the mapping has no branch {branch!r}")
        base = base or self.importer_base
        return type(f"Mapped{base.__name__}", (MappedLDAPImporter, base),
                    {"mapping": self, "mapped_branch": branch, "url": self.url, "name": None,
                     **attrs})


class MappedLDAPImporter(LDAPImporter):
    """Reads a branch through an :class:`LDAPMapping` (made by :meth:`LDAPMapping.importer`)."""

    mapping: ClassVar[LDAPMapping]
    mapped_branch: ClassVar[str]

    @property
    def entry_map(self) -> EntryMap:
        return self.mapping[self.mapped_branch]

    @property
    def root(self) -> str | None:
        return self.settings.get("base") or self.mapping.base

    def search_base(self) -> str:
        return self.entry_map.base_dn(self.root)

    def search_filter(self) -> str:
        return self.entry_map.live_filter()

    def search_scope(self) -> Any:
        return "sub"

    def key_attribute(self) -> str | None:
        return self.entry_map.key

    def field_attributes(self) -> dict[str, str]:
        model = self.tree.branches[self.branch].model
        out = self.entry_map.attributes_for(model)
        out.update({a: m.attribute for a, m in self.entry_map.members_for(model).items()})
        return out

    def dn_attributes(self) -> set[str]:
        return set()

    def describe(self) -> str:
        return f"ldap {self.search_base()}"

    def readin(self) -> Any:
        self._members: dict[str, dict[str, str]] = {}
        self._retired = self.entry_map.retired_dn(self.root)
        return super().readin()

    def entry_values(self, dn: str, raw: Mapping[str, list[bytes]]) -> dict[str, Any] | None:
        if self._retired is not None and entries_under(dn, self._retired):
            return None
        values = super().entry_values(dn, raw)
        if values is None:
            return None
        for attr, member in self.entry_map.members_map.items():
            values[attr] = self.member_ids(dn, member, values.get(attr) or ())
        return values

    def member_ids(self, dn: str, member: MemberMap, dns: Any) -> list[str]:
        """The idnumbers of the member DNs (the placeholder left out; unknown DNs kept as they are)."""
        index = self.member_index(member.branch)
        placeholder = member.placeholder_dn(dn)
        skip = normal_dn(placeholder) if placeholder else None
        out = []
        for value in dns:
            key = normal_dn(value)
            if key == skip:
                continue
            out.append(index.get(key, value))
        return out

    def member_index(self, branch: str) -> dict[str, str]:
        """``{normalised dn: idnumber}`` of the live entries of ``branch`` (one paged search)."""
        index = self._members.get(branch)
        if index is None:
            target = self.mapping[branch]
            base = target.base_dn(self.root)
            retired = target.retired_dn(self.root)
            index = {}
            with Directory.open(self.connection_settings(), f"{self.where}: reading {base}") as d:
                for idnumber, dn in read_ids(d, base, target.live_filter(), target.key):
                    if retired is None or not entries_under(dn, retired):
                        index[normal_dn(dn)] = idnumber
            self._members[branch] = index
        return index
