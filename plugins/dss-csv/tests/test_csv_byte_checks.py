"""The columnar reader's byte checks read the file a slice at a time: the answer does not depend
on where the slices are cut, and is the one the whole file read at once gives."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pytest
from dss_csv import columnar
from dss_csv.importer import _control_check
from hypothesis import given, settings
from hypothesis import strategies as st

DIALECT: dict[str, Any] = {"delimiter": ",", "quotechar": '"', "escapechar": None,
                           "skipinitialspace": False, "doublequote": True, "strict": False}
WIDTH = 3


def _kept() -> bytes:
    table, _, _ = _control_check(DIALECT)
    return bytes(b for b in range(256) if table[b])


def _whole(raw: bytes) -> tuple[dict[int, list[str]], int] | None:
    """What the checks gave when they read the whole file at once (before slices)."""
    if raw.translate(None, _kept()):
        return None
    if raw.find(b"\r") >= 0 and raw.count(b"\r") != raw.count(b"\r\n"):
        return None
    quoted: dict[int, bytes] = {}
    line = previous = 0
    pos = raw.find(b'"')
    while pos >= 0:
        line += raw.count(b"\n", previous, pos)
        start = raw.rfind(b"\n", 0, pos) + 1
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end
        quoted[line] = raw[start:end]
        previous = pos
        pos = raw.find(b'"', end)
    lines = line + raw.count(b"\n", previous) + (0 if raw.endswith(b"\n") else 1)
    if raw.count(b",") - sum(t.count(b",") for t in quoted.values()) != (lines - len(quoted)) * (WIDTH - 1):
        return None
    out: dict[int, list[str]] = {}
    for index, text in quoted.items():
        if index == 0:
            continue
        try:
            rows = list(csv.reader([text.decode("utf-8") + "\n"], **DIALECT))
        except (csv.Error, UnicodeDecodeError):
            return None
        if len(rows) != 1 or len(rows[0]) != WIDTH:
            return None
        out[index + 1] = rows[0]
    return out, lines


def _scan(path: Path, slice_size: int, monkeypatch: pytest.MonkeyPatch, numpy: bool = True) -> Any:
    monkeypatch.setattr(columnar, "_SLICE", slice_size)
    monkeypatch.setattr(columnar, "_NUMPY_FROM", 0)  # (a big file's way)
    if not numpy:  # the bytes methods, as where numpy is not installed
        monkeypatch.setattr(columnar, "_numpy", lambda: None)
    return columnar._scan(path, os.stat(path), _kept(), ",", '"', WIDTH, DIALECT)


def test_the_usual_dialect_is_counted_by_numpy() -> None:
    assert _kept() == columnar._USUAL_KEPT


PIECES = ["a", "bb", ",", '"', "\n", "\r\n", "\r", "\x01", "\x7f", "\t", "\x00", "é", ",,", '""', "x,y,z\n"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40), st.sampled_from([1, 2, 3, 5, 8, 13, 64]),
       st.booleans())
def test_slices_give_what_the_whole_file_gives(tmp_path_factory: Any, pieces: list[str],
                                               slice_size: int, numpy: bool) -> None:
    raw = ("id,name,groups\n" + "".join(pieces)).encode()
    path = tmp_path_factory.mktemp("scan") / "f.csv"
    path.write_bytes(raw)
    with pytest.MonkeyPatch.context() as mp:
        assert _scan(path, slice_size, mp, numpy) == _whole(raw)


@pytest.mark.parametrize("text", [
    'id,name,groups\n1,"Ann, Jr",a\n2,Bob,b\n',  # a quoted line
    'id,name,groups\r\n1,"Ann",a\r\n2,Bob,b',  # CRLF, the last line without LF
    "id,name,groups\n1,Ann,a\n2,Bob\n",  # a short line
    "id,name,groups\n1,Ann,a\r2,Bob,b\n",  # a lone CR
    "id,name,groups\n1,An\x01n,a\n",  # a refused control character
    "id,name,groups\n1," + "x" * 50 + ",a\n2,\"B\",b\n",  # a line longer than a slice
])
@pytest.mark.parametrize("slice_size", [1, 4, 16, 1 << 23])
@pytest.mark.parametrize("numpy", [True, False])
def test_known_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, slice_size: int,
                     numpy: bool) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode())
    assert _scan(path, slice_size, monkeypatch, numpy) == _whole(text.encode())
