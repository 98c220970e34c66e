"""Keep secrets out of output: passwords in database URLs are replaced by ``***``."""

from __future__ import annotations

import re

# scheme://user:password@ (also scheme:/user:password@, as a URL looks once treated as a path)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*:/{1,2})(?P<user>[^:/@\s]*):(?P<pw>\S*)@")
_KEYWORD_PASSWORD = re.compile(r"(?i)(password\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s&;]+)")


# a pasted password may hold spaces (but then no slash, which would mean host:port/path)
_URL_SPACED_PASSWORD = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*:/{1,2})(?P<user>[^:/@\s]*):(?P<pw>[^@/\n]* [^@/\n]*)@")


def redact(text: str) -> str:
    """``text`` with every password in a URL or ``password=...`` replaced by ``***``."""
    text = _URL_SPACED_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m.group(1)}***", text)
