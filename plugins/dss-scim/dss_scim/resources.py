"""Where branches live in a SCIM service: :class:`ResourceMap`, :class:`MemberMap`, :class:`ResourceMapping`.

Plain declarations and the rules that check them against a model. The
handler and the mapped importers read these; :class:`~dss_scim.SCIMMapping`
(in :mod:`dss_scim.mapping`) makes both from them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from dss_core import SCALAR, ConfigurationError, Model

from .paths import AttributePath, parse

#: What ``old`` does: DELETE the resource, or PATCH ``active`` to false.
RETIRE = ("delete", "deactivate")
Retire = Literal["delete", "deactivate"]
#: What a branch's idnumber may be held in.
KEYS = ("externalId", "userName", "displayName")


@dataclass(frozen=True)
class MemberMap:
    """A membership attribute whose values are resources of another branch.

    In SCIM a group's ``members`` hold the *ids* the service gave its users;
    dss holds idnumbers. ``branch`` is the branch whose idnumbers the
    attribute holds (``"users"``), ``path`` the multi-valued SCIM attribute
    (``"members"``); each element's ``value`` is the member's SCIM id, and
    ``type`` (``"User"``) is written with it when given.
    """

    branch: str
    path: str = "members"
    type: str | None = None


@dataclass
class ResourceMap:
    """One branch stored as one SCIM resource type.

    ``resource``
        the resource type's name as the service publishes it (``"User"``, ``"Group"``).
    ``key``
        the attribute holding the idnumber: ``"externalId"`` (default) or
        ``"userName"`` (or ``"displayName"`` for groups). Resources without
        it are not read: dss does not manage them.
    ``attributes``
        ``{model attribute: SCIM path}`` (``{"email": "emails[primary].value",
        "first": "name.givenName"}``); every other tracked attribute of the
        model is the SCIM attribute of its own name. A set or list attribute
        maps to a multi-valued attribute (``"emails.value"``): its values,
        compared as a set.
    ``members``
        ``{model attribute: "users"}`` or ``{attribute: MemberMap(...)}``:
        membership attributes holding idnumbers of another branch, stored as
        that branch's SCIM ids (a group's ``members``).
    ``retire``
        ``"delete"`` (default): ``old`` deletes the resource. ``"deactivate"``:
        ``old`` sets ``active`` to false; inactive resources are then skipped
        when read, and ``new`` on one brings it back.
    ``filter``
        a SCIM filter restricting what is read (``'userType eq "Student"'``);
        what dss creates should match it (see ``constants``).
    ``constants``
        ``{SCIM path: value}`` written with every new resource and never
        compared (``{"userType": "Student"}``).
    ``ignore``
        tracked attributes that are not stored (never written, never read).
    """

    resource: str
    key: str = "externalId"
    attributes: Mapping[str, str] = field(default_factory=dict)
    members: Mapping[str, MemberMap | str] = field(default_factory=dict)
    retire: Retire = "delete"
    filter: str | None = None
    constants: Mapping[str, Any] = field(default_factory=dict)
    ignore: Sequence[str] = ()

    def __post_init__(self) -> None:
        self.members = {a: (m if isinstance(m, MemberMap) else MemberMap(m))
                        for a, m in dict(self.members).items()}
        if self.retire not in RETIRE:
            raise ConfigurationError(
                f"resource {self.resource}: retire must be one of {', '.join(RETIRE)}, not "
                f"{self.retire!r}")
        for path in [*self.attributes.values(), *self.constants]:
            parse(path)  # a malformed path fails where it is declared

    def member_maps(self) -> dict[str, MemberMap]:
        """``{attribute: MemberMap}``."""
        return dict(self.members)  # type: ignore[arg-type]

    def paths_for(self, model: type[Model]) -> dict[str, tuple[AttributePath, bool]]:
        """``{attribute: (path, many)}`` for every stored attribute of ``model`` but the members.

        ``many`` is True for a set or list attribute. A name in
        ``attributes`` or ``members`` the model does not have is a
        ConfigurationError.
        """
        schema = model.schema()
        ignored = set(self.ignore)
        members = self.member_maps()
        unknown = [a for a in [*self.attributes, *members] if a not in schema.tracked]
        if unknown:
            raise ConfigurationError(
                f"resource {self.resource}: maps {unknown[0]!r}, but {model.__name__} has no "
                f"such tracked attribute (it has {', '.join(schema.tracked)})")
        for attr in members:
            if schema.types[attr][0] == SCALAR:
                raise ConfigurationError(
                    f"resource {self.resource}: members maps {attr!r}, but "
                    f"{model.__name__}.{attr} is not a set or list")
        out: dict[str, tuple[AttributePath, bool]] = {}
        for attr in schema.tracked:
            if attr in ignored or attr in members:
                continue
            out[attr] = (parse(self.attributes.get(attr, attr)), schema.types[attr][0] != SCALAR)
        return out


class ResourceMapping:
    """Branch name -> :class:`ResourceMap` (the data of a :class:`~dss_scim.SCIMMapping`).

    ``url`` is a fallback base URL of the service (the tree setting ``url``
    wins); ``page_size`` the resources asked for per page when reading.
    """

    def __init__(self, branches: Mapping[str, ResourceMap] | None = None, *,
                 url: str | None = None, page_size: int = 200, **resources: ResourceMap) -> None:
        self.resources: dict[str, ResourceMap] = {**dict(branches or {}), **resources}
        for branch, rmap in self.resources.items():
            if not isinstance(rmap, ResourceMap):
                raise ConfigurationError(
                    f"mapping of branch {branch!r} is not a ResourceMap: {rmap!r}")
        self.url = url
        self.page_size = page_size

    def __getitem__(self, branch: str) -> ResourceMap:
        return self.resources[branch]

    def __contains__(self, branch: object) -> bool:
        return branch in self.resources

    def __iter__(self) -> Iterator[str]:
        return iter(self.resources)

    def __repr__(self) -> str:
        shown = ", ".join(f"{b}={r.resource!r}" for b, r in self.resources.items())
        return f"{type(self).__name__}({shown})"
