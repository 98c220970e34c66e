"""One source, two destinations: the school's SIS into the LMS (SQLite) and a directory (a real slapd).

Everything runs as a user runs it: ``python -m school_sync.generate --directory URL`` prepares
the exports, the stale LMS and the stale directory (a fresh subtree of dss-ldap's test slapd,
fixture ``dss_ldap``) and writes ``[trees.directory]`` into dss.toml, then the installed ``dss``
command syncs datastore ``school``, which takes the directory as its second destination. The
bind password reaches dss through ``DSS_DIRECTORY_BIND_PASSWORD`` only, and is looked for in
everything dss prints and writes.

Without slapd these tests are skipped with the reason (``DSS_REQUIRE_SERVERS=1``, set by
``.ci/run``, makes that a failure).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dss_core.testing import dss_command
from dss_ldap.testing import LDAPTree

from school_sync import schema
from school_sync.models import SISUser

USERS = 300  # a few hundred people: every kind of action, in a few seconds


@dataclass
class Run:
    code: int
    out: str
    err: str

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@dataclass
class School:
    """A generated school whose LMS is lms.sqlite and whose directory is a subtree of slapd."""

    folder: Path
    directory: LDAPTree
    password: str
    dss: Callable[..., Run]  # dss(*args, config="dss.toml"): the installed `dss --config ... ARGS`
    outputs: list[str]  # everything dss printed, for the password check

    @property
    def url(self) -> str:
        return schema.sqlite_url(self.folder / "lms.sqlite")

    def people(self, under: str = "ou=people") -> dict[str, dict[str, list[str]]]:
        """``{employeeNumber: attributes, with "dn"}`` of the people under ``under``."""
        found = self.directory.entries(under, search_filter="(objectClass=inetOrgPerson)")
        return {a["employeenumber"][0]: {**a, "dn": [dn]} for dn, a in found.items()}

    def groups(self) -> dict[str, set[str]]:
        """``{cn: member DNs}`` of the directory's groups (lower-cased DNs)."""
        return {a["cn"][0]: {m.lower() for m in a.get("member", [])}
                for a in self.directory.entries("ou=groups").values()}

    def lms_users(self) -> dict[str, dict[str, Any]]:
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                return {r.idnumber: dict(r._mapping) for r in conn.execute(sa.select(schema.users))}
        finally:
            engine.dispose()

    def lms_members(self) -> dict[str, set[str]]:
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                out: dict[str, set[str]] = {
                    r.idnumber: set() for r in conn.execute(sa.select(schema.cohorts))}
                for r in conn.execute(sa.select(schema.cohort_members)):
                    out[r.cohort_idnumber].add(r.user_idnumber)
                return out
        finally:
            engine.dispose()

    def students(self) -> list[dict[str, str]]:
        with (self.folder / "students.csv").open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))

    def write_students(self, rows: list[dict[str, str]]) -> None:
        with (self.folder / "students.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def environ(password: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_") and k != "PYTHONPATH"}
    env["DSS_DIRECTORY_BIND_PASSWORD"] = password
    return env


