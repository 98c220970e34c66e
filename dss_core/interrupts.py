"""Ctrl-C and SIGTERM: a run stops cleanly instead of being cut off.

While the run only reads (import, diff), a signal stops it at once with
:class:`Interrupted` (nothing was changed). Once it applies, a signal asks
it to stop after the current object: what is done is committed and
journaled, the rest is reported as not attempted, the report says
``interrupted``, and the exit code is 128 + the signal (130 for Ctrl-C,
143 for SIGTERM). A second Ctrl-C while applying stops at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from .errors import DssError

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(DssError):
    """The run was stopped by a signal before it changed anything (exit 128 + the signal)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name} before anything was "
                         "applied")


class StopRequest:
    """Whether a signal asked the run to stop, and which."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.applying = False

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.applying:
            raise Interrupted(signum)
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signum = signum

    @contextlib.contextmanager
    def catching(self) -> Iterator[StopRequest]:
        """Install the handlers for SIGINT and SIGTERM (main thread only) while the block runs."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous: dict[signal.Signals, Any] = {s: signal.getsignal(s) for s in SIGNALS}
        for s in SIGNALS:
            signal.signal(s, self._handle)
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
