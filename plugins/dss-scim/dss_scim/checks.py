"""The mapping checked against what the SCIM service publishes: resource types and schemas.

:func:`bind` is what ``dss check`` (through ``SCIMHandler.verify``) and the
first step of a run (``begin``) do: every problem is one line, and the
branches that are fine come back bound to their endpoint and attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dss_core import ConfigurationError, ConfigurationProblems

from .paths import AttributePath, parse
from .resources import MemberMap, ResourceMap

if TYPE_CHECKING:
    from .handler import SCIMHandler

#: Attributes every resource has (RFC 7643 §3.1), not listed in its schema.
COMMON = {"id", "externalId", "meta"}
#: Which Python types fit each SCIM attribute type.
FITS: dict[str, tuple[type, ...]] = {
    "string": (str,), "reference": (str,), "binary": (str,), "dateTime": (str,),
    "boolean": (bool,), "integer": (int,), "decimal": (float, int),
}


class MappingProblems(ConfigurationProblems):
    """Every problem found checking a SCIM mapping against its service (see ConfigurationProblems)."""


@dataclass
class BoundMember:
    """A membership attribute bound: its SCIM path, and the branch and resource its values name."""

    branch: str
    path: AttributePath
    type: str | None
    target: ResourceMap


@dataclass
class Bound:
    """One branch's mapping bound to the service: what the generic methods write through."""

    branch: str
    map: ResourceMap
    endpoint: str
    schema: str
    paths: dict[str, tuple[AttributePath, bool, bool]]  # attribute -> (path, many, multi-valued)
    members: dict[str, BoundMember] = field(default_factory=dict)
    constants: list[tuple[AttributePath, Any]] = field(default_factory=list)
    constant_multi: dict[str, bool] = field(default_factory=dict)


def _attribute(attributes: Any, name: str) -> Any:
    """The schema attribute called ``name`` (SCIM names are case-insensitive), or None."""
    for attribute in attributes or ():
        if attribute.name.lower() == name.lower():
            return attribute
    return None


def _type_name(attribute: Any) -> str:
    value = attribute.type
    return str(getattr(value, "value", value))


