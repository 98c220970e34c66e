"""A real OpenLDAP ``slapd`` for tests, loaded by pytest through the ``pytest11`` entry point.

* :func:`start_slapd` starts a private slapd on a free loopback port with a
  temporary ``slapd.conf`` (the mdb backend, the core, cosine,
  inetorgperson and nis schemas, suffix ``dc=example,dc=org``, a root DN
  and password, and a reader account whose plain searches are cut at
  :data:`READER_SIZE_LIMIT` entries while paged ones are not).
* fixture ``dss_slapd`` (one server per test session) and ``dss_ldap`` (a
  fresh, empty subtree ``ou=t...,dc=example,dc=org`` per test, deleted after).

Where slapd is not installed (Debian: ``apt-get install slapd ldap-utils``;
``.ci/services/slapd.sh`` does it in CI) the tests are skipped with the
reason, unless ``DSS_REQUIRE_SERVERS=1`` is set, which makes them fail.
``DSS_SLAPD`` names another slapd binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dss_core.testing import free_port
from dss_core.testing import server_unavailable as _unavailable

SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "Adm1n-s3cret-pw"  # noqa: S105 - a throwaway server's
READER_DN = f"cn=reader,{SUFFIX}"
READER_PASSWORD = "Re4der-s3cret-pw"  # noqa: S105 - a throwaway server's
#: A plain search by the reader returns at most this many entries; a paged one all of them.
READER_SIZE_LIMIT = 10
#: Values of this attribute are unique in the server (the unique overlay): a second one is a
#: constraintViolation, as a directory that keeps e-mail addresses or employee numbers unique says.
UNIQUE_ATTRIBUTE = "employeeNumber"
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIRS = (Path("/usr/lib/ldap"), Path("/usr/lib/openldap"), Path("/usr/libexec/openldap"))


def slapd_binary() -> str | None:
    """The slapd to run: ``DSS_SLAPD``, ``/usr/sbin/slapd``, or one on the PATH."""
    for candidate in (os.environ.get("DSS_SLAPD"), "/usr/sbin/slapd", shutil.which("slapd")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class Slapd:
    """A running slapd: where it listens, who may bind, and how to stop it."""

    url: str
    folder: Path
    process: subprocess.Popen[bytes]
    suffix: str = SUFFIX
    root_dn: str = ROOT_DN
    root_password: str = ROOT_PASSWORD
    reader_dn: str = READER_DN
    reader_password: str = READER_PASSWORD

    def connection(self, bind_dn: str | None = None, password: str | None = None) -> Any:
        """A bound ldap3 connection (as the root DN by default); exceptions raised."""
        import ldap3

        return ldap3.Connection(ldap3.Server(self.url, get_info=ldap3.NONE),
                                bind_dn or self.root_dn, password or self.root_password,
                                auto_bind=True, raise_exceptions=True)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def slapd_conf(folder: Path, suffix: str, extra: str = "") -> str:
    """A slapd.conf for a private server in ``folder``."""
    modules = next((d for d in MODULE_DIRS if (d / "back_mdb.so").exists()), None)
    lines = [f"include {SCHEMA_DIR / s}.schema" for s in SCHEMAS]
    if modules is not None:
        lines += [f"modulepath {modules}", "moduleload back_mdb", "moduleload unique"]
    lines += [
        f"pidfile {folder / 'slapd.pid'}",
        f"argsfile {folder / 'slapd.args'}",
        "access to attrs=userPassword by self write by anonymous auth by * none",
        "access to * by users read by * none",
        "database mdb",
        f'suffix "{suffix}"',
        f'rootdn "{ROOT_DN}"',
        f"rootpw {ROOT_PASSWORD}",
        f"directory {folder / 'db'}",
        "maxsize 2147483648",
        "dbnosync",
        "index objectClass eq",
        "index uid,cn,member,uniqueMember,employeeType eq",
        f'limits dn.exact="{READER_DN}" size.soft={READER_SIZE_LIMIT} '
        f"size.hard={READER_SIZE_LIMIT} size.prtotal=unlimited",
        "overlay unique",
        f"unique_uri ldap:///?{UNIQUE_ATTRIBUTE}?sub",
        extra,
    ]
    return "\n".join(lines) + "\n"


def start_slapd(folder: Path, suffix: str = SUFFIX, extra_config: str = "") -> Slapd:
    """Start a private slapd in ``folder`` on a free loopback port; it holds the suffix and the reader.

    Raises RuntimeError (with slapd's own output) when it does not come up.
    """
    binary = slapd_binary()
    if binary is None:
        raise FileNotFoundError("slapd is not installed (Debian: apt-get install slapd ldap-utils)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "db").mkdir(exist_ok=True)
    conf = folder / "slapd.conf"
    conf.write_text(slapd_conf(folder, suffix, extra_config))
    last = ""
    for _ in range(3):  # the free port may be taken between asking and binding
        url = f"ldap://127.0.0.1:{free_port()}"
        log = (folder / "slapd.log").open("wb")
        process = subprocess.Popen([binary, "-f", str(conf), "-h", f"{url}/", "-d", "0"],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        server = Slapd(url, folder, process, suffix)
        if _wait_up(server):
            try:
                _populate(server)
            except BaseException:
                server.stop()  # never leave a half-set-up server running
                raise
            return server
        server.stop()
        last = (folder / "slapd.log").read_text(errors="replace")
    raise RuntimeError(f"slapd did not start in {folder}: {last[-2000:]}")


def _wait_up(server: Slapd, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            server.connection().unbind()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.05)
    return False


def _populate(server: Slapd) -> None:
    conn = server.connection()
    first = server.suffix.split(",")[0].split("=")[1]
    conn.add(server.suffix, ["dcObject", "organization"], {"dc": first, "o": first})
    conn.add(server.reader_dn, ["organizationalRole", "simpleSecurityObject"],
             {"cn": "reader", "userPassword": server.reader_password})
    conn.unbind()


@dataclass
class LDAPTree:
    """A fresh subtree of a test server: settings for dss, and helpers to look at it."""

    server: Slapd
    base: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def add(self, dn: str, object_classes: Sequence[str], attributes: Mapping[str, Any]) -> None:
        """Add an entry (``dn`` relative to the subtree when it does not end with it)."""
        conn = self.server.connection()
        try:
            conn.add(self.dn(dn), list(object_classes), dict(attributes))
        finally:
            conn.unbind()

    def ou(self, *names: str) -> None:
        """Add organizational units ``ou=NAME`` right under the subtree."""
        for name in names:
            self.add(f"ou={name}", ["organizationalUnit"], {"ou": name})

    def dn(self, relative: str) -> str:
        if relative.lower().endswith(self.base.lower()):
            return relative
        return f"{relative},{self.base}" if relative else self.base

    def entries(self, under: str = "", attributes: Sequence[str] = ("*",),
                search_filter: str = "(objectClass=*)", scope: str = "LEVEL") -> dict[str, dict[str, list[str]]]:
        """``{dn: {attribute: sorted values}}`` of the entries right under ``under`` (lower-case names)."""
        conn = self.server.connection()
        try:
            found = conn.extend.standard.paged_search(self.dn(under), search_filter, scope,
                                                      attributes=list(attributes), paged_size=500,
                                                      generator=False)
            out: dict[str, dict[str, list[str]]] = {}
            for entry in found:
                if entry.get("type") != "searchResEntry":
                    continue
                out[entry["dn"]] = {k.lower(): sorted(v.decode() for v in vals)
                                    for k, vals in entry["raw_attributes"].items()}
            return out
        finally:
            conn.unbind()

    def modify(self, dn: str, changes: Mapping[str, Any]) -> None:
        conn = self.server.connection()
        try:
            conn.modify(self.dn(dn), dict(changes))
        finally:
            conn.unbind()

    def delete_all(self) -> None:
        """Delete the subtree, deepest entries first."""
        conn = self.server.connection()
        try:
            found = conn.extend.standard.paged_search(self.base, "(objectClass=*)", "SUBTREE",
                                                      attributes=["1.1"], paged_size=1000,
                                                      generator=False)
            dns = [e["dn"] for e in found if e.get("type") == "searchResEntry"]
            for dn in sorted(dns, key=lambda d: -d.count(",")):
                conn.delete(dn)
        finally:
            conn.unbind()


@pytest.fixture(scope="session")
def dss_slapd() -> Iterator[Slapd]:
    """A private slapd for the test session, on a free loopback port; stopped at the end."""
    if slapd_binary() is None:
        _unavailable("slapd is not installed (Debian: apt-get install slapd ldap-utils)")
    folder = Path(tempfile.mkdtemp(prefix="dss-slapd-"))
    try:
        server = start_slapd(folder)
    except Exception as exc:  # noqa: BLE001 - reported as the reason
        shutil.rmtree(folder, ignore_errors=True)
        _unavailable(f"slapd did not start: {exc}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def dss_ldap(dss_slapd: Slapd) -> Iterator[LDAPTree]:
    """A fresh, empty subtree ``ou=t<hex>,dc=example,dc=org`` of the session's slapd, deleted after.

    ``.settings`` holds what a tree of dss needs: ``url``, ``bind_dn``,
    ``bind_password`` (the root DN's) and ``base`` (the subtree).
    """
    name = f"t{uuid.uuid4().hex[:10]}"
    base = f"ou={name},{dss_slapd.suffix}"
    tree = LDAPTree(dss_slapd, base, {"url": dss_slapd.url, "bind_dn": dss_slapd.root_dn,
                                      "bind_password": dss_slapd.root_password, "base": base})
    tree.add(base, ["organizationalUnit"], {"ou": name})
    try:
        yield tree
    finally:
        tree.delete_all()
