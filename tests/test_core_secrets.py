"""Secrets (issue 8.7): no output shows a password, whatever the URL's form; data is never redacted.

Secrets are registered (by the configuration, or a plugin), not guessed from what a value
looks like: a registered password is hidden wherever it appears, a data value that merely
looks like ``password=...`` is printed as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dss_core import Config, redact, register_secret, register_url_secrets
from dss_core.redaction import clear_secrets, mask_url

# printable, with what breaks a URL: @ : / % ? & = # space quotes backslash ('*' is the mask)
ALPHABET = "abcXYZ019" + "@:/%?&=# '\"\\!$;,.()[]+~-_"
PASSWORDS = st.text(alphabet=ALPHABET, min_size=4, max_size=16).filter(lambda p: p.strip() == p)
SECRET_PARAMS = st.sampled_from(["password", "sslpassword", "pass", "token", "secret", "api_key"])
PROPS = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


@contextmanager
def fresh_registry() -> Iterator[None]:
    clear_secrets()
    try:
        yield
    finally:
        clear_secrets()


@pytest.fixture(autouse=True)
def _no_registered_secrets() -> Iterator[None]:
    with fresh_registry():
        yield


def url_forms(password: str, param: str) -> dict[str, str]:
    """``password`` in a database URL of each form a user may write."""
    query_value = quote_plus(password) if set("&#+%") & set(password) else password
    forms = {
        "scheme": f"postgresql+psycopg://sync:{password}@db.example:5432/lms",
        "no scheme": f"sync:{password}@db.example:5432/lms",
        "percent-encoded": f"postgresql://sync:{quote(password, safe='')}@db.example/lms",
        "query": f"postgresql+psycopg://sync@db.example:5432/lms?sslmode=require&{param}="
                 f"{query_value}",
        "query, encoded": f"postgresql://db.example/lms?{param}={quote_plus(password)}&x=1",
    }
    if password.startswith("//"):  # sync://x@host reads as scheme sync, user x: no password
        del forms["no scheme"]
    return forms


def error_messages(url: str) -> list[str]:
    """What output may hold the URL in: an error line, a traceback's repr, a JSON report."""
    line = f"cannot connect to {url}: connection refused"
    return [f"dss: error: {line}", repr(line), json.dumps({"message": line}),
            f"reading users ({url})", f"{url}"]


def assert_hidden(text: str, password: str) -> None:
    for form in {password, quote(password, safe=""), quote_plus(password),
                 quote(password, safe=" +")}:
        assert form not in text, (form, text)


@PROPS
@given(password=PASSWORDS, param=SECRET_PARAMS, how=st.sampled_from(["file", "tree env", "env"]))
def test_a_configured_password_never_appears_in_redacted_output(password, param, how) -> None:
    for url in url_forms(password, param).values():
        with fresh_registry():
            if how == "file":
                Config({"trees": {"lms": {"users": {"url": url}}}}, environ={})
            elif how == "tree env":
                Config({}, environ={"DSS_LMS_URL": url})
            else:
                Config({}, environ={"DSS_LMS_USERS_SOURCE_URL": url})
            for message in error_messages(url):
                assert_hidden(redact(message), password)
            assert_hidden(mask_url(url), password)


@PROPS
@given(password=PASSWORDS, param=SECRET_PARAMS)
def test_a_registered_url_hides_its_password_everywhere(password, param) -> None:
    for url in url_forms(password, param).values():
        with fresh_registry():
            register_url_secrets(url)
            for message in error_messages(url):
                assert_hidden(redact(message), password)


@PROPS
@given(password=PASSWORDS, key=st.sampled_from(["password", "token", "secret", "db_password",
                                                "api_token", "client_secret"]))
def test_a_password_setting_is_hidden_also_in_a_conninfo(password, key) -> None:
    with fresh_registry():
        Config({"trees": {"lms": {key: password}}}, environ={})
        escaped = password.replace("\\", "\\\\").replace("'", "\\'")
        for message in [f"connection failed: host=db user=sync password='{escaped}' port=5432",
                        f"password={password}", json.dumps({"detail": password})]:
            assert_hidden(redact(message), password)
    with fresh_registry():
        Config({}, environ={f"DSS_LMS_{key.upper()}": password})
        assert_hidden(redact(f"refused: {password!r}"), password)


