"""End to end: the real `dss` command against a test plugin installed with pip (entry points, no monkeypatching)."""

from __future__ import annotations

import json
from pathlib import Path

SOURCE = {"users": [
    {"idnumber": "1", "_lastfirst": "Doe, Jane", "department": "math"},
    {"idnumber": "2", "_lastfirst": "Roe, Rick", "department": "math"},
    {"idnumber": "3", "_lastfirst": "Poe, Ed", "department": "art"},
]}
DEST = {
    "users": [
        {"idnumber": "1", "name": "Jane Doe", "department": "math"},
        {"idnumber": "2", "name": "Rick Rowe", "department": "math"},
        {"idnumber": "9", "name": "Old Timer", "department": "history"},
        {"idnumber": "8", "name": "Sam Staff", "department": "staff"},
    ],
    "groups": [
        {"idnumber": "math", "members": ["1", "9"]},
        {"idnumber": "history", "members": ["9"]},
    ],
}
EXPECTED_PLAN = [
    "new_users(idnumber='3')",
    "update_name(idnumber='2', attribute='name', value='Rick Roe')",
    "new_groups(idnumber='art')",
    "add_members_to_groups(idnumber='math', attribute='members', value='2')",
    "remove_members_from_groups(idnumber='math', attribute='members', value='9')",
    "old_groups(idnumber='history')",
    "old_users(idnumber='8')",
    "old_users(idnumber='9')",
]


def _plan_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if "(idnumber=" in line]


def test_plan_prints_every_action_in_order_and_changes_nothing(dss, sync_files):
    _, dst = sync_files(SOURCE, DEST)
    before = dst.read_text()
    result = dss("plan", "testsync")
    assert result.code == 0, result
    # per branch in order: new, then changes; then retirements in reverse branch order
    assert _plan_lines(result.out) == EXPECTED_PLAN
    assert dst.read_text() == before


def test_plan_is_deterministic(dss, sync_files):
    sync_files(SOURCE, DEST)
    assert _plan_lines(dss("plan", "testsync").out) == _plan_lines(dss("plan", "testsync").out)


def test_run_applies_reports_json_and_converges(dss, sync_files, tmp_path: Path):
    _, dst = sync_files(SOURCE, DEST)
    result = dss("run", "testsync", "--report", "report.json")
    assert result.code == 0, result
    data = json.loads(dst.read_text())
    users = {u["idnumber"]: u for u in data["users"]}
    assert users["3"]["name"] == "Ed Poe" and users["2"]["name"] == "Rick Roe"
    assert "9" not in users and "8" in users  # staff kept: the handler dropped it on purpose
    groups = {g["idnumber"]: g for g in data["groups"]}
    assert groups["math"]["members"] == ["1", "2"] and "history" not in groups

    report = json.loads((tmp_path / "report.json").read_text())
    assert report["run"]["mode"] == "apply" and report["run"]["datastore"] == "testsync"
    assert len(report["run"]["id"]) == 32
    assert [a["message"] for a in report["actions"]] == EXPECTED_PLAN
    by_message = {a["message"]: a for a in report["actions"]}
    assert set(by_message) == set(EXPECTED_PLAN)
    assert by_message["old_users(idnumber='8')"]["result"] == "dropped"
    assert by_message["new_users(idnumber='3')"]["result"] == "success"
    assert by_message["new_users(idnumber='3')"]["origin"] == "export.json[users] item 3"
    assert report["counts"]["dst.users"]["old"] == {"dropped": 1, "success": 1}
    assert report["counts"]["dst.groups"]["add"] == {"success": 1}
    assert report["totals"]["failed"] == 0

    again = dss("plan", "testsync")
    assert again.code == 0, again
    assert _plan_lines(again.out) == ["old_users(idnumber='8')"]  # only the kept staff account


def test_failed_action_exit_1_others_applied(dss, sync_files, tmp_path: Path):
    _, dst = sync_files(SOURCE, DEST, fail="3")
    result = dss("run", "testsync", "--report", "report.json")
    assert result.code == 1, result
    assert "EXCEPTION: new_users(idnumber='3') [export.json[users] item 3]" in result.err
    assert "refused to touch 3" in result.err and "refused" not in result.out  # failures: stderr
    users = {u["idnumber"] for u in json.loads(dst.read_text())["users"]}
    assert "3" not in users and "9" not in users  # the others went on
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["totals"]["failed"] == 1


