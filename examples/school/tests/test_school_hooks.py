"""The school plugin's registration hooks, through the installed ``dss`` command.

* ``dss_trees`` registers the trees ``sis`` and ``lms`` by name, and the
  ``school`` datastore (``dss_datastores``) names them, as a user's own
  datastore sharing them would;
* ``dss_branches`` adds the cohorts, a ``groups`` branch, to both trees;
* blocking the plugin (``--block school``) takes all of it away.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dss_core import Branch, Config, Model, Tree
from dss_core.plugins import builtin_plugin_manager

from school_sync import lms, plugin, sis

BRANCHES = ["users", "enrolments", "groups"]


def dss(*args: str, cwd: Path, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``dss`` (every plugin found through its entry point), without DSS_* variables."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DSS_") and k != "PYTHONPATH"}
    if site is not None:
        environ["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "dss_core", *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def school(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated school of 60 people: the SIS exports, dss.toml and the LMS in lms.sqlite."""
    out = tmp_path_factory.mktemp("school")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DSS_")}
    subprocess.run([sys.executable, "-m", "school_sync.generate", "--users", "60", "--out",
                    str(out)], cwd=out, env=environ, check=True, capture_output=True, timeout=300)
    return out


def listed(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert proc.returncode == 0, proc.stderr
    datastores: list[dict[str, Any]] = json.loads(proc.stdout)["datastores"]
    return datastores


# -- dss_trees and dss_datastores -------------------------------------------------------


def test_the_trees_are_registered_by_the_school_plugin(tmp_path: Path) -> None:
    code = ("from dss_core import Config\n"
            "from dss_core.plugins import Registry, build_plugin_manager\n"
            "reg = Registry.collect(build_plugin_manager(), Config())\n"
            "for name in ('sis', 'lms'):\n"
            "    tree = reg.trees[name]\n"
            "    print(name, f'{tree.__module__}.{tree.__qualname__}', reg.owners[('tree', name)])\n"
            "school = reg.datastores['school']\n"
            "print('school', school.source, school.destinations)\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DSS_")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=120, check=True)
    assert proc.stdout.splitlines() == [
        "sis school_sync.sis.SIS dss-school-demo (plugin 'school')",
        "lms school_sync.lms.LMS dss-school-demo (plugin 'school')",
        "school sis ['lms']",  # the datastore names the registered trees
    ]


def test_dss_list_shows_the_registered_trees_with_groups_on_both(tmp_path: Path) -> None:
    proc = dss("list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout[proc.stdout.index("\nDatastores:"):]
    school = text[text.index("  school  [dss-school-demo (plugin 'school')]"):]
    lines = school.splitlines()
    assert "    source tree sis (SIS)" in lines
    assert "    destination tree lms (LMS, handler LMSHandler)" in lines
    assert "      groups: model Group, importer GroupsFromUsers" in lines
    assert "      groups: model Group, importer MappedSQLImporter" in lines

    (found,) = [d for d in listed(dss("list", "--json", cwd=tmp_path)) if d["name"] == "school"]
    assert found["owner"] == "dss-school-demo (plugin 'school')" and found["error"] is None
    trees = {t["name"]: t for t in found["trees"]}
    assert [(t["role"], t["class"]) for t in found["trees"]] == [
        ("source", "school_sync.sis.SIS"), ("destination", "school_sync.lms.LMS")]
    for name in ("sis", "lms"):
        assert [b["name"] for b in trees[name]["branches"]] == BRANCHES
    assert trees["sis"]["branches"][2]["importer"] == "school_sync.sis.GroupsFromUsers"
    assert trees["lms"]["branches"][2]["importer"].endswith("MappedSQLImporter")


def test_dss_check_still_passes(school: Path) -> None:
    proc = dss("--config", str(school / "dss.toml"), "check", "school", cwd=school)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == ("datastore school: source sis, destinations lms: branches mirror "
                        "(users, enrolments, groups)")
    assert any(line.startswith("source sis.groups: ") and "(groups derived from sis.users)" in line
               for line in lines)
    assert any(line.startswith("destination lms.groups: ") for line in lines)
    assert "sis.groups ~ lms.groups: 3 tracked attributes match (name, kind, members)" in lines
    assert lines[-1] == "OK"


def test_a_users_datastore_shares_the_trees_by_name(school: Path, tmp_path: Path) -> None:
    """Another plugin's datastore names the school's registered trees: the same trees, groups too."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "dss_nightly.py").write_text(
        "from dss_core import Datastore, hookimpl\n\n\n"
        "@hookimpl\n"
        "def dss_datastores():\n"
        "    return [Datastore('nightly', source='sis', destinations=['lms'])]\n",
        encoding="utf-8")
    info = site / "dss_nightly-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dss-nightly\nVersion: 0.1\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text("[dss]\nnightly = dss_nightly\n", encoding="utf-8")
    config = str(school / "dss.toml")
    checked = dss("--config", config, "check", "nightly", cwd=school, site=site)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.splitlines()[0] == (
        "datastore nightly: source sis, destinations lms: branches mirror "
        "(users, enrolments, groups)")
    planned = dss("--config", config, "plan", "nightly", cwd=school, site=site)
    assert planned.returncode == 0, planned.stderr
    assert "add_members_to_groups(" in planned.stdout
    # without the school plugin, the names name nothing
    blocked = dss("--block", "school", "--config", config, "check", "nightly", cwd=school,
                  site=site)
    assert blocked.returncode == 2
    assert blocked.stderr.strip() == "dss: error: datastore nightly: no tree named 'sis' is registered"


def test_blocking_the_plugin_removes_everything(school: Path) -> None:
    config = str(school / "dss.toml")
    proc = dss("--block", "school", "list", cwd=school)
    assert proc.returncode == 0, proc.stderr
    assert "school_sync" not in proc.stdout and "tree sis" not in proc.stdout
    assert "GroupsFromUsers" not in proc.stdout
    assert all(d["name"] != "school"
               for d in listed(dss("--block", "school", "list", "--json", cwd=school)))
    checked = dss("--block", "school", "--config", config, "check", "school", cwd=school)
    assert checked.returncode == 2
    assert "no datastore named 'school'" in checked.stderr


# -- dss_branches, called by dss on every tree made ----------------------------------------


def test_the_cohorts_are_added_to_the_school_trees_only() -> None:
    pm = builtin_plugin_manager()
    pm.register(plugin, name="school")
    config = Config({}, environ={})
    assert list(sis.SIS.declared_branches()) == ["users", "enrolments"]  # groups is an add-on
    assert list(lms.LMS.declared_branches()) == ["users", "enrolments"]
    source, dest = sis.SIS(config=config, plugins=pm), lms.LMS(config=config, plugins=pm)
    assert source.branch_order == dest.branch_order == BRANCHES
    assert source.branches["groups"] is sis.GROUPS and dest.branches["groups"] is lms.GROUPS

    class Account(Model):
        name: str = ""

    class OtherLMS(Tree):  # another plugin's tree that is also called lms
        name = "lms"
        users = Branch(Account, importer=[])

    assert plugin.dss_branches(tree=OtherLMS(config=config, plugins=pm)) is None
    assert list(OtherLMS(config=config, plugins=pm).branches) == ["users"]
    # without the plugin, the school's trees have no cohorts
    assert list(sis.SIS(config=config, plugins=builtin_plugin_manager()).branches) == \
        ["users", "enrolments"]