@pytest.fixture
def school(tmp_path: Path, dss_ldap: LDAPTree) -> School:
    password = dss_ldap.server.root_password
    made = subprocess.run(
        [sys.executable, "-m", "school_sync.generate", "--users", str(USERS), "--out",
         str(tmp_path), "--directory", dss_ldap.url, "--directory-base", dss_ldap.base,
         "--directory-bind-dn", dss_ldap.server.root_dn],
        cwd=tmp_path, env=environ(password), capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Directory before the sync: " in made.stdout
    outputs = [made.stdout, made.stderr]

    def dss(*args: str, config: str = "dss.toml") -> Run:
        proc = subprocess.run([*dss_command(), "--config", str(tmp_path / config), *args],
                              cwd=tmp_path, env=environ(password), capture_output=True, text=True,
                              timeout=300)
        outputs.extend((proc.stdout, proc.stderr))
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return School(tmp_path, dss_ldap, password, dss, outputs)


def dn_of(entry: dict[str, list[str]]) -> str:
    return entry["dn"][0].lower()


def assert_in_step(school: School) -> None:
    """The directory holds what the LMS holds: the same live accounts, the same group members."""
    accounts = {i: a for i, a in school.lms_users().items() if not a["suspended"]}
    people = school.people()
    assert set(people) == set(accounts)
    for idnumber, account in accounts.items():
        entry = people[idnumber]
        assert entry["uid"] == [account["username"]]
        assert entry["cn"] == [account["name"]]
        assert entry["mail"] == [account["email"]]
        assert entry["employeetype"] == [account["role"]]
        assert entry.get("departmentnumber") == (
            None if account["grade"] is None else [str(account["grade"])])
        assert dn_of(entry) == f"uid={account['username']},ou=people,{school.directory.base}".lower()
    groups, members = school.groups(), school.lms_members()
    assert set(groups) == set(members)
    for cohort, ids in members.items():
        expected = {dn_of(people[i]) for i in ids}
        if not expected:  # groupOfNames needs a member: an empty group names itself
            expected = {f"cn={cohort},ou=groups,{school.directory.base}".lower()}
        assert groups[cohort] == expected, cohort


def test_one_run_feeds_the_lms_and_the_directory(school: School) -> None:
    checked = school.dss("check", "school")
    assert checked.code == 0, checked
    assert checked.out.splitlines()[0] == (
        "datastore school: source sis, destinations lms, directory: branches mirror "
        "(users, enrolments, groups); directory skips enrolments")
    assert "    bind_password = ***  (from DSS_DIRECTORY_BIND_PASSWORD)" in checked.out
    # without [trees.directory] (nor DSS_DIRECTORY_* variables) the school is the LMS's alone
    toml = (school.folder / "dss.toml").read_text(encoding="utf-8")
    (school.folder / "lms-only.toml").write_text(toml[:toml.index("[trees.directory]")],
                                                 encoding="utf-8")
    lms_only = school.dss("check", "school", config="lms-only.toml")
    assert lms_only.code == 0 and lms_only.out.startswith(
        "datastore school: source sis, destinations lms: "), lms_only
    before = school.directory.entries("", scope="SUBTREE")

    planned = school.dss("plan", "school")
    assert planned.code == 0, planned
    for row in ("lms.users", "lms.enrolments", "lms.groups", "directory.users",
                "directory.groups"):
        assert f"  {row} " in planned.out, row
    assert "directory.enrolments" not in planned.out
    # two destinations: each planned action names the one it is for
    actions = [line for line in planned.out.splitlines() if "(idnumber=" in line]
    assert any(line.startswith("directory: new_users(") for line in actions)
    assert any(line.startswith("lms: new_enrolments(") for line in actions)
    assert all(line.startswith(("lms: ", "directory: ")) for line in actions)
    assert school.directory.entries("", scope="SUBTREE") == before  # a plan changes nothing

    report = school.folder / "report.json"
    ran = school.dss("run", "school", "--report", str(report))
    assert ran.code == 0, ran
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["totals"]["failed"] == 0
    by_tree: dict[str, set[str]] = {}
    for action in data["actions"]:
        by_tree.setdefault(action["tree"], set()).add(action["method"])
    assert {"new_users", "update_username", "old_users", "add_members_to_groups",
            "remove_members_from_groups", "new_groups", "old_groups"} <= by_tree["directory"]
    assert not any("enrolments" in m for m in by_tree["directory"])
    assert "new_enrolments" in by_tree["lms"]
    renamed = [a for a in data["actions"]
               if a["tree"] == "directory" and a["method"] == "update_username"]
    assert renamed and all(a["result_message"].startswith("renamed to uid=") for a in renamed)

    sis = {s["student_number"] for s in school.students() if s["enroll_status"] == "Active"}
    assert sis <= set(school.people())  # every active student has an entry
    assert_in_step(school)
    again = school.dss("plan", "school")
    assert again.code == 0 and "Nothing to do" in again.out, again
    # dss show of a branch the directory skips: the source and the LMS, not the directory
    someone = sorted(sis)[0]
    shown = school.dss("show", "enrolments", someone)
    assert shown.code == 0, shown
    assert f"source sis.enrolments {someone!r}" in shown.out
    assert f"destination lms.enrolments {someone!r}" in shown.out
    assert "directory" not in shown.out

    everything = "".join(school.outputs) + report.read_text(encoding="utf-8") + \
        (school.folder / "dss.toml").read_text(encoding="utf-8")
    assert school.password not in everything
    for state in (school.folder / ".dss").rglob("*"):
        if state.is_file():
            assert school.password.encode() not in state.read_bytes(), state


def test_a_leaver_is_retired_and_a_renamed_student_renamed_in_both(school: School) -> None:
    assert school.dss("run", "school", "-q").code == 0
    rows = school.students()
    active = [r for r in rows if r["enroll_status"] == "Active" and r["home_room"]]
    leaver, renamed = active[10], active[20]
    leaver["enroll_status"] = "Withdrawn"
    last, _, first = renamed["lastfirst"].partition(", ")
    renamed["lastfirst"] = f"Quintero-Ávila, {first}"
    school.write_students(rows)
    new = SISUser(renamed["student_number"], _lastfirst=renamed["lastfirst"],
                  _homeroom=renamed["home_room"])
    old_dn = dn_of(school.people()[new.idnumber])
    leaver_dn = dn_of(school.people()[leaver["student_number"]])

    report = school.folder / "report.json"
    ran = school.dss("run", "school", "--report", str(report))
    assert ran.code == 0, ran
    # the leaver: suspended in the LMS, moved to ou=retired in the directory, in no group
    assert school.lms_users()[leaver["student_number"]]["suspended"] is True
    assert leaver["student_number"] not in school.people()
    retired = school.people("ou=retired")[leaver["student_number"]]
    assert dn_of(retired).startswith(leaver_dn.split(",")[0] + ",ou=retired,")
    assert all(leaver_dn not in m for m in school.groups().values())
    assert all(leaver["student_number"] not in m for m in school.lms_members().values())
    # the renamed student: updated in the LMS, renamed (modrdn) in the directory
    account = school.lms_users()[new.idnumber]
    assert (account["name"], account["username"], account["email"]) == (
        new.name, new.username, new.email)
    assert new.username == f"{first[0].lower()}quinteroavila{new.idnumber[-4:]}"
    entry = school.people()[new.idnumber]
    new_dn = f"uid={new.username},ou=people,{school.directory.base}".lower()
    assert dn_of(entry) == new_dn and entry["cn"] == [new.name] and entry["mail"] == [new.email]
    assert old_dn != new_dn and all(old_dn not in m for m in school.groups().values())
    homeroom = f"homeroom-{renamed['home_room'].lower()}"
    assert new_dn in school.groups()[homeroom]
    data = json.loads(report.read_text(encoding="utf-8"))
    methods = sorted((a["tree"], a["method"], a["idnumber"]) for a in data["actions"])
    assert ("directory", "old_users", leaver["student_number"]) in methods
    assert ("directory", "update_username", new.idnumber) in methods
    assert ("lms", "old_users", leaver["student_number"]) in methods
    assert_in_step(school)
    assert "Nothing to do" in school.dss("plan", "school").out


def test_the_deletion_limit_protects_the_directory_too(school: School) -> None:
    assert school.dss("run", "school", "-q").code == 0
    rows = school.students()
    gone = [r for r in rows if r["enroll_status"] == "Active"][::7][:40]  # 40 of ~270: 15%
    for row in gone:
        row["enroll_status"] = "Withdrawn"
    school.write_students(rows)
    entries = school.directory.entries("", scope="SUBTREE")
    lms = school.lms_users()
    # the LMS's branches are let through; the directory's limit still stops the run
    stopped = school.dss("run", "school", "--allow-deletions", f"lms.users={len(gone)}",
                         "--allow-deletions", f"lms.enrolments={len(gone)}")
    assert stopped.code == 3, stopped
    assert (f"dss: stopped: directory.users: {len(gone)} of " in stopped.err
            and "--allow-deletions directory.users=" in stopped.err), stopped
    assert "lms.users" not in stopped.err
    assert school.directory.entries("", scope="SUBTREE") == entries  # nothing applied, anywhere
    assert school.lms_users() == lms
    # allowed for every branch, it goes through
    ran = school.dss("run", "school", "-q", "--allow-deletions", str(len(gone)))
    assert ran.code == 0, ran
    retired = school.people("ou=retired")
    assert {r["student_number"] for r in gone} <= set(retired)
    assert_in_step(school)


def test_an_account_the_directory_refuses_is_not_added_to_groups(school: School) -> None:
    """A name the directory already holds (an entry dss does not manage): that new_users fails,
    its group memberships are skipped with the reason, and the LMS is synced all the same."""
    plan = school.folder / "plan.json"
    assert school.dss("plan", "school", "--report", str(plan)).code == 0
    actions = json.loads(plan.read_text(encoding="utf-8"))["actions"]
    joining = {a["value"] for a in actions
               if a["tree"] == "directory" and a["method"] == "add_members_to_groups"}
    idnumber = next(a["idnumber"] for a in actions if a["tree"] == "directory"
                    and a["method"] == "new_users" and a["idnumber"] in joining)
    row = next(r for r in school.students() if r["student_number"] == idnumber)
    username = SISUser(idnumber, _lastfirst=row["lastfirst"], _homeroom=row["home_room"]).username
    # an `account` entry (not an inetOrgPerson: dss does not read it) holding the name
    school.directory.add(f"uid={username},ou=people", ["account"], {"uid": username})

    report = school.folder / "report.json"
    ran = school.dss("run", "school", "--report", str(report))
    assert ran.code == 1, ran
    results = {(a["tree"], a["method"], a["idnumber"], a["value"]): a
               for a in json.loads(report.read_text(encoding="utf-8"))["actions"]}
    failed = results[("directory", "new_users", idnumber, None)]
    assert failed["result"] == "failure" and "entryAlreadyExists" in failed["result_message"]
    skipped = [a for k, a in results.items()
               if k[0] == "directory" and k[1] == "add_members_to_groups" and k[3] == idnumber]
    assert skipped and all(a["result"] == "skipped" for a in skipped)
    assert all(f"new_users('{idnumber}') failed" in a["result_message"] for a in skipped)
    assert idnumber not in school.people()
    assert all(username not in " ".join(m) for m in school.groups().values())
    # the LMS took the student and the memberships
    assert school.lms_users()[idnumber]["suspended"] is False
    assert any(idnumber in m for m in school.lms_members().values())
    # once the stray entry is gone, the next run adds the account and its memberships
    school.directory.server.connection().delete(
        f"uid={username},ou=people,{school.directory.base}")
    assert school.dss("run", "school", "-q").code == 0
    assert_in_step(school)


def test_generate_needs_the_password_and_never_prints_it(tmp_path: Path, dss_ldap: LDAPTree) -> None:
    """Without DSS_DIRECTORY_BIND_PASSWORD, or with a wrong one: one line, exit 2, no LMS made."""
    command = [sys.executable, "-m", "school_sync.generate", "--users", "30", "--out",
               str(tmp_path), "--directory", dss_ldap.url, "--directory-base", dss_ldap.base,
               "--directory-bind-dn", dss_ldap.server.root_dn]
    env = environ("")
    del env["DSS_DIRECTORY_BIND_PASSWORD"]
    missing = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert missing.stderr == ("python -m school_sync.generate: error: give the directory's bind "
                              "password in DSS_DIRECTORY_BIND_PASSWORD\n")
    wrong = "Wr0ng-pa55-w0rd"
    refused = subprocess.run(command, cwd=tmp_path, env=environ(wrong), capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.startswith(
        f"python -m school_sync.generate: error: cannot bind to {dss_ldap.url} as "
        f"{dss_ldap.server.root_dn}: ")
    assert wrong not in refused.stdout + refused.stderr
    assert not (tmp_path / "lms.sqlite").exists() and not (tmp_path / "dss.toml").exists()


def test_the_demo_directory_starts_afresh_and_stops(tmp_path: Path, dss_slapd: Any) -> None:
    """`.ci/demo`'s slapd (DSS_DEMO_DIRECTORY=1): a second start replaces the first, stop ends it."""
    from school_sync import demo_directory

    folder = tmp_path / "slapd"
    urls = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "school_sync.demo_directory", "start",
                               str(folder)], env=environ(""), capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        urls.append(done.stdout.strip())
        pid = int((folder / "slapd.pid").read_text())
        assert oct((folder / demo_directory.PASSWORD_FILE).stat().st_mode & 0o777) == "0o600"
    assert all(url.startswith("ldap://127.0.0.1:") for url in urls)
    import ldap3

    password = (folder / demo_directory.PASSWORD_FILE).read_text()
    assert password not in done.stdout + done.stderr
    conn = ldap3.Connection(urls[1], dss_slapd.root_dn, password, auto_bind=True)
    assert conn.search(dss_slapd.suffix, "(objectClass=*)", "BASE")
    conn.unbind()
    assert demo_directory.stop(folder) is True
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert demo_directory.stop(folder) is False  # nothing left to stop


def test_the_demo_script_has_the_opt_in_directory() -> None:
    script = (Path(__file__).resolve().parents[3] / ".ci" / "demo").read_text(encoding="utf-8")
    for text in ('"${DSS_DEMO_DIRECTORY:-0}" = 1', "school_sync.demo_directory start",
                 "--directory", "plan school", "run school --report",
                 "trap stop_slapd EXIT"):
        assert text in script, text


def test_the_directory_joins_the_school_datastore_when_configured(tmp_path: Path) -> None:
    """A [trees.directory] table or DSS_DIRECTORY_URL: two destinations; else the LMS alone."""
    from dss_core import Config

    from school_sync import plugin

    def destinations(data: dict[str, Any], environ: dict[str, str]) -> list[str]:
        (found,) = plugin.dss_datastores(config=Config(data, environ=environ))
        assert found.name == "school"
        return [str(d) for d in found.destinations]

    assert destinations({}, {}) == ["lms"]
    assert destinations({}, {"DSS_DIRECTORY_BIND_PASSWORD": "x"}) == ["lms"]  # not on its own
    assert destinations({}, {"DSS_DIRECTORY_URL": "ldap://127.0.0.1:1"}) == ["lms", "directory"]
    assert destinations({"trees": {"directory": {"base": "dc=x"}}}, {}) == ["lms", "directory"]
    # a table without a url is said plainly, not left out in silence (no server needed)
    made = subprocess.run([sys.executable, "-m", "school_sync.generate", "--users", "30",
                           "--out", str(tmp_path)], cwd=tmp_path, env=environ("x"),
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    with (tmp_path / "dss.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[trees.directory]\nbase = "dc=example,dc=org"\n')
    checked = subprocess.run([*dss_command(), "check", "school"], cwd=tmp_path,
                             env=environ("x"), capture_output=True, text=True, timeout=120)
    assert checked.returncode == 2, checked.stdout + checked.stderr
    assert "no directory URL: set url (ldap://host:389) on the tree" in checked.stdout + \
        checked.stderr
