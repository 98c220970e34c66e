from __future__ import annotations


def test_smoke(sqlite_url, sync, kit):
    kit.create_schema(sqlite_url)
    source, dest = sync(sqlite_url, kit.SOURCE)
    print([a.message for a in source - dest])
    summary = source >> dest
    print([(r.action.message, r.status, r.message) for r in summary.results])
    print(kit.rows(sqlite_url, "select * from accounts"))
    print(kit.rows(sqlite_url, "select * from account_courses"))
    print(kit.rows(sqlite_url, "select * from cohort_members"))
    source, dest = sync(sqlite_url, kit.SOURCE)
    assert [a.message for a in source - dest] == []
