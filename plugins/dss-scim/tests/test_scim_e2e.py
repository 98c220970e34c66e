"""End to end with the real `dss` command: CSV (dss-csv) -> a real SCIM service (scim2-server).

The sync is the test plugin package `plugins/dss-csv2scim-test` (a mapping, no handler code),
installed with pip into a temporary folder; `python -m dss_core` runs as a subprocess with
`DSS_IDP_URL` and `DSS_IDP_TOKEN` in its environment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dss_core.testing import DssResult, install_package

pytest.importorskip("dss_csv", reason="dss-csv is not installed")

PACKAGE = Path(__file__).parent / "plugins" / "dss-csv2scim-test"
PLUGINS = ["--plugin", "csv", "--plugin", "scim", "--plugin", "csv2scim"]


@pytest.fixture(scope="session")
def csv2scim_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where dss-csv2scim-test is installed for real (put it on PYTHONPATH to use it)."""
    return install_package(PACKAGE, tmp_path_factory.mktemp("csv2scim"))


@dataclass
class School:
    dss: Callable[..., DssResult]
    command: Callable[..., list[str]]
    environ: Callable[..., dict[str, str]]
    folder: Path
    server: Any


def write_users(folder: Path, count: int, start: int = 1) -> None:
    rows = [f"{i},u{i},User {i},Given{i},u{i}@school.example" for i in range(start, start + count)]
    (folder / "users.csv").write_text("id,username,name,given,email\n" + "\n".join(rows) + "\n")


def write_groups(folder: Path, members: dict[str, list[int]]) -> None:
    rows = [f"{g},Group {g},{m}" for g, ms in members.items() for m in ms]
    (folder / "groups.csv").write_text("group,title,member\n" + "\n".join(rows) + "\n")


