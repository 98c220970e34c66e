"""One connection to a directory: settings, bind, paged search, and each change as an :class:`Outcome`.

Everything that talks to the server goes through :class:`Directory`, so that
every failure is one line naming the server (never the bind password) and the
entry, and nothing else in dss-ldap imports ldap3 at module level.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from dss_core import ConfigurationError, InputError, Setting, register_secret

if TYPE_CHECKING:
    from ldap3 import Connection

#: The settings of a connection, declared by the importer and the handler alike (set them on the tree).
CONNECTION_SETTINGS: tuple[Setting, ...] = (
    Setting("url", str, None, "the directory's URL, ldap://host:389 or ldaps://host:636"),
    Setting("bind_dn", str, None, "the DN to bind as (none: an anonymous bind)"),
    Setting("bind_password", str, None,
            "the bind DN's password (keep it in DSS_<TREE>_BIND_PASSWORD)", secret=True),
    Setting("base", str, None,
            "the base DN: the subtree read, and what a mapping's relative bases hang under"),
    Setting("start_tls", bool, False, "upgrade an ldap:// connection with StartTLS"),
    Setting("connect_timeout", float, 10.0, "seconds to wait for the connection (0: no limit)"),
    Setting("timeout", float, 60.0, "seconds to wait for the answer to one request (0: no limit)"),
    Setting("page_size", int, 500, "entries per page of a paged search"),
)

#: Attributes that hold passwords: dss-ldap never reads, writes or prints them.
PASSWORD_ATTRIBUTES = frozenset({
    "userpassword", "unicodepwd", "sambantpassword", "sambalmpassword", "authpassword",
    "krbprincipalkey", "userpkcs12", "ipanthash", "clearpassword",
})

Scope = Literal["base", "one", "sub"]

#: The paged results control (RFC 2696).
PAGED = "1.2.840.113556.1.4.319"


def refuse_passwords(attributes: Sequence[str], where: str) -> None:
    """ConfigurationError when one of ``attributes`` holds passwords (dss-ldap never touches them)."""
    for attribute in attributes:
        if attribute.lower() in PASSWORD_ATTRIBUTES:
            raise ConfigurationError(
                f"{where}: attribute {attribute!r} holds passwords; dss-ldap never reads, writes "
                "or prints passwords (set them with the directory's own tools)")


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to connect: read from an importer's or a handler's settings."""

    url: str
    bind_dn: str | None = None
    password: str | None = None
    start_tls: bool = False
    connect_timeout: float = 10.0
    timeout: float = 60.0
    page_size: int = 500

    @classmethod
    def of(cls, settings: Mapping[str, Any], where: str, url: str | None = None) -> ConnectionSettings:
        """The connection settings in ``settings`` (values from the environment are text)."""
        from dss_core import parse_bool

        url = settings.get("url") or url
        if not url:
            raise ConfigurationError(
                f"{where}: no directory URL: set url (ldap://host:389) on the tree, or "
                "DSS_<TREE>_URL")
        password = settings.get("bind_password")
        register_secret(password)

        def number(key: str, default: float) -> float:
            value = settings.get(key)
            if value is None or value == "":
                return default
            try:
                out = float(value)
            except (TypeError, ValueError):
                raise ConfigurationError(f"{where}: {key} must be a number of seconds, not "
                                         f"{value!r}") from None
            if out < 0:
                raise ConfigurationError(f"{where}: {key} must not be negative")
            return out

        page = int(number("page_size", 500))
        if page < 1:
            raise ConfigurationError(f"{where}: page_size must be at least 1")
        return cls(url=str(url), bind_dn=settings.get("bind_dn") or None,
                   password=None if password is None else str(password),
                   start_tls=parse_bool(settings.get("start_tls") or False),
                   connect_timeout=number("connect_timeout", 10.0),
                   timeout=number("timeout", 60.0), page_size=page)

    def __repr__(self) -> str:  # never the password
        return f"ConnectionSettings(url={self.url!r}, bind_dn={self.bind_dn!r})"


