"""End to end with the real `dss` command: CSV files (dss-csv) -> a real slapd (dss-ldap).

Every part is a real installed plugin found through its entry point: `csv` and `ldap` from the
dev environment, and the sync itself from the test plugin package `plugins/dss-csv2ldap-test`,
which a session fixture installs with pip into a temporary folder (put on the subprocess's
PYTHONPATH). The bind password reaches dss through DSS_DIR_BIND_PASSWORD only, and is looked for
in everything dss prints and writes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from dss_ldap.testing import LDAPTree

from dss_core.testing import DssResult, install_package

pytest.importorskip("dss_csv", reason="dss-csv is not installed")

PACKAGE = Path(__file__).parent / "plugins" / "dss-csv2ldap-test"


@pytest.fixture(scope="session")
def csv2ldap_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where dss-csv2ldap-test is installed for real (put it on PYTHONPATH to use it)."""
    return install_package(PACKAGE, tmp_path_factory.mktemp("csv2ldap"))


@dataclass
class School:
    dss: Callable[..., DssResult]  # dss(*args, password=...): the `dss` command on the test sync
    command: Callable[..., list[str]]
    environ: Callable[..., dict[str, str]]
    folder: Path
    directory: LDAPTree
    password: str


def write_csv(folder: Path, users: int, skip: int = 0, broken: tuple[int, ...] = ()) -> None:
    """users.csv with people ``skip+1 .. users`` (``broken`` ones without a surname), and
    memberships: each person in a homeroom group (of 25) and in `all` when it is even."""
    lines = ["id,name,surname,email"]
    groups = ["group,title,member"]
    for i in range(skip + 1, users + 1):
        surname = "" if i in broken else f"Surname{i}"
        lines.append(f"{i},Person {i},{surname},p{i}@school.example")
        groups.append(f"room{(i - 1) // 25},Homeroom {(i - 1) // 25},{i}")
        if i % 2 == 0:
            groups.append(f"all,Everybody even,{i}")
    (folder / "users.csv").write_text("\n".join(lines) + "\n")
    (folder / "groups.csv").write_text("\n".join(groups) + "\n")


@pytest.fixture
def school(tmp_path: Path, csv2ldap_site: Path, dss_ldap: LDAPTree) -> School:
    dss_ldap.ou("people", "groups", "retired")
    write_csv(tmp_path, 40)
    (tmp_path / "dss.toml").write_text(
        '[trees.sis.users]\npath = "users.csv"\nrename = { id = "idnumber" }\n'
        '[trees.sis.groups]\npath = "groups.csv"\n'
        'rename = { group = "idnumber", member = "members" }\n'
        f'[trees.dir]\nurl = "{dss_ldap.url}"\nbind_dn = "{dss_ldap.server.root_dn}"\n'
        f'base = "{dss_ldap.base}"\n')
    password = dss_ldap.server.root_password

    def environ(password: str = password) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("DSS_") and k != "PYTHONPATH"}
        env["PYTHONPATH"] = str(csv2ldap_site)
        env["DSS_DIR_BIND_PASSWORD"] = password
        return env

    def command(*args: str) -> list[str]:
        return [sys.executable, "-m", "dss_core", "--config", str(tmp_path / "dss.toml"),
                "--plugin", "csv", "--plugin", "ldap", "--plugin", "csv2ldap", *args]

    def dss(*args: str, password: str = password) -> DssResult:
        proc = subprocess.run(command(*args), cwd=tmp_path, env=environ(password),
                              capture_output=True, text=True, timeout=300)
        return DssResult(proc.returncode, proc.stdout, proc.stderr)

    return School(dss, command, environ, tmp_path, dss_ldap, password)


def uids(directory: LDAPTree, under: str) -> set[str]:
    return {attrs["uid"][0] for attrs in directory.entries(under).values()}


def members(directory: LDAPTree) -> dict[str, set[str]]:
    return {a["cn"][0]: set(a["member"]) for a in directory.entries("ou=groups").values()}


