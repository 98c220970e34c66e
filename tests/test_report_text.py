"""The JSON report's text is json.dumps(indent=2)'s, made faster (dss_core.builtin.json_report)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dss_core.builtin import history, json_report
from dss_core.builtin.json_report import dumps_indented

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
ACTION = st.dictionaries(st.text(max_size=6), VALUES, max_size=6)


@given(head=st.dictionaries(st.text(max_size=6).filter(lambda k: k != "actions"), VALUES, max_size=4),
       actions=st.lists(ACTION, max_size=5) | VALUES, last=st.booleans())
def test_the_report_text_is_json_dumps_indent_2(head: dict[str, Any], actions: Any, last: bool) -> None:
    data = {**head, "actions": actions} if last else {"actions": actions, **head}
    assert dumps_indented(data) == json.dumps(data, indent=2, default=str)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=st.dictionaries(st.text(max_size=6).filter(lambda k: k != "actions"), VALUES, max_size=4),
       actions=st.lists(ACTION, max_size=7) | VALUES, last=st.booleans(), piece=st.integers(1, 4))
def test_the_report_and_the_history_are_written_in_pieces_as_one_text(
        head: dict[str, Any], actions: Any, last: bool, piece: int, tmp_path_factory: Any) -> None:
    """A report written piece by piece (a few actions a piece here) is the whole text's bytes."""
    head = {"run": {"mode": "plan", "id": "r1"}, **head}  # what the history names its file by
    data = {**head, "actions": actions} if last else {"actions": actions, **head}
    folder = tmp_path_factory.mktemp("pieces")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(json_report, "PIECE", piece)
        patch.setattr(history, "PIECE", piece)
        json_report.write_report(folder / "report.json", data)
        kept = history.History(folder, "school").record(data, keep=1)
    assert (folder / "report.json").read_text() == json.dumps(data, indent=2, default=str) + "\n"
    assert kept is not None and (kept.stat().st_mode & 0o777) == 0o600
    compact = {k: v for k, v in data.items() if k != "actions"}
    compact["actions"] = data["actions"]
    assert kept.read_text() == json.dumps(compact, default=str, ensure_ascii=False,
                                          separators=(",", ":")) + "\n"
