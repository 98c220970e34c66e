"""Runs that fail well, shown on the school example (issue 10, points 5 and 8).

A real ``dss run`` is killed (SIGKILL) at random moments once it has imported
both sides; the next run reports the interruption, converges, and no row
names an account that is not there. Ctrl-C and SIGTERM stop it cleanly:
exit 130 / 143, what was done committed, a report saying ``interrupted``.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from dss_core.testing import dss_command

USERS = 4000
#: kills per backend: half at a random moment after the import (the diff or the apply), half
#: just after the apply's first or second batch is written (mid-apply, however fast it is)
TRIALS = 6
IMPORTED = re.compile(r"^imported lms\.groups")
BATCH_APPLIED = re.compile(r": a batch of \d+ .*applied$")
#: the generated LMS is a season out of date: a few homerooms lose more than half their members
ALLOW = ("--allow-deletions", "100000")
ORPHANS = {
    "enrolments without an account": "SELECT count(*) FROM lms_enrolments e WHERE NOT EXISTS "
                                     "(SELECT 1 FROM lms_users u WHERE u.idnumber = e.user_idnumber)",
    "members without an account": "SELECT count(*) FROM lms_cohort_members m WHERE NOT EXISTS "
                                  "(SELECT 1 FROM lms_users u WHERE u.idnumber = m.user_idnumber)",
    "members without a cohort": "SELECT count(*) FROM lms_cohort_members m WHERE NOT EXISTS "
                                "(SELECT 1 FROM lms_cohorts c WHERE c.idnumber = m.cohort_idnumber)",
}


def environ(url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_")}
    if url:
        env["DSS_LMS_URL"] = url
    return env


def make_school(folder: Path, url: str | None) -> str:
    args = [sys.executable, "-m", "school_sync.generate", "--users", str(USERS),
            "--out", str(folder)]
    if url:
        args += ["--url", url]
    subprocess.run(args, check=True, capture_output=True, env=environ(url), timeout=120)
    return url or f"sqlite:///{folder / 'lms.sqlite'}"


def start_and_signal(folder: Path, url: str | None, signum: int, delay: float,
                     *extra: str, after: re.Pattern[str] = IMPORTED,
                     nth: int = 1) -> subprocess.CompletedProcess[str]:
    """Start `dss -vv run school`; send ``signum`` ``delay`` s after the ``nth`` line matching
    ``after`` on its stderr (by default: once both sides are imported).

    Its stdout goes to a file: a pipe nobody reads would stop it once full.
    """
    out_file = folder / "signalled.out"
    with out_file.open("w") as out:
        proc = subprocess.Popen([*dss_command(), "-vv", "run", "school", *extra], cwd=folder,
                                env=environ(url), stdout=out, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if after.search(line.rstrip("\n")):
                nth -= 1
                if nth == 0:
                    time.sleep(delay)
                    proc.send_signal(signum)
                    break
        _, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out_file.read_text(),
                                       "".join(lines) + err)


def run(folder: Path, url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*dss_command(), *args], cwd=folder, env=environ(url),
                          capture_output=True, text=True, timeout=180)


def orphans(url: str) -> dict[str, int]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        found = {what: conn.exec_driver_sql(sql).scalar() or 0 for what, sql in ORPHANS.items()}
    engine.dispose()
    return found


def kill_trials(tmp_path: Path, url: str | None) -> dict[str, int]:
    """TRIALS runs SIGKILLed at random moments of the apply: the kill table of one backend.

    ``url``: the LMS in PostgreSQL (made afresh by the generator each trial), or
    None for the SQLite file beside each trial's dss.toml.
    """
    rnd = random.Random(10)
    table = {"trials": 0, "killed mid-apply": 0, "reported": 0, "converged": 0, "orphans": 0}
    for trial in range(TRIALS):
        folder = tmp_path / f"trial-{trial}"
        lms = make_school(folder, url)
        if trial % 2 == 0:  # the diff, the apply or the report: a fast machine may finish first
            killed = start_and_signal(folder, url, signal.SIGKILL, rnd.uniform(0.0, 0.3), *ALLOW)
            assert killed.returncode in (-signal.SIGKILL, 0), killed.stderr
        else:
            killed = start_and_signal(folder, url, signal.SIGKILL, rnd.uniform(0.0, 0.02), *ALLOW,
                                      after=BATCH_APPLIED, nth=rnd.choice((1, 2)))
            assert killed.returncode == -signal.SIGKILL, killed.stderr
        table["trials"] += 1
        again = run(folder, url, "run", "school", *ALLOW, "--report", str(folder / "again.json"))
        assert again.returncode == 0, again.stdout + again.stderr
        notes = [line for line in again.stderr.splitlines() if line.startswith("dss: note: run ")]
        report = json.loads((folder / "again.json").read_text())
        if notes:
            table["killed mid-apply"] += 1
            assert "was killed after" in notes[0] and notes[0].endswith(
                "this run computes the difference afresh")
            assert report["notes"] == [n.removeprefix("dss: note: ") for n in notes]
            table["reported"] += 1
        final = run(folder, url, "plan", "school")
        assert final.returncode == 0 and "Nothing to do" in final.stdout, final.stdout
        table["converged"] += 1
        table["orphans"] += sum(orphans(lms).values())
    print(f"\nkill table ({'postgres' if url else 'sqlite'}): {table}")
    assert table["converged"] == TRIALS and table["orphans"] == 0
    assert table["killed mid-apply"] >= TRIALS // 2, table  # the kills did land while applying
    return table


@pytest.mark.slow
def test_sigkilled_runs_converge_on_sqlite(tmp_path: Path) -> None:
    kill_trials(tmp_path, None)


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkilled_runs_converge_on_postgres(tmp_path: Path, dss_postgres_url: str) -> None:
    kill_trials(tmp_path, dss_postgres_url)


@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGINT, 130, "SIGINT"),
                                                      (signal.SIGTERM, 143, "SIGTERM")])
def test_a_signal_while_applying_stops_cleanly(tmp_path: Path, signum: int, code: int,
                                               name: str) -> None:
    make_school(tmp_path, None)
    report = tmp_path / "r.json"
    stopped = start_and_signal(tmp_path, None, signum, 0.05, *ALLOW, "--report", str(report))
    data = json.loads(report.read_text())
    if stopped.returncode == 0:
        pytest.skip("the run finished before the signal arrived")  # a very fast machine
    assert stopped.returncode == code, stopped.stderr
    assert data["run"]["exit_code"] == code
    statuses = {a["result"] for a in data["actions"]}
    if data["interrupted"]:  # stopped while applying: what was begun done, the rest not attempted
        assert data["interrupted"] == name
        assert "skipped" in statuses and statuses <= {"success", "skipped"}
        assert f"Interrupted by {name}" in stopped.stderr  # a warning: stderr
        done = sum(a["result"] == "success" for a in data["actions"])
        again = run(tmp_path, None, "plan", "school")
        left = sum(1 for line in again.stdout.splitlines() if "(idnumber=" in line)
        assert left == len(data["actions"]) - done  # what was done is committed
    else:  # stopped before the first action: nothing applied
        assert f"interrupted by {name}" in data["error"]
    after = run(tmp_path, None, "run", "school", *ALLOW)
    assert after.returncode == 0, after.stderr
    if data["interrupted"]:
        assert "dss: note: run " in after.stderr and "was interrupted after" in after.stderr
    assert "Nothing to do" in run(tmp_path, None, "plan", "school").stdout
