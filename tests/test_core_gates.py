"""Guards for a bad night, through the real `dss` command and the installed test plugin.

Source gates (empty, shrunk, a column gone), deletion and member-loss limits,
model errors, unknown settings, idnumber hygiene, and the report written for
every outcome. The destination is a JSON file: each refusal leaves it
byte-for-byte as it was.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest


def people(n: int, *, department: str = "math", start: int = 1) -> list[dict[str, str]]:
    return [{"idnumber": str(i), "_lastfirst": f"Doe, P{i}", "department": department}
            for i in range(start, start + n)]


@pytest.fixture
def site(tmp_path: Path, dss: Any, sync_files: Any) -> Any:
    """A synced site: 50 users in the source, run once, so the state and destination are set."""

    class Site:
        src, dst = sync_files({"users": people(50)}, {"users": [], "groups": []})

        def source(self, users: list[dict[str, Any]]) -> None:
            self.src.write_text(json.dumps({"users": users}))

        def run(self, *args: str, env: dict[str, str] | None = None) -> Any:
            return dss(*args, env=env)

    s = Site()
    first = s.run("run", "testsync")
    assert first.code == 0, first
    return s


def unchanged(site: Any, before: bytes) -> None:
    assert site.dst.read_bytes() == before, "the destination changed"


def stopped_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("dss: stopped: ")]


# -- source gates ---------------------------------------------------------------------------

def test_an_empty_source_is_stopped_with_exit_3_and_nothing_applied(site: Any) -> None:
    before = site.dst.read_bytes()
    site.source([])
    result = site.run("run", "testsync")
    assert result.code == 3, result
    assert stopped_lines(result.err)[0] == (
        "dss: stopped: src.users: the source is empty (0 objects, last accepted 50); "
        "if that is right, run again with --accept src.users")
    assert result.err.rstrip().endswith("dss: nothing was applied")
    unchanged(site, before)


def test_a_shrunken_source_names_both_counts_and_how_to_accept(site: Any) -> None:
    before = site.dst.read_bytes()
    site.source(people(5))
    result = site.run("run", "testsync")
    assert result.code == 3, result
    assert ("dss: stopped: src.users: 5 objects, last accepted 50 (\u221290.0%, more than "
            "shrink_limit 20%); if that is right, run again with --accept src.users") in result.err
    unchanged(site, before)


def test_a_shrink_within_the_limit_passes_and_becomes_the_new_baseline(site: Any) -> None:
    site.source(people(41))  # -18%
    assert site.run("run", "testsync", "--allow-deletions", "9").code == 0
    site.source(people(34))  # -17% of 41, -32% of the first 50: compared with the last accepted
    result = site.run("run", "testsync", "--allow-deletions", "9")
    assert result.code == 0, result


def test_accept_lets_an_intended_change_through_and_records_it(site: Any, tmp_path: Path) -> None:
    site.source(people(5))
    result = site.run("run", "testsync", "--accept", "src.users", "--allow-deletions", "45")
    assert result.code == 0, result
    state = json.loads((tmp_path / ".dss" / "testsync.sources.json").read_text())
    assert state["branches"]["src.users"]["objects"] == 5
    assert site.run("plan", "testsync").code == 0  # 5 is now the baseline


def test_shrink_limit_is_a_setting_per_branch(site: Any, tmp_path: Path) -> None:
    config = tmp_path / "dss.toml"
    config.write_text(config.read_text().replace(
        'path = "export.json"', 'path = "export.json"\nshrink_limit = "95%"'))
    site.source(people(5))
    result = site.run("plan", "testsync", "--allow-deletions", "45")
    assert result.code == 0, result


def test_a_column_gone_is_stopped(site: Any) -> None:
    before = site.dst.read_bytes()
    site.source([{"idnumber": p["idnumber"], "_lastfirst": p["_lastfirst"]} for p in people(50)])
    result = site.run("run", "testsync")
    assert result.code == 3, result
    assert "src.users: column 'department' is gone" in result.err
    unchanged(site, before)


def test_an_empty_source_is_stopped_without_any_state(dss: Any, sync_files: Any,
                                                      tmp_path: Path) -> None:
    _, dst = sync_files({"users": []}, {"users": [{"idnumber": "1", "name": "A B"}]})
    before = dst.read_bytes()
    result = dss("run", "testsync")
    assert result.code == 3, result
    assert "src.users: the source is empty (0 objects, and no source accepted before)" in result.err
    assert dst.read_bytes() == before
    assert not (tmp_path / ".dss" / "testsync.sources.json").exists()  # nothing accepted


def test_plan_never_records_the_source_and_state_files_are_private(site: Any,
                                                                   tmp_path: Path) -> None:
    state = tmp_path / ".dss" / "testsync.sources.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.parent.stat().st_mode) == 0o700
    recorded = state.read_bytes()
    site.source(people(45))
    assert site.run("plan", "testsync").code == 0
    assert state.read_bytes() == recorded


def test_a_state_folder_setting_moves_the_state(site: Any, tmp_path: Path) -> None:
    result = site.run("plan", "testsync", env={"DSS_STATE_DIR": str(tmp_path / "elsewhere")})
    assert result.code == 0, result  # no state there: nothing to compare a non-empty source with
    site.source([])
    result = site.run("run", "testsync", env={"DSS_STATE_DIR": str(tmp_path / "elsewhere")})
    assert result.code == 3 and "no source accepted before" in result.err


def test_a_corrupt_state_file_is_a_configuration_error(site: Any, tmp_path: Path) -> None:
    (tmp_path / ".dss" / "testsync.sources.json").write_text("{not json")
    result = site.run("run", "testsync")
    assert result.code == 2, result
    assert "the state file cannot be read" in result.err


# -- deletion and member-loss limits --------------------------------------------------------

def test_retiring_too_many_is_refused_and_plan_says_why(site: Any) -> None:
    before = site.dst.read_bytes()
    site.source(people(42))  # 8 of 50 (16%): past 10% and past 5
    planned = site.run("plan", "testsync")
    assert planned.code == 3, planned
    assert planned.out.count("old_users(") == 8  # the plan still lists every action
    assert stopped_lines(planned.err) == [
        "dss: stopped: dst.users: 8 of 50 objects would be retired or deleted (16.0%, more than "
        "deletion_limit 10% and deletion_floor 5); if intended, run with "
        "--allow-deletions dst.users=8"]
    result = site.run("run", "testsync")
    assert result.code == 3, result
    unchanged(site, before)
    allowed = site.run("run", "testsync", "--allow-deletions", "dst.users=8")
    assert allowed.code == 0, allowed
    assert len(json.loads(site.dst.read_text())["users"]) == 42


def test_allow_deletions_below_the_count_still_stops(site: Any) -> None:
    site.source(people(42))
    result = site.run("run", "testsync", "--allow-deletions", "7")
    assert result.code == 3
    assert "more than --allow-deletions 7" in result.err


def test_a_few_retirements_pass_the_floor(site: Any) -> None:
    site.source(people(45))  # 5 of 50: 10%, not more than the floor of 5
    assert site.run("run", "testsync").code == 0


def test_a_set_losing_more_than_half_its_members_is_refused(site: Any) -> None:
    before = site.dst.read_bytes()
    # 30 of 50 move from math to art: 'math' loses 60% of its members, no account is retired
    site.source(people(20) + people(30, department="art", start=21))
    result = site.run("run", "testsync")
    assert result.code == 3, result
    assert ("dst.groups 'math': members would lose 30 of 50 (60.0%, more than member_loss_limit "
            "50% of a set of 10 or more)") in result.err
    unchanged(site, before)


def test_deletion_limit_settings_are_per_branch(site: Any, tmp_path: Path) -> None:
    config = tmp_path / "dss.toml"
    config.write_text(config.read_text() + '\n[trees.dst.users]\ndeletion_limit = "20%"\n')
    site.source(people(42))
    assert site.run("run", "testsync").code == 0


# -- model errors, reports ------------------------------------------------------------------

def test_a_report_is_written_for_a_stopped_run(site: Any, tmp_path: Path) -> None:
    site.source([])
    report = tmp_path / "r.json"
    result = site.run("run", "testsync", "--report", str(report))
    assert result.code == 3
    data = json.loads(report.read_text())
    assert data["run"]["exit_code"] == 3
    assert data["gates"] == [line.removeprefix("dss: stopped: ")
                             for line in stopped_lines(result.err)]
    assert stat.S_IMODE(report.stat().st_mode) == 0o600


def test_a_report_is_written_for_a_configuration_error(site: Any, tmp_path: Path) -> None:
    config = tmp_path / "dss.toml"
    config.write_text(config.read_text().replace("[trees.dst]", "[trees.dst]\nmod = 'x'"))
    report = tmp_path / "r.json"
    report.write_text("old report")
    report.chmod(0o644)
    result = site.run("run", "testsync", "--report", str(report))
    assert result.code == 2, result
    data = json.loads(report.read_text())
    assert data["run"]["exit_code"] == 2 and "unknown setting 'mod'" in data["error"]
    assert stat.S_IMODE(report.stat().st_mode) == 0o600


def test_a_successful_report_is_private_too(site: Any, tmp_path: Path) -> None:
    report = tmp_path / "ok.json"
    assert site.run("run", "testsync", "--report", str(report)).code == 0
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert json.loads(report.read_text())["sources"]["src.users"]["objects"] == 50


# -- settings that cannot be misread -----------------------------------------------------------

@pytest.mark.parametrize(("edit", "message"), [
    (("[trees.dst]", "[trees.dst.users]\nmod = 'no-retire'\n[trees.dst]"),
     "trees.dst.users.mod: unknown setting 'mod' (did you mean 'mode'?)"),
    (('path = "export.json"', 'pathh = "export.json"'),
     "trees.src.users.pathh: unknown setting 'pathh' (did you mean 'path'?)"),
    (("[trees.dst]", "[trees.dst]\nbatchsize = 3"), "unknown setting 'batchsize'"),
    (("[trees.src.users]", "[trees.src.userz]"), "unknown branch or setting 'userz' "
                                                 "(did you mean 'users'?)"),
    (("[trees.src.users]", "[tree.src.users]"), "unknown setting 'tree' (did you mean 'trees'?)"),
    (("[trees.dst]", "[trees.dst.users]\nmode = 'no-retyre'\n[trees.dst]"),
     "'no-retyre' is not a valid mode"),
    (("[trees.dst]", "[trees.dst.users]\ndeletion_floor = 'five'\n[trees.dst]"),
     "'five' is not a valid deletion_floor"),
])
def test_a_misread_setting_is_exit_2_naming_it(site: Any, tmp_path: Path,
                                               edit: tuple[str, str], message: str) -> None:
    before = site.dst.read_bytes()
    config = tmp_path / "dss.toml"
    config.write_text(config.read_text().replace(*edit, 1))
    for command in ("plan", "run", "check"):
        result = site.run(command, "testsync")
        assert result.code == 2, result
        assert message in result.err + result.out, result
    unchanged(site, before)


def test_an_unknown_environment_setting_is_exit_2(site: Any) -> None:
    result = site.run("run", "testsync", env={"DSS_SRC_USERS_PAHT": "x.json"})
    assert result.code == 2, result
    assert ("environment variable DSS_SRC_USERS_PAHT: unknown setting 'paht' for branch src.users "
            "(did you mean 'DSS_SRC_USERS_PATH'?)") in result.err
    result = site.run("run", "testsync", env={"DSS_DST_USERS_MODE": "no-retire",
                                              "DSS_DST_DELETION_FLOOR": "100"})
    assert result.code == 0, result  # known keys from the environment are fine


def test_accept_naming_no_branch_is_exit_2(site: Any) -> None:
    result = site.run("run", "testsync", "--accept", "src.user")
    assert result.code == 2
    assert "--accept src.user: no such tree or branch (did you mean 'src.users'?)" in result.err


# -- idnumber hygiene ---------------------------------------------------------------------

def test_surrounding_whitespace_in_an_idnumber_is_stripped(site: Any) -> None:
    users = people(50)
    users[0]["idnumber"] = " 1 "
    site.source(users)
    result = site.run("plan", "testsync")
    assert result.code == 0 and "Nothing to do" in result.out, result


def test_an_idnumber_with_spaces_duplicates_the_plain_one(site: Any) -> None:
    site.source(people(50) + [{"idnumber": " 1", "_lastfirst": "Other, One", "department": "x"}])
    result = site.run("run", "testsync")
    assert result.code == 2, result
    assert "duplicate idnumber '1'" in result.err


def test_idnumbers_differing_only_in_case_are_a_duplicate(site: Any) -> None:
    users = people(50) + [
        {"idnumber": "ab7", "_lastfirst": "A, B", "department": "math"},
        {"idnumber": "AB7", "_lastfirst": "A, B", "department": "math"}]
    site.source(users)
    result = site.run("run", "testsync")
    assert result.code == 2, result
    assert ("src.users: idnumbers 'ab7' (at export.json[users] item 51) and 'AB7' differ only in "
            "case or whitespace") in result.err
