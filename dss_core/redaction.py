"""Keep secrets out of output: known secrets, and passwords in URLs, are replaced by ``***``.

Secrets are *registered*, not guessed from what a value looks like: the
configuration registers its URLs, passwords and tokens when it is loaded
(:func:`register_url_secrets`, :func:`register_secret`), plugins register the
ones they resolve themselves, and :func:`redact` replaces every registered
secret wherever it appears -- in a URL of any form, in a driver's ``conninfo``,
in a JSON report. A data value that merely looks like a secret
(``note='password=abc')``) is printed as it is.

Credentials written into a URL are hidden by their place in it, registered or
not: the password of ``scheme://user:password@host`` and the value of a
``password=``, ``token=``, ``secret=``, ... query parameter of a URL.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from urllib.parse import quote, quote_plus, unquote, unquote_plus

#: Secrets shorter than this are not registered: they would hide ordinary text.
MIN_SECRET_LENGTH = 3
MASK = "***"

# scheme://user:password@ (also scheme:/user:password@, as a URL looks once treated as a path)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*:/{1,2})(?P<user>[^:/@\s]*):(?P<pw>\S*)@")
# a pasted password may hold spaces (but then no slash, which would mean host:port/path)
_URL_SPACED_PASSWORD = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*:/{1,2})(?P<user>[^:/@\s]*):(?P<pw>[^@/\n]* [^@/\n]*)@")

#: Names of URL query parameters that hold a secret (``password``, ``sslpassword``, ``pass``,
#: ``pwd``, ``token``, ``access_token``, ``secret``, ``client_secret``, ``api_key``, ...).
_SECRET_PARAM = r"[\w.\-]*?(?:password|passwd|pass|pwd|token|secret|api_?key)"
# in one URL given alone: the value runs to the next parameter
_URL_QUERY_SECRET = re.compile(rf"(?i)(?P<key>[?&]{_SECRET_PARAM}=)(?P<value>[^&#]*)")
# a URL inside a message ends at a space or a quote; punctuation that ends it (``(url): ...``)
# belongs to the message
_TEXT_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s'\"<>]*")
_TEXT_QUERY_SECRET = re.compile(
    rf"(?i)(?P<key>[?&]{_SECRET_PARAM}=)(?P<value>[^&#]*?)(?=[).,;:!?\]]*(?:[&#]|$))")

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None  # one alternation of _secrets, longest first
_stale = False


def _variants(value: str) -> Iterator[str]:
    """``value`` and the forms it takes when a URL, a conninfo, a repr or JSON quotes it."""
    yield value
    yield quote(value, safe="")
    yield quote(value, safe=" +")  # SQLAlchemy's rendering of a URL's password
    yield quote_plus(value, safe="")  # a query parameter
    yield value.replace("\\", "\\\\").replace("'", "\\'")  # libpq conninfo, Python repr
    yield repr(value)[1:-1]
    yield json.dumps(value)[1:-1]
    yield json.dumps(value, ensure_ascii=False)[1:-1]


def register_secret(value: object) -> None:
    """Hide ``value`` (and its percent-encoded and escaped forms) from every :func:`redact`.

    ``None``, empty and very short values (under three characters) are ignored.
    """
    global _stale
    if value is None:
        return
    text = str(value)
    if len(text) < MIN_SECRET_LENGTH:
        return
    new = {v for v in _variants(text) if len(v) >= MIN_SECRET_LENGTH} - _secrets
    if not new:
        return
    with _lock:
        _secrets.update(new)
        _stale = True


def register_url_secrets(url: object) -> None:
    """Register every password in ``url``, whatever its form.

    ``scheme://user:pw@host/db``, ``user:pw@host/db`` (no scheme), a
    percent-encoded password (``p%40ss``: both it and ``p@ss`` are registered),
    and the values of secret query parameters (``?password=``, ``sslpassword=``,
    ``pass=``, ``token=``, ``secret=``, ``api_key=``, ...).
    """
    if url is None:
        return
    text = str(url).strip()
    _, rest = _split_scheme(text)
    password = _userinfo_password(rest)
    if password is not None:
        register_secret(password)
        register_secret(unquote(password))
    for m in _URL_QUERY_SECRET.finditer(rest):
        value = m["value"]
        register_secret(value)
        register_secret(unquote(value))
        register_secret(unquote_plus(value))


def clear_secrets() -> None:
    """Forget every registered secret (for tests)."""
    global _pattern, _stale
    with _lock:
        _secrets.clear()
        _pattern = None
        _stale = False


def _secret_pattern() -> re.Pattern[str] | None:
    global _pattern, _stale
    if _stale:
        with _lock:
            if _stale:
                ordered = sorted(_secrets, key=lambda s: (-len(s), s))
                _pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
                _stale = False
    return _pattern


def _split_scheme(text: str) -> tuple[str, str]:
    """``('scheme://', rest)``, or ``('', text)`` for a URL written without its scheme."""
    scheme, sep, rest = text.partition("://")
    if sep and re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.\-]*", scheme):
        return scheme + sep, rest
    return "", text


def _userinfo_password(rest: str) -> str | None:
    """The password of ``user:password@host...`` (the text after ``scheme://``), if any.

    The user name holds no colon or slash (an ``@`` is allowed: ``user@server``);
    the password runs to the last ``@`` (one with an unencoded ``@`` is still
    the whole password).
    """
    at = rest.rfind("@")
    if at < 0:
        return None
    user, colon, password = rest[:at].partition(":")
    if not colon or "/" in user:
        return None
    return password


def mask_url(url: object) -> str:
    """``url`` with its password and secret query values replaced by ``***``, in any form.

    With or without a scheme: ``postgresql://u:pw@h/db?password=x`` ->
    ``postgresql://u:***@h/db?password=***``, ``u:pw@h/db`` -> ``u:***@h/db``.
    """
    text = str(url)
    scheme, rest = _split_scheme(text)
    password = _userinfo_password(rest)
    if password is not None:
        at = rest.rfind("@")
        user = rest[:at].partition(":")[0]
        rest = f"{user}:{MASK}@{rest[at + 1:]}"
    rest = _URL_QUERY_SECRET.sub(lambda m: m["key"] + MASK, rest)
    return redact(scheme + rest)


def _mask_query(m: re.Match[str]) -> str:
    return _TEXT_QUERY_SECRET.sub(lambda q: q["key"] + MASK, m.group(0))


def redact(text: str) -> str:
    """``text`` with every registered secret, and every password in a URL, replaced by ``***``.

    Runs on every printed line: the registered secrets are one precompiled
    pattern, and the URL patterns only run on text that holds ``:/``.
    """
    pattern = _secret_pattern()
    if pattern is not None:
        text = pattern.sub(MASK, text)
    if ":/" in text:
        text = _URL_SPACED_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
        text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
        if "=" in text:
            text = _TEXT_URL.sub(_mask_query, text)
    return text
