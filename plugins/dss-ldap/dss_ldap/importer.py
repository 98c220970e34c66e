"""LDAPImporter: read a branch from the entries of a subtree, page by page."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from dss_core import SCALAR, ConfigurationError, Importer, InputError, Origin, Record, Setting

from .directory import (
    CONNECTION_SETTINGS,
    ConnectionSettings,
    Directory,
    Scope,
    check_dn,
    normal_dn,
    rdn_value,
    refuse_passwords,
)

#: The pseudo-attribute naming the entry's DN in ``attributes`` and ``key``.
DN = "dn"


class LDAPImporter(Importer):
    """Reads one branch from the entries under a base DN (a paged search).

    Class attributes (each may also be given as a setting of the same name,
    which wins):

    ``url``, ``bind_dn``, ``bind_password``
        where and as whom to connect; usually tree settings
        (``[tool.dss.trees.<tree>]``), the password in ``DSS_<TREE>_BIND_PASSWORD``.
    ``base``
        the DN of the subtree to read.
    ``scope``
        ``"sub"`` (default: the whole subtree), ``"one"`` (the entries right
        under the base) or ``"base"``.
    ``filter``
        an LDAP filter, default ``(objectClass=*)``.
    ``key``
        the attribute holding the idnumber (``uid``, ``employeeNumber``);
        default: the value of the entry's own RDN (``uid=1001,...`` -> ``1001``);
        ``"dn"``: the whole DN.
    ``attributes``
        ``{ldap attribute: model attribute}`` for attributes named differently
        from the model's fields (``{"cn": "name", "mail": "email"}``); every
        other field is read from the attribute of its own name, and
        ``"dn"`` names the entry's DN.
    ``rdn_values``
        attributes whose values are DNs read as the value of their first RDN:
        ``["member"]`` turns ``uid=1001,ou=people,...`` into ``1001``.
    ``page_size``
        entries per page (default 500).

    Multi-valued attributes fill set and list fields; a field that is a
    single value but whose attribute holds several is an error naming the
    entry. An attribute the entry lacks reads as ``""`` (a text field) or
    None (LDAP stores no empty values). Each object's origin is its entry's
    DN. Password attributes are never requested.
    """

    name = "ldap"
    declared_settings: ClassVar[tuple[Setting, ...]] = (
        *CONNECTION_SETTINGS,
        Setting("scope", str, "sub", "sub (the subtree), one (one level) or base"),
        Setting("filter", str, "(objectClass=*)", "the LDAP filter entries must match"),
        Setting("key", str, None,
                "the attribute holding the idnumber (default: the value of the entry's RDN; "
                "dn: the DN)"),
        Setting("attributes", dict[str, str], {}, "ldap attribute -> model attribute"),
        Setting("rdn_values", list[str], [],
                "attributes whose DN values are read as their first RDN's value"),
    )
    url: ClassVar[str | None] = None
    base: ClassVar[str | None] = None
    scope: ClassVar[Scope] = "sub"
    filter: ClassVar[str] = "(objectClass=*)"
    key: ClassVar[str | None] = None
    attributes: ClassVar[Mapping[str, str]] = {}
    rdn_values: ClassVar[Sequence[str]] = ()

    # -- settings --------------------------------------------------------------
    @property
    def where(self) -> str:
        return f"{self.tree.name}.{self.branch}"

    def option(self, key: str) -> Any:
        """A setting, falling back to the class attribute of the same name."""
        value = self.settings.get(key)
        return value if value is not None else getattr(type(self), key, None)

    def connection_settings(self) -> ConnectionSettings:
        """Where and how to connect (the settings, then the class's ``url``)."""
        return ConnectionSettings.of(self.settings, self.where, type(self).url)

    def search_base(self) -> str:
        """The DN of the subtree read."""
        base = self.option("base")
        if not base:
            raise ConfigurationError(f"{self.where}: {type(self).__name__} needs a base DN "
                                     "(setting base)")
        return check_dn(str(base), f"{self.where}: base")

    def search_filter(self) -> str:
        """The LDAP filter of the search."""
        text = str(self.option("filter") or "(objectClass=*)").strip()
        return text if text.startswith("(") else f"({text})"

    def search_scope(self) -> Scope:
        scope = str(self.option("scope") or "sub")
        if scope not in ("base", "one", "sub"):
            raise ConfigurationError(f"{self.where}: scope must be sub, one or base, not {scope!r}")
        return scope  # type: ignore[return-value]

    def key_attribute(self) -> str | None:
        """The attribute holding the idnumber, or None for the entry's RDN value."""
        key = self.option("key")
        return str(key) if key else None

    def field_attributes(self) -> dict[str, str]:
        """``{model field: ldap attribute}`` for every field of the branch's model."""
        renames = dict(self.option("attributes") or {})
        by_field = {attr: ldap for ldap, attr in renames.items()}
        model = self.tree.branches[self.branch].model
        fields = [n for n in model.schema().fields if n != "idnumber"]
        return {f: by_field.get(f, f) for f in fields}

    def dn_attributes(self) -> set[str]:
        """Lower-case names of the attributes whose DN values are read as their RDN's value."""
        return {a.lower() for a in (self.option("rdn_values") or ())}

    def describe(self) -> str:
        base = self.option("base")
        return f"ldap {base}" if base else "ldap"

    # -- reading -----------------------------------------------------------------
    def requested(self) -> list[str]:
        """The attributes the search asks for (the key and every mapped field; never passwords)."""
        fields = self.field_attributes()
        key = self.key_attribute()
        wanted = [a for a in (key, *fields.values()) if a and a.lower() != DN]
        refuse_passwords(wanted, self.where)
        return list(dict.fromkeys(wanted)) or ["1.1"]

    def readin(self) -> Iterable[Record]:
        """One record per entry, its origin the entry's DN."""
        settings = self.connection_settings()
        base = self.search_base()
        search_filter = self.search_filter()
        scope = self.search_scope()
        attributes = self.requested()
        with Directory.open(settings, f"{self.where}: reading {base}") as directory:
            for dn, raw in directory.search(base, search_filter, attributes, scope):
                values = self.entry_values(dn, raw)
                if values is not None:
                    yield Record(values, Origin(dn, None, "entry"))

    def entry_values(self, dn: str, raw: Mapping[str, list[bytes]]) -> dict[str, Any] | None:
        """The record of one entry: its idnumber and every field (None skips the entry)."""
        model = self.tree.branches[self.branch].model
        schema = model.schema()
        found = {name.lower(): values for name, values in raw.items()}
        dn_attrs = self.dn_attributes()
        key = self.key_attribute()
        if key is None:
            idnumber = rdn_value(dn)[1]
        elif key.lower() == DN:
            idnumber = dn
        else:
            ids = self.decode(dn, key, found.get(key.lower(), ()))
            if len(ids) != 1:
                raise InputError(
                    f"{self.where}: entry {dn} has {len(ids) or 'no'} values of {key} "
                    f"(the idnumber attribute){': ' + ', '.join(map(repr, ids)) if ids else ''}")
            idnumber = ids[0]
        values: dict[str, Any] = {"idnumber": idnumber}
        for field, attribute in self.field_attributes().items():
            if attribute.lower() == DN:
                values[field] = dn
                continue
            texts = self.decode(dn, attribute, found.get(attribute.lower(), ()))
            if attribute.lower() in dn_attrs:
                texts = [rdn_value(t)[1] for t in texts]
            values[field] = self.field_value(dn, field, attribute, texts, schema)
        return values

    def field_value(self, dn: str, field: str, attribute: str, texts: list[str], schema: Any) -> Any:
        """One field's value from its attribute's values: a set or list, or one value."""
        f = schema.fields[field]
        if f.kind != SCALAR:
            return texts
        if len(texts) > 1:
            raise InputError(
                f"{self.where}: entry {dn}: attribute {attribute} holds {len(texts)} values "
                f"({', '.join(map(repr, texts[:3]))}{', ...' if len(texts) > 3 else ''}) but "
                f"{field} is a single value; declare {field} a set[str], or read one value "
                "in preprocess()")
        if texts:
            return texts[0]
        return "" if f.type is str else None

    def decode(self, dn: str, attribute: str, values: Iterable[bytes]) -> list[str]:
        """Raw values as text (UTF-8, as LDAP stores text)."""
        out = []
        for value in values:
            try:
                out.append(value.decode("utf-8"))
            except UnicodeDecodeError:
                raise InputError(f"{self.where}: entry {dn}: attribute {attribute} holds binary "
                                 "data, not text; leave it out of the model") from None
        return out


def entries_under(dn: str, base: str) -> bool:
    """True when ``dn`` is ``base`` or below it."""
    d, b = normal_dn(dn), normal_dn(base)
    return d == b or d.endswith("," + b)


def read_ids(directory: Directory, base: str, search_filter: str, key: str | None,
             scope: Scope = "sub") -> Iterator[tuple[str, str]]:
    """``(idnumber, dn)`` of every entry matching the search (the idnumber from ``key`` or the RDN)."""
    attributes = [key] if key and key.lower() != DN else ["1.1"]
    for dn, raw in directory.search(base, search_filter, attributes, scope):
        if not key:
            yield rdn_value(dn)[1], dn
            continue
        if key.lower() == DN:
            yield dn, dn
            continue
        found = {n.lower(): v for n, v in raw.items()}.get(key.lower()) or []
        for value in found[:1]:
            yield value.decode("utf-8", errors="replace"), dn


__all__ = ["DN", "LDAPImporter", "entries_under", "read_ids"]