@PROPS
@given(value=st.text(alphabet=ALPHABET + "\n", max_size=30))
def test_data_values_are_never_redacted_for_looking_like_a_secret(value) -> None:
    # nothing registered, no URL: whatever a pupil's note says is printed as it is
    for text in [f"note='password={value}')", f"update_note(idnumber='7', value='pass={value}')",
                 f"token={value}&secret={value}"]:
        if "://" not in text and ":/" not in text:
            assert redact(text) == text


def test_a_password_keyword_in_data_is_left_alone() -> None:
    assert redact("note='password=abc')") == "note='password=abc')"
    assert redact("update_note(idnumber='7', value='password=abc')") == \
        "update_note(idnumber='7', value='password=abc')"
    assert redact("dbname=x;password=hunter2;user=u") == "dbname=x;password=hunter2;user=u"


def test_a_password_in_a_url_query_string_is_masked_even_unregistered() -> None:
    assert redact("postgresql://h/db?password=x") == "postgresql://h/db?password=***"
    assert redact("cannot connect (postgresql://h/db?sslmode=require&password=x)") == \
        "cannot connect (postgresql://h/db?sslmode=require&password=***)"
    assert redact("see https://lms.example/api?token=abc123&page=2 now") == \
        "see https://lms.example/api?token=***&page=2 now"
    assert redact("https://example.org/a?page=2") == "https://example.org/a?page=2"
    # the message's own punctuation after the URL stays
    assert redact("cannot connect to postgresql://h/db?password=x: refused") == \
        "cannot connect to postgresql://h/db?password=***: refused"
    assert redact("cannot connect to postgresql://h/db?password=***: refused") == \
        "cannot connect to postgresql://h/db?password=***: refused"


def test_register_url_secrets_finds_every_form() -> None:
    register_url_secrets("sync:plain-pw@db:5432/lms")
    register_url_secrets("postgresql://u:p%40ss-enc@h/db")
    register_url_secrets("postgresql://u@h/db?password=qp1&sslpassword=qp2&pass=qp3&token=tk4"
                         "&secret=sc5&api_key=ak6&sslmode=require")
    register_url_secrets("postgresql://sync@server:az-pw@h/db")  # a user name holding '@'
    text = redact("plain-pw p%40ss-enc p@ss-enc qp1 qp2 qp3 tk4 sc5 ak6 az-pw require")
    assert text == "*** *** *** *** *** *** *** *** *** *** require"


def test_register_url_secrets_registers_no_user_host_or_database() -> None:
    for url in ["postgresql://sync@db.example:5432/lms", "sqlite:///lms.db", "db.example:5432/lms",
                "sqlite:///with@sign.db", "mysql+pymysql://root@127.0.0.1/test"]:
        register_url_secrets(url)
    text = "sync db.example 5432 lms root 127.0.0.1 test with@sign.db"
    assert redact(text) == text


def test_short_and_empty_secrets_are_ignored() -> None:
    for value in ["", "ab", None]:
        register_secret(value)
    assert redact("ab a b") == "ab a b"
    register_secret("abc")
    assert redact("abcd ab") == "***d ab"


def test_the_longest_secret_wins() -> None:
    register_secret("s3cret")
    register_secret("s3cret-and-more")
    assert redact("x s3cret-and-more y s3cret") == "x *** y ***"


def test_mask_url_every_form() -> None:
    assert mask_url("user:secret@host:5432/db") == "user:***@host:5432/db"
    assert mask_url("postgresql://u:p@ss@h/db") == "postgresql://u:***@h/db"
    assert mask_url("postgresql://u:S3cret PW@h:1/db") == "postgresql://u:***@h:1/db"
    assert mask_url("postgresql://u@h/db?password=a%40b&x=1") == "postgresql://u@h/db?password=***&x=1"
    assert mask_url("sqlite:///lms.db") == "sqlite:///lms.db"
    assert mask_url("db.example:5432/lms") == "db.example:5432/lms"


