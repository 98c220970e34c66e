"""SCIMHandler: apply actions to a SCIM 2.0 service from a :class:`~dss_scim.SCIMMapping`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from dss_core import (
    Action,
    ConfigurationError,
    Handler,
    Result,
    Setting,
    Status,
)

from .checks import Bound, MappingProblems, bind
from .index import Index, Ref, index_of
from .resources import RETIRE, ResourceMapping
from .service import SERVICE_SETTINGS, Reply, Service

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Request:
    """One SCIM request an action needs, and how its reply becomes the action's result."""

    method: str  # POST, PATCH, DELETE
    path: str  # the endpoint, or endpoint/id
    body: Any = None
    if_match: str | None = None
    resource: str = ""  # the resource type of a POST
    finish: Callable[[Reply], Result] = field(default=lambda reply: None)  # type: ignore[assignment]


class SCIMHandler(Handler):
    """Applies actions to the resources of a :class:`SCIMMapping`; no handler code needed.

    Generic methods: ``new`` (POST the resource, its members resolved to
    SCIM ids; a deactivated one is brought back), ``update`` (PATCH one
    attribute, with ``If-Match`` the ETag read, so a change another writer
    made since is refused, 412, not overwritten), ``add`` / ``remove``
    (PATCH add / remove one element: a member, an email), ``old`` (DELETE,
    or PATCH ``active`` false when the mapping's ``retire`` is
    ``"deactivate"``). Every error the service answers (409 uniqueness, 404,
    412, 400 invalidValue...) is the failure of that one action, naming the
    object. A subclass may add specific methods (``new_users``, ...); they
    are tried first, with :attr:`service` connected.

    Settings (``[tool.dss.trees.<tree>]``): ``url``, ``token`` (secret: keep
    it in ``DSS_<TREE>_TOKEN``), ``timeout``, ``retire`` (per branch,
    overriding the mapping), ``etags`` (send ``If-Match``, default true),
    ``bulk`` (use Bulk requests in :meth:`handle_batch` where the service
    offers them, default true). Before the first write (and in ``dss
    check``, through :meth:`verify`) the mapping is checked against the
    service's schemas and resource types, and the token against the service.
    """

    declared_settings: ClassVar[tuple[Setting, ...]] = (
        *SERVICE_SETTINGS,
        Setting("retire", Literal[RETIRE], None,
                "what old does: delete the resource, or deactivate it (active = false)"),
        Setting("etags", bool, True,
                "send If-Match with the ETag read, so a change made since is refused (412)"),
        Setting("bulk", bool, True, "send batches as Bulk requests when the service offers Bulk"),
    )
    mapping: ClassVar[ResourceMapping | None] = None
    #: the runner hands :meth:`handle_batch` up to this many independent actions of one method
    batch_actions: int = 200

    service: Service
    bound: dict[str, Bound]

    def batchable(self, action: Action) -> bool:
        """A mapped action the generic method handles (a subclass's own method goes one by one)."""
        found = self.find_method(action)
        return found is not None and getattr(type(self), found[0], None) is getattr(
            SCIMHandler, action.kind, object())

    # -- connection ------------------------------------------------------------------
    def connect(self) -> Service:
        """The tree's service, connected and discovered (one ConfigurationError line otherwise)."""
        service = Service.from_settings(
            self.settings, self.mapping.url if self.mapping else None,
            f"handler of tree {self.tree.name}")
        service.connect()
        return service

    def check(self) -> dict[str, Bound]:
        """Check the mapping against the service: every problem at once, as :class:`MappingProblems`.

        The service's resource types and schemas are compared with the
        mapping (see :func:`dss_scim.checks.bind`), and each mapped resource
        type is read once (one resource), which proves the token can read it.
        """
        bound, problems = bind(self)
        for branch, b in bound.items():
            reply = self.service.raw("GET", b.endpoint, params={"count": 1})
            if reply.status in (401, 403):
                raise ConfigurationError(self.service.refused(reply.status))
            if not reply.ok:
                problems.append(self.service.query_failed(b.map.resource, None, reply)
                                .replace(self.service.where, f"{self.tree.name}.{branch}", 1))
        if problems:
            raise MappingProblems(problems)
        return bound

    def verify(self) -> None:
        """Connect and check the mapping against the service (``dss check``); writes nothing."""
        self.service = self.connect()
        try:
            self.check()
        finally:
            self.service.close()

    def begin(self) -> None:
        """Connect and check, so a run whose every write would fail stops before the first."""
        self.service = self.connect()
        try:
            self.bound = self.check()
        except BaseException:
            self.service.close()
            raise

    def end(self, failed: bool) -> None:
        service = getattr(self, "service", None)
        if service is not None:
            service.close()

    # -- naming things ----------------------------------------------------------------
    def _bound(self, action: Action) -> Bound | None:
        return getattr(self, "bound", {}).get(action.branch)

    def _index(self, branch: str) -> Index:
        return index_of(self.tree.name, branch)

    def _retire(self, b: Bound) -> str:
        return str(self.tree.settings(b.branch).get("retire") or b.map.retire)

    def _etags(self) -> bool:
        return bool(self.settings.get("etags", True)) and self.service.etags

    def name(self, b: Bound, idnumber: str | None, ref: Ref | None = None) -> str:
        """``User '1001' (id 7a68...)``: the object an action is about, as a message names it."""
        text = f"{b.map.resource} {idnumber!r}"
        return f"{text} (id {ref.id})" if ref is not None else text

    def failure(self, b: Bound, action: Action, ref: Ref | None, reply: Reply,
                doing: str) -> Result:
        """The one failed result of a refused request, naming the object and what the service said."""
        what = self.name(b, action.idnumber, ref)
        detail = f": {reply.detail}" if reply.detail else ""
        code = f"{reply.status} {reply.scim_type}" if reply.scim_type else str(reply.status)
        if reply.status == 0:
            text = f"{what}: {doing} failed: {reply.detail}"
        elif reply.status == 409:
            text = (f"{what}: the SCIM service refuses to {doing}: a value that must be unique is "
                    f"already taken by another resource ({code}{detail})")
        elif reply.status == 404:
            text = (f"{what}: not found on the SCIM service ({code}{detail}); deleted by another "
                    "writer since dss read it? The next run sees it as it is")
        elif reply.status == 412:
            text = (f"{what}: changed on the SCIM service since dss read it (412 precondition "
                    f"failed: ETag {ref.version if ref else '?'} is no longer current); not "
                    "overwritten, the next run compares it again")
        elif reply.status == 400:
            text = f"{what}: the SCIM service refuses to {doing}: invalid request ({code}{detail})"
        elif reply.status in (401, 403):
            text = f"{what}: {self.service.refused(reply.status)}"
        else:
            text = f"{what}: {doing} failed: the SCIM service answered {code}{detail}"
        return action.failed(text)

    # -- requests -----------------------------------------------------------------------
    def send(self, request: Request) -> Result:
        """Send one request and turn the reply into the action's result."""
        if request.method == "POST" and request.resource:
            reply = self.service.create(request.resource, request.body)
        else:
            headers = {"If-Match": request.if_match} if request.if_match else None
            reply = self.service.raw(request.method, request.path, request.body, headers)
        return request.finish(reply)

    def patch(self, b: Bound, action: Action, ref: Ref, operations: list[dict[str, Any]],
              doing: str, conditional: bool = True, ok: Callable[[Reply], Result] | None = None,
              tolerate: Callable[[Reply], Result | None] | None = None) -> Request:
        """A PATCH of ``ref`` with ``operations``; ``If-Match`` its ETag when ``conditional``."""
        def finish(reply: Reply) -> Result:
            if reply.ok:
                ref.version = reply.etag  # the next change of this object is conditional on it
                return ok(reply) if ok else action.succeeded()
            if tolerate is not None:
                tolerated = tolerate(reply)
                if tolerated is not None:
                    return tolerated
            return self.failure(b, action, ref, reply, doing)

        match = ref.version if conditional and self._etags() else None
        return Request("PATCH", f"{b.endpoint}/{ref.id}",
                       {"schemas": [PATCH_SCHEMA], "Operations": operations}, match, finish=finish)

    def ref(self, b: Bound, idnumber: str) -> Ref | None:
        """The resource holding ``idnumber`` in branch ``b``: from the index, else looked up once."""
        index = self._index(b.branch)
        ref = index.get(idnumber)
        if ref is not None:
            return ref
        found = self.service.find(b.map.resource, b.map.key, idnumber)
        if found is None:
            return None
        meta = found.get("meta") or {}
        ref = Ref(str(found["id"]), meta.get("version"), meta.get("location"),
                  found.get("active") is not False)
        index.put(idnumber, ref)
        return ref

    def member_ids(self, b: Bound, attribute: str, idnumbers: Sequence[Any]) -> tuple[list[str], list[str]]:
        """The SCIM ids of members ``idnumbers`` of ``attribute``, and the idnumbers without one."""
        member = b.members[attribute]
        target = getattr(self, "bound", {}).get(member.branch)
        ids, missing = [], []
        for idnumber in idnumbers:
            ref = self.ref(target, str(idnumber)) if target is not None else None
            if ref is None:
                missing.append(str(idnumber))
            else:
                ids.append(ref.id)
        return ids, missing

    # -- the generic methods: each makes its requests, sent one by one or in a Bulk -------
    def request_for(self, action: Action) -> Request | Result:
        """The request ``action`` needs, or its result when it needs none (or cannot be made)."""
        b = self._bound(action)
        if b is None:
            return Result(action, Status.NOT_IMPLEMENTED,
                          f"branch {action.branch!r} is not in the SCIM mapping")
        maker = {"new": self.new_request, "update": self.update_request, "add": self.add_request,
                 "remove": self.remove_request, "old": self.old_request}[action.kind]
        return maker(b, action)

    def _run(self, action: Action) -> Result:
        made = self.request_for(action)
        return made if isinstance(made, Result) else self.send(made)

    def new(self, action: Action) -> Result:
        """POST the resource (a deactivated one of the idnumber is brought back instead)."""
        return self._run(action)

    def update(self, action: Action) -> Result:
        """PATCH the attribute, conditional on the ETag read."""
        return self._run(action)

    def add(self, action: Action) -> Result:
        """PATCH add one element (a member, by its SCIM id)."""
        return self._run(action)

    def remove(self, action: Action) -> Result:
        """PATCH remove one element."""
        return self._run(action)

    def old(self, action: Action) -> Result:
        """DELETE the resource, or PATCH ``active`` false (``retire = "deactivate"``)."""
        return self._run(action)

    def payload(self, b: Bound, action: Action) -> dict[str, Any] | Result:
        """The new resource of ``action.source``: key, mapped values, members, constants."""
        obj = action.source
        assert obj is not None
        body: dict[str, Any] = {"schemas": [b.schema], b.map.key: action.idnumber}
        for attr, (path, many, multi) in b.paths.items():
            path.write(body, getattr(obj, attr), multi, many)
        for attr in b.members:
            members = sorted(getattr(obj, attr) or (), key=str)
            ids, missing = self.member_ids(b, attr, members)
            if missing:
                return action.failed(
                    f"{self.name(b, action.idnumber)}: {attr} names {missing[0]!r}, which has no "
                    f"{b.members[attr].target.resource} resource on the SCIM service")
            member = b.members[attr]
            body[member.path.attribute] = [
                {"value": i, **({"type": member.type} if member.type else {})} for i in ids]
        for path, value in b.constants:
            path.write(body, value, b.constant_multi[path.text])
        return body

    def new_request(self, b: Bound, action: Action) -> Request | Result:
        body = self.payload(b, action)
        if isinstance(body, Result):
            return body
        index = self._index(b.branch)
        idnumber = str(action.idnumber)
        retired = index.get(idnumber)
        if self._retire(b) == "deactivate" and retired is not None and not retired.active:
            ops = [{"op": "replace", "path": "active", "value": True}]
            ops += [{"op": "replace", "path": k, "value": v} for k, v in body.items()
                    if k not in ("schemas", b.map.key)]

            def back(reply: Reply) -> Result:
                retired.active = True
                return action.succeeded("brought back (active again)")

            return self.patch(b, action, retired, ops, "bring it back", ok=back)

        def created(reply: Reply) -> Result:
            if not reply.ok:
                return self.failure(b, action, None, reply, "create it")
            data = reply.body if isinstance(reply.body, dict) else {}
            meta = data.get("meta") or {}
            index.put(idnumber, Ref(str(data.get("id")), reply.etag or meta.get("version"),
                                    meta.get("location")))
            return action.succeeded()

        return Request("POST", b.endpoint, body, resource=b.map.resource, finish=created)

    def update_request(self, b: Bound, action: Action) -> Request | Result:
        found = b.paths.get(action.attribute or "")
        if found is None:
            return action.failed(f"attribute {action.attribute!r} is not mapped to a SCIM "
                                 f"attribute of {b.map.resource}")
        path, many, multi = found
        ref = self.ref(b, str(action.idnumber))
        if ref is None:
            return action.failed(f"{self.name(b, action.idnumber)}: no such resource on the SCIM "
                                 "service")
        if many:
            old, new = set(action.old_value or ()), set(action.value or ())
            ops = path.remove_operations(sorted(old - new, key=str)) + \
                path.add_operations(sorted(new - old, key=str))
        else:
            ops = path.replace_operations(action.value, action.old_value, multi)
        if not ops:
            return action.dropped("nothing to change")
        return self.patch(b, action, ref, ops, f"set {path.text}")

    def add_request(self, b: Bound, action: Action) -> Request | Result:
        ref = self.ref(b, str(action.idnumber))
        if ref is None:
            return action.failed(f"{self.name(b, action.idnumber)}: no such resource on the SCIM "
                                 "service")
        attr = action.attribute or ""
        if attr in b.members:
            ids, missing = self.member_ids(b, attr, [action.value])
            if missing:
                return action.failed(
                    f"{self.name(b, action.idnumber, ref)}: member {action.value!r} has no "
                    f"{b.members[attr].target.resource} resource on the SCIM service")
            member = b.members[attr]
            element = {"value": ids[0], **({"type": member.type} if member.type else {})}
            ops = [{"op": "add", "path": member.path.top, "value": [element]}]
            return self.patch(b, action, ref, ops, f"add member {action.value!r}",
                              conditional=False)
        found = b.paths.get(attr)
        if found is None:
            return action.failed(f"attribute {attr!r} is not mapped to a SCIM attribute")
        return self.patch(b, action, ref, found[0].add_operations([action.value]),
                          f"add {action.value!r} to {found[0].text}", conditional=False)

    def remove_request(self, b: Bound, action: Action) -> Request | Result:
        ref = self.ref(b, str(action.idnumber))
        if ref is None:
            return action.dropped(f"{self.name(b, action.idnumber)} is gone from the SCIM service")
        attr = action.attribute or ""

        def gone(reply: Reply) -> Result | None:
            if reply.status == 400 and reply.scim_type == "noTarget":
                return action.dropped(f"{action.value!r} was no longer in {attr}")
            return None

        if attr in b.members:
            ids, missing = self.member_ids(b, attr, [action.value])
            if missing:
                return action.dropped(f"member {action.value!r} has no resource any more")
            member = b.members[attr]
            ops = [{"op": "remove", "path": f'{member.path.top}[value eq "{ids[0]}"]'}]
            return self.patch(b, action, ref, ops, f"remove member {action.value!r}",
                              conditional=False, tolerate=gone)
        found = b.paths.get(attr)
        if found is None:
            return action.failed(f"attribute {attr!r} is not mapped to a SCIM attribute")
        return self.patch(b, action, ref, found[0].remove_operations([action.value]),
                          f"remove {action.value!r} from {found[0].text}", conditional=False,
                          tolerate=gone)

    def old_request(self, b: Bound, action: Action) -> Request | Result:
        idnumber = str(action.idnumber)
        index = self._index(b.branch)
        ref = self.ref(b, idnumber)
        if ref is None:
            return action.dropped(f"{self.name(b, idnumber)} is already gone")
        if self._retire(b) == "deactivate":
            def retired(reply: Reply) -> Result:
                ref.active = False
                return action.succeeded("deactivated")

            return self.patch(b, action, ref, [{"op": "replace", "path": "active", "value": False}],
                              "deactivate it", ok=retired)

        def deleted(reply: Reply) -> Result:
            if reply.ok:
                index.drop(idnumber)
                return action.succeeded("deleted")
            if reply.status == 404:
                index.drop(idnumber)
                return action.dropped(f"{self.name(b, idnumber, ref)} was already deleted")
            return self.failure(b, action, ref, reply, "delete it")

        match = ref.version if self._etags() else None
        return Request("DELETE", f"{b.endpoint}/{ref.id}", None, match, finish=deleted)

    # -- Bulk ----------------------------------------------------------------------------
    def handle_batch(self, actions: Sequence[Action]) -> list[Result]:
        """Apply independent ``actions`` together: Bulk requests where the service offers Bulk.

        One result per action, in order, as :meth:`handle` would give them
        one by one (which is what happens when the service offers no Bulk, or
        the ``bulk`` setting is false). Each operation carries its own
        ``If-Match`` (``version``); the service answers each separately, so
        one refused operation fails its action alone. The runner gives it
        actions of one method that do not wait on each other (see
        :meth:`dss_core.Handler.handle_batch`), up to :attr:`batch_actions`.
        """
        limits = self.service.bulk_limits() if self.settings.get("bulk", True) else None
        if limits is None:
            return [self.handle(a) for a in actions]
        max_ops, max_size = limits
        results: list[Result | None] = [None] * len(actions)
        pending: list[tuple[int, Request, dict[str, Any]]] = []
        size = 0

        def flush() -> None:
            nonlocal size
            if not pending:
                return
            replies = self.service.bulk([op for _, _, op in pending])
            for (i, request, _), reply in zip(pending, replies, strict=True):
                results[i] = request.finish(reply)
            pending.clear()
            size = 0

        for i, action in enumerate(actions):
            found = self.find_method(action)
            generic = found is not None and getattr(type(self), found[0], None) is getattr(
                SCIMHandler, action.kind, object())
            made = self.request_for(action) if generic else self.handle(action)
            if isinstance(made, Result):
                results[i] = made
                continue
            if made.method == "POST":
                problem = self.service.invalid(made.resource, made.body)
                if problem is not None:
                    results[i] = made.finish(problem)
                    continue
            op = {"method": made.method, "path": made.path.removeprefix(self.service.url),
                  "bulkId": f"dss{i}"}
            if made.body is not None:
                op["data"] = made.body
            if made.if_match:
                op["version"] = made.if_match
            weight = len(repr(op)) + 64
            if pending and (len(pending) >= max_ops or size + weight > max_size * 0.9):
                flush()
            pending.append((i, made, op))
            size += weight
        flush()
        return [r for r in results if r is not None]
