"""One run at a time: the run lock of a datastore, ``<state folder>/<datastore>.lock``.

``dss run`` holds it from before the import until the report is written; a
second run of the same datastore stops (:class:`RunLocked`, exit 3) naming
the holder, or waits for it (``--wait SECONDS``). ``dss plan`` takes none.

The lock is an OS lock (``fcntl.flock``) on the file, plus a JSON body
naming the holder (run id, pid, host, start time) for the message. The OS
drops the lock when its process dies, however it dies; the body stays, so
the next run sees that a run was killed while it held the lock, takes the
lock over and says so. Where there is no ``flock`` (not POSIX) the file
itself is the lock (created exclusively, removed on release), and one whose
holder's pid is dead on this host is taken over.

Why not the ``filelock`` package: it is ``flock`` too on POSIX, and the
holder's details and the takeover, which are most of this module, would
still be ours; the core keeps its dependencies few.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from .errors import ConfigurationError, GateError
from .private_files import FILE_MODE, private_folder

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

#: Seconds between two tries while waiting for a lock (``--wait``).
POLL = 0.2


def _this_host() -> str:
    import socket

    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    """True when a process ``pid`` runs on this host (one we may not signal counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # pragma: no cover - os.kill(pid, 0) unsupported
        return True
    return True


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a run lock: the body of the lock file."""

    run: str
    pid: int
    host: str
    started: str
    datastore: str = ""

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """The holder a lock file's text names, or None (empty, half written, not ours)."""
        try:
            data = json.loads(text)
            return cls(str(data["run"]), int(data["pid"]), str(data["host"]),
                       str(data.get("started", "")), str(data.get("datastore", "")))
        except (ValueError, KeyError, TypeError):
            return None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True) + "\n"

    @property
    def local(self) -> bool:
        return self.host == _this_host()

    def describe(self) -> str:
        """``run 9f2c4a1b7e3d (pid 123 on host web1, started 2025-...)``."""
        return (f"run {self.run[:12]} (pid {self.pid} on host {self.host}, "
                f"started {self.started or 'at an unknown time'})")

    def gone(self) -> str:
        """How a holder that did not release its lock ended, for the takeover note."""
        if not self.local:
            return f"pid {self.pid} on host {self.host}, gone"
        if _pid_alive(self.pid):  # its pid was reused: the OS lock says the run is over
            return f"pid {self.pid}, ended without releasing it"
        return f"pid {self.pid}, killed"


class RunLocked(GateError):
    """Another run of the datastore holds its lock (exit code 3, nothing done).

    ``holder`` names it when its lock file says who it is.
    """

    def __init__(self, message: str, holder: Holder | None) -> None:
        self.holder = holder
        super().__init__([message])


class RunLock:
    """The run lock of one datastore, held by one run (a context manager).

    ``wait``: seconds to wait for another run to end (None or 0: do not
    wait). ``note``: told, in one line each, that the lock is busy and this
    run waits, and that a killed run's lock was taken over.
    """

    def __init__(self, path: Path, datastore: str, run_id: str, started: str = "", *,
                 wait: float | None = None, note: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.datastore = datastore
        self.me = Holder(run_id, os.getpid(), _this_host(), started, datastore)
        self.wait = float(wait or 0)
        self.note = note or (lambda message: None)
        self.taken_over: Holder | None = None
        self._fd: int | None = None
        self._flock = fcntl is not None

    # -- acquiring -------------------------------------------------------------
    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait`` seconds; :class:`RunLocked` when another run keeps it."""
        if self._fd is not None:
            return
        deadline = time.monotonic() + self.wait
        told = False
        while True:
            try:
                private_folder(self.path.parent)
                holder = self._try() if self._flock else self._try_file()
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot take the run lock {self.path}: {exc.strerror or exc}") from None
            if self._fd is not None:
                return
            if time.monotonic() >= deadline:
                raise self._locked(holder)
            if not told:
                told = True
                self.note(f"datastore {self.datastore} is locked by "
                          f"{holder.describe() if holder else 'another run'}; waiting up to "
                          f"{self.wait:g} s for it to finish")
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))

    def _locked(self, holder: Holder | None) -> RunLocked:
        who = holder.describe() if holder else "another run (it has not said who yet)"
        then = (f"waited {self.wait:g} s for it to finish; try again later" if self.wait
                else "try again later, or pass --wait SECONDS")
        return RunLocked(f"datastore {self.datastore} is locked by {who}: one run at a time; "
                         f"{then} (lock file {self.path})", holder)

    def _try(self) -> Holder | None:
        """One try with ``flock``: the lock taken (``_fd`` set), or the holder that keeps it."""
        assert fcntl is not None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder(fd)
            os.close(fd)
            return holder
        except BaseException:
            os.close(fd)
            raise
        try:
            left = Holder.parse(_read(fd))  # a body left behind: its run never released the lock
            _private(fd)
            _write(fd, self.me.to_json())
        except BaseException:
            os.close(fd)  # closing drops the flock
            raise
        self._fd = fd
        self._took_over(left)
        return None

    def _holder(self, fd: int) -> Holder | None:
        """The body of a lock another process holds (it may be writing it just now)."""
        for _ in range(5):
            holder = Holder.parse(_read(fd))
            if holder is not None:
                return holder
            time.sleep(0.02)
        return None

    def _try_file(self) -> Holder | None:
        """One try without ``flock``: the file itself is the lock; a dead local holder's is taken over."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            try:
                holder = Holder.parse(self.path.read_text(encoding="utf-8"))
            except FileNotFoundError:  # released meanwhile: try again
                return None
            if holder is None or not holder.local or _pid_alive(holder.pid) or self.taken_over:
                return holder
            self.path.unlink(missing_ok=True)
            self.taken_over = holder  # said once the lock is ours
            return self._try_file()
        try:
            _write(fd, self.me.to_json())
        except BaseException:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            raise
        self._fd = fd
        left, self.taken_over = self.taken_over, None
        self._took_over(left)
        return None

    def _took_over(self, left: Holder | None) -> None:
        if left is not None and left.run != self.me.run:
            self.taken_over = left
            self.note(f"the lock of run {left.run[:12]} ({left.gone()}) was taken over")

    # -- releasing ---------------------------------------------------------------
    def release(self) -> None:
        """Give the lock back; the file stays (empty) under ``flock``, it is removed otherwise."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self._flock:
                os.ftruncate(fd, 0)  # an empty body: released, not killed
            else:
                self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # drops the flock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 64 * 1024).decode("utf-8", "replace")


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode("utf-8"))
    os.fsync(fd)


def _private(fd: int) -> None:
    """The lock file readable by its owner only, whatever mode it was made with."""
    with contextlib.suppress(OSError):  # another user's file we may write: leave its mode
        os.fchmod(fd, FILE_MODE)


__all__ = ["Holder", "RunLock", "RunLocked"]
