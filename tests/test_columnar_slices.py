"""A big columnar diff joins its two sides in slices of the idnumber's digest: the same plan.

Above ``dss_core.columnar_diff.JOIN_SLICE`` rows a side (8M), the full join
of the two sides' digests is made one slice of ``I1 % slices`` at a time, so
that its memory is a slice's (100M rows a side). Here the threshold is made
tiny, so that random dss-csv file pairs are joined in 1 to 7 slices: the plan
is the one of the join made whole, action for action (objects by identity:
both diffs read the same loaded trees).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import dss_csv.plugin
import pytest
from dss_csv import CSVImporter
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import dss_core.columnar_diff as columnar_diff
from dss_core import Branch, Config, Model, Tree
from dss_core.actions import Action
from dss_core.diff import diff
from dss_core.plugins import builtin_plugin_manager

IDS = [f"{n:04d}" for n in range(60)]


class User(Model):
    """A user with a scalar, an optional-looking text and a groups list."""

    name: str
    grade: str
    groups: set[str] = set()


def write(path: Path, rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([["idnumber", "name", "grade", "groups"], *rows])
    path.write_text(out.getvalue(), encoding="utf-8")


def trees(tmp_path: Path) -> tuple[Tree, Tree]:
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
        users = Branch(User, importer=CSVImporter)

    return Src(config=config, plugins=pm).load(), Dst(config=config, plugins=pm).load()


def rows(draw: Any) -> list[list[str]]:
    return [[idnumber, draw(st.sampled_from(["Ann", "Bo", "é"])), draw(st.sampled_from(["", "1", "2"])),
             draw(st.sampled_from(["", "g1", "g1;g2", "g2;g1", "g3"]))]
            for idnumber in draw(st.lists(st.sampled_from(IDS), unique=True, min_size=1, max_size=40))]


def key(action: Action) -> tuple[Any, ...]:
    return (action.kind, action.method, action.tree, action.branch, action.idnumber, action.attribute,
            repr(action.value), repr(action.old_value), action.error, id(action.source), id(action.dest))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_join_in_slices_gives_the_whole_joins_plan(tmp_path: Path, data: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    source_rows, dest_rows = rows(data.draw), rows(data.draw)
    if data.draw(st.booleans()):  # a destination close to the source: few differences
        dest_rows = list({r[0]: r for r in [*source_rows, *dest_rows[:3]]}.values())
    write(tmp_path / "s.csv", source_rows)
    write(tmp_path / "d.csv", dest_rows)
    source, dest = trees(tmp_path)
    assert source.branch("users").columnar is not None and dest.branch("users").columnar is not None
    with monkeypatch.context() as m:
        m.setattr(columnar_diff, "JOIN_SLICE", 1 << 30)
        whole = [key(a) for a in diff(source, dest)]
    size = data.draw(st.integers(1, 12))
    with monkeypatch.context() as m:
        m.setattr(columnar_diff, "JOIN_SLICE", size)
        sliced = [key(a) for a in diff(source, dest)]
    event(f"slices: {min(-(-max(len(source_rows), len(dest_rows), 1) // size), 8)}")
    assert sliced == whole


def test_slices_still_refuse_idnumbers_sharing_their_join_key(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Two idnumbers with one I1 (forced) found in a slice send the branch to the object path."""
    import polars as pl

    import dss_core.columnar as columnar

    real = columnar.id_digest

    def colliding() -> list[pl.Expr]:
        return [pl.lit(7, dtype=pl.UInt64).alias(columnar.I1), real()[1]]

    monkeypatch.setattr(columnar, "id_digest", colliding)
    monkeypatch.setattr(columnar_diff, "id_digest", colliding)
    monkeypatch.setattr(columnar_diff, "JOIN_SLICE", 1)
    write(tmp_path / "s.csv", [["1", "Ann", "", ""], ["2", "Bo", "", ""]])
    write(tmp_path / "d.csv", [["1", "Ann", "1", ""], ["3", "Cy", "", ""]])
    source, dest = trees(tmp_path)
    assert [a.message for a in diff(source, dest)] == [
        "new_users(idnumber='2')", "update_grade(idnumber='1', attribute='grade', value='')",
        "old_users(idnumber='3')"]
