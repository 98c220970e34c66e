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


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres),
                                pytest.param("mariadb", marks=pytest.mark.mariadb)])
def test_check_names_a_not_null_column_the_mapping_does_not_fill(db, request, kit):
    # `dss check` said "handler is ready" while every new_users failed on the NOT NULL column
    import sqlalchemy as sa

    from dss_core import Config, Datastore

    url = request.getfixturevalue(f"dss_{db}_url")
    kit.create_schema(url)
    SIS, LMS = kit.make_trees(kit.SOURCE, kit.make_mapping())
    config = Config({"trees": {"lms": {"url": url}}}, environ={})
    _, (dest,) = Datastore("t", SIS, [LMS]).open(config)
    LMS.handler(dest, None).verify()  # the schema as the mapping expects: ready
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE accounts ADD COLUMN auth VARCHAR(20) NOT NULL"
                             + (" DEFAULT 'x'" if db == "sqlite" else ""))
        if db == "sqlite":  # SQLite adds a NOT NULL column only with a default: rebuild it
            conn.exec_driver_sql("CREATE TABLE a2 (username VARCHAR(64) PRIMARY KEY, "
                                 "full_name VARCHAR(200) NOT NULL, email VARCHAR(200) NOT NULL "
                                 "DEFAULT '', suspended BOOLEAN NOT NULL DEFAULT 0, "
                                 "auth VARCHAR(20) NOT NULL)")
            conn.exec_driver_sql("DROP TABLE accounts")
            conn.exec_driver_sql("ALTER TABLE a2 RENAME TO accounts")
    engine.dispose()
    with pytest.raises(ConfigurationError) as info:
        LMS.handler(dest, None).verify()
    message = str(info.value)
    assert "'auth'" in message and "accounts" in message and "new_users" in message
    assert "\n" not in message
    # a handler that inserts users itself is not second-guessed
    Own = type("Own", (LMS.handler,), {"new_users": lambda self, action: None})
    Own(dest, None).verify()


@pytest.mark.parametrize("url", [
    "postgresql://sync:S3cret PW@127.0.0.1:1/lms",       # a space: the pattern stopped there
    "mysql+pymysql://sync:S3cret PW@127.0.0.1:1/lms",
])
def test_a_password_with_a_space_is_hidden_when_the_server_is_down(url):
    with pytest.raises(ConfigurationError) as info:
        connect(url)
    message = str(info.value)
    assert message.startswith("cannot connect to ") and "127.0.0.1:1/lms" in message
    assert "S3cret" not in message and " PW" not in message
