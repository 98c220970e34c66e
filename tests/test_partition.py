"""The diff split by a hash of the idnumber into K parts: the merged parts are the whole plan.

For random trees (the object path: literal records, a derived property and a
groups branch derived from every user; the columnar path: dss-csv files on
both sides, or on one side) and K from 1 to 5, :func:`dss_core.partition.merge`
of the K parts' plans equals the whole diff: the same actions (values, objects)
in the same order. Each part holds only its own idnumbers.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from pathlib import Path
from typing import Any

import dss_csv.plugin
import pytest
from dss_csv import CSVImporter
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dss_core import Branch, Config, DssError, InputError, Model, Tree
from dss_core.actions import Action
from dss_core.diff import diff, diff_in_workers
from dss_core.errors import ConfigurationProblems
from dss_core.partition import Part, merge, part_of, parts
from dss_core.plugins import builtin_plugin_manager
from dss_core.quarantine import Quarantine


def test_part_of_is_the_documented_crc32_of_the_utf8_bytes() -> None:
    assert part_of("1042", 4) == zlib.crc32(b"1042") % 4 == 3
    assert part_of("é", 7) == zlib.crc32("é".encode()) % 7
    assert all(part_of(str(n), 1) == 0 for n in range(50))
    counts = [0, 0, 0]
    for n in range(3000):
        counts[part_of(str(n), 3)] += 1
    assert min(counts) > 900  # spread evenly enough for work to be shared
    with pytest.raises(ValueError):
        Part(3, 3)
    assert [p.index for p in parts(3)] == [0, 1, 2] and "1042" in Part(3, 4) and "1042" not in Part(0, 4)


def key(action: Action) -> tuple[Any, ...]:
    """Everything of an action, its objects by identity (both diffs read the same loaded trees)."""
    return (action.kind, action.method, action.tree, action.branch, action.idnumber, action.attribute,
            repr(action.value), repr(action.old_value), action.error, id(action.source), id(action.dest))


def check_parts(source: Tree, dest: Tree) -> list[Action]:
    whole = list(diff(source, dest))
    for count in range(1, 6):
        plans = [list(diff(source, dest, part=part)) for part in parts(count)]
        for part, plan in zip(parts(count), plans, strict=True):
            assert all(a.idnumber is None or a.idnumber in part for a in plan)
        merged = merge(reversed(plans), source.branch_order)  # the parts' order does not matter
        assert [key(a) for a in merged] == [key(a) for a in whole], count
    event(f"actions: {min(len(whole), 10)}")
    return whole


# -- the object path ----------------------------------------------------------------
class Student(Model):
    _last: str = ""
    grade: int = 0
    courses: set[str] = set()

    @property
    def name(self) -> str:  # derived
        return self._last.upper()


class Account(Model):
    name: str = ""
    grade: int = 0
    courses: set[str] = set()


class Wider(Account):
    email: str = ""  # not in the source: a branch-level model error (part 0's)


class Cohort(Model):
    members: set[str] = set()


def cohorts_from_students(importer: Any) -> Any:  # derived from every user, whole
    for student in importer.tree.users.values():
        for course in student.courses:
            yield {"idnumber": course, "members": student.idnumber}


class Sis(Tree):
    users = Branch(Student)
    groups = Branch(Cohort, importer=cohorts_from_students)


class Lms(Tree):
    users = Branch(Account)
    groups = Branch(Cohort)


class WiderLms(Tree):
    users = Branch(Wider)
    groups = Branch(Cohort)


IDS = [str(n) for n in range(40)] + ["A1", "é", "x y", "007", "Zz"]
COURSES = ["c1", "c2", "c3", "é", "1"]


def users(draw: Any, with_name: bool) -> list[dict[str, Any]]:
    out = []
    for idnumber in draw(st.lists(st.sampled_from(IDS), unique=True, max_size=25)):
        record: dict[str, Any] = {"idnumber": idnumber, "grade": draw(st.integers(0, 2)),
                                  "courses": draw(st.frozensets(st.sampled_from(COURSES), max_size=3))}
        last = draw(st.sampled_from(["ann", "bo", "cy"]))
        record.update({"name": last.upper()} if with_name else {"_last": last})
        out.append(record)
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_merged_parts_are_the_whole_plan_object_path(dss_tree: Any, data: Any) -> None:
    source_users = users(data.draw, with_name=False)
    dest_users = users(data.draw, with_name=True)
    if data.draw(st.booleans()):  # mostly the same users: few differences among many equal ones
        dest_users = [{"idnumber": u["idnumber"], "name": u["_last"].upper(), "grade": u["grade"],
                       "courses": u["courses"]} for u in source_users] + dest_users[:3]
        dest_users = list({u["idnumber"]: u for u in dest_users}.values())
    groups = [{"idnumber": c, "members": data.draw(st.frozensets(st.sampled_from(IDS), max_size=4))}
              for c in data.draw(st.lists(st.sampled_from(COURSES), unique=True))]
    source = dss_tree(Sis, users=source_users)
    dest = dss_tree(data.draw(st.sampled_from([Lms, WiderLms])), users=dest_users, groups=groups)
    assert source.branch("users").columnar is None
    check_parts(source, dest)


# -- the columnar path (dss-csv) ------------------------------------------------------
class User(Model):
    name: str = ""
    grade: int | None = None
    groups: set[str] = set()


class ObjectCSV(CSVImporter):
    """dss-csv's importer without its columnar reader: the object path."""

    def read_columns(self) -> None:
        return None