@pytest.fixture
def school(tmp_path: Path, csv2scim_site: Path, dss_scim_server: Any) -> School:
    write_users(tmp_path, 6)
    write_groups(tmp_path, {"10A": [1, 2, 3], "10B": [4, 5, 6]})
    (tmp_path / "dss.toml").write_text(
        '[trees.sis.users]\npath = "users.csv"\nrename = { id = "idnumber" }\n'
        '[trees.sis.groups]\npath = "groups.csv"\n'
        'rename = { group = "idnumber", member = "members" }\n')

    def environ(url: str | None = None, token: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_") and k != "PYTHONPATH"}
        env["PYTHONPATH"] = str(csv2scim_site)
        env["DSS_IDP_URL"] = url or dss_scim_server.url
        env["DSS_IDP_TOKEN"] = token or dss_scim_server.token
        return env

    def command(*args: str) -> list[str]:
        return [sys.executable, "-m", "dss_core", "--config", str(tmp_path / "dss.toml"), *PLUGINS,
                *args]

    def dss(*args: str, url: str | None = None, token: str | None = None) -> DssResult:
        proc = subprocess.run(command(*args), cwd=tmp_path, env=environ(url, token),
                              capture_output=True, text=True, timeout=300)
        return DssResult(proc.returncode, proc.stdout, proc.stderr)

    return School(dss, command, environ, tmp_path, dss_scim_server)


def external_ids(server: Any, endpoint: str) -> dict[str, dict[str, Any]]:
    return {r["externalId"]: r for r in server.resources(endpoint) if r.get("externalId")}


def test_csv_to_scim_users_and_groups(school: School) -> None:
    dss, server = school.dss, school.server
    result = dss("run", "csv2scim", "--report", str(school.folder / "run.json"))
    assert result.code == 0, result
    users = external_ids(server, "/Users")
    assert sorted(users, key=int) == ["1", "2", "3", "4", "5", "6"]
    assert users["1"]["emails"] == [{"value": "u1@school.example", "primary": True}]
    groups = external_ids(server, "/Groups")
    assert {m["value"] for m in groups["10A"]["members"]} == {users[i]["id"] for i in "123"}
    result = dss("plan", "csv2scim")
    assert result.code == 0 and "Nothing to do" in result.out, result
    # 3 moves to 10B, 6 leaves (the source gate wants it accepted), 2 is renamed
    write_users(school.folder, 5)
    (school.folder / "users.csv").write_text(
        (school.folder / "users.csv").read_text().replace("User 2,", "User Two,"))
    write_groups(school.folder, {"10A": [1, 2], "10B": [3, 4, 5]})
    result = dss("run", "csv2scim", "--accept", "sis.users")
    assert result.code == 0, result
    users = external_ids(server, "/Users")
    assert "6" not in users and users["2"]["displayName"] == "User Two"
    groups = external_ids(server, "/Groups")
    assert {m["value"] for m in groups["10B"]["members"]} == {users[i]["id"] for i in "345"}
    assert "Nothing to do" in dss("plan", "csv2scim").out


def test_the_token_never_appears_in_output_or_report(school: School) -> None:
    dss, token = school.dss, school.server.token
    report = school.folder / "run.json"
    outputs = [dss("-v", "run", "csv2scim", "--report", str(report)),
               dss("check", "csv2scim"), dss("list"), dss("plan", "csv2scim"),
               dss("show", "users", "1", "csv2scim")]
    bad = dss("check", "csv2scim", token="wrong-" + token)  # a refused token, itself secret
    outputs.append(bad)
    for result in outputs:
        assert token not in result.out + result.err, result
    assert "wrong-" not in bad.out + bad.err, bad
    assert token not in report.read_text()
    assert json.loads(report.read_text())["run"]["exit_code"] == 0


def test_dss_list_shows_the_plugin_and_its_settings(school: School) -> None:
    result = school.dss("list")
    assert result.code == 0, result
    assert "scim  dss-scim 0.1.0  (dss_scim.plugin)" in result.out
    for setting in ("url (str", "token (str, default (secret))", "resource (str", "filter (str",
                    "attributes (dict[str, str]"):
        assert setting in result.out, setting


def test_dss_check_verifies_the_service(school: School, dss_scim_servers: Any) -> None:
    dss, server = school.dss, school.server
    result = dss("check", "csv2scim")
    assert result.code == 0, result
    # a wrong URL: a port nothing listens on, then a path that is not a SCIM service
    from dss_scim.testing import free_port

    result = dss("check", "csv2scim", url=f"http://127.0.0.1:{free_port()}/v2")
    assert result.code == 2, result
    said = result.out + result.err
    assert f"handler of tree idp: cannot reach {server.url.rsplit(':', 1)[0]}" in said, result
    result = dss("check", "csv2scim", url=server.url.removesuffix("/v2") + "/nope/v2")
    assert result.code == 2 and "does not answer as a SCIM 2.0 service" in result.out + result.err, result
    # a bad token: refused (401), said without the token
    result = dss("check", "csv2scim", token="not-the-token")
    assert result.code == 2, result
    assert "refuses the bearer token (401 Unauthorized)" in result.out + result.err, result
    assert "not-the-token" not in result.out + result.err
    # a service without the Group resource type
    from dss_scim.testing import default_resource_types

    users_only = dss_scim_servers(resource_types=[
        t for t in default_resource_types() if t["name"] == "User"])
    result = dss("check", "csv2scim", url=users_only.url, token=users_only.token)
    assert result.code == 2, result
    said = result.out + result.err
    assert "idp.groups: the SCIM service at" in said, result
    assert "has no resource type 'Group' (it has User)" in said
    assert users_only.resources("/Users") == []  # check writes nothing
    result = dss("run", "csv2scim", url=users_only.url, token=users_only.token)
    assert result.code == 2 and users_only.resources("/Users") == [], result


def test_the_deletion_limit_stops_a_mass_delete(school: School) -> None:
    dss, server = school.dss, school.server
    write_users(school.folder, 30)
    assert dss("run", "csv2scim").code == 0
    write_users(school.folder, 20)  # a third gone: accepted at the source, stopped at the limit
    result = dss("run", "csv2scim", "--accept", "sis.users")
    assert result.code == 3, result
    assert "idp.users: 10 of 30 objects would be retired or deleted" in result.err
    assert len(external_ids(server, "/Users")) == 30  # nothing was applied
    result = dss("run", "csv2scim", "--accept", "sis.users", "--allow-deletions", "idp.users=10")
    assert result.code == 0, result
    assert len(external_ids(server, "/Users")) == 20


def test_a_run_killed_mid_apply_converges_on_the_next(school: School) -> None:
    # 1,000 users: five Bulk requests of 200 (batch_actions), so the kill lands between two
    write_users(school.folder, 1000)
    write_groups(school.folder, {"10A": list(range(1, 501)), "10B": list(range(501, 1001))})
    proc = subprocess.Popen(school.command("-v", "run", "csv2scim"), cwd=school.folder,
                            env=school.environ(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("imported idp.groups"):
            break
    deadline = time.monotonic() + 60  # kill once some users exist, before all of them do
    while time.monotonic() < deadline and not school.server.resources("/Users"):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = len(school.server.resources("/Users"))
    assert 0 < done < 1000, done  # killed mid-apply
    again = school.dss("run", "csv2scim")
    assert again.code == 0, again
    assert "was killed after" in again.err
    final = school.dss("plan", "csv2scim")
    assert final.code == 0 and "Nothing to do" in final.out, final
    users = external_ids(school.server, "/Users")
    assert len(users) == 1000
    groups = external_ids(school.server, "/Groups")
    assert {m["value"] for m in groups["10B"]["members"]} == {
        users[str(i)]["id"] for i in range(501, 1001)}
