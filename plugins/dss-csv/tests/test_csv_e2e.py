"""Point 8: dss-csv installed for real is found through its entry point, and drives `dss plan`/`dss run`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]  # plugins/dss-csv

# A tiny in-house sync: students.csv (read by importer "csv") -> accounts.json.
SYNC_PLUGIN = '''
import json

from dss_core import Branch, Datastore, Handler, Importer, Model, Setting, Tree, hookimpl


class Student(Model):
    name: str
    courses: set[str] = set()


class AccountsJSON(Importer):
    declared_settings = (Setting("path", str, None, "the JSON file"),)

    def readin(self):
        path = self.tree.config.resolve_path(self.setting("path"))
        return json.loads(path.read_text()) if path.exists() else []


class JSONHandler(Handler):
    declared_settings = (Setting("path", str, None, "the JSON file"),)

    def begin(self):
        self.path = self.config.resolve_path(self.settings["path"])
        self.rows = {r["idnumber"]: r for r in (
            json.loads(self.path.read_text()) if self.path.exists() else [])}

    def end(self, failed):
        self.path.write_text(json.dumps(sorted(self.rows.values(), key=lambda r: r["idnumber"])))

    def new_users(self, action):
        values = action.source.values()
        values["courses"] = sorted(values["courses"])
        self.rows[action.idnumber] = {"idnumber": action.idnumber, **values}

    def update_name(self, action):
        self.rows[action.idnumber]["name"] = action.value

    def add_courses_to_users(self, action):
        self.rows[action.idnumber]["courses"] = sorted({*self.rows[action.idnumber]["courses"], action.value})

    def remove_courses_from_users(self, action):
        self.rows[action.idnumber]["courses"].remove(action.value)

    def old_users(self, action):
        del self.rows[action.idnumber]


class SIS(Tree):
    name = "sis"
    users = Branch(Student, importer="csv")


class LMS(Tree):
    name = "lms"
    handler = JSONHandler
    users = Branch(Student, importer=AccountsJSON)


@hookimpl
def dss_datastores():
    return [Datastore("csvschool", source=SIS, destinations=[LMS])]
'''


def _env(*sites: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSS_") and k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join(str(s) for s in sites)
    return env


@pytest.fixture(scope="session")
def csv_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dss-csv installed with `pip install --target` (from a clean copy: no build/ in the repo)."""
    copy = tmp_path_factory.mktemp("src") / "dss-csv"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", "tests", ".pytest_cache"))
    target = tmp_path_factory.mktemp("site-csv")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(copy)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (target / "dss_csv" / "plugin.py").is_file()
    return target


@pytest.fixture(scope="session")
def sync_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hand-made distribution `csv-sync-test` whose entry point registers the sync above."""
    site = tmp_path_factory.mktemp("site-sync")
    (site / "csv_sync_test.py").write_text(SYNC_PLUGIN, encoding="utf-8")
    info = site / "csv_sync_test-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: csv-sync-test\nVersion: 0.0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[dss]\ncsvsync = csv_sync_test\n", encoding="utf-8")
    return site


def dss(cwd: Path, *args: str, sites: tuple[Path, ...]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dss_core", *args], cwd=cwd, env=_env(*sites),
                          capture_output=True, text=True, timeout=120)


def test_dss_list_finds_the_installed_distribution(csv_site, tmp_path):
    proc = dss(tmp_path, "list", sites=(csv_site,))
    assert proc.returncode == 0, proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert "csv  dss-csv 0.1.0  (dss_csv.plugin)" in lines
    assert "csv  dss_csv.importer.CSVImporter  [dss-csv (plugin 'csv')]" in lines


def test_the_entry_point_and_module_come_from_the_target_install(csv_site, tmp_path):
    code = textwrap.dedent("""
        from importlib import metadata
        from dss_core.plugins import build_plugin_manager
        ep = next(e for e in metadata.entry_points(group="dss") if e.name == "csv")
        print(ep.dist.name, ep.dist.version, ep.dist.locate_file(""))
        pm = build_plugin_manager()
        print(pm.get_plugin("csv").__file__)
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(csv_site),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    dist_line, module_file = proc.stdout.splitlines()
    name, version, location = dist_line.split(" ", 2)
    assert (name, version) == ("dss-csv", "0.1.0")
    assert Path(location).resolve() == csv_site.resolve()
    assert Path(module_file).resolve() == (csv_site / "dss_csv" / "plugin.py").resolve()


