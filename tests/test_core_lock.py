"""One run at a time (issue 10.3): the run lock of a datastore.

The lock itself in-process first (file modes, the holder named, waiting,
taking over a killed run's lock, the fallback without ``flock``), then real
``dss run`` processes of the school example: the first one is held at its
destination by an exclusive SQLite lock this test takes on ``lms.sqlite``,
so it keeps the run lock as long as the test wants.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dss_core import ConfigurationError, GateError
from dss_core.lock import Holder, RunLock, RunLocked
from dss_core.state import StateDir

HOST = socket.gethostname()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _lock(folder: Path, run: str = "a" * 32, **kwargs: Any) -> RunLock:
    return StateDir(folder, "school").lock(run, "2025-01-02T03:04:05+00:00", **kwargs)


# -- the lock in-process --------------------------------------------------------------------

def test_the_lock_file_is_private_and_names_its_holder(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    with _lock(folder, "f" * 32) as lock:
        assert lock.held
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        path = folder / "school.lock"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        body = json.loads(path.read_text())
        assert body == {"run": "f" * 32, "pid": os.getpid(), "host": HOST,
                        "started": "2025-01-02T03:04:05+00:00", "datastore": "school"}
    assert not lock.held
    assert path.read_text() == ""  # released: nothing left to take over


def test_a_second_lock_is_refused_naming_the_holder(tmp_path: Path) -> None:
    with _lock(tmp_path, "1234567890ab" + "0" * 20), pytest.raises(RunLocked) as caught, \
            _lock(tmp_path, "b" * 32):
        pass
    exc = caught.value
    assert isinstance(exc, GateError) and exc.exit_code == 3
    assert exc.holder is not None and exc.holder.pid == os.getpid()
    assert str(exc) == (
        f"datastore school is locked by run 1234567890ab (pid {os.getpid()} on host {HOST}, "
        "started 2025-01-02T03:04:05+00:00): one run at a time; try again later, or pass "
        f"--wait SECONDS (lock file {tmp_path / 'school.lock'})")
    with _lock(tmp_path, "b" * 32):  # free again
        pass


def test_wait_takes_the_lock_once_it_is_released(tmp_path: Path) -> None:
    notes: list[str] = []
    first = _lock(tmp_path)
    first.acquire()
    timer = threading.Timer(0.5, first.release)
    timer.start()
    started = time.monotonic()
    try:
        with _lock(tmp_path, "c" * 32, wait=5, note=notes.append) as second:
            assert second.held
            assert 0.4 < time.monotonic() - started < 4
    finally:
        timer.join()
    assert notes == [f"datastore school is locked by run {'a' * 12} (pid {os.getpid()} on host "
                     f"{HOST}, started 2025-01-02T03:04:05+00:00); waiting up to 5 s for it to "
                     "finish"]


def test_a_wait_that_runs_out_says_how_long_it_waited(tmp_path: Path) -> None:
    with _lock(tmp_path):
        started = time.monotonic()
        with pytest.raises(RunLocked, match=r"waited 0.3 s for it to finish; try again later"), \
                _lock(tmp_path, "c" * 32, wait=0.3):
            pass
        assert time.monotonic() - started < 2


def test_a_killed_runs_lock_is_taken_over_and_said(tmp_path: Path) -> None:
    pid = _dead_pid()
    (tmp_path / "school.lock").write_text(Holder("9f2c" * 8, pid, HOST, "then").to_json())
    notes: list[str] = []
    with _lock(tmp_path, note=notes.append) as lock:
        assert lock.taken_over is not None and lock.taken_over.pid == pid
        assert json.loads((tmp_path / "school.lock").read_text())["pid"] == os.getpid()
    assert notes == [f"the lock of run 9f2c9f2c9f2c (pid {pid}, killed) was taken over"]


def test_a_lock_left_on_another_host_is_said_as_such(tmp_path: Path) -> None:
    (tmp_path / "school.lock").write_text(Holder("e" * 32, 42, "elsewhere", "then").to_json())
    notes: list[str] = []
    with _lock(tmp_path, note=notes.append):
        pass
    assert notes == [f"the lock of run {'e' * 12} (pid 42 on host elsewhere, gone) was taken over"]


def test_without_flock_the_file_is_the_lock(tmp_path: Path) -> None:
    """Where there is no flock: created exclusively, a dead local holder's file taken over."""

    def file_lock(run: str, **kwargs: Any) -> RunLock:
        lock = _lock(tmp_path, run, **kwargs)
        lock._flock = False
        return lock

    path = tmp_path / "school.lock"
    with file_lock("a" * 32), pytest.raises(RunLocked, match=f"pid {os.getpid()} on host"), \
            file_lock("b" * 32):
        pass
    assert not path.exists()
    pid = _dead_pid()
    path.write_text(Holder("d" * 32, pid, HOST, "then").to_json())
    notes: list[str] = []
    with file_lock("b" * 32, note=notes.append):
        assert json.loads(path.read_text())["run"] == "b" * 32
    assert notes == [f"the lock of run {'d' * 12} (pid {pid}, killed) was taken over"]
    path.write_text(Holder("d" * 32, 42, "elsewhere", "then").to_json())  # cannot tell: locked
    with pytest.raises(RunLocked, match="pid 42 on host elsewhere"), file_lock("b" * 32):
        pass