def test_fail_fast_skips_the_rest(dss, sync_files, tmp_path: Path):
    _, dst = sync_files(SOURCE, DEST, fail="2")
    result = dss("run", "testsync", "--fail-fast", "--report", "report.json")
    assert result.code == 1, result
    report = json.loads((tmp_path / "report.json").read_text())
    statuses = [a["result"] for a in report["actions"]]
    assert statuses[:2] == ["success", "exception"] and set(statuses[2:]) == {"skipped"}
    users = {u["idnumber"] for u in json.loads(dst.read_text())["users"]}
    assert users == {"1", "2", "3", "8", "9"}  # user 3 created, nothing after the failure


def test_list_shows_plugin_version_importers_datastore_trees_branches(dss):
    result = dss("list")
    assert result.code == 0, result
    assert "testplugin  dss-testplugin 1.2.3" in result.out
    assert "json  dss_testplugin.sync.JSONImporter  [dss-testplugin (plugin 'testplugin')]" in result.out
    assert "generator  dss_core.importers.GeneratorImporter  [dss-core]" in result.out
    assert "testsync" in result.out and "JSON export -> JSON file" in result.out
    assert "source tree src (Source)" in result.out
    assert "destination tree dst (Destination, handler JSONHandler)" in result.out
    assert "users: model User, importer 'json'" in result.out


def test_broken_plugin_named_in_one_line_and_list_still_works(dss, broken_site):
    result = dss("list", site=broken_site)
    assert result.code == 0, result
    warnings = [line for line in result.err.splitlines() if "broken" in line]
    assert len(warnings) == 1
    assert "plugin 'broken' from dss-broken failed to load: ModuleNotFoundError" in warnings[0]
    assert "testplugin  dss-testplugin 1.2.3" in result.out  # the others still load
    assert "broken  dss-broken  BROKEN" in result.out


def test_strict_plugins_makes_a_broken_plugin_an_error(dss, broken_site):
    result = dss("--strict-plugins", "list", site=broken_site)
    assert result.code == 2
    assert "dss-broken" in result.err and "Traceback" not in result.err


def test_block_and_no_plugins_escape_hatches(dss, broken_site):
    blocked = dss("--block", "broken", "list", site=broken_site)
    assert "broken" not in blocked.err and "testplugin" in blocked.out
    none = dss("--no-plugins", "list", site=broken_site)
    assert "(none installed)" in none.out and "testsync" not in none.out


def test_show_explains_one_object(dss, sync_files):
    sync_files(SOURCE, DEST)
    result = dss("show", "users", "2", "--datastore", "testsync")
    assert result.code == 0, result
    assert "source src.users '2'  from export.json[users] item 2" in result.out
    assert "destination dst.users '2'  from lms.json[users] item 2" in result.out
    assert "name = 'Rick Roe'" in result.out and "name = 'Rick Rowe'" in result.out
    assert "update_name(idnumber='2', attribute='name', value='Rick Roe')" in result.out
    missing = dss("show", "users", "nobody", "--datastore", "testsync")
    assert missing.code == 1 and "no object 'nobody'" in missing.out


def test_check_passes_on_a_symmetric_sync(dss, sync_files):
    sync_files(SOURCE, DEST)
    result = dss("check", "testsync")
    assert result.code == 0, result
    assert "src.users ~ dst.users: 2 tracked attributes match (department, name)" in result.out
    assert "destination dst: handler JSONHandler is ready" in result.out
    assert result.out.strip().endswith("OK")


def test_check_asks_the_destination_handler(dss, sync_files, tmp_path: Path):
    sync_files(SOURCE, DEST)
    (tmp_path / "lms.json").unlink()
    result = dss("check", "testsync")
    assert result.code == 2, result
    assert "error: destination file lms.json does not exist" in result.out
    assert result.out.strip().endswith("check failed")


