"""Actions (the differences between two trees) and results (what a handler did)."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import Model
from .origin import Origin

NEW, UPDATE, ADD, REMOVE, OLD, ERROR = "new", "update", "add", "remove", "old", "err"
KINDS = (NEW, UPDATE, ADD, REMOVE, OLD, ERROR)
_VALUED = frozenset((UPDATE, ADD, REMOVE))  # kinds whose message names the attribute and value
_PLAIN = frozenset((NEW, OLD))  # kinds whose message names the idnumber only


@dataclass(slots=True)
class Action:
    """One difference between the source and a destination, to be handled.

    ``method`` is the action method name from the design's table
    (``new_users``, ``update_name``, ``add_members_to_groups``,
    ``remove_members_from_groups``, ``old_users``, ``err_no_attr``,
    ``err_integrity``). ``value`` is the new value (the source's), or the
    element added or removed; ``old_value`` is the destination's value.
    """

    kind: str
    method: str
    branch: str
    idnumber: str | None
    attribute: str | None = None
    value: Any = None
    old_value: Any = None
    source: Model | None = None
    dest: Model | None = None
    tree: str = ""  # the destination tree the action is for
    error: str | None = None  # what is wrong, for err_* actions

    @property
    def origin(self) -> Origin | None:
        """Where the object behind this action came from (source side first)."""
        obj = self.dest if self.kind == OLD else (self.source or self.dest)
        return obj.dss_origin if obj is not None else None

    @property
    def key(self) -> str:
        """A stable key for this action: the same difference gets the same key every run."""
        parts = [self.tree, self.branch, self.method, self.idnumber or ""]
        if self.kind in (ADD, REMOVE):
            parts.append(repr(self.value))
        elif self.kind == ERROR:  # one branch (or object) may have several model errors
            parts.append(self.attribute or "")
        return ":".join(parts)

    @property
    def message(self) -> str:
        """One line naming the method and its arguments, e.g. ``update_name(idnumber='1', ...)``."""
        kind = self.kind
        if kind in _VALUED and self.idnumber is not None:  # the most frequent: one f-string
            return f"{self.method}(idnumber={self.idnumber!r}, attribute={self.attribute!r}, value={self.value!r})"
        if kind in _PLAIN and self.idnumber is not None:
            return f"{self.method}(idnumber={self.idnumber!r})"
        args = []
        if self.idnumber is not None:
            args.append(f"idnumber={self.idnumber!r}")
        if self.kind == ERROR:
            args.insert(0, f"branch={self.branch!r}")
            if self.attribute is not None:
                args.append(f"attribute={self.attribute!r}")
            args.append(f"message={self.error!r}")
        elif self.kind in (UPDATE, ADD, REMOVE):
            args.append(f"attribute={self.attribute!r}")
            args.append(f"value={self.value!r}")
        return f"{self.method}({', '.join(args)})"

    def handler_names(self) -> tuple[str, ...]:
        """Handler method names tried for this action, most specific first.

        ``new``: ``new_<branch>``, ``new``; ``update``: ``update_<branch>_<attr>``,
        ``update_<attr>``, ``update``; ``add``: ``add_<attr>_to_<branch>``, ``add``;
        ``remove``: ``remove_<attr>_from_<branch>``, ``remove``; ``old``:
        ``old_<branch>``, ``old``; errors: ``err_no_attr`` / ``err_integrity``,
        ``err``. After these the dispatcher tries the catch-all ``default``.
        """
        if self.kind == UPDATE:
            return (f"update_{self.branch}_{self.attribute}", self.method, UPDATE)
        return (self.method, self.kind)

    def to_dict(self) -> dict[str, Any]:
        """The action as JSON-ready values."""
        origin = self.origin
        value, old_value = self.value, self.old_value
        return {
            "key": self.key,
            "kind": self.kind,
            "method": self.method,
            "tree": self.tree,
            "branch": self.branch,
            "idnumber": self.idnumber,
            "attribute": self.attribute,
            # (None and text, the usual values, are their own JSON values: no call for them)
            "value": value if value is None or type(value) is str else jsonable(value),
            "old_value": old_value if old_value is None or type(old_value) is str else jsonable(old_value),
            "error": self.error,
            "origin": str(origin) if origin is not None else None,
            "message": self.message,
        }

    # Helpers for handlers: ``return action.failed("why")``.
    def succeeded(self, message: str = "") -> Result:
        """A successful result for this action."""
        return Result(self, Status.SUCCESS, message)

    def failed(self, message: str = "") -> Result:
        """A failed result for this action."""
        return Result(self, Status.FAILURE, message)

    def dropped(self, message: str = "") -> Result:
        """A result for an action the handler skipped on purpose."""
        return Result(self, Status.DROPPED, message)


def jsonable(value: Any) -> Any:
    """Turn a value into something ``json.dumps`` accepts (sets become sorted lists)."""
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return sorted(value, key=repr)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Model):
        return {"idnumber": value.idnumber, **{k: jsonable(v) for k, v in value.values().items()}}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class Status(enum.StrEnum):
    """What became of one action."""

    SUCCESS = "success"
    FAILURE = "failure"
    DROPPED = "dropped"  # skipped on purpose by the handler
    EXCEPTION = "exception"  # the handler raised
    NOT_IMPLEMENTED = "not_implemented"  # no handler method for it
    PLANNED = "planned"  # a dry run: nothing was done
    SKIPPED = "skipped"  # not attempted (the run stopped on an earlier failure)
    HELD = "held"  # held back: its object (or one it depends on) is quarantined tonight

    def __str__(self) -> str:
        return self.value


FAILED_STATUSES = frozenset({Status.FAILURE, Status.EXCEPTION})


@dataclass(slots=True)
class Result:
    """What one handler did with one action."""

    action: Action
    status: Status
    message: str = ""
    handler: str | None = None  # the handler method that ran
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        data = self.action.to_dict()
        data.update(result=self.status.value, result_message=self.message, handler=self.handler)
        return data


_CHANGES = (UPDATE, ADD, REMOVE)


def units(actions: Sequence[Action]) -> Iterator[list[Action]]:
    """The plan in units: consecutive changes of one object together, every other action alone.

    A unit is what a handler applies whole (see :meth:`dss_core.Handler.object_unit`).
    """
    unit: list[Action] = []
    for action in actions:
        if unit and (action.kind not in _CHANGES or (action.branch, action.idnumber) != (
                unit[0].branch, unit[0].idnumber)):
            yield unit
            unit = []
        if action.kind in _CHANGES:
            unit.append(action)
        else:
            yield [action]
    if unit:
        yield unit
