"""dss-postgres's ``dss_configure``: the password libpq reads from ``PGPASSWORD`` is never shown.

libpq takes the password from ``PGPASSWORD`` itself, so it is in no URL and
dss would not know to hide it; a driver's message or a traceback could show
it. The hook registers it as a secret. Checked through a real plugin manager,
and end to end with the real ``dss`` command on a tiny plugin (its own
``.dist-info`` on ``PYTHONPATH``) whose LMS is PostgreSQL on a closed port or
under a user the server does not know.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from dss_core import Config, redact
from dss_core.plugins import build_plugin_manager

pytest.importorskip("dss_postgres", reason="dss-postgres is not installed")

CLOSED_PORT = 1
SERVER = ("127.0.0.1", 5432)

PLUGIN = '''
import os

from dss_core import Branch, Datastore, Model, Tree, hookimpl
from dss_postgres import PostgresMapping
from dss_sql import TableMap


class Account(Model):
    name: str = ""


MAPPING = PostgresMapping(users=TableMap("accounts", key="username", columns={"name": "full_name"}))


class SIS(Tree):
    name = "sis"
    users = Branch(Account, importer=[{"idnumber": "ann", "name": "Ann"}])


def leak(importer):
    # a driver that echoes its connection parameters in an error message
    raise RuntimeError(f"connection failed: host=127.0.0.1 password={os.environ['PGPASSWORD']}")
    yield


class LeakySIS(Tree):
    name = "sis"
    users = Branch(Account, importer=leak)


class LMS(Tree):
    name = "lms"
    handler = MAPPING.handler()
    users = Branch(Account, importer=MAPPING.importer("users"))


@hookimpl
def dss_datastores():
    return [Datastore("pg", SIS, [LMS]), Datastore("leaky", LeakySIS, [LMS])]
'''


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _password() -> str:
    """A password no output would hold by chance."""
    return f"pgpw-{uuid.uuid4().hex[:12]}"


def _call_configure(pm: object, config: Config) -> None:
    """Call ``dss_configure`` as dss does: historic (``call_historic``) or plain."""
    caller = pm.hook.dss_configure  # type: ignore[attr-defined]
    if caller.spec is not None and caller.spec.opts.get("historic"):
        caller.call_historic(kwargs={"config": config})
    else:
        caller(config=config)


def test_the_hook_registers_pgpassword_through_a_real_plugin_manager() -> None:
    password = _password()
    line = f"connection to server failed: password={password} rejected"
    assert redact(line) == line  # nothing hides it yet
    pm = build_plugin_manager(only=["postgres"])
    assert [p for p in pm.get_plugins() if getattr(p, "__name__", "") == "dss_postgres.plugin"]
    _call_configure(pm, Config({}, environ={"PGPASSWORD": password}))
    assert redact(line) == "connection to server failed: password=*** rejected"
    assert password not in redact(json.dumps({"error": line}))


def test_no_pgpassword_registers_nothing() -> None:
    pm = build_plugin_manager(only=["postgres"])
    environ = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    _call_configure(pm, Config({}, environ=environ))  # no error, nothing to hide


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """The tiny plugin ``dss-pgpw-test`` (entry point ``pgpw``), installed in a folder."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "dss_pgpw_test.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "dss_pgpw_test-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dss-pgpw-test\nVersion: 0.1\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text("[dss]\npgpw = dss_pgpw_test\n", encoding="utf-8")
    return site


def dss(folder: Path, site: Path, url: str, password: str, *args: str,
        plugins: tuple[str, ...] = ("--plugin", "postgres", "--plugin", "pgpw")) -> str:
    """The real ``dss`` with PGPASSWORD and DSS_LMS_URL set: exit code, stdout, stderr, report."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("DSS_", "PG")) and k != "PYTHONPATH"}
    environ.update(PYTHONPATH=str(site), DSS_LMS_URL=url, PGPASSWORD=password)
    report = folder / f"report-{uuid.uuid4().hex[:6]}.json"
    with_report = ["--report", str(report)] if args[0] in ("run", "plan") else []
    proc = subprocess.run([sys.executable, "-m", "dss_core", *plugins, *args, *with_report],
                          cwd=folder, env=environ, capture_output=True, text=True, timeout=120)
    shown = f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    if report.exists():
        shown += f"\n--- report\n{report.read_text(encoding='utf-8')}"
    return shown


COMMANDS = [("run", "pg"), ("plan", "pg"), ("check", "pg"), ("-v", "run", "pg")]


def _urls() -> dict[str, str]:
    return {"closed port": f"postgresql://sync@127.0.0.1:{CLOSED_PORT}/lms",
            "unknown user": "postgresql://nobody_dss@127.0.0.1:5432/test"}


def _needs(where: str) -> None:
    if where == "closed port" and _reachable("127.0.0.1", CLOSED_PORT):
        pytest.skip(f"something listens on 127.0.0.1:{CLOSED_PORT}")
    if where == "unknown user" and not _reachable(*SERVER):
        reason = "PostgreSQL not reachable on {}:{}".format(*SERVER)
        if os.environ.get("DSS_REQUIRE_SERVERS", "") not in ("", "0"):
            pytest.fail(f"{reason} (DSS_REQUIRE_SERVERS=1 makes this a failure)", pytrace=False)
        pytest.skip(reason)


@pytest.mark.parametrize("where", list(_urls()))
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_e2e_a_failing_connection_never_shows_pgpassword(
        tmp_path: Path, site: Path, where: str, command: tuple[str, ...]) -> None:
    _needs(where)
    password = _password()
    shown = dss(tmp_path, site, _urls()[where], password, *command)
    assert "exit 2" in shown, shown
    assert "cannot connect to" in shown or "error: lms.users" in shown, shown
    assert password not in shown, shown


@pytest.mark.parametrize("command", [("run", "leaky"), ("-v", "run", "leaky"), ("plan", "leaky")],
                         ids=" ".join)
def test_e2e_a_message_echoing_pgpassword_shows_stars(tmp_path: Path, site: Path,
                                                      command: tuple[str, ...]) -> None:
    password = _password()
    url = f"postgresql://sync@127.0.0.1:{CLOSED_PORT}/lms"
    shown = dss(tmp_path, site, url, password, *command)
    assert "exit 2" in shown and "password=***" in shown, shown
    assert password not in shown, shown
    # the control: without dss-postgres's hook, the very same run shows it
    unhidden = dss(tmp_path, site, url, password, *command, plugins=("--plugin", "pgpw"))
    assert f"password={password}" in unhidden, unhidden
