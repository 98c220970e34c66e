"""Quarantine (issue 15) in the core: bad records, held-back actions, the gate, the rejects file.

Through the API on in-memory destinations; the school example's tests show
the same through the real ``dss`` command on CSV files and SQLite.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dss_core import BadRecord, Branch, Config, InputError, Model, Origin, Tree
from dss_core.errors import GateError
from dss_core.plugins import builtin_plugin_manager
from dss_core.quarantine import Quarantine, printable, rejects_csv
from dss_core.testing import MemoryDatabase, memory_tree

QUARANTINE = {"on_bad_record": "quarantine", "quarantine_limit": "100%"}


class Item(Model):
    title: str = ""
    size: int = 0


class Team(Model):
    members: set[str] = set()


def _records(good: dict[str, str], bad: list[str]) -> list[Any]:
    """Records of ``good`` (idnumber -> title), with a BadRecord for each of ``bad``."""
    out: list[Any] = [{"idnumber": i, "title": t} for i, t in sorted(good.items())]
    out += [BadRecord("3 fields, but the header has 2", Origin("items.csv", n + 2),
                      idnumber=i, raw=f"{i},x,y") for n, i in enumerate(bad)]
    return out


def _source(items: list[Any], teams: dict[str, set[str]], config: dict[str, Any] | None = None) -> Tree:
    cls = type("Src", (Tree,), {
        "name": "src",
        "items": Branch(Item, items),
        "teams": Branch(Team, [{"idnumber": t, "members": sorted(m)} for t, m in teams.items()])})
    return cls(config=Config(config if config is not None else QUARANTINE),
               plugins=builtin_plugin_manager()).load()


def _dest(items: dict[str, str], teams: dict[str, set[str]]) -> tuple[Tree, MemoryDatabase]:
    db = MemoryDatabase({"items": {i: {"title": t, "size": 0} for i, t in items.items()},
                         "teams": {t: {"members": set(m)} for t, m in teams.items()}})
    cls = memory_tree("dst", {"items": Item, "teams": Team}, db)
    return cls(plugins=builtin_plugin_manager()).load(), db


ids = st.sampled_from([f"u{i}" for i in range(12)])
titles = st.sampled_from(["a", "b"])


@settings(max_examples=120, deadline=None)
@given(source=st.dictionaries(ids, titles), dest=st.dictionaries(ids, titles),
       bad=st.sets(ids), source_team=st.sets(ids), dest_team=st.sets(ids))
def test_a_quarantined_object_keeps_what_it_has_and_every_other_change_is_applied(
        source: dict[str, str], dest: dict[str, str], bad: set[str], source_team: set[str],
        dest_team: set[str]) -> None:
    good = {i: t for i, t in source.items() if i not in bad}
    src = _source(_records(good, sorted(bad)), {"t": source_team})
    dst, db = _dest(dest, {"t": dest_team})

    summary = src.apply(dst, allow_deletions=1000)

    rows = db.rows("items")
    for i in set(source) | set(dest) | bad:
        if i in bad:  # kept as it was: created, changed or retired by nothing
            assert rows.get(i, {}).get("title") == dest.get(i)
        else:
            assert rows.get(i, {}).get("title") == good.get(i)
    members = db.rows("teams")["t"]["members"]
    for element in source_team | dest_team:
        assert (element in members) == (element in dest_team if element in bad else element in source_team)
    assert len(summary.quarantined) == len(bad)
    assert summary.exit_code == (1 if bad else 0)
    for result in summary.results:  # nothing held that names no quarantined idnumber
        if result.status.value == "held":
            assert result.action.idnumber in bad or result.action.value in bad


@settings(max_examples=60, deadline=None)
@given(good=st.integers(1, 300), bad=st.integers(0, 30), limit=st.integers(0, 20))
def test_the_quarantine_gate_trips_exactly_past_its_limit(good: int, bad: int, limit: int) -> None:
    items = {f"g{i}": "a" for i in range(good)}
    config = {"on_bad_record": "quarantine", "quarantine_limit": f"{limit}%"}
    src = _source(_records(items, [f"b{i}" for i in range(bad)]), {}, config)
    dst, db = _dest({}, {})
    tripped = bad / (good + bad) > limit / 100
    try:
        src.apply(dst)
    except GateError as exc:
        assert tripped
        assert exc.trips[0].startswith(f"src.items: {bad:,} of {good + bad:,} records are bad")
        assert db.rows("items") == {}  # nothing applied
    else:
        assert not tripped
        assert len(db.rows("items")) == good


def test_the_default_is_to_stop_on_the_first_bad_record() -> None:
    with pytest.raises(InputError) as info:
        _source(_records({"u1": "a"}, ["u2"]), {}, config={})
    assert str(info.value) == "items.csv line 2: 3 fields, but the header has 2"


def test_a_value_that_does_not_convert_is_quarantined_with_its_column() -> None:
    src = _source([{"idnumber": "u1", "title": "a", "size": "12"},
                   {"idnumber": "u2", "title": "b", "size": "twelve"}], {})
    [bad] = src.branch("items").rejects
    assert (bad.idnumber, bad.column, bad.where) == ("u2", "size", "src.items")
    assert bad.reason.startswith("field 'size': cannot read 'twelve' as int")
    assert bad.raw == '{"idnumber": "u2", "title": "b", "size": "twelve"}'
    assert set(src.branch("items")) == {"u1"}


def test_an_empty_idnumber_holds_back_every_retirement_of_its_branch_and_the_later_ones() -> None:
    src = _source([{"idnumber": "u1", "title": "a"}, {"idnumber": " ", "title": "?"}],
                  {"t": {"u1"}})
    dst, db = _dest({"u1": "a", "u9": "gone"}, {"t": {"u1", "u9"}, "old": set()})

    summary = src.apply(dst)

    assert set(db.rows("items")) == {"u1", "u9"}  # u9 is not retired tonight
    assert db.rows("teams")["t"]["members"] == {"u1", "u9"}  # nor removed from a later branch
    assert "old" in db.rows("teams")
    held = {r.action.method: r.message for r in summary.results if r.status.value == "held"}
    assert set(held) == {"old_items", "remove_members_from_teams", "old_teams"}
    assert held["old_items"] == ("held back: a record of src.items has no readable idnumber "
                                 "(src.items record 2), so nothing in items is retired tonight")


def test_a_failing_derived_property_quarantines_its_object_at_the_diff() -> None:
    class Person(Model):
        _raw: str

        @property
        def name(self) -> str:
            first, last = self._raw.split(",")  # a row without a comma cannot be split
            return f"{last.strip()} {first.strip()}"

    class LMSPerson(Model):
        name: str

    src = type("Src", (Tree,), {"name": "src", "people": Branch(Person, [
        {"idnumber": "p1", "_raw": "Doe, Jane"}, {"idnumber": "p2", "_raw": "no comma"}])})(
        config=Config(QUARANTINE), plugins=builtin_plugin_manager()).load()
    db = MemoryDatabase({"people": {"p2": {"name": "Old Name"}}})
    dst = memory_tree("dst", {"people": LMSPerson}, db)(plugins=builtin_plugin_manager()).load()

    summary = src.apply(dst)

    assert db.rows("people") == {"p1": {"name": "Jane Doe"}, "p2": {"name": "Old Name"}}
    [bad] = summary.quarantined
    assert (bad.idnumber, bad.where) == ("p2", "src.people")
    assert bad.reason.startswith("cannot compute its attributes: ValueError")
    stopping = type(src)(plugins=builtin_plugin_manager()).load()
    with pytest.raises(InputError, match="src.people idnumber 'p2': cannot compute"):
        stopping.apply(memory_tree("dst", {"people": LMSPerson}, MemoryDatabase())(
            plugins=builtin_plugin_manager()).load())


def test_a_retiring_object_whose_derived_property_fails_is_retired_while_others_are_quarantined() -> None:
    class Person(Model):
        name: str = ""

    class LMSPerson(Model):
        _raw: str = ""

        @property
        def name(self) -> str:
            first, last = self._raw.split(",")  # a row without a comma cannot be split
            return f"{last.strip()} {first.strip()}"

    src = type("Src", (Tree,), {"name": "src", "people": Branch(Person, [
        {"idnumber": "p1", "name": "Jane Doe"},
        BadRecord("3 fields, but the header has 2", Origin("people.csv", 3), idnumber="p9",
                  raw="p9,x,y")])})(config=Config(QUARANTINE), plugins=builtin_plugin_manager()).load()
    db = MemoryDatabase({"people": {"p1": {"_raw": "Doe, Jane"}, "p3": {"_raw": "no comma"}}})
    dst = memory_tree("dst", {"people": LMSPerson}, db)(plugins=builtin_plugin_manager()).load()

    summary = src.apply(dst)  # the check for quarantined members must not stumble on p3's name

    assert set(db.rows("people")) == {"p1"}  # p3 retired: it names no quarantined idnumber
    assert [bad.idnumber for bad in summary.quarantined] == ["p9"]


def test_the_setting_of_one_branch_wins_over_the_datastore() -> None:
    config = {"on_bad_record": "quarantine", "trees": {"src": {"items": {"on_bad_record": "stop"}}}}
    with pytest.raises(InputError):
        _source(_records({"u1": "a"}, ["u2"]), {}, config)
    config = {"trees": {"src": {"items": {"on_bad_record": "quarantine"}}}}
    assert len(_source(_records({"u1": "a"}, ["u2"]), {}, config).branch("items").rejects) == 1


def test_a_plan_lists_the_held_actions_and_exits_1(capsys: Any) -> None:
    src = _source(_records({"u1": "b"}, ["u2"]), {})
    dst, db = _dest({"u1": "a", "u2": "a"}, {})
    before = db.snapshot()
    summary = src.plan(dst)
    assert db.snapshot() == before
    out = capsys.readouterr()
    assert "update_title(idnumber='u1', attribute='title', value='b')" in out.out
    assert ("old_items(idnumber='u2'): held back: idnumber 'u2' is quarantined "
            "(items.csv line 2: 3 fields, but the header has 2)") in out.out
    assert "Quarantined 1 bad record: 1 action held back" in out.err
    assert summary.exit_code == 1


def test_the_rejects_file_escapes_control_characters_and_undecodable_bytes() -> None:
    bad = BadRecord("a control character", Origin("s.csv", 7), idnumber="1", column="name",
                    raw="1,Na\x00me,Caf\udce9")
    bad.tree, bad.branch = "sis", "users"
    rows = list(csv.reader(io.StringIO(rejects_csv([bad]))))
    assert rows == [["file", "line", "tree", "branch", "idnumber", "column", "reason", "raw"],
                    ["s.csv", "7", "sis", "users", "1", "name", "a control character",
                     "1,Na\\x00me,Caf\\xe9"]]
    assert printable("tab\tstays") == "tab\tstays"


def test_a_source_object_failing_in_two_destinations_is_quarantined_once() -> None:
    quarantine = Quarantine()
    for _ in range(2):
        bad = BadRecord("why", Origin("f", 1), idnumber="x")
        bad.tree, bad.branch = "src", "items"
        quarantine.add(bad)
    assert len(quarantine) == 1