def test_csv_to_ldap_plan_run_converge(school: School) -> None:
    dss, directory = school.dss, school.directory
    planned = dss("plan", "csv2ldap")
    assert planned.code == 0, planned
    assert "new_users(idnumber='1')" in planned.out and "new_groups(idnumber='all')" in planned.out
    assert uids(directory, "ou=people") == set()  # a plan changes nothing
    report = school.folder / "run.json"
    ran = dss("run", "csv2ldap", "--report", str(report))
    assert ran.code == 0, ran
    assert uids(directory, "ou=people") == {str(i) for i in range(1, 41)}
    base = directory.base
    groups = members(directory)
    assert groups["room0"] == {f"uid={i},ou=people,{base}" for i in range(1, 26)}
    assert groups["all"] == {f"uid={i},ou=people,{base}" for i in range(2, 41, 2)}
    data = json.loads(report.read_text())
    assert data["totals"]["failed"] == 0 and data["totals"]["actions"] == 40 + 3
    assert oct(report.stat().st_mode & 0o777) == "0o600"
    again = dss("plan", "csv2ldap")
    assert again.code == 0 and "Nothing to do" in again.out, again
    # a leaver, a joiner, a change: moved to ou=retired, created, updated; then nothing to do
    write_csv(school.folder, 41, skip=1)
    (school.folder / "users.csv").write_text(
        (school.folder / "users.csv").read_text().replace("p5@school.example", "five@school.example"))
    ran = dss("run", "csv2ldap", "--report", str(report))
    assert ran.code == 0, ran
    assert uids(directory, "ou=retired") == {"1"}
    assert uids(directory, "ou=people") == {str(i) for i in range(2, 42)}
    entry = directory.entries("ou=people")[f"uid=5,ou=people,{base}"]
    assert entry["mail"] == ["five@school.example"]
    assert "Nothing to do" in dss("plan", "csv2ldap").out
    everything = planned.out + planned.err + ran.out + ran.err + report.read_text()
    assert school.password not in everything


def test_dss_list_shows_the_plugin_the_importer_and_the_handler_settings(school: School) -> None:
    listed = school.dss("list")
    assert listed.code == 0, listed
    lines = listed.out.splitlines()
    assert any(line.strip().startswith("ldap  dss-ldap 0.1.0") for line in lines)
    assert any(line.strip().startswith("ldap  dss_ldap.importer.LDAPImporter") for line in lines)
    start = lines.index("    destination tree dir (DIR, handler LDAPHandler)")
    handler = "\n".join(lines[start:start + 12])
    for setting in ("url (str, default None)", "bind_dn (str, default None)",
                    "bind_password (str, default (secret))", "base (str, default None)",
                    "connect_timeout (float, default 10.0)", "timeout (float, default 60.0)",
                    "page_size (int, default 500)", "start_tls (bool, default False)"):
        assert setting in handler, handler
    as_json = json.loads(school.dss("list", "--json").out)
    (store,) = [d for d in as_json["datastores"] if d["name"] == "csv2ldap"]
    (tree,) = [t for t in store["trees"] if t["name"] == "dir"]
    assert [s["name"] for s in tree["handler_settings"]][:4] == ["url", "bind_dn", "bind_password",
                                                                 "base"]


def test_dss_check_verifies_bind_base_and_object_classes(school: School) -> None:
    dss, directory = school.dss, school.directory
    ok = dss("check", "csv2ldap")
    assert ok.code == 0, ok
    assert "destination dir: handler LDAPHandler is ready" in ok.out
    assert "    bind_password = ***  (from DSS_DIR_BIND_PASSWORD)" in ok.out
    # a class the server's schema does not have
    edu = dss("check", "csv2edu")
    assert edu.code == 2, edu
    assert ("error: dir.users: object class 'eduPerson' is not in the directory's schema"
            in edu.out), edu
    # a wrong password: refused, and never printed
    wrong = "Wr0ng-Pa55-w0rd"
    refused = dss("check", "csv2ldap", password=wrong)
    assert refused.code == 2, refused
    assert (f"error: dir: writing: cannot bind to {directory.url} as {directory.server.root_dn}: "
            "invalidCredentials") in refused.out
    assert wrong not in refused.out + refused.err
    # a base DN that is not there
    toml = school.folder / "dss.toml"
    toml.write_text(toml.read_text().replace(f'base = "{directory.base}"',
                                             f'base = "ou=nowhere,{directory.base}"'))
    missing = dss("check", "csv2ldap")
    assert missing.code == 2, missing
    assert (f"error: dir.users: base ou=people,ou=nowhere,{directory.base} does not exist on "
            f"{directory.url} (noSuchObject)") in missing.out
    # and `dss run` refuses it too, before writing anything
    ran = dss("run", "csv2ldap")
    assert ran.code == 2 and "does not exist" in ran.err, ran
    toml.write_text(toml.read_text().replace(f"ou=nowhere,{directory.base}", directory.base))
    assert uids(directory, "ou=people") == set()
    for result in (ok, edu, refused, missing, ran):
        assert school.password not in result.out + result.err


