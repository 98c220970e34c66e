"""LDAPHandler: apply actions to directory entries from an :class:`~dss_ldap.LDAPMapping`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from dss_core import (
    ERROR,
    SCALAR,
    Action,
    ConfigurationError,
    ConfigurationProblems,
    Handler,
    Result,
    Setting,
    Status,
)

from .directory import (
    CONNECTION_SETTINGS,
    ConnectionSettings,
    Directory,
    Outcome,
    encode,
    filter_value,
    first_rdn,
    normal_dn,
    parent_dn,
    present,
    rdn_value,
)
from .entries import EntryMap, EntryMapping, MemberMap
from .importer import entries_under, read_ids
from .schema import Need, problems


class MappingProblems(ConfigurationProblems):
    """Every problem found checking a mapping against the directory (see ConfigurationProblems)."""


@dataclass
class BoundEntries:
    """One branch's :class:`EntryMap` resolved against the tree: absolute DNs, the model's attributes."""

    branch: str
    map: EntryMap
    model: Any
    base: str
    retired_base: str | None
    attributes: dict[str, str]  # model attribute -> ldap attribute (scalars and plain sets)
    members: dict[str, MemberMap]
    rdn_field: str | None  # the model attribute the naming attribute holds; None: the key

    @classmethod
    def of(cls, branch: str, emap: EntryMap, model: Any, root: str | None) -> BoundEntries:
        return cls(branch, emap, model, emap.base_dn(root), emap.retired_dn(root),
                   emap.attributes_for(model), emap.members_for(model), emap.rdn_field(model))

    def is_set(self, attr: str) -> bool:
        return bool(self.model.schema().types[attr][0] != SCALAR)

    def dn_for(self, idnumber: str, obj: Any) -> str:
        """The DN a new entry of ``obj`` gets."""
        return f"{self.map.rdn_of(idnumber, obj, self.model)},{self.base}"

    def needs(self) -> list[Need]:
        """Every attribute this branch writes, for the schema check."""
        out = [Need(self.map.key, "the idnumber"), Need(self.map.naming, "the naming attribute")]
        out += [Need(ldap, f"{self.model.__name__}.{attr}", multi=self.is_set(attr))
                for attr, ldap in self.attributes.items()]
        out += [Need(m.attribute, f"{self.model.__name__}.{attr}", multi=True, dn=True)
                for attr, m in self.members.items()]
        out += [Need(a, "a retire attribute") for a in self.map.retire or {}]
        out += [Need(a, "a default") for a in self.map.defaults]
        return out

    def filled(self) -> list[str]:
        """The attributes every new entry gets (the key, the naming attribute, defaults, active values)."""
        out = [self.map.key, self.map.naming, *self.map.defaults]
        out += [a for a, v in self.map.active_values().items() if v]
        out += [m.attribute for m in self.members.values() if m.placeholder is not None]
        out += [ldap for attr, ldap in self.attributes.items() if not self.is_set(attr)]
        return out


class LDAPHandler(Handler):
    """Applies actions to the entries of an :class:`~dss_ldap.LDAPMapping`; no handler code needed.

    Generic methods: ``new`` (add the entry; bring back one that was retired),
    ``update`` (replace one attribute; the naming attribute renames the
    entry, and the groups naming it follow), ``add`` / ``remove`` (one value
    of a multi-valued attribute, or one member DN), ``old`` (delete the entry,
    move it under ``retire_to``, or set the ``retire`` values). A subclass may
    add specific methods (``new_users``, ``update_name``, ...); they are tried
    first, with :attr:`directory` open.

    Settings (``[tool.dss.trees.<tree>]``): ``url``, ``bind_dn``,
    ``bind_password`` (secret: keep it in ``DSS_<TREE>_BIND_PASSWORD``),
    ``base``, ``start_tls``, ``connect_timeout``, ``timeout``, ``page_size``.
    Before the first write (and in ``dss check``, through :meth:`verify`),
    :meth:`check` binds and verifies the mapping against the directory: every
    base DN exists, every object class and attribute is in the schema and
    allowed, required attributes are filled (:class:`MappingProblems` names
    every problem otherwise).

    A directory has no transactions: each action is one request (or a few,
    for a rename), applied when it succeeds. What the server refuses
    (``entryAlreadyExists``, ``noSuchObject``, ``constraintViolation``) is
    that action's failure, with the server's words and the entry's DN.
    """

    declared_settings: ClassVar[tuple[Setting, ...]] = CONNECTION_SETTINGS
    mapping: ClassVar[EntryMapping | None] = None
    url: ClassVar[str | None] = None

    directory: Directory
    bound: dict[str, BoundEntries]

    # -- connection --------------------------------------------------------------
    @property
    def root(self) -> str | None:
        """The tree's base DN (setting ``base``, else the mapping's), under which the bases hang."""
        return self.settings.get("base") or (self.mapping.base if self.mapping else None)

    def connection_settings(self) -> ConnectionSettings:
        url = (self.mapping.url if self.mapping else None) or self.url
        return ConnectionSettings.of(self.settings, f"handler of tree {self.tree.name}", url)

    def open(self) -> Directory:
        """Connect and bind, reading the schema (one ConfigurationError line when that fails)."""
        return Directory.open(self.connection_settings(), f"{self.tree.name}: writing", schema=True)

    def verify(self) -> None:
        """Bind and check the mapping against the directory (``dss check``); writes nothing."""
        self.directory = self.open()
        try:
            self.check()
        finally:
            self.directory.close()

    def begin(self) -> None:
        """Bind, check the mapping (as ``dss check`` does), and find the retired entries."""
        self.directory = self.open()
        try:
            self.bound = self.check()
            self._dns: dict[str, dict[str, str]] = {}
            self._retired = {b: self.find_retired(bound) for b, bound in self.bound.items()}
            self._placeholders: dict[str, bool] = {}
        except BaseException:
            self.directory.close()
            raise

    def end(self, failed: bool) -> None:
        directory = getattr(self, "directory", None)
        if directory is not None:
            directory.close()

    # -- validation ----------------------------------------------------------------
    def check(self) -> dict[str, BoundEntries]:
        """Check the mapping against the directory; return the branches bound.

        Every problem is collected and raised at once as :class:`MappingProblems`:
        a branch the tree does not have, a base DN (or ``retire_to``) that does
        not exist, and what the schema refuses (:func:`dss_ldap.schema.problems`).
        """
        bound: dict[str, BoundEntries] = {}
        found: list[str] = []
        if self.mapping is None:
            return bound
        url = self.directory.settings.url
        for branch, emap in self.mapping.entries.items():
            declared = self.tree.branches.get(branch)
            where = f"{self.tree.name}.{branch}"
            if declared is None:
                found.append(f"the mapping of tree {self.tree.name} names branch {branch!r}, "
                             "which the tree does not have")
                continue
            try:
                b = BoundEntries.of(branch, emap, declared.model, self.root)
            except ConfigurationError as exc:
                found.append(f"{where}: {exc}")
                continue
            for what, dn in (("base", b.base), ("retire_to", b.retired_base)):
                if dn is None:
                    continue
                there = self.directory.exists(dn)
                if not there:
                    found.append(f"{where}: {what} {dn} does not exist on {url} ({there.name})"
                                 if there.name == "noSuchObject" else
                                 f"{where}: {what} {dn} cannot be read on {url}: {there.message}")
            filled = b.filled() if self.generic_new(branch) else None
            found += problems(self.directory.schema, where, emap.object_classes, b.needs(), filled)
            bound[branch] = b
        if found:
            raise MappingProblems(found)
        return bound

    def generic_new(self, branch: str) -> bool:
        """True when ``new`` actions of ``branch`` go to the generic :meth:`new`."""
        method = getattr(type(self), f"new_{branch}", None) or getattr(type(self), "new", None)
        return method is LDAPHandler.new

    def find_retired(self, b: BoundEntries) -> dict[str, str]:
        """``{idnumber: dn}`` of the entries ``old`` retired (moved, or marked), which ``new`` brings back."""
        out: dict[str, str] = {}
        if b.retired_base is not None:
            for idnumber, dn in read_ids(self.directory, b.retired_base, b.map.class_filter(),
                                         b.map.key):
                out[idnumber] = dn
        retired = b.map.retired_filter()
        if retired is not None:
            search = f"(&{b.map.class_filter()}{retired})"
            for idnumber, dn in read_ids(self.directory, b.base, search, b.map.key):
                out.setdefault(idnumber, dn)
        return out

    # -- dispatch ------------------------------------------------------------------
    def handle(self, action: Action) -> Result:
        """Dispatch the action; once the connection is lost the rest are skipped, not each tried."""
        directory = getattr(self, "directory", None)
        if action.kind != ERROR and directory is not None and directory.lost is not None:
            return Result(action, Status.SKIPPED, f"not attempted: {directory.lost}")
        return super().handle(action)

    def _bound(self, action: Action) -> BoundEntries | None:
        return getattr(self, "bound", {}).get(action.branch)

    def _unmapped(self, action: Action) -> Result:
        return Result(action, Status.NOT_IMPLEMENTED,
                      f"branch {action.branch!r} is not in the LDAP mapping")

    # -- DNs ---------------------------------------------------------------------
    def dns(self, branch: str) -> dict[str, str]:
        """``{idnumber: dn}`` of ``branch``'s entries: as read (each object's origin), then as changed."""
        known = self._dns.get(branch)
        if known is None:
            known = {}
            for idnumber, obj in self.tree.branch(branch).items():
                origin = obj.dss_origin
                if origin is not None and origin.unit == "entry":
                    known[idnumber] = origin.source
            self._dns[branch] = known
        return known

    def dn_of(self, branch: str, idnumber: str) -> str | None:
        """The DN of ``branch``'s entry ``idnumber``: known, else searched by its key."""
        known = self.dns(branch)
        dn = known.get(idnumber)
        if dn is not None:
            return dn
        b = self.bound.get(branch)
        if b is None:
            return None
        search = f"(&{b.map.live_filter()}({b.map.key}={filter_value(idnumber)}))"
        for _, found in read_ids(self.directory, b.base, search, b.map.key):
            if b.retired_base is None or not entries_under(found, b.retired_base):
                known[idnumber] = found
                return found
        return None

    def member_dn(self, member: MemberMap, value: Any) -> str | None:
        """The DN of a member: the entry of that idnumber, or the value itself when it is a DN."""
        text = str(value)
        dn = self.dn_of(member.branch, text)
        if dn is None and "=" in text:
            return text  # a member the importer could not name (kept as its DN)
        return dn

    # -- the generic methods ---------------------------------------------------------
    def entry_attributes(self, b: BoundEntries, action: Action, dn: str) -> dict[str, list[str]] | Result:
        """Every attribute of the entry of ``action.source`` (values as text; members as DNs)."""
        obj = action.source
        idnumber = str(action.idnumber)
        out: dict[str, list[str]] = {a: [encode(v) for v in _values(v)]
                                     for a, v in b.map.defaults.items()}
        out[b.map.key] = [idnumber]
        for attr, ldap in b.attributes.items():
            value = getattr(obj, attr)
            out[ldap] = sorted(encode(v) for v in value if present(v)) if b.is_set(attr) else (
                [encode(value)] if present(value) else [])
        for attr, member in b.members.items():
            dns = []
            for element in sorted(map(str, getattr(obj, attr) or ())):
                found = self.member_dn(member, element)
                if found is None:
                    return action.failed(f"{attr} names {element!r}, which has no entry in "
                                         f"{member.branch}")
                dns.append(found)
            if not dns and member.placeholder_dn(dn) is not None:
                dns = [str(member.placeholder_dn(dn))]
            out[member.attribute] = dns
        for attribute, values in b.map.active_values().items():
            out[attribute] = values
        if b.map.naming.lower() not in {k.lower() for k, v in out.items() if v}:
            out[b.map.naming] = [rdn_value(dn)[1]]
        return out

    def new(self, action: Action) -> Result | None:
        """Add the entry; one that ``old`` retired (moved or marked) is brought back and rewritten."""
        b = self._bound(action)
        if b is None:
            return self._unmapped(action)
        idnumber = str(action.idnumber)
        dn = b.dn_for(idnumber, action.source)
        attributes = self.entry_attributes(b, action, dn)
        if isinstance(attributes, Result):
            return attributes
        retired = self._retired.get(b.branch, {}).get(idnumber)
        if retired is not None:
            return self.revive(b, action, retired, dn, attributes)
        done = self.directory.add(dn, b.map.object_classes,
                                  {k: v for k, v in attributes.items() if v})
        if not done:
            return self.failed(action, done)
        self.dns(b.branch)[idnumber] = dn
        self._placeholders[normal_dn(dn)] = any(
            attributes.get(m.attribute) == [m.placeholder_dn(dn)] for m in b.members.values())
        return None

    def revive(self, b: BoundEntries, action: Action, retired: str, dn: str,
               attributes: dict[str, list[str]]) -> Result | None:
        """Bring back a retired entry: move it home (when moved), then replace its attributes."""
        import ldap3

        idnumber = str(action.idnumber)
        if normal_dn(retired) != normal_dn(dn):
            moved = self.directory.move(retired, first_rdn(dn), b.base)
            if not moved:
                return self.failed(action, moved, f"bringing back {retired}")
        changes = {a: [(ldap3.MODIFY_REPLACE, v)] for a, v in attributes.items()
                   if a.lower() != b.map.naming.lower()}
        done = self.directory.modify(dn, changes)
        if not done:
            return self.failed(action, done)
        self._retired[b.branch].pop(idnumber, None)
        self.dns(b.branch)[idnumber] = dn
        return action.succeeded(f"brought back from {retired}")

    def _entry_dn(self, b: BoundEntries, action: Action) -> str | Result:
        dn = self.dn_of(b.branch, str(action.idnumber))
        if dn is None:
            return action.failed(f"no entry of {b.branch} {action.idnumber!r} under {b.base}")
        return dn

    def update(self, action: Action) -> Result | None:
        """Replace one attribute; a change of the naming attribute renames the entry (modrdn)."""
        import ldap3

        b = self._bound(action)
        if b is None:
            return self._unmapped(action)
        attribute = b.attributes.get(action.attribute or "")
        if attribute is None:
            return action.failed(f"attribute {action.attribute!r} is not mapped to an LDAP "
                                 f"attribute of {b.branch}")
        dn = self._entry_dn(b, action)
        if isinstance(dn, Result):
            return dn
        if action.attribute == b.rdn_field:
            return self.rename(b, action, dn)
        values = [encode(action.value)] if present(action.value) else []
        done = self.directory.modify(dn, {attribute: [(ldap3.MODIFY_REPLACE, values)]})
        return None if done else self.failed(action, done)

    def rename(self, b: BoundEntries, action: Action, dn: str) -> Result | None:
        """modrdn the entry to its new naming value; members naming the old DN are rewritten."""
        if not present(action.value):
            return action.failed(f"{action.attribute} names the entry ({b.map.naming}) and "
                                 "cannot be empty")
        new_rdn = b.map.rdn_of(str(action.idnumber), action.source, b.model)
        done = self.directory.move(dn, new_rdn)
        if not done:
            return self.failed(action, done, "renaming")
        new_dn = f"{new_rdn},{parent_dn(dn)}"
        self.dns(b.branch)[str(action.idnumber)] = new_dn
        fixed = self.fix_references(b.branch, dn, new_dn)
        return action.succeeded(f"renamed to {new_dn}" + (
            f"; {fixed} group{'s' if fixed != 1 else ''} updated" if fixed else ""))

    def fix_references(self, branch: str, old_dn: str, new_dn: str) -> int:
        """Point every member value naming ``old_dn`` at ``new_dn`` (when no server overlay did)."""
        import ldap3

        changed = 0
        for b in self.bound.values():
            for member in b.members.values():
                if member.branch != branch:
                    continue
                search = f"({member.attribute}={filter_value(old_dn)})"
                for _, group in read_ids(self.directory, b.base, search, None):
                    done = self.directory.modify(group, {member.attribute: [
                        (ldap3.MODIFY_DELETE, [old_dn]), (ldap3.MODIFY_ADD, [new_dn])]})
                    changed += bool(done)
        return changed

    def _value(self, b: BoundEntries, action: Action) -> tuple[str, str, MemberMap | None] | Result:
        """``(ldap attribute, value, member map)`` of an add or remove action."""
        attr = action.attribute or ""
        member = b.members.get(attr)
        if member is not None:
            dn = self.member_dn(member, action.value)
            if dn is None:
                return action.failed(f"{attr} names {action.value!r}, which has no entry in "
                                     f"{member.branch}")
            return member.attribute, dn, member
        ldap = b.attributes.get(attr)
        if ldap is None or not b.is_set(attr):
            return action.failed(f"attribute {attr!r} is not mapped to a multi-valued LDAP "
                                 f"attribute of {b.branch}")
        return ldap, encode(action.value), None

    def _member_target(self, action: Action) -> tuple[str, str, str, MemberMap | None] | Result:
        """The entry's DN, the LDAP attribute, the value and its member map of an add or remove."""
        b = self._bound(action)
        if b is None:
            return self._unmapped(action)
        found = self._value(b, action)
        if isinstance(found, Result):
            return found
        attribute, value, member = found
        dn = self._entry_dn(b, action)
        if isinstance(dn, Result):
            return dn
        return dn, attribute, value, member

    def add(self, action: Action) -> Result | None:
        """Add one value (a member's DN); the placeholder of an empty group goes."""
        import ldap3

        target = self._member_target(action)
        if isinstance(target, Result):
            return target
        dn, attribute, value, member = target
        placeholder = member.placeholder_dn(dn) if member else None
        if placeholder is not None and self._holds_placeholder(dn, action):
            done = self.directory.modify(dn, {attribute: [(ldap3.MODIFY_ADD, [value]),
                                                          (ldap3.MODIFY_DELETE, [placeholder])]})
            if done or done.name != "noSuchAttribute":
                self._placeholders[normal_dn(dn)] = False
                return None if done else self.failed(action, done)
        done = self.directory.modify(dn, {attribute: [(ldap3.MODIFY_ADD, [value])]})
        if not done and done.name in ("attributeOrValueExists", "typeOrValueExists"):
            return action.dropped(f"{attribute} of {dn} holds {value!r} already")
        if done:
            self._placeholders[normal_dn(dn)] = False
        return None if done else self.failed(action, done)

    def _holds_placeholder(self, dn: str, action: Action) -> bool:
        """Whether group ``dn`` holds only its placeholder (as read, or as this run left it)."""
        known = self._placeholders.get(normal_dn(dn))
        if known is not None:
            return known
        dest = action.dest
        return dest is not None and not getattr(dest, action.attribute or "", None)

    def remove(self, action: Action) -> Result | None:
        """Remove one value (a member's DN); an emptied group gets its placeholder."""
        import ldap3

        target = self._member_target(action)
        if isinstance(target, Result):
            return target
        dn, attribute, value, member = target
        done = self.directory.modify(dn, {attribute: [(ldap3.MODIFY_DELETE, [value])]})
        placeholder = member.placeholder_dn(dn) if member else None
        if not done and done.name == "objectClassViolation" and placeholder is not None:
            done = self.directory.modify(dn, {attribute: [(ldap3.MODIFY_ADD, [placeholder]),
                                                          (ldap3.MODIFY_DELETE, [value])]})
            if done:
                self._placeholders[normal_dn(dn)] = True
        if not done and done.name == "noSuchAttribute":
            return action.dropped(f"{attribute} of {dn} does not hold {value!r}")
        return None if done else self.failed(action, done)

    def old(self, action: Action) -> Result | None:
        """Delete the entry, or move it under ``retire_to``, or set the ``retire`` values."""
        import ldap3

        b = self._bound(action)
        if b is None:
            return self._unmapped(action)
        dn = self._entry_dn(b, action)
        if isinstance(dn, Result):
            return dn
        idnumber = str(action.idnumber)
        if b.retired_base is None and not b.map.retire:
            done = self.directory.delete(dn)
            if not done:
                return self.failed(action, done)
            self.dns(b.branch).pop(idnumber, None)
            return None
        where = dn
        if b.retired_base is not None:
            done = self.directory.move(dn, first_rdn(dn), b.retired_base)
            if not done:
                return self.failed(action, done, f"moving it under {b.retired_base}")
            where = f"{first_rdn(dn)},{b.retired_base}"
        if b.map.retire:
            changes = {a: [(ldap3.MODIFY_REPLACE, v)] for a, v in b.map.retire_values().items()}
            done = self.directory.modify(where, changes)
            if not done:
                return self.failed(action, done)
        self.dns(b.branch).pop(idnumber, None)
        self._retired.setdefault(b.branch, {})[idnumber] = where
        return action.succeeded(f"retired: {where}" if where != dn else "retired")

    def failed(self, action: Action, outcome: Outcome, doing: str = "") -> Result:
        """The failed result of ``action``: the server's words, the entry's DN."""
        return action.failed(f"{doing}: {outcome.message}" if doing else outcome.message)

    def __repr__(self) -> str:
        directory = getattr(self, "directory", None)
        return f"<{type(self).__name__} {directory.settings.url if directory else ''}>"


def _values(value: Any) -> Iterable[Any]:
    if value is None:
        return ()
    if isinstance(value, list | tuple | set | frozenset):
        return value
    return (value,)


__all__ = ["BoundEntries", "LDAPHandler", "MappingProblems"]