def test_plugin_cli_option_and_command(dss, sync_files):
    sync_files(SOURCE, DEST)
    result = dss("plan", "testsync", "--greeting", "hi there")
    assert result.code == 0, result
    assert result.out.splitlines()[0] == "greeting: hi there"
    hello = dss("hello")
    assert hello.code == 0 and hello.out.strip() == "hello from dss-testplugin"


def test_missing_input_is_one_line_exit_2_nothing_changed(dss, sync_files, tmp_path: Path):
    _, dst = sync_files(SOURCE, DEST)
    before = dst.read_text()
    (tmp_path / "export.json").unlink()
    result = dss("run", "testsync")
    assert result.code == 2, result
    assert len(result.err.strip().splitlines()) == 1
    assert result.err.startswith("dss: error: FileNotFoundError") and "export.json" in result.err
    assert dst.read_text() == before


def test_unknown_datastore_and_version(dss):
    result = dss("run", "nope")
    assert result.code == 2 and "no datastore named 'nope'" in result.err
    assert "testsync" in result.err
    version = dss("--version")
    assert version.code == 0 and "0.1.0" in version.out


def test_secrets_never_printed(dss, sync_files, tmp_path: Path):
    sync_files(SOURCE, DEST)
    result = dss("run", "testsync", env={"DSS_SRC_USERS_PATH": "postgresql://me:hunter2@db/x"})
    assert result.code == 2
    assert "hunter2" not in result.out + result.err
    assert "me:***@db" in result.err


def test_configure_hook_supplies_defaults(dss, sync_files, tmp_path: Path):
    sync_files(SOURCE, DEST)
    (tmp_path / "dss.toml").write_text('[trees.src.users]\npath = "export.json"\n')
    result = dss("plan", "testsync")
    assert result.code == 0, result
    assert _plan_lines(result.out) == EXPECTED_PLAN


def test_config_in_pyproject_and_env_override(dss, sync_files, tmp_path: Path):
    src, _ = sync_files(SOURCE, DEST)
    (tmp_path / "dss.toml").unlink()
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.dss]\ndatastore = "testsync"\n\n'
        '[tool.dss.trees.src.users]\npath = "missing.json"\n')
    (tmp_path / "other.json").write_text(src.read_text())
    assert dss("plan").code == 2  # missing.json
    result = dss("plan", env={"DSS_SRC_USERS_PATH": "other.json"})
    assert result.code == 0, result
    assert _plan_lines(result.out) == EXPECTED_PLAN


def test_a_plugin_can_take_over_actions_and_see_imports(dss, sync_files, tmp_path: Path):
    source = {"users": [*SOURCE["users"], {"idnumber": "ext-1", "_lastfirst": "Ext, Ernal"}]}
    _, dst = sync_files(source, DEST)
    result = dss("-v", "run", "testsync", "--report", "report.json")
    assert result.code == 0, result
    assert "imported src.users: 4 records" in result.out
    assert "imported dst.groups: 2 records" in result.out
    report = json.loads((tmp_path / "report.json").read_text())
    ext = next(a for a in report["actions"] if a["idnumber"] == "ext-1")
    assert ext["result"] == "dropped" and ext["result_message"] == "managed elsewhere (testplugin)"
    assert "ext-1" not in {u["idnumber"] for u in json.loads(dst.read_text())["users"]}


def test_broken_plugin_traceback_only_with_verbose(dss, broken_site):
    quiet = dss("list", site=broken_site)
    assert "Traceback" not in quiet.err
    loud = dss("-v", "list", site=broken_site)
    assert "Traceback (most recent call last)" in loud.err
    assert "import dss_no_such_dependency" in loud.err


def test_show_lists_set_members_sorted(dss, sync_files):
    source = {"users": [{"idnumber": str(i), "_lastfirst": f"L{i}, F", "department": "math"}
                        for i in (9, 3, 7, 1, 5)]}
    sync_files(source, DEST)
    result = dss("show", "groups", "math", "--datastore", "testsync")
    assert "    members = ['1', '3', '5', '7', '9']" in result.out, result
