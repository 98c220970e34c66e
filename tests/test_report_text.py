"""The JSON report's text is json.dumps(indent=2)'s, made faster (dss_core.builtin.json_report)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

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
