"""SCIM attribute paths: where a model attribute lives in a SCIM resource.

A path names a top-level attribute, optionally of a schema extension, and a
sub-attribute of a complex one, and may pick one value of a multi-valued
attribute by a filter::

    userName                          a simple attribute
    name.givenName                    a sub-attribute of a complex attribute
    emails[primary].value             the value of the primary email
    emails[primary]                   the same (".value" is implied)
    phoneNumbers[type eq "work"]      the value of the work phone number
    emails.value                      every email (for a set attribute)
    urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber

:func:`parse` reads one; :meth:`AttributePath.read` takes its value out of a
resource (a JSON dict), :meth:`AttributePath.write` puts one into a payload
being built, and the ``*_operations`` methods give the PATCH operations
(RFC 7644 §3.5.2) that change it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dss_core import ConfigurationError

_NAME = r"[A-Za-z$][\w$-]*"
_PATH = re.compile(
    rf"^(?:(?P<urn>urn:[^\[\]\s]+):)?(?P<attr>{_NAME})"
    rf"(?:\[(?P<filter>[^\]]*)\])?(?:\.(?P<sub>{_NAME}))?$")
_FILTER = re.compile(
    rf'^\s*(?P<name>{_NAME})\s*(?:eq\s+(?P<value>"(?:[^"\\]|\\.)*"|true|false|-?\d+))?\s*$')


@dataclass(frozen=True)
class AttributePath:
    """One parsed SCIM attribute path (see the module's docstring).

    ``schema`` is the extension URN or None for the core schema; ``match``
    the ``(sub-attribute, value)`` a multi-valued element must hold, if any.
    """

    text: str
    schema: str | None
    attribute: str
    match: tuple[str, Any] | None
    sub: str | None

    @property
    def filtered(self) -> bool:
        """True when the path picks elements of a multi-valued attribute by a filter."""
        return self.match is not None

    @property
    def top(self) -> str:
        """The top-level attribute as a PATCH path names it (with its extension URN)."""
        return f"{self.schema}:{self.attribute}" if self.schema else self.attribute

    def element_key(self) -> str:
        """The sub-attribute holding the value in an element of a multi-valued attribute."""
        return self.sub or "value"

    def filter_text(self, *extra: tuple[str, Any]) -> str:
        """The SCIM filter of the path's ``match`` (and ``extra`` conditions), joined by ``and``."""
        conditions = [*(m for m in [self.match] if m is not None), *extra]
        return " and ".join(f"{name} eq {json.dumps(value)}" for name, value in conditions)

    def element(self, value: Any) -> dict[str, Any]:
        """A new element of the multi-valued attribute holding ``value`` (and the match)."""
        out = {self.element_key(): value}
        if self.match is not None:
            out[self.match[0]] = self.match[1]
        return out

    # -- reading ---------------------------------------------------------------
    def container(self, resource: dict[str, Any]) -> Any:
        """The top-level value of the path in ``resource`` (None when absent)."""
        if self.schema:
            return (resource.get(self.schema) or {}).get(self.attribute)
        return resource.get(self.attribute)

    def read(self, resource: dict[str, Any], many: bool = False) -> Any:
        """The value at this path in ``resource``: one value, or (``many``) a set of them.

        A multi-valued attribute read as one value gives the first matching
        element's value; absent values are None (or an empty set).
        """
        top = self.container(resource)
        if isinstance(top, list):
            values = [self._element_value(e) for e in top if self._matches(e)]
            values = [v for v in values if v is not None]
            if many:
                return set(values)
            return values[0] if values else None
        if isinstance(top, dict):
            value = top.get(self.sub) if self.sub else None
        else:
            value = top if not self.sub else None
        if many:
            return set() if value is None else {value}
        return value

    def _matches(self, element: Any) -> bool:
        if self.match is None:
            return True
        return isinstance(element, dict) and element.get(self.match[0]) == self.match[1]

    def _element_value(self, element: Any) -> Any:
        if isinstance(element, dict):
            return element.get(self.element_key())
        return element

    # -- writing ---------------------------------------------------------------
    def write(self, payload: dict[str, Any], value: Any, multi_valued: bool, many: bool = False) -> None:
        """Put ``value`` (a set when ``many``) into ``payload``, a resource being built for POST.

        ``multi_valued`` says whether the SCIM attribute is multi-valued (from
        its schema); empty values (None, "", an empty set) are left out.
        """
        if value is None or value == "" or (many and not value):
            return
        target = payload
        if self.schema:
            target = payload.setdefault(self.schema, {})
            schemas = payload.setdefault("schemas", [])
            if self.schema not in schemas:
                schemas.append(self.schema)
        if multi_valued:
            elements = target.setdefault(self.attribute, [])
            values = sorted(value, key=str) if many else [value]
            elements.extend(self.element(v) for v in values)
        elif self.sub:
            target.setdefault(self.attribute, {})[self.sub] = value
        else:
            target[self.attribute] = value

    def replace_operations(self, value: Any, old: Any, multi_valued: bool) -> list[dict[str, Any]]:
        """The PATCH operations setting this (single) value from ``old`` to ``value``."""
        empty, was_empty = value in (None, ""), old in (None, "")
        if not multi_valued:
            path = f"{self.top}.{self.sub}" if self.sub else self.top
            if empty:
                return [{"op": "remove", "path": path}]
            return [{"op": "replace", "path": path, "value": value}]
        selector = f"{self.top}[{self.filter_text()}]" if self.match else self.top
        if empty:
            return [] if was_empty else [{"op": "remove", "path": selector}]
        if was_empty:
            return [{"op": "add", "path": self.top, "value": [self.element(value)]}]
        return [{"op": "replace", "path": f"{selector}.{self.element_key()}", "value": value}]

    def add_operations(self, values: Iterable[Any]) -> list[dict[str, Any]]:
        """The PATCH operation adding elements holding ``values`` to the multi-valued attribute."""
        elements = [self.element(v) for v in values]
        return [{"op": "add", "path": self.top, "value": elements}] if elements else []

    def remove_operations(self, values: Iterable[Any]) -> list[dict[str, Any]]:
        """The PATCH operations removing the elements holding ``values``."""
        return [{"op": "remove",
                 "path": f"{self.top}[{self.filter_text((self.element_key(), v))}]"}
                for v in values]


def parse(text: str) -> AttributePath:
    """Parse a SCIM attribute path; ConfigurationError naming it when it is not one.

    ``emails[primary]`` means ``emails[primary eq true]``.
    """
    m = _PATH.match(text.strip())
    if not m:
        raise ConfigurationError(
            f"{text!r} is not a SCIM attribute path (write e.g. userName, name.givenName, "
            'emails[primary].value, phoneNumbers[type eq "work"].value)')
    match: tuple[str, Any] | None = None
    if m["filter"] is not None:
        f = _FILTER.match(m["filter"])
        if not f:
            raise ConfigurationError(
                f"{text!r}: the filter [{m['filter']}] is not supported (write [primary] or "
                '[type eq "work"]: one sub-attribute, eq, one value)')
        match = (f["name"], json.loads(f["value"]) if f["value"] else True)
    return AttributePath(text.strip(), m["urn"], m["attr"], match, m["sub"])
