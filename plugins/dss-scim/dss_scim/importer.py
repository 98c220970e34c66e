"""SCIMImporter: read a branch from the resources of a SCIM 2.0 service, page by page."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal

from dss_core import ConfigurationError, Importer, Origin, Record, Setting

from .index import Index, Ref, fresh_index, index_of
from .resources import RETIRE, MemberMap, ResourceMap
from .service import SERVICE_SETTINGS, Service

DEFAULT_PAGE_SIZE = 200


class SCIMImporter(Importer):
    """Reads one branch from one resource type of a SCIM service (registered as ``scim``).

    Class attributes (each may also be given as a setting of the same name,
    which wins): ``url`` and ``token`` (usually tree settings; keep the token
    in ``DSS_<TREE>_TOKEN``), ``resource`` (``"User"``), ``key`` (the
    attribute holding the idnumber, ``"externalId"`` by default), ``filter``
    (a SCIM filter), ``attributes`` (``{model attribute: SCIM path}``),
    ``members`` (``{attribute: branch}``: values that are SCIM ids of that
    branch's resources, read as its idnumbers), ``retire`` (``"deactivate"``
    skips inactive resources) and ``page_size``.

    Each record's origin is the resource's ``location`` (its URL, which
    holds its SCIM id). Multi-valued attributes are read as sets.
    """

    name = "scim"
    declared_settings: ClassVar[tuple[Setting, ...]] = (
        *SERVICE_SETTINGS,
        Setting("resource", str, None, "the resource type to read (User, Group)"),
        Setting("key", str, None, "the attribute holding the idnumber (externalId, userName)"),
        Setting("filter", str, None, 'a SCIM filter restricting what is read (userType eq "Student")'),
        Setting("attributes", dict[str, str], {}, "model attribute -> SCIM attribute path"),
        Setting("members", dict[str, str], {},
                "membership attribute -> the branch whose SCIM ids it holds (members = users)"),
        Setting("retire", Literal[RETIRE], None,
                "deactivate: inactive resources are retired ones, not read"),
    )
    url: ClassVar[str | None] = None
    resource: ClassVar[str | None] = None
    key: ClassVar[str] = "externalId"
    filter: ClassVar[str | None] = None
    attributes: ClassVar[Mapping[str, str]] = {}
    members: ClassVar[Mapping[str, str]] = {}
    retire: ClassVar[str] = "delete"
    page_size: ClassVar[int] = DEFAULT_PAGE_SIZE

    def option(self, key: str) -> Any:
        """A setting, falling back to the class attribute of the same name."""
        value = self.settings.get(key)
        return value if value is not None else getattr(type(self), key, None)

    @property
    def where(self) -> str:
        return f"{self.tree.name}.{self.branch}"

    def resource_map(self) -> ResourceMap:
        """What to read, as a :class:`ResourceMap` (from the settings and class attributes)."""
        resource = self.option("resource")
        if not resource:
            raise ConfigurationError(f"{self.where}: {type(self).__name__} needs a resource "
                                     "(the resource type to read: User, Group)")
        try:
            return ResourceMap(str(resource), key=str(self.option("key") or "externalId"),
                               attributes=dict(self.option("attributes") or {}),
                               members=dict(self.option("members") or {}),
                               retire=self.option("retire") or "delete",
                               filter=self.option("filter"))
        except ConfigurationError as exc:
            raise ConfigurationError(f"{self.where}: {exc}") from None

    def service(self) -> Service:
        return Service.from_settings(self.settings, self.option("url"), self.where)

    def describe(self) -> str:
        return str(self.option("resource") or "SCIM")

    def readin(self) -> Iterable[Record]:
        """One record per resource that holds the key (and is active, when retire deactivates)."""
        rmap = self.resource_map()
        model = self.tree.branches[self.branch].model
        try:
            paths = rmap.paths_for(model)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{self.where}: {exc}") from None
        service = self.service()
        service.connect()
        try:
            if rmap.resource not in service.resource_types():
                raise ConfigurationError(
                    f"{self.where}: the SCIM service at {service.url} has no resource type "
                    f"{rmap.resource!r} (it has {', '.join(service.resource_types()) or 'none'})")
            index = fresh_index(self.tree.name, self.branch)
            members = rmap.member_maps()
            size = int(self.option("page_size") or DEFAULT_PAGE_SIZE)
            for resource in service.pages(rmap.resource, rmap.filter, size):
                record = self.record(resource, rmap, paths, members, index, service)
                if record is not None:
                    yield record
        finally:
            service.close()

    def record(self, resource: dict[str, Any], rmap: ResourceMap, paths: dict[str, Any],
               members: dict[str, MemberMap], index: Index, service: Service) -> Record | None:
        """The record of one resource, or None when dss does not read it (no key, inactive)."""
        idnumber = resource.get(rmap.key)
        rid = resource.get("id")
        if idnumber in (None, "") or not rid:
            return None
        idnumber = str(idnumber)
        meta = resource.get("meta") or {}
        location = meta.get("location") or f"{service.url}{service.endpoint(rmap.resource)}/{rid}"
        active = resource.get("active") is not False
        index.put(idnumber, Ref(str(rid), meta.get("version"), location, active))
        if rmap.retire == "deactivate" and not active:
            return None
        values: dict[str, Any] = {"idnumber": idnumber}
        for attr, (path, many) in paths.items():
            value = path.read(resource, many)
            if value is not None:
                values[attr] = value
        for attr, member in members.items():
            ids = {e.get("value") for e in resource.get(member.path) or () if isinstance(e, dict)}
            values[attr] = {k for k in (self.member_key(member, str(i), service)
                                        for i in ids if i) if k is not None}
        return Record(values, Origin(location, None, "resource"))

    def member_key(self, member: MemberMap, rid: str, service: Service) -> str | None:
        """The idnumber of the member whose SCIM id is ``rid`` (None: not a resource dss reads)."""
        index = index_of(self.tree.name, member.branch)
        key = index.key_of.get(rid)
        if key is not None:
            return key
        target = self.member_resource_map(member)
        if target is None:
            return None
        reply = service.raw("GET", f"{service.endpoint(target.resource)}/{rid}")
        if not reply.ok or not isinstance(reply.body, dict):
            return None  # a dangling member: nothing dss can name
        value = reply.body.get(target.key)
        if value in (None, ""):
            return None
        meta = reply.body.get("meta") or {}
        index.put(str(value), Ref(rid, meta.get("version"), meta.get("location"),
                                  reply.body.get("active") is not False))
        return str(value)

    def member_resource_map(self, member: MemberMap) -> ResourceMap | None:
        """How the branch a membership attribute names is stored (its resource type and key)."""
        return None  # a plain importer does not know; mapped importers do
