"""Redaction: secrets never reach the output."""

from __future__ import annotations

import pytest

from dss_core import redact


def test_password_in_a_database_url_is_hidden() -> None:
    text = redact("connecting to postgresql://u:secret@h/db now")
    assert "secret" not in text
    assert text == "connecting to postgresql://u:***@h/db now"


def test_password_in_a_url_with_driver_and_port() -> None:
    text = redact("postgresql+psycopg://admin:p4ss%40w0rd@db.example.org:5432/lms")
    assert "p4ss" not in text
    assert text.startswith("postgresql+psycopg://admin:***@db.example.org:5432/lms")


@pytest.fixture(autouse=True)
def _no_registered_secrets():
    from dss_core.redaction import clear_secrets

    clear_secrets()
    yield
    clear_secrets()


KEYWORD_TEXTS = [
    "password=hunter2", "PASSWORD = hunter2", "host=h password='hunter2' user=u",
    'password="hunter2"', "dbname=x;password=hunter2;user=u",
]


@pytest.mark.parametrize("text", KEYWORD_TEXTS)
def test_keyword_password_is_hidden_when_registered(text: str) -> None:
    # a driver's conninfo in an error: hidden because the configuration registered the secret
    from dss_core import register_secret

    register_secret("hunter2")
    out = redact(text)
    assert "hunter2" not in out
    assert "***" in out


@pytest.mark.parametrize("text", KEYWORD_TEXTS)
def test_keyword_text_that_is_no_registered_secret_is_unchanged(text: str) -> None:
    # a data value that looks like a secret is data: never redacted (issue 8.7)
    assert redact(text) == text


def test_text_without_secrets_is_unchanged() -> None:
    for text in ["sqlite:///lms.db", "postgresql://u@h/db", "new_users(idnumber='1')",
                 "https://example.org/a:b"]:
        assert redact(text) == text


def test_keyword_redaction_keeps_the_rest() -> None:
    from dss_core import register_secret

    register_secret("hunter2")
    assert redact("host=h password=hunter2 user=u") == "host=h password=*** user=u"


def test_password_with_an_unencoded_at_sign_is_hidden():
    from dss_core import redact

    text = redact("cannot connect to postgresql://sync:p@ss@db.example:5432/lms")
    assert "p@ss" not in text and "ss@" not in text
    assert "postgresql://sync:***@db.example:5432/lms" in text


def test_password_with_spaces_is_hidden_and_plain_urls_are_left_alone():
    from dss_core import redact

    text = redact("cannot connect to postgresql://postgres:S3cret PW@127.0.0.1:5499/lms: refused")
    assert "S3cret" not in text and " PW" not in text
    assert "postgresql://postgres:***@127.0.0.1:5499/lms: refused" in text
    plain = "postgresql://db.example:5432/lms failed for ann@school.example"
    assert redact(plain) == plain