class Binder:
    """Checks one handler's mapping against its connected service."""

    def __init__(self, handler: SCIMHandler) -> None:
        self.handler = handler
        self.service = handler.service
        self.tree = handler.tree
        self.types = self.service.resource_types()
        self.schemas = self.service.schemas()
        self.problems: list[str] = []

    def schema_attributes(self, rtype: Any, urn: str | None) -> Any:
        """The attributes of the resource type's core schema, or of extension ``urn`` (None: not there)."""
        core = str(rtype.schema_)
        wanted = urn or core
        allowed = [core, *(str(e.schema_) for e in rtype.schema_extensions or ())]
        if wanted not in allowed:
            return None
        schema = self.schemas.get(wanted)
        return schema.attributes if schema is not None else None

    def path_problem(self, rtype: Any, path: AttributePath, kind: type | None, many: bool,
                     writing: bool = True) -> tuple[str | None, bool]:
        """Why ``path`` cannot hold a value of ``kind`` (a set when ``many``), and whether it is multi-valued."""
        if path.schema is None and path.attribute in COMMON:
            return None, False
        attributes = self.schema_attributes(rtype, path.schema)
        if attributes is None:
            return (f"{path.text}: resource type {rtype.name} has no schema extension "
                    f"{path.schema}"), False
        attribute = _attribute(attributes, path.attribute)
        if attribute is None:
            known = ", ".join(a.name for a in attributes)
            return f"{path.text}: {rtype.name} has no attribute {path.attribute!r} (it has {known})", False
        multi = bool(attribute.multi_valued)
        target = attribute
        if _type_name(attribute) == "complex":
            sub = path.element_key() if multi else path.sub
            if sub is None:
                return (f"{path.text}: {path.attribute} is complex: name a sub-attribute, e.g. "
                        f"{path.attribute}.{attribute.sub_attributes[0].name}"), multi
            target = _attribute(attribute.sub_attributes, sub)
            if target is None:
                subs = ", ".join(a.name for a in attribute.sub_attributes or ())
                return f"{path.text}: {path.attribute} has no sub-attribute {sub!r} (it has {subs})", multi
            if path.match is not None and _attribute(attribute.sub_attributes, path.match[0]) is None:
                return f"{path.text}: {path.attribute} has no sub-attribute {path.match[0]!r} to filter on", multi
        elif path.sub is not None:
            return f"{path.text}: {path.attribute} is not complex: it has no sub-attribute {path.sub!r}", multi
        if many and not multi:
            return (f"{path.text}: {path.attribute} holds one value, but the model's attribute is a "
                    "set; declare it str (or map it to a multi-valued attribute)"), multi
        if multi and not many and path.match is None:
            return (f"{path.text}: {path.attribute} is multi-valued: pick one value with a filter "
                    f"({path.attribute}[primary].value, {path.attribute}[type eq \"work\"].value) "
                    "or declare the model's attribute a set"), multi
        fits = FITS.get(_type_name(target))
        if kind is not None and fits is not None and kind not in fits and kind is not object:
            return (f"{path.text} is a SCIM {_type_name(target)}, but the model's attribute is "
                    f"{kind.__name__}; declare it {fits[0].__name__}"), multi
        mutability = str(getattr(target.mutability, "value", target.mutability or ""))
        if writing and mutability == "readOnly":
            return f"{path.text} is read-only on the SCIM service: dss cannot write it", multi
        return None, multi

    def bind_branch(self, branch: str, rmap: ResourceMap) -> Bound | None:
        where = f"{self.tree.name}.{branch}"
        declared = self.tree.branches.get(branch)
        if declared is None:
            self.problems.append(f"the SCIM mapping of tree {self.tree.name} names branch "
                                 f"{branch!r}, which the tree does not have")
            return None
        rtype = self.types.get(rmap.resource)
        if rtype is None:
            self.problems.append(
                f"{where}: the SCIM service at {self.service.url} has no resource type "
                f"{rmap.resource!r} (it has {', '.join(self.types) or 'none'})")
            return None
        model = declared.model
        try:
            paths = rmap.paths_for(model)
        except ConfigurationError as exc:
            self.problems.append(f"{where}: {exc}")
            return None
        schema = model.schema()
        bound = Bound(branch, rmap, str(rtype.endpoint), str(rtype.schema_), {})
        count = len(self.problems)
        key_problem, _ = self.path_problem(rtype, parse(rmap.key), str, False)
        if key_problem:
            self.problems.append(f"{where}: key {key_problem}")
        for attr, (path, many) in paths.items():
            problem, multi = self.path_problem(rtype, path, schema.types[attr][1], many)
            if problem:
                self.problems.append(f"{where}: {model.__name__}.{attr} -> {problem}")
            bound.paths[attr] = (path, many, multi)
        for attr, member in rmap.member_maps().items():
            self.bind_member(where, rtype, bound, attr, member)
        for text, value in rmap.constants.items():
            path = parse(text)
            problem, multi = self.path_problem(rtype, path, type(value), False)
            if problem:
                self.problems.append(f"{where}: constant {problem}")
            bound.constants.append((path, value))
            bound.constant_multi[path.text] = multi
        retire = str(self.tree.settings(branch).get("retire") or rmap.retire)
        if retire == "deactivate" and _attribute(self.schema_attributes(rtype, None), "active") is None:
            self.problems.append(f"{where}: retire = \"deactivate\" needs an 'active' attribute, and "
                                 f"{rtype.name} has none; use retire = \"delete\"")
        if self.generic_new(branch):
            self.required(where, rtype, bound)
        return bound if len(self.problems) == count else None

    def bind_member(self, where: str, rtype: Any, bound: Bound, attr: str, member: MemberMap) -> None:
        path = parse(member.path)
        mapping = self.handler.mapping
        target = mapping.resources.get(member.branch) if mapping is not None else None
        if target is None:
            self.problems.append(f"{where}: members {attr!r} names branch {member.branch!r}, which "
                                 "the SCIM mapping does not map")
            return
        attributes = self.schema_attributes(rtype, path.schema) or ()
        attribute = _attribute(attributes, path.attribute)
        if attribute is None or not attribute.multi_valued or \
                _attribute(attribute.sub_attributes, "value") is None:
            self.problems.append(f"{where}: members {attr!r} -> {member.path}: {rtype.name} has "
                                 "no multi-valued attribute of that name with a 'value'")
            return
        bound.members[attr] = BoundMember(member.branch, path, member.type, target)

    def generic_new(self, branch: str) -> bool:
        from .handler import SCIMHandler

        cls = type(self.handler)
        method = getattr(cls, f"new_{branch}", None) or getattr(cls, "new", None)
        return method is SCIMHandler.new

    def required(self, where: str, rtype: Any, bound: Bound) -> None:
        """A required attribute of the core schema that no new resource would hold."""
        written = {bound.map.key.lower(),
                   *(p.attribute.lower() for p, _, _ in bound.paths.values() if p.schema is None),
                   *(m.path.attribute.lower() for m in bound.members.values()),
                   *(p.attribute.lower() for p, _ in bound.constants if p.schema is None)}
        for attribute in self.schema_attributes(rtype, None) or ():
            required = getattr(attribute.required, "value", attribute.required)
            if required is True and attribute.name.lower() not in written and \
                    attribute.name not in COMMON:
                self.problems.append(
                    f"{where}: {rtype.name} requires {attribute.name!r}, and the mapping writes "
                    f"nothing to it, so every new_{bound.branch} would fail; map an attribute to it "
                    f"(attributes={{...: {attribute.name!r}}}), use it as the key, or give a constant")


def bind(handler: SCIMHandler) -> tuple[dict[str, Bound], list[str]]:
    """Bind every branch of the handler's mapping: the branches bound, and every problem found."""
    binder = Binder(handler)
    bound: dict[str, Bound] = {}
    mapping = handler.mapping
    if mapping is None:
        return bound, binder.problems
    for branch, rmap in mapping.resources.items():
        b = binder.bind_branch(branch, rmap)
        if b is not None:
            bound[branch] = b
    # a member's target branch must be bound for its ids to be resolved
    for b in bound.values():
        for attr, member in b.members.items():
            if member.branch not in bound and member.branch in (mapping.resources or {}):
                binder.problems.append(f"{handler.tree.name}.{b.branch}: members {attr!r} name "
                                       f"branch {member.branch!r}, whose mapping has problems")
    return bound, binder.problems
