"""Builtin plugin: hands each action to the destination's handler methods (``trylast``)."""

from __future__ import annotations

from ..actions import Action, Result
from ..handlers import Handler
from ..hookspecs import hookimpl


@hookimpl(trylast=True)
def dss_handle_action(action: Action, handler: Handler) -> Result:
    return handler.handle(action)
