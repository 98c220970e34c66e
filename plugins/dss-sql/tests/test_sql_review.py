"""Review findings: what a first user ran into with dss-sql, each pinned by a test."""

from __future__ import annotations

import pytest
from dss_sql.engine import get_engine

from dss_core import ConfigurationError


def test_a_port_that_is_not_a_number_is_one_configuration_line_without_the_password():
    url = "postgresql://sync:S3cretPW@127.0.0.1:notaport/lms"
    with pytest.raises(ConfigurationError) as info:
        get_engine(url)
    message = str(info.value)
    assert "notaport" in message and "127.0.0.1" in message
    assert "S3cretPW" not in message
    assert "\n" not in message