def test_a_lock_that_cannot_be_made_is_one_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigurationError, match="cannot take the run lock"), \
            _lock(tmp_path / "file" / "state"):
        pass


# -- real `dss run`s of the school example -------------------------------------------------

def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DSS_") and k != "PYTHONPATH"}


def _start(folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "dss_core", "run", *args], cwd=folder,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _dss(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dss_core", *args], cwd=folder, env=_env(),
                          capture_output=True, text=True, timeout=60)


def _holder(folder: Path, pid: int) -> dict[str, Any]:
    """The lock file's body once process ``pid`` holds the run lock."""
    path = folder / ".dss" / "school.lock"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            body = json.loads(path.read_text())
            if body["pid"] == pid:
                return dict(body)
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never took the run lock")


class _Held:
    """An exclusive lock on the LMS's SQLite file: a run reading it waits (its busy timeout)."""

    def __init__(self, db: Path) -> None:
        self.conn: sqlite3.Connection | None = sqlite3.connect(db, isolation_level=None)
        self.conn.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        if self.conn is not None:
            self.conn.rollback()
            self.conn.close()
            self.conn = None


@contextmanager
def _lms_held(folder: Path) -> Iterator[_Held]:
    held = _Held(folder / "lms.sqlite")
    try:
        yield held
    finally:
        held.release()


@pytest.fixture
def school(tmp_path: Path) -> Path:
    pytest.importorskip("dss_sql", reason="the school example needs dss-sql")
    generate = pytest.importorskip("school_sync.generate",
                                   reason="the school example is installed by .ci/setup-venv")
    generate.generate(tmp_path, users=200, seed=7)
    return tmp_path


def test_a_second_run_exits_3_naming_the_holder(school: Path) -> None:
    with _lms_held(school) as held:
        first = _start(school)
        try:
            body = _holder(school, first.pid)
            second = _dss(school, "run", "--report", "second.json")
        finally:
            held.release()
            out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert second.returncode == 3, second.stderr
    assert second.stderr.splitlines() == [
        f"dss: stopped: datastore school is locked by run {body['run'][:12]} (pid {first.pid} "
        f"on host {HOST}, started {body['started']}): one run at a time; try again later, or "
        f"pass --wait SECONDS (lock file {school / '.dss' / 'school.lock'})",
        "dss: nothing was applied"]
    report = json.loads((school / "second.json").read_text())
    assert report["run"]["exit_code"] == 3 and f"pid {first.pid}" in report["gates"][0]


def test_wait_runs_once_the_holder_is_done(school: Path) -> None:
    with _lms_held(school) as held:
        first = _start(school)
        try:
            body = _holder(school, first.pid)
            waiting = _start(school, "--wait", "20")
            time.sleep(1.0)
            assert waiting.poll() is None  # waiting for the first run
        finally:
            held.release()
            first.communicate(timeout=60)
        _, err = waiting.communicate(timeout=60)
    assert first.returncode == 0
    assert waiting.returncode == 0, err
    assert (f"dss: note: datastore school is locked by run {body['run'][:12]} (pid {first.pid} "
            f"on host {HOST}") in err
    assert "waiting up to 20 s for it to finish" in err
    assert (school / ".dss" / "school.lock").read_text() == ""


def test_a_killed_runs_lock_is_taken_over_by_the_next_run(school: Path) -> None:
    with _lms_held(school):
        first = _start(school)
        try:
            body = _holder(school, first.pid)
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL
    after = _dss(school, "run")
    assert after.returncode == 0, after.stderr
    assert (f"dss: note: the lock of run {body['run'][:12]} (pid {first.pid}, killed) was "
            "taken over") in after.stderr.splitlines()


def test_plan_takes_no_lock(school: Path) -> None:
    with _lock(school / ".dss", "7" * 32):
        plan = _dss(school, "plan", "-q", "--wait", "1")
        run = _dss(school, "run")
    assert plan.returncode == 0, plan.stderr
    assert run.returncode == 3
    assert f"locked by run 777777777777 (pid {os.getpid()} on host {HOST}" in run.stderr