def write(path: Path, rows: list[list[str]]) -> Path:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([["idnumber", "name", "grade", "groups"], *rows])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def csv_trees(tmp_path: Path, dest_importer: type[CSVImporter]) -> tuple[Tree, Tree]:
    pm = builtin_plugin_manager()
    pm.register(dss_csv.plugin, name="csv")
    table = {"lists": {"groups": ";"}}
    config = Config({"trees": {"src": {"users": {"path": str(tmp_path / "s.csv"), **table}},
                               "dst": {"users": {"path": str(tmp_path / "d.csv"), **table}}}},
                    path=tmp_path / "dss.toml", environ={})

    class Src(Tree):
        name = "src"
        users = Branch(User, importer=CSVImporter)

    class Dst(Tree):
        name = "dst"
        users = Branch(User, importer=dest_importer)

    return Src(config=config, plugins=pm).load(), Dst(config=config, plugins=pm).load()


def csv_rows(draw: Any) -> list[list[str]]:
    return [[idnumber, draw(st.sampled_from(["Ann", "Bo", "é"])), draw(st.sampled_from(["", "1", "2"])),
             draw(st.sampled_from(["", "g1", "g1;g2", "g2;g1", "g3"]))]
            for idnumber in draw(st.lists(st.sampled_from(IDS[:40]), unique=True, min_size=1, max_size=30))]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_merged_parts_are_the_whole_plan_columnar_path(tmp_path: Path, data: Any) -> None:
    source_rows = csv_rows(data.draw)
    dest_rows = csv_rows(data.draw)
    if data.draw(st.booleans()):
        dest_rows = list({r[0]: r for r in [*source_rows, *dest_rows[:3]]}.values())
    write(tmp_path / "s.csv", source_rows)
    write(tmp_path / "d.csv", dest_rows)
    dest_importer = data.draw(st.sampled_from([CSVImporter, ObjectCSV]))
    source, dest = csv_trees(tmp_path, dest_importer)
    assert source.branch("users").columnar is not None  # the source side is columnar either way
    assert (dest.branch("users").columnar is not None) == (dest_importer is CSVImporter)
    event(f"destination columnar: {dest_importer is CSVImporter}")
    check_parts(source, dest)


# -- the parts in worker processes -------------------------------------------------------
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), workers=st.integers(2, 3))
def test_workers_give_the_whole_plan(dss_tree: Any, data: Any, workers: int) -> None:
    source = dss_tree(Sis, users=users(data.draw, with_name=False))
    dests = [dss_tree(data.draw(st.sampled_from([Lms, WiderLms])), users=users(data.draw, with_name=True))
             for _ in range(data.draw(st.integers(1, 2)))]
    got = diff_in_workers(source, dests, None, workers)
    assert [[key(a) for a in plan] for plan in got] == [[key(a) for a in diff(source, d)] for d in dests]


def test_workers_give_the_whole_plan_columnar(tmp_path: Path) -> None:
    """A branch columnar on both sides or on one is diffed in the parent (polars does not survive
    a fork): the same plan, and no worker hangs on it."""
    write(tmp_path / "s.csv", [[str(n), "Ann" if n % 7 else "Bo", str(n % 3), "g1;g2" if n % 5 else "g3"]
                               for n in range(300)])
    write(tmp_path / "d.csv", [[str(n), "Ann", str(n % 3), "g2;g1" if n % 11 else ""]
                               for n in range(50, 400)])
    for importer in (CSVImporter, ObjectCSV):
        source, dest = csv_trees(tmp_path, importer)
        whole = [key(a) for a in diff(source, dest)]
        assert len(whole) > 200
        assert [key(a) for a in diff_in_workers(source, [dest], None, 2)[0]] == whole


class Fragile(Student):
    @property
    def name(self) -> str:
        if self._last == "bad":
            raise ValueError("no name")
        return self._last.upper()


class FragileSis(Tree):
    users = Branch(Fragile)
    groups = Branch(Cohort, importer=cohorts_from_students)


def fragile_users(bad: set[int]) -> list[dict[str, Any]]:
    return [{"idnumber": str(n), "_last": "bad" if n in bad else "ann", "courses": {"c1"}}
            for n in range(60)]


