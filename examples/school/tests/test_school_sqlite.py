"""The whole school sync on a generated SIS export and a SQLite LMS: conformance and what changed."""

from __future__ import annotations

import filecmp
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dss_core import Config, Datastore
from dss_core.runner import Run, execute
from dss_core.testing import check_conformance
from dss_sql import dispose_engines

from school_sync import plugin, schema
from school_sync.generate import generate


@pytest.fixture
def school(tmp_path: Path) -> Any:
    """A generated school of 300 people, its LMS in tmp_path/lms.sqlite; yields (config, url)."""
    info = generate(tmp_path, users=300, seed=11)
    config = Config.load(tmp_path / "dss.toml")
    config.environ = {}  # no DSS_LMS_URL from the environment
    yield config, info["url"]
    dispose_engines()


def datastore(config: Config) -> Datastore:
    """The datastore exactly as the installed plugin registers it, its trees' names resolved."""
    (found,) = plugin.dss_datastores(config=config)
    trees = {tree.name: tree for tree in plugin.dss_trees(config=config)}  # as dss registers them
    return Datastore(found.name, trees[found.source], [trees[d] for d in found.destinations])


def plan(config: Config, plugins: Any) -> list[Any]:
    source, dests = datastore(config).open(config, plugins)
    run = Run.create("plan", plugins, config)
    run.options["quiet"] = True
    return execute(run, source, dests).actions


def test_conformance_on_sqlite(school: Any, dss_plugins: Any) -> None:
    config, url = school
    summary = check_conformance(datastore(config), config=config, plugins=dss_plugins)
    assert summary.failed == 0 and summary.errors == 0
    kinds = Counter((r.action.branch, r.action.kind) for r in summary.results)
    # the generated LMS is out of date in every way the sync handles
    for wanted in [("users", "new"), ("users", "update"), ("users", "old"),
                   ("enrolments", "new"), ("enrolments", "add"), ("enrolments", "remove"),
                   ("enrolments", "old"), ("groups", "new"), ("groups", "add"),
                   ("groups", "remove"), ("groups", "old")]:
        assert kinds[wanted], f"the first run has no {wanted} action"


def test_the_run_changes_the_lms_as_expected(school: Any, dss_plugins: Any) -> None:
    config, url = school
    before = plan(config, dss_plugins)
    retired = {a.idnumber for a in before if a.method == "old_users"}
    created = {a.idnumber for a in before if a.method == "new_users"}
    check_conformance(datastore(config), config=config, plugins=dss_plugins)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        users = {r.idnumber: r for r in conn.execute(sa.select(schema.users))}
        members = {(r.cohort_idnumber, r.user_idnumber)
                   for r in conn.execute(sa.select(schema.cohort_members))}
        cohorts = {r.idnumber for r in conn.execute(sa.select(schema.cohorts))}
    engine.dispose()
    assert retired and all(users[i].suspended for i in retired)  # retired, never deleted
    assert created and all(not users[i].suspended for i in created)  # incl. returning students
    assert not {m for m in members if m[1] in retired}  # retired users left their groups
    assert "dept-latin" not in cohorts  # the closed department's group is gone


def test_a_withdrawal_tomorrow(school: Any, dss_plugins: Any, tmp_path: Path) -> None:
    config, _ = school
    check_conformance(datastore(config), config=config, plugins=dss_plugins)
    students = tmp_path / "students.csv"
    lines = students.read_text(encoding="utf-8").splitlines()
    victim = next(i for i, line in enumerate(lines) if ",Active," in line)
    idnumber = lines[victim].split(",")[0]
    lines[victim] = lines[victim].replace(",Active,", ",Withdrawn,")
    students.write_text("\n".join(lines) + "\n", encoding="utf-8")
    methods = [(a.method, a.idnumber) for a in plan(config, dss_plugins)]
    assert ("old_users", idnumber) in methods
    assert ("old_enrolments", idnumber) in methods
    removes = [m for m in methods if m[0] == "remove_members_from_groups"]
    assert len(removes) == 2  # homeroom and grade; before the account is retired
    assert methods.index(removes[-1]) < methods.index(("old_users", idnumber))


def test_generator_is_deterministic(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder, seed in ((first, 3), (second, 3), (other, 4)):
        generate(folder, users=120, seed=seed)
    for name in ("students.csv", "staff.csv", "enrolments.csv", "dss.toml"):
        assert filecmp.cmp(first / name, second / name, shallow=False)
    assert not filecmp.cmp(first / "students.csv", other / "students.csv", shallow=False)
    counts = schema.counts(schema.sqlite_url(first / "lms.sqlite"))
    assert counts == schema.counts(schema.sqlite_url(second / "lms.sqlite"))
    dispose_engines()


@pytest.mark.parametrize("users", [1, 5, 40])
def test_generator_any_size(tmp_path: Path, users: int, dss_plugins: Any) -> None:
    info = generate(tmp_path, users=users, seed=1)
    assert info["students"] + info["staff"] == users
    config = Config.load(tmp_path / "dss.toml")
    config.environ = {}
    check_conformance(datastore(config), config=config, plugins=dss_plugins)
    dispose_engines()


def test_large_schools_get_more_homerooms() -> None:
    from school_sync.generate import make_school, section_letters

    assert [section_letters(i) for i in (0, 25, 26, 701)] == ["A", "Z", "AA", "ZZ"]
    rooms = {s["home_room"] for s in make_school(6000, seed=1).students}
    assert "12AA" in rooms and len(rooms) > 6 * 26
