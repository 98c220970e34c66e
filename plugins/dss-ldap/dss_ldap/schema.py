"""A mapping checked against the directory's schema (read by ldap3 from the subschema entry).

Object classes and attribute types are looked up by any of their names,
case-insensitively; an attribute is allowed when one of the entry's classes
(or a superior class) has it in MUST or MAY.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: Syntaxes whose values are DNs (Distinguished Name, Name and Optional UID).
DN_SYNTAXES = frozenset({"1.3.6.1.4.1.1466.115.121.1.12", "1.3.6.1.4.1.1466.115.121.1.34"})


@dataclass
class Need:
    """One attribute a mapping writes: its LDAP name, why (for messages), and how."""

    attribute: str
    why: str
    multi: bool = False  # several values (a set or list)
    dn: bool = False  # the values are DNs (members)


class SchemaView:
    """The directory's object classes and attribute types, by any name, case-insensitively."""

    def __init__(self, schema: Any) -> None:
        self.classes: dict[str, Any] = {}
        self.types: dict[str, Any] = {}
        for info in (schema.object_classes or {}).values():
            for name in info.name or ():
                self.classes[name.lower()] = info
        for info in (schema.attribute_types or {}).values():
            for name in info.name or ():
                self.types[name.lower()] = info

    def class_names(self) -> list[str]:
        return sorted({info.name[0] for info in self.classes.values()})

    def type_names(self) -> list[str]:
        return sorted({info.name[0] for info in self.types.values()})

    def attribute(self, name: str) -> Any:
        return self.types.get(name.lower())

    def oid(self, name: str) -> str:
        info = self.attribute(name)
        return str(info.oid) if info is not None else name.lower()

    def syntax(self, name: str) -> str | None:
        """The attribute type's syntax OID, inherited from its superior type when it has none."""
        info = self.attribute(name)
        seen: set[str] = set()
        while info is not None and str(info.oid) not in seen:
            seen.add(str(info.oid))
            if info.syntax:
                return str(info.syntax).split("{")[0]
            superior = info.superior[0] if info.superior else None
            info = self.attribute(superior) if superior else None
        return None

    def single_valued(self, name: str) -> bool:
        info = self.attribute(name)
        return bool(info is not None and info.single_value)

    def closure(self, classes: Iterable[str]) -> list[Any]:
        """The classes and all their superior classes."""
        out: list[Any] = []
        todo = [c.lower() for c in classes]
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            info = self.classes.get(name)
            if info is None or str(info.oid) in seen:
                continue
            seen.add(str(info.oid))
            out.append(info)
            todo += [s.lower() for s in info.superior or ()]
        return out

    def allowed(self, classes: Iterable[str]) -> tuple[set[str], set[str], bool]:
        """``(must, may, any)``: attribute OIDs the classes require and allow; ``any`` for extensibleObject."""
        must: set[str] = set()
        may: set[str] = set()
        extensible = False
        for info in self.closure(classes):
            if "extensibleobject" in (n.lower() for n in info.name or ()):
                extensible = True
            must |= {self.oid(a) for a in info.must_contain or ()}
            may |= {self.oid(a) for a in info.may_contain or ()}
        return must, may, extensible


def problems(schema: Any, where: str, object_classes: Sequence[str], needs: Sequence[Need],
             filled: Iterable[str] | None) -> list[str]:
    """What in a mapping the schema refuses, one line each.

    * an object class the schema does not have (with the nearest name);
    * an attribute type it does not have, or one the classes do not allow;
    * a set written to a SINGLE-VALUE attribute, members in an attribute whose
      values are not DNs;
    * with ``filled`` (the attributes a new entry gets, when the generic
      ``new`` writes the branch): an attribute the classes require that no
      new entry gets.
    """
    view = SchemaView(schema)
    out: list[str] = []
    unknown = [c for c in object_classes if c.lower() not in view.classes]
    for name in unknown:
        out.append(f"{where}: object class {name!r} is not in the directory's schema"
                   f"{_nearest(name, view.class_names())}")
    known = [c for c in object_classes if c.lower() in view.classes]
    must, may, extensible = view.allowed(known)
    shown = ", ".join(known)
    seen: set[str] = set()
    for need in needs:
        key = need.attribute.lower()
        if key in seen:
            continue
        seen.add(key)
        if view.attribute(need.attribute) is None:
            out.append(f"{where}: attribute {need.attribute!r} ({need.why}) is not in the "
                       f"directory's schema{_nearest(need.attribute, view.type_names())}")
            continue
        oid = view.oid(need.attribute)
        if known and not unknown and not extensible and oid not in must | may:
            out.append(f"{where}: attribute {need.attribute!r} ({need.why}) is not allowed by "
                       f"object class{'es' if len(known) > 1 else ''} {shown}; add a class that "
                       "allows it to object_classes")
        if need.multi and view.single_valued(need.attribute):
            out.append(f"{where}: attribute {need.attribute!r} is SINGLE-VALUE but {need.why} is "
                       "a set or list; map a single value to it")
        if need.dn and view.syntax(need.attribute) not in DN_SYNTAXES:
            out.append(f"{where}: attribute {need.attribute!r} ({need.why}) does not hold DNs "
                       "(its syntax is not Distinguished Name); members are written as DNs")
    if filled is not None and known and not unknown:
        have = {view.oid(a) for a in filled} | {view.oid("objectClass")}
        for oid in sorted(must - have):
            info = next((i for i in view.types.values() if str(i.oid) == oid), None)
            name = info.name[0] if info is not None else oid
            out.append(f"{where}: object class {shown} requires attribute {name!r}, which no new "
                       f"entry gets: map an attribute to it (attributes=...) or give it a value "
                       f"(defaults={{{name!r}: ...}})")
    return out


def _nearest(name: str, known: list[str]) -> str:
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""
