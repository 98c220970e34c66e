"""The builtin console reporter, through the real `dss` command: what -v adds, on stderr."""

from __future__ import annotations

from typing import Any

SOURCE = {"users": [{"idnumber": "1", "_lastfirst": "Doe, Jane", "department": "math"},
                    {"idnumber": "2", "_lastfirst": "Roe, Rick", "department": "math"}]}


def test_verbose_names_the_run_and_each_imported_branch(dss: Any, sync_files: Any) -> None:
    sync_files(SOURCE, {"users": [], "groups": []})
    result = dss("-v", "plan", "testsync")
    assert result.code == 0, result
    err = result.err.splitlines()
    assert err[0].startswith("dss plan testsync: run ")
    assert "imported src.users: 2 records, 2 objects" in err
    assert "imported src.groups: 2 records, 1 object" in err  # one row per member, merged
    assert "imported dst.users: 0 records, 0 objects" in err
    assert all("Doe" not in line for line in err)  # counts only, never values


def test_without_verbose_stderr_stays_empty(dss: Any, sync_files: Any) -> None:
    sync_files(SOURCE, {"users": [], "groups": []})
    result = dss("plan", "testsync")
    assert result.code == 0 and result.err == "", result
