"""Declared settings: what the core, each importer and each handler accept.

Every setting a sync reads is declared once, as a :class:`Setting` (name,
type, default, description, secret or not): the core's own below, an
importer's in :attr:`Importer.declared_settings`, a handler's in
:attr:`Handler.declared_settings`. ``dss list`` and ``dss check`` show them,
and :func:`check_configuration` refuses, before anything is imported, a key
that nothing declares (with the nearest known key), and a value of the wrong
type, whether it comes from ``dss.toml``, ``[tool.dss]`` or a ``DSS_*``
environment variable.

Types are checked with pydantic's ``TypeAdapter``: strictly for values from
a TOML file (``"5"`` is not a number there), leniently for environment
variables, which are always text (``DSS_SIS_USERS_STRIP=true``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from .errors import ConfigurationError
from .redaction import register_secret, register_url_secrets

MODES = ("full", "create-only", "update-only", "no-retire")
DUPLICATE_POLICIES = ("error", "first", "last")

#: A share of a branch: ``"20%"``, or a number of percent (``20``).
Percent = str | int | float


@dataclass(frozen=True)
class Setting:
    """One setting a sync may be configured with.

    ``type`` is a Python type annotation (``str``, ``bool``, ``dict[str, str]``,
    ``Literal["a", "b"]``, ``list[str] | str``...), checked before a run.
    ``secret`` settings (a database URL, a token) are never printed.
    ``scope`` says where it is read: ``"branch"`` (one branch, or every branch
    of a tree when set on the tree) or ``"datastore"`` (top level only).
    """

    name: str
    type: Any = str
    default: Any = None
    description: str = ""
    secret: bool = False
    scope: str = "branch"

    def describe(self) -> str:
        """One line for ``dss list``: name, type, default and description."""
        shown = "(secret)" if self.secret else repr(self.default)
        return f"{self.name} ({type_name(self.type)}, default {shown}): {self.description}"


def type_name(tp: Any) -> str:
    """A short readable name of a type annotation (``bool``, ``'full' | 'no-retire'``)."""
    import typing

    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


#: The core's settings of one branch (also settable on a tree for all its branches).
CORE_SETTINGS: tuple[Setting, ...] = (
    Setting("mode", Literal[MODES], "full",
            "a destination branch's sync mode: full, create-only, update-only or no-retire"),
    Setting("on_duplicate", Literal[DUPLICATE_POLICIES], None,
            "a second record of one idnumber: error, first (keep it) or last"),
    Setting("strip_idnumber", bool, True,
            "strip surrounding whitespace from idnumbers (' 1001' is '1001')"),
    Setting("shrink_limit", Percent, "20%",
            "source gate: stop when the branch has this much fewer objects than the last "
            "accepted source"),
    Setting("deletion_limit", Percent, "10%",
            "stop a run that would retire or delete more than this share of a destination "
            "branch ..."),
    Setting("deletion_floor", int, 5,
            "... and more than this many objects"),
    Setting("member_loss_limit", Percent, "50%",
            "stop a run that would remove more than this share of one object's set ..."),
    Setting("member_loss_floor", int, 10,
            "... when the set has at least this many elements"),
    Setting("on_bad_record", Literal["stop", "quarantine"], "stop",
            "a record that cannot be read: stop the run, or quarantine it (its object's "
            "actions are held back tonight and it goes to the rejects file)"),
    Setting("quarantine_limit", Percent, "1%",
            "source gate: stop when more than this share of a branch's records is bad"),
)

#: Keys of the configuration's top level.
TOP_LEVEL_SETTINGS: tuple[Setting, ...] = (
    Setting("datastore", str, None, "the datastore `dss run` uses when none is named",
            scope="datastore"),
    Setting("state_dir", str, ".dss",
            "where dss keeps what it remembers between runs (the last accepted source), "
            "relative to the configuration file", scope="datastore"),
    Setting("trees", dict[str, Any], {}, "settings per tree and branch", scope="datastore"),
    Setting("history", int, 60,
            "how many runs' reports the state folder keeps (<datastore>.history/; as many plans "
            "apart); 0 keeps none (DSS_HISTORY)", scope="datastore"),
    Setting("on_bad_record", Literal["stop", "quarantine"], "stop",
            "on_bad_record for every branch that does not set its own (DSS_ON_BAD_RECORD)",
            scope="datastore"),
    Setting("quarantine_limit", Percent, "1%",
            "quarantine_limit for every branch that does not set its own (DSS_QUARANTINE_LIMIT)",
            scope="datastore"),
)


@cache
def _adapter(tp: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(tp)


def validate(setting: Setting, value: Any, where: str, from_env: bool = False) -> Any:
    """``value`` checked against ``setting.type``; ConfigurationError naming ``where`` if wrong."""
    from pydantic import ValidationError

    if setting.secret and isinstance(value, str):  # whatever its key, never printed
        if "@" in value or "://" in value:
            register_url_secrets(value)
        else:
            register_secret(value)
    try:
        return _adapter(setting.type).validate_python(value, strict=not from_env)
    except ValidationError as exc:
        shown = "***" if setting.secret else repr(value)
        reasons = sorted({e["msg"] for e in exc.errors()})
        reason = reasons[0] if len(reasons) == 1 else f"expected {type_name(setting.type)}"
        raise ConfigurationError(
            f"{where}: {shown} is not a valid {setting.name} ({reason})") from None


def parse_percent(value: Any, where: str) -> float:
    """A share as a fraction: ``"20%"`` and ``20`` are both 0.2."""
    text = str(value).strip()
    number = text[:-1].strip() if text.endswith("%") else text
    try:
        share = float(number) / 100
    except ValueError:
        raise ConfigurationError(f"{where}: {value!r} is not a percentage (write \"20%\")") from None
    if not 0 <= share <= 1:
        raise ConfigurationError(f"{where}: {value!r} is not between 0% and 100%")
    return share


def nearest(key: str, known: Iterable[str]) -> str:
    """`` (did you mean 'mode'?)`` for the nearest known key, or an empty string."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def env_name(name: str) -> str:
    """The environment spelling of a tree or branch name: ``DSS_<NAME>_...``."""
    return "".join(c if c.isalnum() else "_" for c in name).upper()
