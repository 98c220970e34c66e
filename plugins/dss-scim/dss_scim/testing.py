"""A real SCIM server for tests, loaded by pytest through the ``pytest11`` entry point.

``dss_scim_server`` starts scim2-server (from the package index: the
``scim2-server`` command, an in-memory SCIM 2.0 service on a WSGI server) on
a free loopback port, with a bearer token it requires, and stops it after
the test. ``dss_scim_servers`` is a factory for servers with their own
resource types or service provider configuration.

When scim2-server is not installed or does not start, the test is skipped
with the reason, unless ``DSS_REQUIRE_SERVERS=1`` is set (CI), which makes
it a failure.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dss_core.testing import free_port
from dss_core.testing import server_unavailable as _unavailable


@dataclass
class ScimServer:
    """A running scim2-server: its base ``url`` (``http://127.0.0.1:PORT/v2``) and bearer ``token``."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    folder: Path
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, token: str | None = None) -> Any:
        """A plain httpx2 client on the server, with the bearer token (to look behind dss's back)."""
        import httpx2

        return httpx2.Client(base_url=self.url, timeout=30,
                             headers={"Authorization": f"Bearer {token or self.token}"})

    def resources(self, endpoint: str, filter: str | None = None) -> list[dict[str, Any]]:
        """Every resource of ``endpoint`` (``/Users``), read with the token, page by page."""
        out: list[dict[str, Any]] = []
        with self.client() as http:
            start = 1
            while True:
                params: dict[str, Any] = {"startIndex": start, "count": 1000}
                if filter:
                    params["filter"] = filter
                page = http.get(endpoint, params=params).json()
                found = page.get("Resources") or []
                out += found
                start += len(found)
                if not found or start > page.get("totalResults", 0):
                    return out

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _command() -> list[str] | None:
    script = Path(sys.executable).with_name("scim2-server")
    if script.exists():
        return [str(script)]
    found = shutil.which("scim2-server")
    return [found] if found else None


def start_server(resource_types: list[dict[str, Any]] | None = None,
                 service_provider_config: dict[str, Any] | None = None,
                 token: str | None = None) -> ScimServer:
    """Start scim2-server on a free loopback port; skip (or fail) the test when it cannot start."""
    try:
        import scim2_server  # noqa: F401
    except ImportError:
        _unavailable("scim2-server is not installed (pip install 'dss-scim[test]')")
    command = _command()
    if command is None:
        _unavailable("the scim2-server command is not on PATH")
    assert command is not None
    folder = Path(tempfile.mkdtemp(prefix="dss-scim-"))
    token = token or f"tok-{secrets.token_hex(16)}"
    port = free_port()
    args = [*command, "--hostname", "127.0.0.1", "--port", str(port), "--bearer-token", token]
    if resource_types is not None:
        path = folder / "resource-types.json"
        path.write_text(json.dumps(resource_types))
        args += ["--resource-type", str(path)]
    if service_provider_config is not None:
        path = folder / "service-provider-config.json"
        path.write_text(json.dumps(service_provider_config))
        args += ["--service-provider-config", str(path)]
    log = folder / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    server = ScimServer(f"http://127.0.0.1:{port}/v2", token, process, folder, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    said = log.read_text(errors="replace").strip().splitlines()[-1:] or ["nothing"]
    _unavailable(f"scim2-server did not start on 127.0.0.1:{port} (it said: {said[0]})")
    raise AssertionError("unreachable")


def default_resource_types() -> list[dict[str, Any]]:
    """scim2-server's own resource types (User with the enterprise extension, Group)."""
    from importlib.resources import files

    text = files("scim2_server").joinpath("resources/default-resource-types.json").read_text()
    return list(json.loads(text))


def default_service_provider_config() -> dict[str, Any]:
    """scim2-server's own ServiceProviderConfig (every feature, Bulk included)."""
    from importlib.resources import files

    text = files("scim2_server").joinpath(
        "resources/default-service-provider-config.json").read_text()
    return dict(json.loads(text))


@pytest.fixture
def dss_scim_servers() -> Iterator[Callable[..., ScimServer]]:
    """A factory: ``dss_scim_servers(resource_types=[...], service_provider_config={...})``."""
    started: list[ScimServer] = []

    def make(**kwargs: Any) -> ScimServer:
        server = start_server(**kwargs)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture
def dss_scim_server(dss_scim_servers: Callable[..., ScimServer]) -> ScimServer:
    """A fresh scim2-server on a loopback port, requiring a bearer token (``.url``, ``.token``)."""
    return dss_scim_servers()
