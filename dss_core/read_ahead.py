"""Reading a destination while the source is imported: two files parsed on two cores.

Only a tree whose importers read local files (``Importer.read_ahead``) or
branches of their own tree is read so (:func:`reads_ahead`); what the thread
did is heard in the runner's own turn for that tree (:class:`ReadAhead`).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

from .declaration import TreeDeclaration
from .interrupts import Interrupted
from .loading import importer_class, load_tree

__all__ = ["ReadAhead", "reads_ahead"]


def reads_ahead(tree: TreeDeclaration) -> bool:
    """True when every branch of ``tree`` is read by an importer that reads only local files
    (``read_ahead``) or branches of its own tree (``derived``), one of them the former."""
    try:
        classes = [importer_class(tree, branch) for branch in tree.branch_order]
    except Exception:  # said when the tree is imported, in its turn
        return False
    return (any(c.read_ahead is True for c in classes)
            and all(c.read_ahead is True or c.derived is True for c in classes))


class ReadAhead:
    """A destination tree read in a thread while the source is imported.

    Only a tree :func:`reads_ahead` allows is read so: reading local files
    early changes nothing anyone sees, and polars releases the GIL while it
    parses, so the two sides are read on two cores. What the thread did is
    heard in the main thread when the tree's turn comes (:meth:`join`): its
    log lines and its hooks in the order they came, then its error, raised
    there. So a run's messages, their order and its first error are what
    they are when the tree is read in its turn; when the run stops before
    (a source gate), nothing of it is heard.
    """

    def __init__(self, tree: TreeDeclaration) -> None:
        self.tree = tree
        self.heard: list[logging.LogRecord | tuple[bool, str, int]] = []  # (done?, branch, count)
        self.error: BaseException | None = None
        self._name = f"dss-read-ahead-{tree.name}-{id(self):x}"
        self._handlers = _log_handlers()
        for handler in self._handlers:
            handler.addFilter(self._hold)
        self._thread = threading.Thread(target=self._read, name=self._name, daemon=True)
        self._thread.start()

    def _hold(self, record: logging.LogRecord) -> bool:
        """A handler's filter: the thread's log records are kept for later, not emitted."""
        if record.threadName != self._name:
            return True
        if not self.heard or self.heard[-1] is not record:  # once, whichever handler sees it first
            self.heard.append(record)
        return False

    def _read(self) -> None:
        try:
            load_tree(self.tree, on_branch=lambda branch, count: self.heard.append((True, branch, count)),
                      on_progress=lambda branch, count: self.heard.append((False, branch, count)))
        except BaseException as exc:  # raised in the main thread, in the tree's turn
            self.error = exc

    def wait(self) -> float:
        """Wait for the thread to finish; the seconds waited."""
        started = time.perf_counter()
        self._thread.join()
        return time.perf_counter() - started

    def join(self, done: Callable[[str, int], None], progress: Callable[[str, int], None]) -> None:
        """What the thread did, as :func:`~dss_core.loading.load_tree` would have done it here."""
        self.wait()
        self._unhook()
        for item in self.heard:
            if isinstance(item, logging.LogRecord):
                logging.getLogger(item.name).handle(item)
            else:
                (done if item[0] else progress)(item[1], item[2])
        self.heard = []
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        """The run goes on or stops: the thread is waited for (not after a signal); what it did
        and was not heard is dropped."""
        stopping = sys.exc_info()[1]
        if not isinstance(stopping, (Interrupted, KeyboardInterrupt)):
            self._thread.join()
            self._unhook()
        self.heard = []

    def _unhook(self) -> None:
        for handler in self._handlers:
            handler.removeFilter(self._hold)
        self._handlers = []


def _log_handlers() -> list[logging.Handler]:
    """Every handler of the root logger and of the loggers that have their own."""
    loggers = [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger) and logger.handlers)]
    return list({id(h): h for logger in loggers for h in logger.handlers}.values())
