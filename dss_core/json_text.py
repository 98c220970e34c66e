"""JSON text of many small dicts, by the C encoder made once.

``json.dumps`` and ``JSONEncoder.encode`` make a new C encoder on every call:
a fifth of the time of encoding one small dict. The report and the journal
encode one per action (tens of thousands a run), so they take one made here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_make = getattr(json.encoder, "c_make_encoder", None)


def dict_encoder(item_separator: str = ", ", key_separator: str = ": ") -> Callable[[dict[str, Any]], str]:
    """``JSONEncoder(separators=(item_separator, key_separator), default=str).encode`` for dicts.

    The C encoder is made once and called without the circular check (the
    values are scalars and lists of them, never the dict itself); on a Python
    without json's C accelerator, ``JSONEncoder.encode`` itself.
    """
    if _make is None:  # pragma: no cover (another Python)
        return json.JSONEncoder(separators=(item_separator, key_separator), default=str).encode
    chunks = _make(None, str, json.encoder.encode_basestring_ascii, None, key_separator,
                   item_separator, False, False, True)
    return lambda value: "".join(chunks(value, 0))