def test_the_deletion_limit_stops_a_mass_delete(school: School) -> None:
    dss, directory = school.dss, school.directory
    assert dss("run", "csv2ldap").code == 0
    before = directory.entries("ou=people"), directory.entries("ou=groups")
    write_csv(school.folder, 40, skip=10)  # a quarter of the people gone
    stopped = dss("run", "csv2ldap", "--accept", "sis")
    assert stopped.code == 3, stopped
    assert ("dss: stopped: dir.users: 10 of 40 objects would be retired or deleted (25.0%, more "
            "than deletion_limit 10% and deletion_floor 5); if intended, run with "
            "--allow-deletions dir.users=10") in stopped.err
    assert (directory.entries("ou=people"), directory.entries("ou=groups")) == before
    assert uids(directory, "ou=retired") == set()
    allowed = dss("run", "csv2ldap", "--accept", "sis", "--allow-deletions", "dir.users=10")
    assert allowed.code == 0, allowed
    assert uids(directory, "ou=retired") == {str(i) for i in range(1, 11)}


def test_a_user_that_cannot_be_created_is_not_added_to_groups(school: School) -> None:
    dss, directory = school.dss, school.directory
    write_csv(school.folder, 40, broken=(7, 9))  # no surname: the server refuses the entries
    report = school.folder / "run.json"
    ran = dss("run", "csv2ldap", "--report", str(report))
    assert ran.code == 1, ran
    results = {a["message"]: a for a in json.loads(report.read_text())["actions"]}
    assert results["new_users(idnumber='7')"]["result"] == "failure"
    assert results["new_groups(idnumber='room0')"]["result"] == "skipped"
    assert "objectClassViolation" in results["new_users(idnumber='9')"]["result_message"]
    groups = members(directory)
    assert "room0" not in groups and "all" in groups and "room1" in groups
    named = set().union(*groups.values())
    existing = set(directory.entries("ou=people"))
    assert named <= existing  # no member names an entry that is not there
    write_csv(school.folder, 40)
    assert dss("run", "csv2ldap").code == 0
    assert "Nothing to do" in dss("plan", "csv2ldap").out


KILLS = 4


@pytest.mark.slow
def test_runs_killed_mid_apply_converge(school: School) -> None:
    """`dss run` is SIGKILLed at random moments once both sides are imported; the next run
    reports it, converges, and no group names an entry that is not there."""
    import random

    rnd = random.Random(14)
    directory = school.directory
    table = {"trials": 0, "killed mid-apply": 0, "converged": 0, "dangling members": 0}
    for _ in range(KILLS):
        directory.delete_all()
        directory.add(directory.base, ["organizationalUnit"],
                      {"ou": directory.base.split(",")[0][3:]})
        directory.ou("people", "groups", "retired")
        shutil.rmtree(school.folder / ".dss", ignore_errors=True)
        write_csv(school.folder, 1500)
        proc = subprocess.Popen(school.command("-v", "run", "csv2ldap"), cwd=school.folder,
                                env=school.environ(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("imported dir.groups"):
                time.sleep(rnd.uniform(0.1, 1.2))
                proc.send_signal(signal.SIGKILL)
                break
        proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL
        table["trials"] += 1
        again = school.dss("run", "csv2ldap")
        assert again.code == 0, again
        if "was killed after" in again.err:
            table["killed mid-apply"] += 1
        assert "Nothing to do" in school.dss("plan", "csv2ldap").out
        table["converged"] += 1
        people = set(directory.entries("ou=people"))
        assert len(people) == 1500
        table["dangling members"] += sum(len(m - people) for m in members(directory).values())
    print(f"\nkill table (slapd): {table}")
    assert table["converged"] == KILLS and table["dangling members"] == 0
    assert table["killed mid-apply"] >= 2, table
