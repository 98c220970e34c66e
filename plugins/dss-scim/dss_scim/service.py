"""The connection to a SCIM 2.0 service: settings, discovery, requests, and errors as one line.

Built on scim2-client (over httpx2, the HTTP client scim2-client ships an
engine for): :meth:`Service.connect` discovers the service's
ServiceProviderConfig, schemas and resource types, which also proves the
bearer token (the schemas need it; a refused token is a 401). Reading pages
goes through the client's ``query``, creating through its ``create`` (so a
new resource is checked against the service's own schema before it is
sent), Bulk through its ``bulk``; PATCH and DELETE are sent as plain
requests, because their response headers (the new ETag) matter.

The token is registered as a secret as soon as it is read, so no message,
log or report can show it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dss_core import ConfigurationError, Setting, redact, register_secret

if TYPE_CHECKING:
    import httpx2
    from scim2_client.engines.httpx2 import SyncSCIMClient

#: The settings of the connection, declared by the importer and the handler alike.
SERVICE_SETTINGS: tuple[Setting, ...] = (
    Setting("url", str, None,
            "the SCIM service's base URL, e.g. https://idp.example.org/scim/v2 (DSS_<TREE>_URL)"),
    Setting("token", str, None,
            "the bearer token (keep it in DSS_<TREE>_TOKEN, not in a file)", secret=True),
    Setting("timeout", float, 30.0, "seconds to wait for one request"),
    Setting("page_size", int, None, "resources asked for per page when reading (default 200)"),
)

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


@dataclass
class Reply:
    """What the service answered one request: status, JSON body (or None), ETag."""

    status: int
    body: Any = None
    etag: str | None = None

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def scim_type(self) -> str | None:
        return self.body.get("scimType") if isinstance(self.body, dict) else None

    @property
    def detail(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("detail") or "").strip()
        return ""


def one_line(exc: BaseException) -> str:
    """An exception as one line (its notes too: scim2-client puts the cause there), redacted."""
    parts = [str(exc).strip() or type(exc).__name__,
             *(str(n).strip() for n in getattr(exc, "__notes__", ()) or ())]
    text = " ".join(" ".join(p.split()) for p in parts if p)
    return redact(text)


class Service:
    """One SCIM service, as configured for one tree: ``url``, ``token``, ``timeout``."""

    def __init__(self, url: str, token: str | None, timeout: float = 30.0, where: str = "") -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.where = where
        register_secret(token)
        self._http: httpx2.Client | None = None
        self._scim: SyncSCIMClient | None = None

    @classmethod
    def from_settings(cls, settings: dict[str, Any], fallback_url: str | None, where: str) -> Service:
        """The service of a tree's settings; ConfigurationError naming what is missing."""
        url = settings.get("url") or fallback_url
        token = settings.get("token")
        if token is not None:
            register_secret(token)
        if not url:
            raise ConfigurationError(
                f"{where}: no SCIM service URL: set url in [trees.<tree>] or DSS_<TREE>_URL")
        if not str(url).startswith(("http://", "https://")):
            raise ConfigurationError(f"{where}: url {redact(str(url))!r} is not an http(s) URL")
        timeout = settings.get("timeout")
        return cls(str(url), token, float(timeout if timeout is not None else 30.0), where)

    # -- connection ---------------------------------------------------------------
    @property
    def scim(self) -> SyncSCIMClient:
        """The discovered scim2-client (``connect`` first)."""
        if self._scim is None:
            self.connect()
        assert self._scim is not None
        return self._scim

    def connect(self) -> None:
        """Open the HTTP client and discover the service; one ConfigurationError line on failure.

        A service that cannot be reached, a URL that does not answer as a
        SCIM service, and a refused token are each said in their own words.
        """
        if self._scim is not None:
            return
        import httpx2
        from scim2_client import SCIMClientException
        from scim2_client.engines.httpx2 import SyncSCIMClient

        headers = {"Accept": "application/scim+json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._http = httpx2.Client(base_url=self.url, headers=headers, timeout=self.timeout)
        # the service provider configuration needs no token: a URL that is not a SCIM service
        # is told apart from a refused token first
        probe = self.raw("GET", "/ServiceProviderConfig")
        if probe.status == 0:
            self.close()
            raise ConfigurationError(f"{self.where}: {probe.detail}")
        if probe.status == 404 or not isinstance(probe.body, dict) or probe.status >= 400:
            self.close()
            raise ConfigurationError(
                f"{self.where}: {self.url} does not answer as a SCIM 2.0 service (GET "
                f"/ServiceProviderConfig gave {self._said(probe)}); is the base URL right "
                "(e.g. https://host/scim/v2)?")
        # the schemas need the token: a refused one is said as such, not as a failed discovery
        proof = self.raw("GET", "/Schemas")
        if proof.status in (401, 403):
            self.close()
            raise ConfigurationError(self.refused(proof.status))
        scim = SyncSCIMClient(self._http)
        try:
            scim.discover()
        except SCIMClientException as exc:
            self.close()
            status = self._status_of(exc)
            if status in (401, 403):
                raise ConfigurationError(self.refused(status)) from None
            raise ConfigurationError(
                f"{self.where}: discovering the SCIM service at {self.url} failed: "
                f"{one_line(exc)}") from None
        except Exception as exc:  # a service description scim2-models cannot read
            self.close()
            raise ConfigurationError(
                f"{self.where}: the SCIM service at {self.url} publishes a description dss "
                f"cannot read: {one_line(exc)}") from None
        self._scim = scim

    def refused(self, status: int) -> str:
        """The line for a refused token (401) or a forbidden request (403)."""
        if status == 401:
            why = "refuses the bearer token" if self.token else "needs a bearer token"
            return (f"{self.where}: the SCIM service at {self.url} {why} (401 Unauthorized); "
                    "set token, best as DSS_<TREE>_TOKEN in the environment")
        return (f"{self.where}: the SCIM service at {self.url} forbids what dss asked (403 "
                "Forbidden): the token lacks a right")

    def _status_of(self, exc: BaseException) -> int | None:
        for attr in ("status", "status_code"):
            value = getattr(exc, attr, None)
            if isinstance(value, int):
                return value
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
        text = one_line(exc)
        for code in (401, 403):
            if str(code) in text:
                return code
        return None

    def _said(self, reply: Reply) -> str:
        if reply.status == 0:
            return f"no answer: {reply.detail}"
        what = f"HTTP {reply.status}"
        if not isinstance(reply.body, dict):
            what += ", not SCIM JSON"
        return what

    def close(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            self._http.close()
        self._http = None
        self._scim = None

    # -- what the service offers ---------------------------------------------------
    @property
    def config(self) -> Any:
        """The ServiceProviderConfig (scim2-models)."""
        return self.scim.provider.config

    def resource_types(self) -> dict[str, Any]:
        """The published resource types by name."""
        return {str(rt.name): rt for rt in self.scim.provider.resource_types or ()}

    def schemas(self) -> dict[str, Any]:
        """The published schemas by id (URN)."""
        return {str(s.id): s for s in self.scim.provider.schemas or ()}

    def endpoint(self, resource: str) -> str:
        """The endpoint of resource type ``resource`` (``/Users``)."""
        return str(self.resource_types()[resource].endpoint)

    def model(self, resource: str) -> Any:
        """The scim2-models class of resource type ``resource``."""
        return self.scim.get_resource_model(resource)

    def bulk_limits(self) -> tuple[int, int] | None:
        """``(maxOperations, maxPayloadSize)`` when the service offers Bulk, else None."""
        bulk = getattr(self.config, "bulk", None)
        if bulk is None or not bulk.supported:
            return None
        return int(bulk.max_operations or 1), int(bulk.max_payload_size or 1_000_000)

    @property
    def etags(self) -> bool:
        """True when the service says it supports ETags."""
        etag = getattr(self.config, "etag", None)
        return bool(etag is not None and etag.supported)

    # -- requests -----------------------------------------------------------------
    def raw(self, method: str, path: str, body: Any = None,
            headers: dict[str, str] | None = None, params: dict[str, Any] | None = None) -> Reply:
        """Send one request as it is; a network failure is a Reply of status 0."""
        import httpx2

        assert self._http is not None
        sent_headers = dict(headers or {})
        if body is not None:
            sent_headers["Content-Type"] = "application/scim+json"
        try:
            response = self._http.request(
                method, path, content=None if body is None else json.dumps(body),
                headers=sent_headers, params=params)
        except httpx2.HTTPError as exc:
            return Reply(0, {"detail": f"cannot reach {self.url}: {one_line(exc)}"})
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        return Reply(response.status_code, data, response.headers.get("ETag"))

    def pages(self, resource: str, filter: str | None, page_size: int) -> Iterator[dict[str, Any]]:
        """Every resource of ``resource`` matching ``filter``, read page by page (as JSON dicts).

        Raises ConfigurationError (one line) when the service refuses the query.
        """
        endpoint = self.endpoint(resource)
        start = 1
        while True:
            params: dict[str, Any] = {"startIndex": start, "count": page_size}
            if filter:
                params["filter"] = filter
            reply = self.raw("GET", endpoint, params=params)
            if not reply.ok or not isinstance(reply.body, dict):
                raise ConfigurationError(self.query_failed(resource, filter, reply))
            found = reply.body.get("Resources") or []
            yield from found
            total = int(reply.body.get("totalResults") or 0)
            start += len(found)
            if not found or start > total:
                return

    def query_failed(self, resource: str, filter: str | None, reply: Reply) -> str:
        if reply.status in (401, 403):
            return self.refused(reply.status)
        where = f" with filter {filter!r}" if filter else ""
        said = f"{reply.status} {reply.scim_type or ''}".strip() if reply.status else "no answer"
        detail = f": {reply.detail}" if reply.detail else ""
        return f"{self.where}: reading {resource} resources{where} failed ({said}){detail}"

    def find(self, resource: str, attribute: str, value: str) -> dict[str, Any] | None:
        """The one resource whose ``attribute`` equals ``value``, or None."""
        reply = self.raw("GET", self.endpoint(resource),
                         params={"filter": f"{attribute} eq {json.dumps(value)}", "count": 2})
        if not reply.ok or not isinstance(reply.body, dict):
            raise ConfigurationError(self.query_failed(resource, f"{attribute} eq ...", reply))
        found = reply.body.get("Resources") or []
        return found[0] if found else None

    def validated(self, resource: str, payload: dict[str, Any]) -> Any:
        """``payload`` as the scim2-models object of ``resource``, or a Reply 400 saying why not.

        The model is built from the schema the service publishes, so a value
        it would refuse (a malformed email, a string for a boolean) is found
        before anything is sent.
        """
        from pydantic import ValidationError
        from scim2_models import Context

        model = self.model(resource)
        try:
            return model.model_validate(payload, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
        except ValidationError as exc:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return Reply(400, {"scimType": "invalidValue",
                               "detail": f"not a valid {resource} ({reasons})"})

    def invalid(self, resource: str, payload: dict[str, Any]) -> Reply | None:
        """Why ``payload`` is not a valid new ``resource`` (a Reply 400), or None."""
        checked = self.validated(resource, payload)
        return checked if isinstance(checked, Reply) else None

    def create(self, resource: str, payload: dict[str, Any]) -> Reply:
        """POST a new resource through scim2-client (checked against the service's schema first)."""
        from scim2_client import SCIMClientException
        from scim2_models import Context, Error

        obj = self.validated(resource, payload)
        if isinstance(obj, Reply):
            return obj
        try:
            answer = self.scim.create(obj, raise_scim_errors=False)
        except SCIMClientException as exc:
            return Reply(self._status_of(exc) or 0, {"detail": one_line(exc)})
        if isinstance(answer, Error):
            return Reply(int(answer.status or 0),
                         {"scimType": answer.scim_type, "detail": answer.detail or ""})
        body = answer.model_dump(scim_ctx=Context.RESOURCE_CREATION_RESPONSE)
        meta = body.get("meta") or {}
        return Reply(201, body, meta.get("version"))

    def bulk(self, operations: list[dict[str, Any]]) -> list[Reply]:
        """Send ``operations`` (RFC 7644 §3.7 dicts) as one Bulk request; one Reply per operation."""
        reply = self.raw("POST", "/Bulk", {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": operations})
        if not reply.ok or not isinstance(reply.body, dict):
            return [Reply(reply.status, reply.body) for _ in operations]
        by_id = {op.get("bulkId"): op for op in reply.body.get("Operations") or []}
        out = []
        for sent in operations:
            got = by_id.get(sent.get("bulkId"))
            if got is None:
                out.append(Reply(0, {"detail": "the Bulk response says nothing of this operation"}))
                continue
            status = int(got.get("status") or 0)
            body = got.get("response")
            if status < 400 and not isinstance(body, dict):
                body = {"id": str(got.get("location") or "").rstrip("/").rpartition("/")[2],
                        "meta": {"location": got.get("location"), "version": got.get("version")}}
            out.append(Reply(status, body, got.get("version")))
        return out
