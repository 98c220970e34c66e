"""SQLHandler writes through bound parameters only: SQL metacharacters in source values are
stored literally on SQLite, PostgreSQL and MariaDB, no table is dropped, and the sync converges.

Every generic method runs with such values: ``new`` (row and link rows), ``update``,
``add`` and ``remove`` (link rows) and ``old`` (retire). Besides the stored rows, the
statements sent to the driver are checked: none contains a source value.
"""

from __future__ import annotations

import sqlalchemy as sa
from dss_sql import get_engine

from dss_core import Status

BOBBY = "Robert'); DROP TABLE accounts;--"
QUOTES = "O'Brien \"the\" `quoted` ''"
BACKSLASH = "C:\\temp\\new\\' \\\" end\\"
PERCENT = "100% sure %s %(name)s %% :name ? $1 {0}"
UNICODE = "Zoë Ångström 张伟 Ωμέγα 😀"

FIRST = {
    "users": [
        {"idnumber": BOBBY, "name": "Little Bobby Tables", "email": "x'; DELETE FROM accounts;--",
         "courses": ["math'); DROP TABLE account_courses;--", "back\\slash", "50%"]},
        {"idnumber": "o'brien", "name": QUOTES, "email": BACKSLASH, "courses": ["it's"]},
        {"idnumber": "pct%", "name": PERCENT, "email": "a%b@x"},
        {"idnumber": "zoë-张", "name": UNICODE, "email": "zoë@例え.jp", "courses": ["Ωμέγα"]},
    ],
    "groups": [
        {"idnumber": "g'1", "title": "x'); DROP TABLE cohorts;--", "members": [BOBBY, "zoë-张"]},
        {"idnumber": "g\\2", "title": PERCENT, "members": ["pct%"]},
    ],
}

SECOND = {
    "users": [
        {"idnumber": BOBBY, "name": "'; UPDATE accounts SET full_name = 'pwned", "email": "",
         "courses": ["back\\slash", "new'); DROP TABLE cohort_members;--"]},
        {"idnumber": "o'brien", "name": BACKSLASH, "email": QUOTES, "courses": ["it's"]},
        {"idnumber": "zoë-张", "name": UNICODE + " ✓", "email": "zoë@例え.jp"},
    ],
    "groups": [
        {"idnumber": "g'1", "title": "x'); DROP TABLE cohorts;--",
         "members": [BOBBY, "o'brien"]},
        {"idnumber": "g\\2", "title": "tab\there; -- comment", "members": []},
    ],
}

TABLES = {"accounts", "account_courses", "cohorts", "cohort_members"}


def values(records: dict) -> set[str]:
    """Every string in ``records`` (ids, scalar values, members) longer than two characters."""
    out: set[str] = set()
    for branch in records.values():
        for record in branch:
            for value in record.values():
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str) and len(item) > 2:
                        out.add(item)
    return out


def stored(url: str, kit) -> dict[str, list[tuple]]:
    return {
        "accounts": sorted(kit.rows(url, "select username, full_name, email, suspended "
                                         "from accounts")),
        "account_courses": sorted(kit.rows(url, "select username, course from account_courses")),
        "cohorts": sorted(kit.rows(url, "select code, title from cohorts")),
        "cohort_members": sorted(kit.rows(url, "select cohort, username from cohort_members")),
    }


def expected(records: dict, retired: dict[str, tuple] | None = None) -> dict[str, list[tuple]]:
    users, groups = records["users"], records["groups"]
    accounts = [(u["idnumber"], u["name"], u["email"], False) for u in users]
    return {
        "accounts": sorted(accounts + list((retired or {}).values())),
        "account_courses": sorted((u["idnumber"], c) for u in users for c in u.get("courses", [])),
        "cohorts": sorted((g["idnumber"], g["title"]) for g in groups),
        "cohort_members": sorted((g["idnumber"], m) for g in groups for m in g["members"]),
    }


def test_metacharacters_are_stored_literally_and_the_sync_converges(db_url, sync, kit):
    kit.create_schema(db_url)
    statements: list[str] = []
    sa.event.listen(get_engine(db_url), "before_cursor_execute",
                    lambda conn, cursor, statement, *args: statements.append(statement))

    source, dest = sync(db_url, FIRST)
    summary = kit.apply(source, dest)
    assert [r.status for r in summary.results] == [Status.SUCCESS] * 6, [
        r.message for r in summary.results]
    assert stored(db_url, kit) == expected(FIRST)
    source, dest = sync(db_url, FIRST)
    assert kit.plan(source, dest) == []

    source, dest = sync(db_url, SECOND)
    methods = {a.method.split("_")[0] for a in source - dest}
    assert methods == {"update", "add", "remove", "old"}
    summary = kit.apply(source, dest)
    assert summary.failed == 0, [r.message for r in summary.results]
    pct = FIRST["users"][2]
    assert stored(db_url, kit) == expected(
        SECOND, retired={"pct%": (pct["idnumber"], pct["name"], pct["email"], True)})
    source, dest = sync(db_url, SECOND)
    assert kit.plan(source, dest) == []

    assert set(sa.inspect(get_engine(db_url)).get_table_names()) == TABLES
    assert statements
    inlined = [(v, s) for v in values(FIRST) | values(SECOND) for s in statements if v in s]
    assert not inlined, f"source values written into the SQL text: {inlined[:3]}"