@dataclass
class Outcome:
    """What the server said to one request: ``ok``, its result name and a one-line message."""

    ok: bool
    name: str = "success"
    message: str = ""

    def __bool__(self) -> bool:
        return self.ok


def one_line(exc: BaseException) -> str:
    """An exception as one line of text."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def split_dn(dn: str) -> list[tuple[str, str]]:
    """The RDNs of ``dn`` as ``(attribute, value)``, the value as written (escapes kept).

    RFC 4514, as servers write DNs: a comma ends an RDN unless escaped with a
    backslash or inside double quotes; spaces around separators are dropped.
    (ldap3's own parser refuses some DNs servers return, such as ``cn=a#b``.)
    Raises ValueError for text that is not a DN.
    """
    parts: list[str] = []
    current: list[str] = []
    i, quoted = 0, False
    while i < len(dn):
        c = dn[i]
        if c == "\\" and i + 1 < len(dn):
            current.append(dn[i:i + 2])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c in ",;" and not quoted:
            parts.append("".join(current))
            current = []
            i += 1
            continue
        current.append(c)
        i += 1
    if quoted:
        raise ValueError(f"unbalanced quote in {dn!r}")
    parts.append("".join(current))
    out = []
    for part in parts:
        attribute, eq, value = part.partition("=")
        attribute = attribute.strip()
        if not eq or not attribute or any(ch in attribute for ch in " \\\"+<>#"):
            raise ValueError(f"{part.strip()!r} is not attribute=value")
        value = value.strip() if not value.rstrip().endswith("\\") else value.lstrip()
        out.append((attribute, value))
    return out


def normal_dn(dn: str) -> str:
    """``dn`` in one form to compare: attribute types and values lower case, escapes canonical."""
    from ldap3.utils.dn import escape_rdn

    try:
        parts = split_dn(dn)
    except ValueError:  # not a DN: compare it as text
        return dn.strip().lower()
    return ",".join(f"{t.lower()}={escape_rdn(unescape(v)).lower()}" for t, v in parts)


def check_dn(dn: str, where: str) -> str:
    """``dn`` if it parses as a DN, else a ConfigurationError naming ``where``."""
    try:
        split_dn(dn)
    except ValueError as exc:
        raise ConfigurationError(f"{where}: {dn!r} is not a DN ({exc})") from None
    return dn


def join_dn(*parts: str | None) -> str:
    """The DN of ``parts`` joined with commas, empty ones left out: ``join_dn("ou=people", base)``."""
    return ",".join(p.strip().strip(",") for p in parts if p and p.strip().strip(","))


def rdn_value(dn: str) -> tuple[str, str]:
    """The first RDN of ``dn`` as ``(attribute, value)``, the value unescaped."""
    attribute, value = split_dn(dn)[0]
    return attribute, unescape(value)


def first_rdn(dn: str) -> str:
    """The first RDN of ``dn`` as written (escapes kept)."""
    attribute, value = split_dn(dn)[0]
    return f"{attribute}={value}"


def parent_dn(dn: str) -> str:
    """``dn`` without its first RDN."""
    return ",".join(f"{a}={v}" for a, v in split_dn(dn)[1:])


def unescape(value: str) -> str:
    """An RDN value without its DN escapes (``Doe\\, Jo`` -> ``Doe, Jo``; ``\\c3\\a9`` -> ``é``)."""
    if value.startswith('"') and value.endswith('"') and len(value) > 1:
        return value[1:-1]
    if "\\" not in value:
        return value
    out = bytearray()
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            pair = value[i + 1:i + 3]
            if len(pair) == 2 and all(ch in "0123456789abcdefABCDEF" for ch in pair):
                out.append(int(pair, 16))
                i += 3
                continue
            out += value[i + 1].encode()
            i += 2
            continue
        out += c.encode()
        i += 1
    return out.decode("utf-8", errors="replace")


def make_rdn(attribute: str, value: str) -> str:
    """``attribute=value`` with the value escaped for a DN."""
    from ldap3.utils.dn import escape_rdn

    return f"{attribute}={escape_rdn(value)}"


def filter_value(value: str) -> str:
    """``value`` escaped for an LDAP filter."""
    from ldap3.utils.conv import escape_filter_chars

    return str(escape_filter_chars(value))


def encode(value: Any) -> str:
    """A model value as LDAP text: booleans as ``TRUE``/``FALSE`` (LDAP's Boolean syntax)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


def present(value: Any) -> bool:
    """True when ``value`` is stored (LDAP has no empty values: ``""`` and None mean no attribute)."""
    return value is not None and value != ""


class Directory:
    """One bound connection to the directory (SYNC strategy, exceptions turned into outcomes).

    ``Directory.open(settings, where)`` connects and binds, or raises one
    :class:`~dss_core.ConfigurationError` line: the server cannot be reached,
    the credentials are refused (the password is never in it).
    """

    def __init__(self, settings: ConnectionSettings, conn: Connection, where: str) -> None:
        self.settings = settings
        self.conn = conn
        self.where = where
        self.lost: str | None = None  # why the connection is gone, once it is

    @classmethod
    def open(cls, settings: ConnectionSettings, where: str, schema: bool = False) -> Directory:
        """Connect and bind; ``schema`` also reads the server's schema (``directory.schema``)."""
        import ldap3
        from ldap3.core import exceptions as lx

        try:
            server = ldap3.Server(settings.url, get_info=ldap3.SCHEMA if schema else ldap3.NONE,
                                  connect_timeout=settings.connect_timeout or None)
        except lx.LDAPException as exc:
            raise ConfigurationError(f"{where}: bad directory URL {settings.url!r}: "
                                     f"{one_line(exc)}") from None
        conn = ldap3.Connection(
            server, user=settings.bind_dn, password=settings.password, auto_bind=ldap3.AUTO_BIND_NONE,
            raise_exceptions=False,
            receive_timeout=math.ceil(settings.timeout) if settings.timeout else None,  # whole seconds
            return_empty_attributes=False, auto_referrals=False, read_only=False,
            check_names=False)  # the server judges names and DNs (ldap3 refuses some valid DNs)
        who = f"as {settings.bind_dn}" if settings.bind_dn else "anonymously"
        try:
            conn.open()
            if settings.start_tls and not conn.start_tls():
                raise ConfigurationError(f"{where}: StartTLS with {settings.url} failed: "
                                         f"{_result_text(conn.result)}")
            if not conn.bind():
                result = conn.result or {}
                raise ConfigurationError(
                    f"{where}: cannot bind to {settings.url} {who}: {_result_text(result)}")
        except lx.LDAPException as exc:
            raise ConfigurationError(f"{where}: cannot connect to {settings.url}: "
                                     f"{_socket_text(exc)}") from None
        return cls(settings, conn, where)

    @property
    def schema(self) -> Any:
        """The server's schema (ldap3 ``SchemaInfo``), when opened with ``schema=True``."""
        return self.conn.server.schema

    def close(self) -> None:
        """Unbind and close (errors ignored: the connection may be gone already)."""
        with contextlib.suppress(Exception):  # closing what may be closed
            self.conn.unbind()

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------
    def exists(self, dn: str) -> Outcome:
        """Whether entry ``dn`` is there (a base search), as an outcome."""
        return self._call(lambda c: c.search(dn, "(objectClass=*)", "BASE", attributes=["1.1"]),
                          dn)

    def search(self, base: str, search_filter: str, attributes: Sequence[str],
               scope: Scope = "sub", page_size: int | None = None) -> Iterator[tuple[str, dict[str, list[bytes]]]]:
        """Every entry under ``base`` matching ``search_filter``: ``(dn, {attribute: raw values})``.

        Paged (RFC 2696, ``page_size`` entries a page): memory holds one page.
        A failure (no such base, a bad filter, a lost connection) is one
        :class:`~dss_core.InputError` line naming the base and the server.
        """
        from ldap3.core import exceptions as lx

        scopes = {"base": "BASE", "one": "LEVEL", "sub": "SUBTREE"}
        size = page_size or self.settings.page_size
        cookie: Any = None
        self.pages = 0
        while True:
            try:
                self.conn.search(base, search_filter, scopes[scope], attributes=list(attributes),
                                 paged_size=size, paged_cookie=cookie, paged_criticality=True)
            except lx.LDAPException as exc:
                raise InputError(f"{self.where}: searching {base} on {self.settings.url}: "
                                 f"{_socket_text(exc)}") from None
            result = self.conn.result or {}
            if result.get("result") != 0:
                raise InputError(f"{self.where}: searching {base} for {search_filter} on "
                                 f"{self.settings.url}: {_result_text(result)}")
            self.pages += 1
            for entry in self.conn.response or ():
                if entry.get("type") == "searchResEntry":
                    yield entry["dn"], entry.get("raw_attributes") or {}
            controls = result.get("controls") or {}
            cookie = controls.get(PAGED, {}).get("value", {}).get("cookie")
            if not cookie:
                return

    # -- changing ----------------------------------------------------------------
    def add(self, dn: str, object_classes: Sequence[str], attributes: Mapping[str, Any]) -> Outcome:
        """Add entry ``dn``."""
        return self._call(lambda c: c.add(dn, list(object_classes), dict(attributes)), dn)

    def modify(self, dn: str, changes: Mapping[str, list[tuple[str, list[str]]]]) -> Outcome:
        """Modify entry ``dn``: ``{attribute: [(MODIFY_ADD|..., [values])]}``."""
        return self._call(lambda c: c.modify(dn, dict(changes)), dn)

    def delete(self, dn: str) -> Outcome:
        """Delete entry ``dn``."""
        return self._call(lambda c: c.delete(dn), dn)

    def move(self, dn: str, new_rdn: str, new_superior: str | None = None) -> Outcome:
        """Rename (modrdn) entry ``dn`` to ``new_rdn``, under ``new_superior`` when given."""
        return self._call(lambda c: c.modify_dn(dn, new_rdn, delete_old_dn=True,
                                                new_superior=new_superior), dn)

    def _call(self, op: Any, dn: str) -> Outcome:
        from ldap3.core import exceptions as lx

        if self.lost is not None:
            return Outcome(False, "unavailable", f"not attempted: {self.lost}")
        try:
            done = op(self.conn)
        except lx.LDAPCommunicationError as exc:
            self.lost = (f"the connection to {self.settings.url} was lost "
                         f"({_socket_text(exc)})")
            return Outcome(False, "unavailable", self.lost)
        except lx.LDAPException as exc:  # refused by ldap3 before it was sent (a bad DN, say)
            return Outcome(False, type(exc).__name__, f"{one_line(exc)} ({dn})")
        if done:
            return Outcome(True)
        result = self.conn.result or {}
        return Outcome(False, str(result.get("description") or "error"),
                       f"{_result_text(result)} ({dn})")


def _result_text(result: Mapping[str, Any]) -> str:
    """``entryAlreadyExists`` or ``constraintViolation: <the server's message>``."""
    name = str(result.get("description") or f"result {result.get('result')}")
    message = " ".join(str(result.get("message") or "").split())
    return f"{name}: {message}" if message else name


def _socket_text(exc: BaseException) -> str:
    """A socket error as the words people search for (``Connection refused``)."""
    text = one_line(exc)
    for marker in ("[Errno", "timed out"):
        at = text.find(marker)
        if at >= 0:
            return text[at:].rstrip("')\"]").strip()
    return text
