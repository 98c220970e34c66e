"""Where branches are kept in a directory: :class:`EntryMap`, :class:`MemberMap`, :class:`EntryMapping`.

Plain declarations; the handler and the mapped importers read them, and
:class:`~dss_ldap.LDAPMapping` (in :mod:`dss_ldap.mapping`) makes both from them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dss_core import SCALAR, ConfigurationError, Model

from .directory import check_dn, filter_value, join_dn, make_rdn, refuse_passwords

#: ``MemberMap(placeholder=SELF)``: an empty group holds its own DN (groupOfNames needs a member).
SELF = "self"


@dataclass(frozen=True)
class MemberMap:
    """A set attribute whose elements are other objects, stored as their entries' DNs.

    ``attribute``
        the LDAP attribute holding the DNs: ``member`` (groupOfNames),
        ``uniqueMember`` (groupOfUniqueNames).
    ``branch``
        the branch the elements are idnumbers of (``"users"``).
    ``placeholder``
        what an empty group holds, for object classes that need at least one
        member: ``SELF`` (``"self"``, the group's own DN; the default), a DN,
        or None (the attribute may be empty). The importer never reads it as
        a member.
    """

    attribute: str = "member"
    branch: str = "users"
    placeholder: str | None = SELF

    def placeholder_dn(self, own_dn: str) -> str | None:
        """The placeholder DN of the group ``own_dn``, or None."""
        if self.placeholder is None:
            return None
        return own_dn if self.placeholder == SELF else self.placeholder


@dataclass
class EntryMap:
    """One branch kept as entries under one base DN.

    ``base``
        where the entries are: relative to the tree's ``base`` setting
        (``"ou=people"``), or a whole DN when the tree sets no base.
    ``object_classes``
        the classes of a new entry (``("inetOrgPerson",)``); the importer reads
        entries of all of them.
    ``key``
        the attribute holding the idnumber (default ``uid``).
    ``rdn``
        the naming attribute (default: ``key``). When it is another mapped
        attribute (``cn`` from ``name``), a change of that attribute renames
        the entry (modrdn).
    ``attributes``
        ``{model attribute: ldap attribute}`` for attributes stored under
        another name (a list means the same names). Every other tracked
        attribute of the destination model is stored in the attribute of its
        own name; sets and lists as multi-valued attributes.
    ``members``
        ``{model attribute: MemberMap(...)}`` (or just the branch name, for
        ``member`` DNs) for sets whose elements are entries of another branch.
    ``retire``
        ``{attribute: value}``: ``old`` sets these values instead of deleting
        the entry; such entries are not read back, and ``new`` brings one back.
    ``active``
        the values of the ``retire`` attributes on a live entry (default: none,
        the attributes are removed when an entry comes back).
    ``retire_to``
        ``old`` moves the entry under this DN (relative like ``base``,
        ``"ou=retired"``) instead of deleting it; entries there are not read
        back, and ``new`` moves one back.
    ``defaults``
        ``{attribute: value}`` written on every new entry only (an attribute the
        object class requires that the model does not have: ``{"sn": "-"}``).
    ``filter``
        an extra LDAP filter for the entries of this branch.
    ``ignore``
        tracked attributes that are not stored.
    """

    base: str
    object_classes: Sequence[str] = ("inetOrgPerson",)
    key: str = "uid"
    rdn: str | None = None
    attributes: Mapping[str, str] | Sequence[str] | None = None
    members: Mapping[str, MemberMap | str] = field(default_factory=dict)
    retire: Mapping[str, Any] | None = None
    active: Mapping[str, Any] | None = None
    retire_to: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    filter: str | None = None
    ignore: Sequence[str] = ()

    def __post_init__(self) -> None:
        if isinstance(self.object_classes, str):
            self.object_classes = (self.object_classes,)
        if not self.object_classes:
            raise ConfigurationError(f"entries under {self.base!r}: give at least one object class")
        self.members = {a: (m if isinstance(m, MemberMap) else MemberMap(branch=m))
                        for a, m in dict(self.members).items()}
        if self.retire is not None and not self.retire:
            raise ConfigurationError(f"entries under {self.base!r}: retire needs at least one "
                                     "attribute")
        named = list(self._named().values())
        refuse_passwords([self.key, self.naming, *named, *(m.attribute for m in self.members_map.values()),
                          *(self.retire or {}), *self.defaults], f"entries under {self.base!r}")

    @property
    def naming(self) -> str:
        """The naming (RDN) attribute."""
        return self.rdn or self.key

    @property
    def members_map(self) -> dict[str, MemberMap]:
        return dict(self.members)  # type: ignore[arg-type]

    def _named(self) -> dict[str, str]:
        if self.attributes is None:
            return {}
        if isinstance(self.attributes, Mapping):
            return dict(self.attributes)
        return {a: a for a in self.attributes}

    # -- where ---------------------------------------------------------------------
    def base_dn(self, root: str | None) -> str:
        """The absolute base DN of the entries (``base`` under the tree's ``root``)."""
        return check_dn(join_dn(self.base, root), f"entries under {self.base!r}: base")

    def retired_dn(self, root: str | None) -> str | None:
        """The absolute DN ``old`` moves entries under, or None."""
        if not self.retire_to:
            return None
        return check_dn(join_dn(self.retire_to, root), f"entries under {self.base!r}: retire_to")

    def class_filter(self) -> str:
        """Entries of every object class, and the extra ``filter``."""
        parts = [f"(objectClass={filter_value(c)})" for c in self.object_classes]
        if self.filter:
            extra = self.filter.strip()
            parts.append(extra if extra.startswith("(") else f"({extra})")
        return parts[0] if len(parts) == 1 else f"(&{''.join(parts)})"

    def retired_filter(self) -> str | None:
        """The filter matching entries retired by attribute values, or None."""
        if not self.retire:
            return None
        parts = [f"({a}={filter_value(v)})" for a, values in self.retire.items()
                 for v in as_values(values)]
        return parts[0] if len(parts) == 1 else f"(&{''.join(parts)})"

    def live_filter(self) -> str:
        """The entries of this branch that are not retired by attribute values."""
        retired = self.retired_filter()
        if retired is None:
            return self.class_filter()
        return f"(&{self.class_filter()}(!{retired}))"

    def active_values(self) -> dict[str, list[str]]:
        """The values of the retire attributes on a live entry (empty: the attribute removed)."""
        given = dict(self.active or {})
        return {a: as_values(given.get(a)) for a in (self.retire or {})}

    def retire_values(self) -> dict[str, list[str]]:
        return {a: as_values(v) for a, v in (self.retire or {}).items()}

    # -- what ------------------------------------------------------------------------
    def attributes_for(self, model: type[Model]) -> dict[str, str]:
        """``{model attribute: ldap attribute}`` for every stored attribute but the members."""
        schema = model.schema()
        named = self._named()
        ignored = set(self.ignore)
        out = {a: named.get(a, a) for a in schema.tracked
               if a not in ignored and a not in self.members}
        unknown = [a for a in named if a not in out]
        if unknown:
            raise ConfigurationError(
                f"entries under {self.base!r}: attributes maps {unknown} but {model.__name__} "
                "has no such attribute")
        return out

    def members_for(self, model: type[Model]) -> dict[str, MemberMap]:
        """``{model attribute: MemberMap}``, checked against ``model`` (each a set or list)."""
        schema = model.schema()
        out = self.members_map
        for attr in out:
            if attr not in schema.tracked or schema.types[attr][0] == SCALAR:
                raise ConfigurationError(
                    f"entries under {self.base!r}: members maps {attr!r} but {model.__name__} has "
                    "no such set or list attribute")
        return out

    def rdn_field(self, model: type[Model]) -> str | None:
        """The model attribute the naming attribute holds (None: the key, the idnumber)."""
        if self.naming.lower() == self.key.lower():
            return None
        for attr, ldap in self.attributes_for(model).items():
            if ldap.lower() == self.naming.lower():
                if model.schema().types[attr][0] != SCALAR:
                    raise ConfigurationError(
                        f"entries under {self.base!r}: the naming attribute {self.naming} holds "
                        f"{model.__name__}.{attr}, a set; name entries by a single value")
                return attr
        raise ConfigurationError(
            f"entries under {self.base!r}: the naming attribute {self.naming!r} is neither the key "
            f"({self.key}) nor a mapped attribute of {model.__name__}")

    def rdn_of(self, idnumber: str, obj: Any, model: type[Model]) -> str:
        """The RDN of the entry of ``obj`` (``uid=1001``, ``cn=Ann Archer``)."""
        attr = self.rdn_field(model)
        value = idnumber if attr is None else encode_value(getattr(obj, attr))
        return make_rdn(self.naming, value)


def as_values(value: Any) -> list[str]:
    """A configured value as LDAP values: None is none, a list its elements as text."""
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return [encode_value(v) for v in value]
    return [encode_value(value)]


def encode_value(value: Any) -> str:
    from .directory import encode

    return encode(value)


class EntryMapping:
    """Branch name -> :class:`EntryMap`: where each branch is kept (the data of a :class:`~dss_ldap.LDAPMapping`).

    ``url`` and ``base`` are fallbacks for the tree settings of those names.
    """

    def __init__(self, branches: Mapping[str, EntryMap] | None = None, *, url: str | None = None,
                 base: str | None = None, **entries: EntryMap) -> None:
        self.entries: dict[str, EntryMap] = {**dict(branches or {}), **entries}
        for branch, emap in self.entries.items():
            if not isinstance(emap, EntryMap):
                raise ConfigurationError(f"mapping of branch {branch!r} is not an EntryMap: {emap!r}")
            for attr, member in emap.members_map.items():
                if member.branch not in self.entries:
                    raise ConfigurationError(
                        f"mapping of branch {branch!r}: {attr} are entries of branch "
                        f"{member.branch!r}, which the mapping does not have")
        self.url = url
        self.base = base

    def __getitem__(self, branch: str) -> EntryMap:
        return self.entries[branch]

    def __contains__(self, branch: object) -> bool:
        return branch in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def references(self, branch: str) -> dict[str, str]:
        """``{attribute: branch}`` of ``branch``'s members: what ``Branch(references=...)`` takes."""
        return {a: m.branch for a, m in self.entries[branch].members_map.items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{b}={e.base!r}' for b, e in self.entries.items())})"


__all__ = ["SELF", "EntryMap", "EntryMapping", "MemberMap", "as_values"]
