"""Review findings on the school demo, each pinned by a test."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from dss_sql import dispose_engines

from school_sync import schema
from school_sync.generate import generate


@pytest.mark.postgres
def test_the_generator_never_writes_a_password_into_dss_toml(dss_postgres_url: str,
                                                            tmp_path: Path) -> None:
    # the README: the password comes from DSS_LMS_URL, "never in the file"
    url = sa.make_url(dss_postgres_url).set(password="S3cretPW").render_as_string(hide_password=False)
    try:
        generate(tmp_path, users=20, seed=3, url=url)
        written = (tmp_path / "dss.toml").read_text(encoding="utf-8")
        assert "S3cretPW" not in written
        assert "postgres@127.0.0.1:5432/test" in written  # the rest of the URL is kept
    finally:
        schema.drop(dss_postgres_url)
        dispose_engines(dss_postgres_url)


def test_a_url_without_a_password_is_written_as_given(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lms.sqlite'}"
    generate(tmp_path, users=20, seed=3, url=url)
    assert f'url = "{url}"' in (tmp_path / "dss.toml").read_text(encoding="utf-8")
