"""The same school sync with the LMS in PostgreSQL (skipped when the server is down, unless CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dss_core import Config, Datastore
from dss_core.testing import check_conformance
from dss_sql import dispose_engines

from school_sync import plugin, schema
from school_sync.generate import generate

pytestmark = pytest.mark.postgres


def registered(config: Config) -> Datastore:
    """The datastore exactly as the installed plugin registers it, its trees' names resolved."""
    (found,) = plugin.dss_datastores(config=config)
    trees = {tree.name: tree for tree in plugin.dss_trees(config=config)}  # as dss registers them
    return Datastore(found.name, trees[found.source], [trees[d] for d in found.destinations])


def test_conformance_on_postgres(dss_postgres_url: str, tmp_path: Path, dss_plugins: Any) -> None:
    generate(tmp_path, users=250, seed=5, url=dss_postgres_url)
    config = Config.load(tmp_path / "dss.toml")  # names the Postgres URL given to the generator
    config.environ = {}
    school = registered(config)
    try:
        summary = check_conformance(school, config=config, plugins=dss_plugins)
        assert summary.count(kind="old", branch="users") > 0
        assert summary.count(kind="remove", branch="groups") > 0
        sis, _ = school.open(config, dss_plugins)
        assert schema.counts(dss_postgres_url)["active users"] == len(sis.load().users)
    finally:
        dispose_engines()


def test_environment_url_wins(dss_postgres_url: str, tmp_path: Path, dss_plugins: Any) -> None:
    """DSS_LMS_URL points the LMS at Postgres even when dss.toml names a SQLite file."""
    generate(tmp_path, users=60, seed=2, url=dss_postgres_url, config=False)
    (tmp_path / "dss.toml").write_text('[trees.lms]\nurl = "sqlite:///nowhere.sqlite"\n',
                                       encoding="utf-8")
    config = Config.load(tmp_path / "dss.toml")
    config.environ = {"DSS_LMS_URL": dss_postgres_url}
    school = registered(config)
    try:
        check_conformance(school, config=config, plugins=dss_plugins)
        assert not (tmp_path / "nowhere.sqlite").exists()
    finally:
        dispose_engines()
