"""Memberships on the columnar store give exactly the object path's actions, in its order.

Memberships whose elements are hard to get right (surrounding and Unicode
whitespace, repeats, case, digits, characters outside the BMP) on a users
branch (compact, its list texts kept for a derived branch) and on a derived
groups branch (its members a list column, stored as text joined by ``\\x1f``),
a membership that is a tracked ``@property`` beside them, in every sync mode:
the plan equals the object path's. And :func:`dss_core.columnar_derived.held`
(a list column as the objects hold it, split in polars) against the Python
split every object gets (:func:`dss_core.columnar.split_list`), for separators
that Python strips as whitespace (``\\x1c``-``\\x1f``) and polars does not.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dss_csv.plugin
import polars as pl
from dss_csv import CSVImporter
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dss_core import Branch, Config, DssError, Importer, Model, Tree
from dss_core.columnar import split_list
from dss_core.columnar_derived import held
from dss_core.plugins import builtin_plugin_manager


class Member(Model):
    """Two membership fields (a set and a list), a scalar, and a membership @property."""

    name: str = ""
    groups: set[str] = set()
    tags: list[str] = []

    @property
    def letters(self) -> set[str]:  # a membership that is a property: compared on the objects
        return {g[:1] for g in self.groups}


class Group(Model):
    members: set[str] = set()


class ObjectCSV(CSVImporter):
    """dss-csv's importer without its columnar reader: the object path."""

    def read_columns(self) -> None:
        return None


class GroupsOfMembers(Importer):
    """A derived branch: each group and its members, from the users' columns or objects."""

    derived = True

    def readin(self) -> Iterator[dict[str, Any]]:
        members: dict[str, set[str]] = {}
        for idnumber, user in self.tree.branch("users").items():
            for group in user.groups:  # type: ignore[attr-defined]
                members.setdefault(group, set()).add(idnumber)
        for group in sorted(members):
            yield {"idnumber": group, "members": members[group]}

    def read_columns(self) -> dict[str, Any] | None:
        users = self.tree.branch("users").frame("idnumber", "groups")
        if users is None:
            return None
        frame = (users.lazy().explode("groups").drop_nulls("groups").group_by("groups")
                 .agg(members=pl.col("idnumber")).sort("groups").rename({"groups": "idnumber"})
                 .collect())
        return {"frame": frame}

    def describe(self) -> str:
        return "groups of members"


COLUMNS = ["idnumber", "name", "groups", "tags"]
LISTS = {"groups": ";", "tags": "|"}
IDS = [str(n) for n in range(1, 11)]
# elements: digits sort as text; surrounding whitespace, a tab, Unicode spaces (a no-break
# space, an ideographic space); "" and repeats; in the tags also case, an inner space and
# characters past the BMP (group names are the groups' idnumbers: printable ASCII keeps their
# branch columnar, and no two may differ in case only). dss-csv refuses
# the control characters \x1c-\x1f that Python strips and polars does not.
ELEMENTS = ["g1", "g10", "g9", " g1 ", "g1\t", "g-2", "\u00a0g3", "\u3000g3", "z", ""]
TAGS = ["a", "b", "A", " a", "a b", "a\u2003", "", "é", "ß", "\U0001f600", "\ufb01", "Z"]


def write(path: Path, rows: list[list[str]]) -> Path:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([COLUMNS, *rows])
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def outcome(tmp_path: Path, source: Path, dest: Path, importer: type[CSVImporter],
            mode: str) -> dict[str, Any]:
    """The plan's actions (messages, values, origins) and counts; whether the memberships were columns."""
    pm = builtin_plugin_manager()
    pm.register(dss_csv.plugin, name="csv")
    config = Config({"trees": {
        "src": {"users": {"path": str(source), "lists": LISTS}},
        "dst": {"users": {"path": str(dest), "lists": LISTS, "mode": mode},
                "groups": {"mode": mode}}}}, path=tmp_path / "dss.toml", environ={})

    def tree(name: str) -> Tree:
        cls = type(name.title(), (Tree,), {
            "name": name, "order": ("users", "groups"),
            "users": Branch(Member, importer=importer),
            "groups": Branch(Group, importer=GroupsOfMembers)})
        return cls(config=config, plugins=pm)

    src, dst = tree("src"), tree("dst")
    try:
        src.load()
        dst.load()
        summary = src.plan(dst, allow_deletions=10**6)
    except DssError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}

    def origin(obj: Model | None) -> str | None:
        return None if obj is None else str(obj.dss_origin)

    for t in (src, dst):  # a columnar groups branch read as a frame: the members its objects hold
        frame = t.branch("groups").frame("idnumber", "members")
        if frame is not None:
            assert {i: set(m) for i, m in frame.iter_rows()} == {
                i: g.members for i, g in t.branch("groups").items()}  # type: ignore[attr-defined]
    return {
        "actions": [(a.message, repr(a.value), repr(a.old_value), a.error, origin(a.source),
                     origin(a.dest)) for a in (r.action for r in summary.results)],
        "counts": sorted(summary.counts.items()),
        "columnar": tuple(all(t.branch(b).columnar is not None for t in (src, dst))
                          for b in ("users", "groups")),
    }