def test_importing_the_plugin_module_stays_light(csv_site, tmp_path):
    code = textwrap.dedent("""
        import sys
        import dss_core
        before = set(sys.modules)
        import dss_csv.plugin
        print(" ".join(sorted(set(sys.modules) - before)))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(csv_site),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    new = set(proc.stdout.split())
    heavy = {m for m in new if m.split(".")[0] in {"sqlalchemy", "rich", "click", "pandas"}}
    assert not heavy, heavy
    assert "dss_csv.plugin" in new


def write_sync(folder: Path, csv_text: str) -> None:
    (folder / "students.csv").write_text(csv_text, encoding="utf-8")
    (folder / "dss.toml").write_text(textwrap.dedent("""
        [trees.sis.users]
        path = "students.csv"
        delimiter = "\\\\t"
        rename = {"Student ID" = "idnumber", "Name" = "name", "Course" = "courses"}

        [trees.lms]
        path = "accounts.json"
    """), encoding="utf-8")


def test_plan_and_run_with_a_csv_source(csv_site, sync_site, tmp_path):
    write_sync(tmp_path, "Student ID\tName\tCourse\n1\tAnn\tmath\n2\tBo\tart\n1\tAnn\tscience\n")
    (tmp_path / "accounts.json").write_text(json.dumps(
        [{"idnumber": "2", "name": "Bob", "courses": ["art"]},
         {"idnumber": "9", "name": "Gone", "courses": []}]))
    sites = (csv_site, sync_site)

    plan = dss(tmp_path, "plan", "csvschool", sites=sites)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    for message in ["new_users(idnumber='1')", "update_name(idnumber='2', attribute='name', value='Bo')",
                    "old_users(idnumber='9')"]:
        assert message in plan.stdout
    assert json.loads((tmp_path / "accounts.json").read_text())[0]["name"] == "Bob"  # unchanged

    run = dss(tmp_path, "run", "csvschool", sites=sites)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads((tmp_path / "accounts.json").read_text()) == [
        {"idnumber": "1", "name": "Ann", "courses": ["math", "science"]},
        {"idnumber": "2", "name": "Bo", "courses": ["art"]}]

    again = dss(tmp_path, "plan", "csvschool", "--quiet", sites=sites)
    assert again.returncode == 0
    assert "new_users" not in again.stdout and "update_" not in again.stdout


def test_bad_csv_exits_2_with_file_and_line_and_applies_nothing(csv_site, sync_site, tmp_path):
    write_sync(tmp_path, "Student ID\tName\tCourse\n1\tAnn\tmath\n2\tBo\n")
    (tmp_path / "accounts.json").write_text("[]")
    run = dss(tmp_path, "run", "csvschool", sites=(csv_site, sync_site))
    assert run.returncode == 2, run.stdout + run.stderr
    assert "students.csv line 3: 2 fields, but the header has 3" in run.stderr
    assert (tmp_path / "accounts.json").read_text() == "[]"


ACCOUNTS = json.dumps([{"idnumber": "1", "name": "Ann", "courses": ["math", "science"]},
                       {"idnumber": "2", "name": "Bo", "courses": ["art"]}], indent=1).encode()


def assert_refused(folder: Path, sites: tuple[Path, ...], message: str) -> None:
    """`dss plan` and `dss run` exit 2 with the one-line message; accounts.json is untouched."""
    (folder / "accounts.json").write_bytes(ACCOUNTS)
    for command in ("plan", "run"):
        proc = dss(folder, command, "csvschool", sites=sites)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert proc.stderr.splitlines() == [f"dss: error: {message}"], proc.stderr
        assert (folder / "accounts.json").read_bytes() == ACCOUNTS


def test_a_nul_byte_exits_2_naming_line_and_column_and_applies_nothing(csv_site, sync_site, tmp_path):
    write_sync(tmp_path, "Student ID\tName\tCourse\n1\tAnn\tmath\n2\tB\x00o\tart\n1\tAnn\tscience\n")
    assert_refused(tmp_path, (csv_site, sync_site),
                   "students.csv line 3: column 'Name' (2) holds a control character U+0000 (NUL)")


def test_a_rename_key_matching_no_column_exits_2_and_applies_nothing(csv_site, sync_site, tmp_path):
    # the export renamed "Course" to "Courses": without the guard every course would be removed
    write_sync(tmp_path, "Student ID\tName\tCourses\n1\tAnn\tmath\n2\tBo\tart\n1\tAnn\tscience\n")
    assert_refused(tmp_path, (csv_site, sync_site),
                   "sis.users: rename key 'Course' matches no column of students.csv "
                   "(columns: 'Student ID', 'Name', 'Courses'); did you mean 'Courses'?")