@pytest.mark.parametrize("bad", [{7, 40}, {40, 7, 13}, {59}])
def test_workers_raise_the_error_the_whole_diff_raises(dss_tree: Any, bad: set[int]) -> None:
    source = dss_tree(FragileSis, users=fragile_users(bad))
    dest = dss_tree(Lms, users=[])
    with pytest.raises(InputError) as whole:
        list(diff(source, dest))
    with pytest.raises(InputError) as parts_:
        diff_in_workers(source, [dest], None, 3)
    assert str(parts_.value) == str(whole.value) and f"idnumber '{min(bad)}'" in str(whole.value)


def test_workers_quarantine_the_same_records_in_the_same_order(dss_plugins: Any) -> None:
    config = Config({"trees": {"fragilesis": {"users": {"on_bad_record": "quarantine"}}}}, environ={})

    def loaded(cls: type[Tree], **records: Any) -> Tree:
        return cls(config=config, plugins=dss_plugins).load_records(records)

    source = loaded(FragileSis, users=fragile_users({3, 31, 17, 58, 44}))
    dest = loaded(Lms, users=[])
    whole_q, parts_q = Quarantine(), Quarantine()
    whole = [key(a) for a in diff(source, dest, whole_q)]
    got = [key(a) for a in diff_in_workers(source, [dest], parts_q, 2)[0]]
    assert got == whole
    assert [r.idnumber for r in whole_q.records] == ["3", "17", "31", "44", "58"]
    assert [(r.idnumber, r.reason, str(r.origin)) for r in parts_q.records] == [
        (r.idnumber, r.reason, str(r.origin)) for r in whole_q.records]


# -- the command: dss plan --workers 2 ------------------------------------------------------
def _sync_data(count: int) -> tuple[dict[str, Any], dict[str, Any]]:
    departments = ["math", "art", "history", "music"]
    source = {"users": [{"idnumber": str(n), "_lastfirst": f"Doe{n % 13}, Jo", "department": departments[n % 4]}
                        for n in range(count)]}
    dest = {"users": [{"idnumber": str(n), "name": f"Jo Doe{n % 11}", "department": departments[n % 3]}
                      for n in range(count // 10, count + count // 10)],
            "groups": [{"idnumber": d, "members": [str(n) for n in range(count) if n % 4 == i and n % 9]}
                       for i, d in enumerate(departments[:3])]}
    return source, dest


def _untimed(out: str) -> str:
    """The output but the phases' seconds (``import 0.01 s, diff 0.12 s``)."""
    return re.sub(r"\d+\.\d+ s\b", "_ s", out)


def _report(path: Path) -> list[dict[str, Any]]:
    return [{k: v for k, v in action.items() if k != "duration"}
            for action in json.loads(path.read_text())["actions"]]


def test_plan_with_workers_prints_and_reports_the_same_plan(dss: Any, sync_files: Any, tmp_path: Path) -> None:
    source, dest = _sync_data(300)
    sync_files(source, dest)
    one = dss("plan", "testsync", "--report", "one.json")
    two = dss("plan", "testsync", "--workers", "2", "--report", "two.json")
    assert one.code == two.code == 0, (one, two)
    assert _untimed(one.out) == _untimed(two.out) and one.out.count("(idnumber=") > 300
    assert _report(tmp_path / "one.json") == _report(tmp_path / "two.json")


def test_run_with_workers_applies_the_plan_and_converges(dss: Any, sync_files: Any, tmp_path: Path) -> None:
    source, dest = _sync_data(200)
    _, dst = sync_files(source, dest)
    assert dss("plan", "testsync", "--report", "plan.json").code == 0
    done = dss("run", "testsync", "--workers", "2", "--report", "run.json")
    assert done.code == 0, done
    applied = json.loads((tmp_path / "run.json").read_text())["actions"]
    assert [a["message"] for a in applied] == [a["message"] for a in _report(tmp_path / "plan.json")]
    assert {a["result"] for a in applied} == {"success"} and len(applied) > 200
    again = dss("plan", "testsync", "--workers", "2")
    assert again.code == 0 and "(idnumber=" not in again.out, again


def test_workers_must_be_a_positive_number(dss: Any, sync_files: Any) -> None:
    sync_files(*_sync_data(10))
    result = dss("plan", "testsync", "--workers", "0")
    assert result.code == 2 and "--workers" in result.err


class Odd(Student):
    @property
    def name(self) -> str:
        if self._last == "bad":  # dss's own error with its own constructor: not sent as it is
            raise ConfigurationProblems(["first problem", "second problem"])
        return self._last.upper()


class OddSis(Tree):
    users = Branch(Odd)
    groups = Branch(Cohort, importer=cohorts_from_students)


def test_a_worker_error_that_does_not_pickle_back_keeps_its_message_and_exit_code(dss_tree: Any) -> None:
    source = dss_tree(OddSis, users=fragile_users({5}))
    dest = dss_tree(Lms, users=[])
    with pytest.raises(DssError) as whole:
        list(diff(source, dest))
    with pytest.raises(DssError) as parts_:
        diff_in_workers(source, [dest], None, 2)
    assert str(parts_.value) == str(whole.value) == "first problem (and 1 more problem: dss check lists them)"
    assert parts_.value.exit_code == whole.value.exit_code == 2
