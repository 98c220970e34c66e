"""Logging (issue 13 point 6): --log-file for cron, --log-json, -vv/-vvv, no values at INFO.

Through the real ``dss`` command on the generated school, and the redacting
filter through the logging module itself.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dss_core import register_secret
from dss_core.logs import configure


def dss(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("dss")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "dss_core"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_")}
    return subprocess.run([*command, *args], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("school_sync", reason="the school example is not installed")
    folder = tmp_path_factory.mktemp("school")
    subprocess.run([sys.executable, "-m", "school_sync.generate", "--users", "200", "--out",
                    str(folder)], check=True, capture_output=True, timeout=120)
    return folder


def values_of(folder: Path) -> set[str]:
    """Personal values of the export: idnumbers and names."""
    with open(folder / "students.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {r["student_number"] for r in rows} | {r["lastfirst"].split(",")[0] for r in rows}


def test_the_log_file_holds_the_steps_and_counts_and_no_values(school: Path) -> None:
    log = school / "plan.log"
    done = dss(school, "--log-file", str(log), "plan", "school", "-q", "--allow-deletions", "9999")
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    text = log.read_text()
    lines = text.splitlines()
    assert any(" INFO dss_core.runner: imported sis.users: " in line for line in lines)
    assert any(" INFO dss_core.runner: plan for lms: " in line for line in lines)
    assert any("done: " in line and "; exit 0" in line for line in lines)
    assert not any(" DEBUG " in line for line in lines)
    assert not [v for v in values_of(school) if len(v) > 3 and v in text]
    assert "INFO" not in done.stderr  # stderr stays quiet by default


def test_json_lines_and_debug_with_vv(school: Path) -> None:
    log = school / "debug.log"
    done = dss(school, "-vv", "--log-json", "--log-file", str(log), "plan", "school", "-q",
               "--allow-deletions", "9999")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert {r["level"] for r in records} == {"info", "debug"}
    assert any(r["message"].startswith("new_users(") for r in records if r["level"] == "debug")
    # -vv: INFO on stderr too, as JSON like the file
    assert '"logger": "dss_core.runner", "message": "imported sis.users' in done.stderr


def test_secrets_are_masked_in_every_line(tmp_path: Path) -> None:
    register_secret("hunter2-log-secret")
    log = tmp_path / "x.log"
    configure(0, log)
    try:
        logging.getLogger("dss_sql.engine").warning("connecting with %s", "hunter2-log-secret")
        try:
            raise RuntimeError("password hunter2-log-secret refused")
        except RuntimeError:
            logging.getLogger("dss_core.runner").exception("failed")
    finally:
        configure(0)
    text = log.read_text()
    assert "hunter2-log-secret" not in text
    assert "connecting with ***" in text and "RuntimeError: password *** refused" in text
