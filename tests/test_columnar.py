"""The columnar fast path gives exactly the object path's answers (real CSV files through dss-csv).

A branch read by dss-csv's importer is stored as columns when the file and
the model allow it (dss_core.columnar_load, dss_csv.columnar); the diff of
two columnar sides is a vectorised join (dss_core.columnar_diff). The object
path is the same importer with ``read_columns`` giving None.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import dss_csv.plugin
import pytest
from dss_csv import CSVImporter
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dss_core import Branch, Config, DssError, Model, Tree
from dss_core.plugins import builtin_plugin_manager


class User(Model):
    """Plain scalars and membership columns: the columnar path serves it."""

    name: str = ""
    email: str | None = None
    grade: int | None = None
    active: bool = True
    groups: set[str] = set()
    tags: list[str] = []


class Named(User):
    """A derived attribute: a column of its own (tests/test_columnar_derived.py has the rest)."""

    @property
    def display(self) -> str:
        return f"{self.name} <{self.email}>"


class ObjectCSV(CSVImporter):
    """dss-csv's importer without its columnar reader: the object path."""

    def read_columns(self) -> None:
        return None


COLUMNS = ["idnumber", "name", "email", "grade", "active", "groups", "tags"]
LISTS = {"groups": ";", "tags": "|"}


def _trees(tmp_path: Path, source: Path, dest: Path, importer: type[CSVImporter],
           model: type[Model] = User, extra: dict[str, Any] | None = None) -> tuple[Tree, Tree]:
    pm = builtin_plugin_manager()
    pm.register(dss_csv.plugin, name="csv")
    table = {"lists": LISTS, **(extra or {})}
    config = Config({"trees": {"src": {"users": {"path": str(source), **table}},
                               "dst": {"users": {"path": str(dest), **table}}}},
                    path=tmp_path / "dss.toml", environ={})

    class Src(Tree):
        name = "src"
        users = Branch(model, importer=importer)

    class Dst(Tree):
        name = "dst"
        users = Branch(model, importer=importer)

    return Src(config=config, plugins=pm), Dst(config=config, plugins=pm)


def _origin(obj: Model | None) -> str | None:
    return None if obj is None else str(obj.dss_origin)


