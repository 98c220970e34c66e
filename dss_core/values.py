"""Reading plain values from text: what CSV cells, settings and environment variables hold."""

from __future__ import annotations

from typing import Any

TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "on"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n", "off", ""})


def parse_bool(value: Any) -> bool:
    """``True``/``False`` from a bool or a yes/no word (``"yes"``, ``"0"``, ``"off"``, ...).

    Raises ValueError for anything else.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"not a yes/no value: {value!r}")