@st.composite
def members(draw: Any, choices: list[str], sep: str) -> str:
    return sep.join(draw(st.lists(st.sampled_from(choices), max_size=5)))


@st.composite
def people(draw: Any) -> list[list[str]]:
    ids = draw(st.lists(st.sampled_from(IDS), unique=True, min_size=1, max_size=8))
    return [[i, draw(st.sampled_from(["", "Ann", "Bo"])), draw(members(ELEMENTS, ";")),
             draw(members(TAGS, "|"))] for i in ids]


@settings(max_examples=int(os.environ.get("COLUMNAR_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_membership_columns_plan_as_the_object_path(tmp_path: Path, data: Any) -> None:
    rows = data.draw(people())
    # a destination close to the source (most rows the same, some memberships changed) or any
    if data.draw(st.booleans()):
        dest_rows = [r[:2] + [data.draw(members(ELEMENTS, ";")) if data.draw(st.booleans()) else r[2],
                              r[3] if data.draw(st.booleans()) else data.draw(members(TAGS, "|"))]
                     for r in rows] + data.draw(people())[:2]
    else:
        dest_rows = data.draw(people())
    source = write(tmp_path / "s.csv", rows)
    dest = write(tmp_path / "d.csv", list({r[0]: r for r in dest_rows}.values()))
    mode = data.draw(st.sampled_from(["full", "update-only", "create-only", "no-retire"]))
    fast = outcome(tmp_path, source, dest, CSVImporter, mode)
    slow = outcome(tmp_path, source, dest, ObjectCSV, mode)
    columnar = fast.pop("columnar", None)
    assert slow.pop("columnar", None) in (None, (False, False))
    assert fast == slow
    event(f"columnar (users, groups): {columnar}")


def test_the_memberships_are_columns_and_their_actions_in_order(tmp_path: Path) -> None:
    """A row changing its name and both memberships: the update, the adds (groups, tags, the
    property), the removes; elements stripped, deduplicated, sorted as text."""
    source = write(tmp_path / "s.csv", [["1", "Ann", "g9;g10; g1 ;g1;\u00a0g3", "b|a|\U0001f600|Z|b"],
                                        ["2", "Bo", "\u3000g2;z", ""]])
    dest = write(tmp_path / "d.csv", [["1", "Anne", "g1;z", "a|A"], ["2", "Bo", "g2;z", ""]])
    got = outcome(tmp_path, source, dest, CSVImporter, "full")
    assert got.pop("columnar") == (True, True)
    slow = outcome(tmp_path, source, dest, ObjectCSV, "full")
    assert slow.pop("columnar") == (False, False)
    assert got == slow
    assert [a[0] for a in got["actions"]] == [
        "update_name(idnumber='1', attribute='name', value='Ann')",
        "add_groups_to_users(idnumber='1', attribute='groups', value='g10')",
        "add_groups_to_users(idnumber='1', attribute='groups', value='g3')",
        "add_groups_to_users(idnumber='1', attribute='groups', value='g9')",
        "add_tags_to_users(idnumber='1', attribute='tags', value='Z')",
        "add_tags_to_users(idnumber='1', attribute='tags', value='b')",
        "add_tags_to_users(idnumber='1', attribute='tags', value='\U0001f600')",
        "remove_groups_from_users(idnumber='1', attribute='groups', value='z')",
        "remove_tags_from_users(idnumber='1', attribute='tags', value='A')",
        "remove_letters_from_users(idnumber='1', attribute='letters', value='z')",
        "new_groups(idnumber='g10')",
        "new_groups(idnumber='g3')",
        "new_groups(idnumber='g9')",
        "remove_members_from_groups(idnumber='z', attribute='members', value='1')",
    ]


# -- a list column as the objects hold it ----------------------------------------------
PIECES = ["a", "b", " ", "\t", "\u00a0", "\u3000", "\x1c", "\x1d", "\x1e", "\x1f", ";", ""]


@settings(max_examples=int(os.environ.get("COLUMNAR_EXAMPLES", "25")), deadline=None)
@given(texts=st.lists(st.lists(st.sampled_from(PIECES), max_size=8).map("".join), max_size=6),
       sep=st.sampled_from(["\x1f", "\x1c", ";", "; ", "\x1e\x1f"]))
def test_held_splits_a_list_column_as_every_object_splits_its_text(texts: list[str], sep: str) -> None:
    got = held(pl.DataFrame({"members": texts}, schema={"members": pl.String}), {"members": sep},
               Group, "members")
    assert got.to_list() == [split_list(t, sep) for t in texts]
