"""dss-csv's bad rows as BadRecords (issue 15): each kind, quarantined, and read on after it.

With ``on_bad_record = "quarantine"`` every bad row is set aside with its
line, idnumber (where it can be trusted), column and raw row, and the rows
after it are read as usual; without it the first one stops the import with
the same message as ever.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dss_core import InputError, Model

Q = {"on_bad_record": "quarantine"}


class Pupil(Model):
    name: str = ""
    year: int = 0


def _bad(tree: Any) -> dict[int, Any]:
    return {r.origin.position: r for r in tree.branch("users").rejects}


def test_every_kind_of_bad_row_is_set_aside_and_the_others_are_read(
        write: Callable[..., Any], load: Callable[..., Any]) -> None:
    write("s.csv", b"idnumber,name,year\n"
                   b"1,Ann,7\n"
                   b"2,Bob\n"                      # too few fields
                   b"3,Cy\x00d,7\n"                # NUL in the name
                   b"4,Dee,7\n"
                   b"5,E\x07ve,8\n"                # a second control character, later
                   b"6,Caf\xe9,8\n"                # not UTF-8
                   b"7,Gus,seven\n"                # not an int (the core's check)
                   b"8,Hal,8,extra\n"              # too many fields
                   b"9,Ida,9\n")
    tree = load({"path": "s.csv", **Q}, model=Pupil)

    assert sorted(tree.branch("users")) == ["1", "4", "9"]
    bad = _bad(tree)
    assert {line: (r.idnumber, r.column) for line, r in bad.items()} == {
        3: ("2", None), 4: ("3", "name"), 6: ("5", "name"), 7: ("6", "name"), 8: ("7", "year"),
        9: ("8", None)}
    assert bad[3].reason == "2 fields, but the header has 3 (too few: missing fields or the wrong delimiter?)"
    assert bad[4].reason == "column 'name' (2) holds a control character U+0000 (NUL)"
    assert bad[6].reason == "column 'name' (2) holds a control character U+0007 (BEL)"
    assert bad[7].reason.startswith("cannot decode byte e9 in column 'name'")
    assert bad[8].reason.startswith("field 'year': cannot read 'seven' as int")
    assert (bad[3].raw, bad[4].raw, bad[7].raw, bad[8].raw) == (
        "2,Bob", "3,Cy\x00d,7", "6,Caf\udce9,8", "7,Gus,seven")


def test_without_quarantine_the_first_bad_row_stops_with_its_line(
        write: Callable[..., Any], load: Callable[..., Any]) -> None:
    write("s.csv", b"idnumber,name,year\n1,Ann,7\n2,Bob\n3,Cy\x00d,7\n")
    with pytest.raises(InputError) as info:
        load({"path": "s.csv"}, model=Pupil)
    assert str(info.value) == ("s.csv line 3: 2 fields, but the header has 3 "
                               "(too few: missing fields or the wrong delimiter?)")


def test_an_idnumber_is_trusted_only_where_no_shift_can_reach_it(
        write: Callable[..., Any], load: Callable[..., Any]) -> None:
    # the id in the last column: a stray delimiter before it would shift it, so it is unknown
    write("s.csv", b"name,year,idnumber\nAnn,7,1\n\"Bob\",Jr,7,2\nCy\x00,7,3\n")
    tree = load({"path": "s.csv", **Q}, model=Pupil)
    assert {line: r.idnumber for line, r in _bad(tree).items()} == {3: None, 4: "3"}


def test_mojibake_in_a_legacy_encoding_is_one_bad_row(
        write: Callable[..., Any], load: Callable[..., Any]) -> None:
    write("s.csv", "idnumber,name,year\n1,Zoë,7\n".encode() + "2,Zoë,7\n".encode("cp1252"))
    tree = load({"path": "s.csv", "encoding": "cp1252", **Q}, model=Pupil)
    assert sorted(tree.branch("users")) == ["2"]
    [bad] = tree.branch("users").rejects
    assert (bad.idnumber, bad.column, bad.origin.position) == ("1", "name", 2)
    assert "looks like UTF-8 read as cp1252" in bad.reason


def test_a_multi_byte_encoding_that_cannot_resync_still_stops(
        write: Callable[..., Any], load: Callable[..., Any]) -> None:
    write("s.csv", "idnumber,name\n1,Ann\n".encode("utf-16") + b"\x00\xd8")
    with pytest.raises(InputError, match="cannot decode as utf-16"):
        load({"path": "s.csv", "encoding": "utf-16", **Q})


def test_the_raw_row_of_a_record_the_core_refused_is_the_line_of_the_file(
        write: Callable[..., Any], load: Callable[..., Any]) -> None:
    write("s.csv", b"idnumber,name,year\n1,Ann,7\n2,\"Bob, Jr\",eight\n")
    tree = load({"path": "s.csv", **Q}, model=Pupil)
    [bad] = tree.branch("users").rejects
    assert bad.raw == '2,"Bob, Jr",eight'
