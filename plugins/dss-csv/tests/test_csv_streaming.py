"""Point 7: rows are streamed: memory does not grow with the file, records come before the end."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from dss_csv import CSVImporter

from dss_core import BadRecord


def generate(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("idnumber,name,email\r\n")
        for i in range(rows):
            fh.write(f'{i},"Student, Number {i}",student{i}@school.example\r\n')
    return path


class DropAll(CSVImporter):
    """Reads every row and keeps none of them."""

    seen = 0

    def filter_out(self, record):
        DropAll.seen += 1
        return True


def peak_while_loading(load, path: Path) -> int:
    DropAll.seen = 0
    tracemalloc.start()
    try:
        tree = load({"path": str(path)}, importer=DropAll)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(tree.branch("users")) == 0
    return peak


def test_peak_memory_is_small_and_independent_of_file_size(load, tmp_path):
    small = generate(tmp_path / "small.csv", 5_000)
    large = generate(tmp_path / "large.csv", 50_000)
    assert large.stat().st_size > 2_000_000
    peak_small = peak_while_loading(load, small)
    assert DropAll.seen == 5_000
    peak_large = peak_while_loading(load, large)
    assert DropAll.seen == 50_000
    assert peak_large < 512 * 1024, f"peak {peak_large} bytes for a {large.stat().st_size} byte file"
    assert peak_large < 2 * peak_small + 64 * 1024, (peak_small, peak_large)


def test_records_are_yielded_before_the_file_is_read_to_the_end(tmp_path, make_tree):
    from dss_core import Config

    (tmp_path / "s.csv").write_text("idnumber,name\n1,A\n2,B\n3\n", encoding="utf-8")
    tree = make_tree(Config({"trees": {"sis": {"users": {"path": "s.csv"}}}},
                            path=tmp_path / "dss.toml", environ={}))
    records = tree.importer_for("users").records()
    first = next(records)
    assert (dict(first.values), str(first.origin)) == ({"idnumber": "1", "name": "A"}, "s.csv line 2")
    assert next(records).values["idnumber"] == "2"
    bad = next(records)  # a bad row comes in its place: the core stops on it or quarantines it
    assert isinstance(bad, BadRecord)
    assert (str(bad.origin), bad.idnumber, bad.raw) == ("s.csv line 4", "3", "3")
    assert bad.reason.startswith("1 fields, but the header has 2")
    with pytest.raises(StopIteration):
        next(records)


def test_the_file_is_closed_when_loading_stops_early(tmp_path, make_tree, monkeypatch):
    import builtins

    from dss_core import Config

    opened = []
    real_open = builtins.open

    def spy(*args, **kwargs):
        fh = real_open(*args, **kwargs)
        opened.append(fh)
        return fh

    (tmp_path / "s.csv").write_text("idnumber,name\n1,A\n2,B\n", encoding="utf-8")
    tree = make_tree(Config({"trees": {"sis": {"users": {"path": "s.csv"}}}},
                            path=tmp_path / "dss.toml", environ={}))
    monkeypatch.setattr(builtins, "open", spy)
    records = tree.importer_for("users").records()
    next(records)
    records.close()
    monkeypatch.undo()
    assert opened and all(fh.closed for fh in opened)