def outcome(tmp_path: Path, source: Path, dest: Path, importer: type[CSVImporter],
            model: type[Model] = User, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything a user sees of a plan: actions (message, values, origins), summary, rejects."""
    src, dst = _trees(tmp_path, source, dest, importer, model, extra)
    try:
        src.load()
        dst.load()
        actions = list(src.diff(dst))
        summary = src.plan(dst, allow_deletions=10**6)
    except DssError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    branch = src.branch("users")
    return {
        "actions": [(a.message, a.kind, a.idnumber, a.attribute, repr(a.value), repr(a.old_value), a.error,
                     _origin(a.source), _origin(a.dest)) for a in actions],
        "counts": sorted(summary.counts.items()),
        "results": [r.action.message for r in summary.results],
        "sources": summary.sources,
        "objects": {t.name: [(i, o.values(), _origin(o)) for i, o in t.branch("users").items()]
                    for t in (src, dst)},
        "columns": (sorted(branch.columns), sorted(dst.branch("users").columns)),
        "rejects": [(b.reason, str(b.origin), b.idnumber, b.column, b.raw)
                    for t in (src, dst) for b in t.branch("users").rejects],
        "columnar": (branch.columnar is not None, dst.branch("users").columnar is not None),
    }


def same(tmp_path: Path, source: Path, dest: Path, model: type[Model] = User,
         extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The columnar outcome, asserted equal to the object path's (but for the path taken)."""
    fast = outcome(tmp_path, source, dest, CSVImporter, model, extra)
    slow = outcome(tmp_path, source, dest, ObjectCSV, model, extra)
    assert slow.pop("columnar", (False, False)) == (False, False)
    used = fast.pop("columnar", None)
    assert fast == slow
    fast["columnar"] = used
    return fast


def write(path: Path, rows: list[list[str]], newline: str = "\n") -> Path:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows([COLUMNS, *rows])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


# -- the property: the same answers on random file pairs ---------------------------
IDS = [str(n) for n in range(1, 13)] + ["007", "A1", "a1", " 5", "x y", ""]
TEXT = ["", "Ann", "Bo", "ann", " Ann ", "a,b", 'say "hi"', "é", "ß", "line\nbreak", "x;y"]
GRADES = ["", "1", "01", "2", "12", " 3", "x"]
BOOLS = ["true", "false", "yes", "no", "1", "0", "", "maybe"]
GROUPS = ["", "g1", "g1;g2", "g2;g1", " g1 ; ;g3", "g3;g3", ";", "é;g1"]
TAGS = ["", "a", "a|b", "b|a", "a| |b", "a|a"]


@st.composite
def rows(draw: Any, ids: list[str]) -> list[list[str]]:
    pick = draw(st.lists(st.sampled_from(ids), unique=True, max_size=10))
    weights = st.integers(0, 9)
    out = []
    for idnumber in pick:
        def value(choices: list[str], common: int = 2) -> str:
            # mostly the first few values (equal rows on both sides), sometimes any
            return draw(st.sampled_from(choices[:common] if draw(weights) < 7 else choices))
        out.append([idnumber, value(TEXT), value(TEXT, 3), value(GRADES, 3), value(BOOLS),
                    value(GROUPS, 3), value(TAGS, 3)])
    return out


@st.composite
def id_pools(draw: Any) -> list[str]:
    # usually clean ids (the columnar path); sometimes lookalikes, blanks, spaces (fallbacks)
    return IDS[:12] if draw(st.integers(0, 3)) else IDS


@settings(max_examples=int(os.environ.get('COLUMNAR_EXAMPLES', '60')), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_columnar_plan_equals_the_object_plan(tmp_path: Path, data: Any) -> None:
    pool = data.draw(id_pools())
    source = write(tmp_path / "s.csv", data.draw(rows(pool)), data.draw(st.sampled_from(["\n", "\r\n"])))
    dest_rows = data.draw(rows(pool))
    if data.draw(st.booleans()):  # a destination close to the source: mostly unchanged rows
        dest_rows = [r[:] for r in data.draw(st.permutations(
            list(csv.reader(io.StringIO(source.read_text(encoding="utf-8"))))[1:]))] + dest_rows[:2]
        dest_rows = list({r[0]: r for r in dest_rows}.values())
    dest = write(tmp_path / "d.csv", dest_rows)
    extra = data.draw(st.sampled_from([{}, {"on_bad_record": "quarantine"}, {"on_duplicate": "last"}]))
    got = same(tmp_path, source, dest, extra=extra)
    event(f"columnar (source, destination): {got['columnar']}")
    event(f"actions: {'error' if 'error' in got else min(len(got['actions']), 5)}")


# -- the columnar path is taken, and reads like the object path ----------------------
def test_a_clean_pair_is_columnar_and_reads_like_a_dict(tmp_path: Path) -> None:
    source = write(tmp_path / "s.csv", [
        ["1", "Ann", "ann@x", "3", "yes", "g1;g2", "a|b"],
        ["2", "Bo, Jr", "", "", "no", "", ""],
        ["3", "Cy", "cy@x", "4", "1", "g2", "b"]])
    dest = write(tmp_path / "d.csv", [
        ["3", "Cy", "cy@y", "4", "1", "g3;g2", "b"],
        ["1", "Ann", "ann@x", "3", "yes", "g2; g1", "a|b"],
        ["9", "Old", "", "", "no", "g1", ""]])
    got = same(tmp_path, source, dest)
    assert got["columnar"] == (True, True)
    assert [a[0] for a in got["actions"]] == [
        "new_users(idnumber='2')", "update_email(idnumber='3', attribute='email', value='cy@x')",
        "remove_groups_from_users(idnumber='3', attribute='groups', value='g3')",
        "old_users(idnumber='9')"]
    src, _ = _trees(tmp_path, source, dest, CSVImporter)
    users = src.load().branch("users")
    assert users.columnar is not None and len(users) == 3 and list(users) == ["1", "2", "3"]
    assert "2" in users and "7" not in users and users.get("7") is None
    ann: Any = users["1"]
    assert (ann.name, ann.grade, ann.active, ann.groups, ann.tags) == ("Ann", 3, True, {"g1", "g2"}, ["a", "b"])
    assert users.get("1") is ann  # built once
    assert str(users["3"].dss_origin) == "s.csv line 4"
    bo: Any = users["2"]
    assert bo.email == "" and bo.grade is None  # as the object path builds them
    assert [i for i, _ in users.items()] == ["1", "2", "3"]


def test_writing_into_a_columnar_branch_makes_it_objects(tmp_path: Path) -> None:
    source = write(tmp_path / "s.csv", [["1", "Ann", "", "", "yes", "", ""]])
    src, _ = _trees(tmp_path, source, source, CSVImporter)
    users = src.load().branch("users")
    assert users.columnar is not None
    users.put(User("2", name="Bo"))
    assert users.columnar is None and list(users) == ["1", "2"] and users["1"].name == "Ann"


# -- the fallbacks give the object path's answers ------------------------------------
def _text(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


HEADER = ",".join(COLUMNS) + "\n"
GOOD = "1,Ann,a@x,3,yes,g1,a\n"


@pytest.mark.parametrize("body", [
    "2,Bo,b@x,4,no,g2\n",                      # a ragged row: too few fields
    "2,Bo,b@x,4,no,g2,b,extra\n",              # too many
    "2,Bo,b\x07x,4,no,g2,b\n",                 # a control character
    b"2,Bo,b\xffx,4,no,g2,b\n",                # not UTF-8
    '2,"Bo\nJr",b@x,4,no,g2,b\n',              # a row over two lines
    ",,,,,,\n",                                # a blank row
    "\n",                                      # an empty line
    "2,Bo,b@x,four,no,g2,b\n",                 # an int that does not convert
    "2,Bo,b@x,4,maybe,g2,b\n",                 # a bool that does not convert
    "1,Ann,a@x,3,yes,g2,a\n",                  # a duplicate, merged (memberships)
    "1,Anne,a@x,3,yes,g2,a\n",                 # a duplicate that conflicts
    "A,Bo,b@x,4,no,g2,b\na,Cy,c@x,4,no,g2,b\n",  # ids differing only in case
    " 2 ,Bo,b@x,4,no,g2,b\n",                  # an id to strip
    '2,"B"o,b@x,4,no,g2,b\n',                  # a quote the csv module reads strictly
    '2,Bo"",b@x,4,no,g2,"b""""\n',             # quotes polars reads otherwise, without an error
    '2,Bo,b@x,4,no,"g1"" ;g2,b\n',             # a field after its closing quote goes on
    "2,Bo,b@x,4,no,g2,b\r3,Cy,c@x,4,no,g2,b\n",  # a lone CR
])
@pytest.mark.parametrize("extra", [{}, {"on_bad_record": "quarantine"}, {"on_duplicate": "first"}])
def test_a_file_polars_could_read_otherwise_takes_the_object_path(
        tmp_path: Path, body: str | bytes, extra: dict[str, Any]) -> None:
    head = (HEADER + GOOD).encode()
    source = _text(tmp_path / "s.csv", head + (body if isinstance(body, bytes) else body.encode()))
    dest = _text(tmp_path / "d.csv", HEADER + GOOD)
    got = same(tmp_path, source, dest, extra=extra)
    if "error" not in got:
        assert got["columnar"] == (False, True)


def test_quarantined_rows_are_the_object_paths(tmp_path: Path) -> None:
    source = _text(tmp_path / "s.csv", HEADER + GOOD + "2,Bo\n3,Cy,c@x,x,no,,\n4,Di,d@x,5,no,g1,\n")
    dest = _text(tmp_path / "d.csv", HEADER + GOOD)
    got = same(tmp_path, source, dest, extra={"on_bad_record": "quarantine", "quarantine_limit": "90%"})
    assert got["columnar"] == (False, True)
    assert [r[1].rsplit("/", 1)[-1] for r in got["rejects"]] == ["s.csv line 3", "s.csv line 4"]
    assert [a[0] for a in got["actions"]] == ["new_users(idnumber='4')"]


def test_a_property_model_is_columnar_too(tmp_path: Path) -> None:
    source = _text(tmp_path / "s.csv", HEADER + GOOD + "2,Bo,b@x,4,no,g2,b\n")
    dest = _text(tmp_path / "d.csv", HEADER + "1,Ann,a@y,3,yes,g1,a\n")
    got = same(tmp_path, source, dest, model=Named)
    assert got["columnar"] == (True, True)
    assert "update_display(idnumber='1', attribute='display', value='Ann <a@x>')" in [
        a[0] for a in got["actions"]]


def test_one_columnar_side_diffs_through_objects(tmp_path: Path) -> None:
    source = _text(tmp_path / "s.csv", HEADER + GOOD + "2,Bo,b@x,4,no,g2,b\n")
    dest = _text(tmp_path / "d.csv", HEADER + "1,Ann,a@y,3,yes,g1,a\n,,,,,,\n")  # a blank row
    got = same(tmp_path, source, dest)
    assert got["columnar"] == (True, False)
    assert [a[0] for a in got["actions"]] == [
        "new_users(idnumber='2')", "update_email(idnumber='1', attribute='email', value='a@x')"]


# -- a compact branch: digests kept, texts read again for the objects asked for --------
def test_a_clean_file_is_kept_compact_and_its_objects_read_again(tmp_path: Path) -> None:
    rows = [[str(n), f"N{n}", f"n{n}@x", str(n % 5), "yes", "g1;g2", "a"] for n in range(1, 40)]
    rows[3][1] = 'Quoted, "Q"'
    source = write(tmp_path / "s.csv", rows)
    src, _ = _trees(tmp_path, source, source, CSVImporter)
    users = src.load().branch("users")
    rows_ = users.columnar
    assert rows_ is not None and rows_.compact is not None
    assert rows_.keys is not None and "name" not in rows_.keys.columns  # the texts are not held
    assert sorted(users.columns) == sorted(COLUMNS)
    four: Any = users["4"]
    assert (four.name, four.grade, str(four.dss_origin)) == ('Quoted, "Q"', 4, "s.csv line 5")
    assert [o.name for _, o in users.items()][:2] == ["N1", "N2"] and users["4"] is four


def test_a_file_changed_after_the_import_is_said_not_misread(tmp_path: Path) -> None:
    source = write(tmp_path / "s.csv", [["1", "Ann", "", "", "yes", "", ""], ["2", "Bo", "", "", "no", "", ""]])
    src, _ = _trees(tmp_path, source, source, CSVImporter)
    users = src.load().branch("users")
    assert users.columnar is not None and users.columnar.compact is not None
    write(source, [["1", "Anne", "", "", "yes", "", ""], ["2", "Bo", "", "", "no", "", ""]])
    os.utime(source, ns=(1, 1))  # a rewrite within the same clock tick is found by its digest too
    with pytest.raises(DssError, match="changed while it was read"):
        users.get("1")


@pytest.mark.parametrize("extra_column", ["source", "dest"])
def test_different_columns_on_the_two_sides_give_the_object_paths_answers(
        tmp_path: Path, extra_column: str) -> None:
    plain = HEADER + GOOD + "2,Bo,b@x,4,no,g2,b\n"
    wider = (",".join([*COLUMNS, "note"]) + "\n" + GOOD.rstrip("\n") + ",x\n"
             + "2,Bo,b@y,4,no,g2,b,y\n")
    source = _text(tmp_path / "s.csv", wider if extra_column == "source" else plain)
    dest = _text(tmp_path / "d.csv", plain if extra_column == "source" else wider)
    got = same(tmp_path, source, dest)
    assert got["columnar"] == (True, True)
    assert [a[0] for a in got["actions"]] == [
        "update_email(idnumber='2', attribute='email', value='b@x')"] if extra_column == "dest" else [
        "update_email(idnumber='2', attribute='email', value='b@y')"]


def test_idnumbers_sharing_their_join_key_take_the_object_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import polars as pl

    import dss_core.columnar as columnar

    real = columnar.id_digest

    def colliding() -> list[pl.Expr]:  # every idnumber gets the same I1: only I2 tells them apart
        return [pl.lit(7, dtype=pl.UInt64).alias(columnar.I1), real()[1]]

    monkeypatch.setattr(columnar, "id_digest", colliding)
    monkeypatch.setattr("dss_core.columnar_diff.id_digest", colliding)
    source = write(tmp_path / "s.csv", [["1", "Ann", "", "", "yes", "", ""], ["2", "Bo", "", "", "no", "", ""]])
    dest = write(tmp_path / "d.csv", [["1", "Ann", "a@x", "", "yes", "", ""], ["3", "Cy", "", "", "no", "", ""]])
    got = same(tmp_path, source, dest)
    assert got["columnar"] == (True, True)
    assert [a[0] for a in got["actions"]] == [
        "new_users(idnumber='2')", "update_email(idnumber='1', attribute='email', value='')",
        "old_users(idnumber='3')"]


@pytest.mark.parametrize("at_once", [1, 2, 1 << 20])
def test_a_columnar_sources_snapshot_is_the_object_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         at_once: int) -> None:
    """The source gate's digest of a columnar branch (its ids joined by polars, in batches) is
    the one of the same branch read as objects: an accepted source stays accepted."""
    from dss_core import gates, state
    from dss_core.state import SourceSnapshot

    monkeypatch.setattr(state, "IDS_AT_ONCE", at_once)
    source = write(tmp_path / "s.csv", [[str(n * 7 % 5) + "x" + str(n), "A", "", "", "yes", "", ""]
                                        for n in range(5)])
    columnar, _ = _trees(tmp_path, source, source, CSVImporter)
    objects, _ = _trees(tmp_path, source, source, ObjectCSV)
    users, plain = columnar.load().branch("users"), objects.load().branch("users")
    assert users.columnar is not None and plain.columnar is None
    assert gates.source_snapshots(columnar) == gates.source_snapshots(objects)
    assert gates.source_snapshots(columnar)["src.users"] == SourceSnapshot.of(plain)