def test_config_registers_urls_passwords_and_tokens_but_not_other_settings() -> None:
    Config({"datastore": "school",
            "trees": {"lms": {"url": "postgresql://u:url-pw1@h/db", "token": "tok-2",
                              "users": {"api_password": "apw-3", "path": "users.csv",
                                        "delimiter": ";;;"}},
                      "sis": {"export_url": "sftp://me:sftp-pw4@files/x", "mode": "no-retire"}}},
           environ={"DSS_LMS_URL": "me:env-pw5@h/db", "DSS_SIS_SECRET": "sec-6",
                    "DSS_SIS_USERS_PATH": "not-a-secret.csv", "HOME_PASSWORD": "not-dss-7"})
    out = redact("url-pw1 tok-2 apw-3 sftp-pw4 env-pw5 sec-6 | users.csv ;;; school no-retire "
                 "not-a-secret.csv not-dss-7")
    assert out == "*** *** *** *** *** *** | users.csv ;;; school no-retire not-a-secret.csv not-dss-7"


def test_redact_is_fast_with_many_registered_secrets() -> None:
    import time

    for i in range(200):
        register_secret(f"secret-number-{i:04d}")
    line = "update_name(idnumber='12345', attribute='name', value='Ann Archer')" * 3
    redact(line)  # compiles once
    start = time.perf_counter()
    for _ in range(10_000):
        redact(line)
    assert time.perf_counter() - start < 2.0


# -- end to end: the real `dss` command -------------------------------------------------------

SOURCE = {"users": [{"idnumber": "1", "_lastfirst": "Doe, password=abc')", "department": "math"}]}
DEST = {"users": [{"idnumber": "1", "name": "Jane Doe", "department": "math"}],
        "groups": [{"idnumber": "math", "members": ["1"]}]}


def test_e2e_a_data_value_that_looks_like_a_password_is_printed_unchanged(dss, sync_files,
                                                                        tmp_path: Path) -> None:
    sync_files(SOURCE, DEST)
    result = dss("plan", "testsync")
    assert result.code == 0, result
    assert "value=\"password=abc') Doe\")" in result.out, result
    assert "***" not in result.out + result.err, result
    result = dss("run", "testsync", "--report", "report.json")
    assert result.code == 0, result
    report = (tmp_path / "report.json").read_text()
    assert "password=abc') Doe" in json.loads(report)["actions"][0]["value"], report


@pytest.mark.parametrize("password", ["S3cr%40t pw", "hunter2/x?y", "p@ss:w0rd"])
def test_e2e_a_scheme_less_url_in_the_environment_is_never_printed(dss, sync_files, tmp_path: Path,
                                                                  password: str) -> None:
    # the secret of DSS_LMS_URL (the URL of a tree of another datastore, in the same shell) is
    # registered: an error that shows it (here a path holding the same text) prints *** instead
    sync_files(SOURCE, DEST)
    url = f"sync:{password}@db.example:5432/lms"
    result = dss("run", "testsync", "--report", "report.json",
                 env={"DSS_LMS_URL": url, "DSS_SRC_USERS_PATH": url})
    assert result.code == 2, result
    shown = result.out + result.err
    report = tmp_path / "report.json"
    if report.exists():
        shown += report.read_text()
    assert_hidden(shown, password)
    assert "S3cr@t" not in shown
    assert "sync:***@db.example:5432/lms" in result.err, result


def test_e2e_a_token_in_a_url_query_is_never_printed(dss, sync_files) -> None:
    sync_files(SOURCE, DEST)
    result = dss("plan", "testsync",
                 env={"DSS_SRC_USERS_PATH": "https://files.example/users.json?token=tk%2F9-zz"})
    assert result.code == 2, result
    assert "tk%2F9-zz" not in result.out + result.err and "tk/9-zz" not in result.out + result.err
    assert "***" in result.err, result
