"""The live progress display (issue 13): drawn on stderr in a terminal, fed by the reporting hooks.

The real ``dss`` command runs with its stderr on a pseudo-terminal (and its stdout on a pipe,
or on the same terminal); the display's rows are drawn by a real rich console; a plugin's own
reporter hears the same events as the builtin one.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from dss_core import Action, Branch, Config, Datastore, Handler, Model, Run, Tree, hookimpl
from dss_core.actions import Result, Status
from dss_core.builtin.progress import ProgressView, apply_totals, plural, seconds
from dss_core.runner import Summary, execute

SOURCE = {"users": [{"idnumber": "1", "_lastfirst": "Doe, Jane", "department": "math"},
                    {"idnumber": "2", "_lastfirst": "Roe, Rick", "department": "math"},
                    {"idnumber": "3", "_lastfirst": "Poe, Ed", "department": "art"}]}
DEST = {"users": [{"idnumber": "1", "name": "Jane Doe", "department": "math"},
                  {"idnumber": "9", "name": "Old Timer", "department": "history"}],
        "groups": [{"idnumber": "math", "members": ["1", "9"]}]}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-B]")


# -- the real command on a terminal ---------------------------------------------------------------
@dataclass
class Terminal:
    """What a run printed: on the terminal (escape codes taken out) and on the stdout pipe."""

    code: int
    screen: str  # everything written to the terminal, as text
    raw: bytes
    out: str  # stdout, when it was a pipe


def on_terminal(cwd: Path, site: Path, *args: str, stdout_too: bool = False,
                env: dict[str, str] | None = None) -> Terminal:
    """Run ``dss ARGS`` with stderr (and with ``stdout_too`` stdout) on a 120x40 terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("DSS_") and k not in ("PYTHONPATH", "FORCE_COLOR", "NO_COLOR")}
    environ.update({"PYTHONPATH": str(site), "TERM": "xterm-256color", **(env or {})})
    proc = subprocess.Popen([sys.executable, "-m", "dss_core", *args], cwd=cwd, env=environ,
                            stdout=slave if stdout_too else subprocess.PIPE, stderr=slave,
                            stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the other end closed: the command is over
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    out = proc.stdout.read().decode() if proc.stdout is not None else ""
    code = proc.wait(timeout=120)
    reader.join(timeout=10)
    os.close(master)
    raw = b"".join(chunks)
    return Terminal(code, ANSI.sub("", raw.decode(errors="replace")).replace("\r", ""), raw, out)


@pytest.fixture
def sync(tmp_path: Path, sync_files: Any) -> Any:
    def make(fail: str = "") -> Path:
        sync_files(SOURCE, DEST, fail=fail)
        return tmp_path
    return make


def test_a_run_shows_each_branch_imported_then_applied_on_stderr(
        sync: Any, testplugin_site: Path) -> None:
    done = on_terminal(sync(fail="3"), testplugin_site, "run", "testsync")
    assert done.code == 1, done
    for branch, records, objects in [("src.users", 3, 3), ("src.groups", 3, 2),
                                     ("dst.users", 2, 2), ("dst.groups", 1, 1)]:
        assert re.search(rf"✓ import {branch} +{plural(records, 'record')} +"
                         rf"{plural(objects, 'object')} +[0-9.]+ s", done.screen), done.screen
    # applied: actions done of the total (dss_apply_start gives it) and the failures so far
    assert re.search(r"✓ apply dst\.users +3/3 .* 1 failed", done.screen), done.screen
    assert re.search(r"✓ apply dst\.groups +3/3 ", done.screen), done.screen
    # a failure is said above the display, on stderr; the summary is on stdout, without codes
    assert "EXCEPTION: new_users(idnumber='3') [export.json[users] item 3]" in done.screen
    assert "\x1b" not in done.out and "import src.users" not in done.out
    assert "run testsync" in done.out and "EXCEPTION" not in done.out
    assert b"\x1b[?25h" in done.raw  # the cursor is shown again once the display is gone


def test_a_plan_keeps_stdout_clean_and_stops_the_display_before_listing(
        sync: Any, testplugin_site: Path) -> None:
    folder = sync()
    piped = on_terminal(folder, testplugin_site, "plan", "testsync")
    assert piped.code == 0, piped
    assert "import src.users" in piped.screen
    assert piped.out.startswith("new_users(idnumber='2')\n"), piped.out  # nothing else on stdout
    assert "\x1b" not in piped.out
    shared = on_terminal(folder, testplugin_site, "plan", "testsync", stdout_too=True)
    assert shared.code == 0, shared
    # stdout on the same terminal: the display is gone before the plan is listed
    assert shared.screen.rindex("import dst.groups") < shared.screen.index("new_users(idnumber='2')")
    assert "Nothing to do" not in shared.screen and "plan testsync" in shared.screen


def test_log_lines_and_notes_are_drawn_above_the_display(sync: Any, testplugin_site: Path) -> None:
    done = on_terminal(sync(), testplugin_site, "-vv", "plan", "testsync")
    assert done.code == 0, done
    # the log handler (made before the display) and -v's lines write through rich: each line
    # is written where the display was erased (ESC[2K), not into it
    for line in (rb"dss: info: dss_core\.runner: imported src\.groups",
                 rb"imported dst\.users: 2 records, 2 objects"):
        found = re.search(rb"\x1b\[2K(?:\x1b\[1A\x1b\[2K)*" + line, done.raw)
        assert found, (line, done.raw)


@pytest.mark.parametrize(("args", "env"), [(("--quiet",), {}), ((), {"TERM": "dumb"})],
                         ids=["quiet", "dumb-terminal"])
def test_no_display_with_quiet_or_on_a_dumb_terminal(
        sync: Any, testplugin_site: Path, args: tuple[str, ...], env: dict[str, str]) -> None:
    done = on_terminal(sync(), testplugin_site, "run", "testsync", *args, env=env)
    assert done.code == 0, done
    assert "import src.users" not in done.screen and "apply dst" not in done.screen
    assert b"\x1b[?25l" not in done.raw  # the cursor was never hidden


def test_no_display_when_stderr_is_not_a_terminal(dss: Any, sync: Any) -> None:
    sync(fail="3")
    done = dss("run", "testsync")
    assert done.code == 1, done
    assert "import src.users" not in done.err and "\x1b" not in done.err + done.out
    assert done.err.startswith("EXCEPTION: new_users(idnumber='3')"), done.err


# -- the display's rows, drawn by a real rich console -----------------------------------------------
class Clock:
    """A clock the test moves by hand, so that rates and times are known."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def drawn(view: ProgressView) -> str:
    console = Console(file=io.StringIO(), width=120, force_terminal=False, color_system=None)
    console.print(view)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _result(tree: str, branch: str, status: Status, n: int = 1) -> Result:
    action = Action("new", f"new_{branch}", branch, str(n), tree=tree)
    return Result(action, status)


def test_import_rows_show_records_read_and_the_rate_then_what_was_kept() -> None:
    clock = Clock()
    view = ProgressView(clock)
    view.import_progress("sis", "users", 0)
    clock.now += 2
    view.import_progress("sis", "users", 24_000)
    assert re.search(r"import sis\.users +24,000 records +12,000/s", drawn(view)), drawn(view)
    clock.now += 1
    view.import_done("sis", "users", 30_000, 29_990, later=["groups"])
    text = drawn(view)
    assert re.search(r"✓ import sis\.users +30,000 records +29,990 objects +3\.00 s", text), text
    # without dss_import_progress the next branch of the tree is known, and shown importing
    assert re.search(r"import sis\.groups +importing", text), text
    view.import_done("sis", "groups", 1, 1)
    text = drawn(view)
    assert re.search(r"✓ import sis\.groups +1 record +1 object", text), text
    assert "working" in text  # every branch known is imported: the next tree, or the diff


def test_apply_rows_show_done_of_total_and_failures_so_far() -> None:
    clock = Clock()
    view = ProgressView(clock)
    actions = [Action("new", "new_users", "users", str(i), tree="lms") for i in range(3)] + [
        Action("add", "add_members_to_groups", "groups", "g", tree="lms")]
    assert apply_totals(actions) == {"lms.users": 3, "lms.groups": 1}
    view.apply_start(apply_totals(actions))
    clock.now += 1
    view.result(_result("lms", "users", Status.SUCCESS))
    view.result(_result("lms", "users", Status.FAILURE))
    text = drawn(view)
    assert re.search(r"apply lms\.users +2/3 .* 1 failed +2/s", text), text
    assert re.search(r"apply lms\.groups +0/1", text), text
    view.result(_result("lms", "users", Status.EXCEPTION))
    assert re.search(r"✓ apply lms\.users +3/3 .* 2 failed", drawn(view)), drawn(view)


def test_without_apply_start_the_actions_done_are_counted_without_a_total() -> None:
    view = ProgressView(Clock())
    for _ in range(3):
        view.result(_result("lms", "users", Status.SUCCESS))
    assert re.search(r"apply lms\.users +3 done", drawn(view)), drawn(view)


@pytest.mark.parametrize(("elapsed", "said"), [(0.04, "0.04 s"), (2.345, "2.35 s"),
                                               (12.34, "12.3 s"), (65, "1 min 05 s"),
                                               (7384, "2 h 03 min")])
def test_times_read_as_people_say_them(elapsed: float, said: str) -> None:
    assert seconds(elapsed) == said


def test_singular_and_plural() -> None:
    assert [plural(n, "action") for n in (0, 1, 2, 1234)] == [
        "0 actions", "1 action", "2 actions", "1,234 actions"]


# -- a plugin's own reporter hears the same events ---------------------------------------------------
class User(Model):
    name: str


class Src(Tree):
    users = Branch(User, [{"idnumber": "1", "name": "Ann"}, {"idnumber": "2", "name": "Bob"}])


class H(Handler):
    def new_users(self, action: Action) -> Any:
        return action.failed("no room") if action.idnumber == "2" else None


class Dst(Tree):
    handler = H
    users = Branch(User, [])


class Reporter:
    """A plugin's reporter: every reporting hook, each call noted."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    @hookimpl
    def dss_report_start(self, run: Run) -> None:
        self.calls.append(("start",))

    @hookimpl
    def dss_import_progress(self, tree: Tree, branch: str, count: int) -> None:
        self.calls.append(("progress", tree.name, branch, count))

    @hookimpl
    def dss_import_done(self, tree: Tree, branch: str, count: int) -> None:
        self.calls.append(("done", tree.name, branch, count))

    @hookimpl
    def dss_apply_start(self, actions: list[Action]) -> None:
        self.calls.append(("apply", [a.message for a in actions]))

    @hookimpl
    def dss_report_result(self, result: Result) -> None:
        self.calls.append(("result", result.action.message, result.status.value))

    @hookimpl
    def dss_report_finish(self, summary: Summary) -> None:
        self.calls.append(("finish", summary.exit_code))


def _run_with(plugins: Any, reporter: Reporter) -> None:
    plugins.register(reporter)
    source, dests = Datastore("school", Src, Dst).open(plugins=plugins)
    run = Run.create("apply", plugins, Config(environ={}), datastore="school")
    execute(run, source, dests)


def test_a_plugins_reporter_hears_the_run_the_console_does(dss_plugins: Any, capsys: Any) -> None:
    reporter = Reporter()
    _run_with(dss_plugins, reporter)
    heard = [c for c in reporter.calls if c[0] != "progress" and c[0] != "apply"]
    assert heard == [("start",), ("done", "src", "users", 2), ("done", "dst", "users", 0),
                     ("result", "new_users(idnumber='1')", "success"),
                     ("result", "new_users(idnumber='2')", "failure"), ("finish", 1)]
    out, err = capsys.readouterr()
    assert "2 actions: 1 done, 1 failed" in out  # the console heard the same run
    assert "FAILURE: new_users(idnumber='2')" in err


def test_a_plugins_reporter_hears_import_progress_and_apply_start(dss_plugins: Any) -> None:
    reporter = Reporter()
    _run_with(dss_plugins, reporter)
    calls = reporter.calls
    assert ("progress", "src", "users", 0) in calls
    assert calls.index(("progress", "src", "users", 0)) < calls.index(("done", "src", "users", 2))
    assert ("apply", ["new_users(idnumber='1')", "new_users(idnumber='2')"]) in calls
    assert calls.index(("apply", ["new_users(idnumber='1')", "new_users(idnumber='2')"])) < \
        calls.index(("result", "new_users(idnumber='1')", "success"))
