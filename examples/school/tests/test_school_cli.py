"""The quick start's commands, run as a user runs them: generate, plan, run, plan again.

``bash .ci/demo`` does exactly this (plus setting up the venv, too slow for a
test); here the installed ``dss`` command runs in a subprocess, so the
plugin is found through its entry point like any user's own.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

from school_sync.testing import dss, run

REPO = Path(__file__).resolve().parents[3]


def test_entry_point_names_the_plugin_module() -> None:
    (ep,) = [e for e in metadata.entry_points(group="dss") if e.name == "school"]
    assert ep.value == "school_sync.plugin"
    assert ep.dist is not None and ep.dist.name == "dss-school-demo"


def test_quick_start_commands(tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    config = str(out / "dss.toml")
    made = run(sys.executable, "-m", "school_sync.generate", "--users", "400", "--out", str(out),
               cwd=tmp_path)
    assert "students" in made.stdout and (out / "lms.sqlite").exists()

    listed = dss("list", cwd=tmp_path)
    assert "school  [dss-school-demo" in listed.stdout

    checked = dss("--config", config, "check", "school", cwd=tmp_path)
    assert checked.stdout.rstrip().endswith("OK")

    planned = dss("--config", config, "plan", "school", cwd=tmp_path)
    lines = planned.stdout.splitlines()
    for method in ("new_users", "update_name", "old_users", "add_members_to_groups",
                   "remove_members_from_groups", "new_enrolments", "old_groups"):
        assert any(line.startswith(method + "(") for line in lines), method
    assert "planned" in planned.stdout

    report = out / "report.json"
    applied = dss("--config", config, "run", "school", "--report", str(report),
                  cwd=tmp_path)
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["run"]["datastore"] == "school" and data["run"]["exit_code"] == 0
    assert data["totals"]["failed"] == 0
    assert data["totals"]["actions"] == sum(1 for line in lines if "(idnumber=" in line)
    assert f"{data['totals']['actions']} actions: {data['totals']['actions']} done" in applied.stdout

    again = dss("--config", config, "plan", "school", cwd=tmp_path)
    assert "Nothing to do" in again.stdout


def test_run_from_the_data_folder_without_config_flag(tmp_path: Path) -> None:
    """In the folder holding dss.toml, `dss run` needs no argument at all."""
    run(sys.executable, "-m", "school_sync.generate", "--users", "50", "--out", str(tmp_path),
        cwd=tmp_path)
    dss("run", "-q", cwd=tmp_path)
    assert "Nothing to do" in dss("plan", cwd=tmp_path).stdout


def test_demo_script_runs_these_commands() -> None:
    """.ci/demo must keep using the commands this test checks."""
    script = (REPO / ".ci" / "demo").read_text(encoding="utf-8")
    assert "source .ci/setup-venv" in script
    for command in ("python -m school_sync.generate", "plan school", "run school --report",
                    "demo-output"):
        assert command in script
