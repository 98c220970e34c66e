"""Review findings: what a first user ran into with dss-sql, each pinned by a test."""

from __future__ import annotations

import pytest
from dss_sql.engine import connect, get_engine

from dss_core import ConfigurationError


def test_a_port_that_is_not_a_number_is_one_configuration_line_without_the_password():
    url = "postgresql://sync:S3cretPW@127.0.0.1:notaport/lms"
    with pytest.raises(ConfigurationError) as info:
        get_engine(url)
    message = str(info.value)
    assert "notaport" in message and "127.0.0.1" in message
    assert "S3cretPW" not in message
    assert "\n" not in message


def test_a_missing_sqlite_file_is_named_and_not_created(tmp_path):
    # a typo in the path must not leave an empty database behind (a dry run changes nothing)
    missing = tmp_path / "lms.sqlite"
    with pytest.raises(ConfigurationError) as info:
        connect(f"sqlite:///{missing}")
    assert str(missing) in str(info.value) and "does not exist" in str(info.value)
    assert not missing.exists()


def test_an_existing_sqlite_file_and_memory_still_connect(tmp_path):
    import sqlite3

    existing = tmp_path / "there.sqlite"
    sqlite3.connect(existing).close()
    for url in (f"sqlite:///{existing}", "sqlite://", "sqlite:///:memory:"):
        conn = connect(url)
        conn.close()
