"""Secrets (issue 8.7): a database password never reaches the output, whatever the URL's form.

`resolve_url` registers the URL's secrets and refuses a URL without a scheme; `redact_url`
hides the password of every form. End to end, the real `dss` command with the URL in
``DSS_LMS_URL``: stdout, stderr and the --report file never hold the password.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from dss_sql.engine import database_error, one_line, redact_url, resolve_url
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dss_core import Config, ConfigurationError, redact
from dss_core.redaction import clear_secrets

ALPHABET = "abcXYZ019" + "@:/%?&=# '\"\\!$;,.()[]+~-_"  # printable, '*' is the mask
PASSWORDS = st.text(alphabet=ALPHABET, min_size=4, max_size=16).filter(lambda p: p.strip() == p)
PARAMS = st.sampled_from(["password", "sslpassword", "pass", "token", "secret", "api_key"])
PROPS = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])
PACKAGE = Path(__file__).parent / "plugins" / "dss-csv2sql-test"


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
    query_value = quote_plus(password) if set("&#+%") & set(password) else password
    forms = {
        "scheme": f"postgresql+psycopg://sync:{password}@127.0.0.1:1/lms",
        "no scheme": f"sync:{password}@127.0.0.1:5432/lms",
        "percent-encoded": f"postgresql://sync:{quote(password, safe='')}@127.0.0.1/lms",
        "query": f"postgresql+psycopg://sync@127.0.0.1:5432/lms?sslmode=disable&{param}="
                 f"{query_value}",
        "query, encoded": f"mysql+pymysql://sync@127.0.0.1/lms?{param}={quote_plus(password)}",
    }
    if password.startswith("//"):  # sync://x@host reads as scheme sync, user x: no password
        del forms["no scheme"]
    return forms


def assert_hidden(text: str, password: str) -> None:
    for form in {password, quote(password, safe=""), quote_plus(password),
                 quote(password, safe=" +")}:
        assert form not in text, (form, text)


@PROPS
@given(password=PASSWORDS, param=PARAMS, configured=st.booleans())
def test_no_message_about_a_database_url_shows_its_password(password, param, configured) -> None:
    for url in url_forms(password, param).values():
        with fresh_registry():
            if configured:
                config = Config({"trees": {"lms": {"url": url}}}, environ={})
            else:
                config = Config({}, environ={})
            messages = []
            try:
                resolve_url(url, config, where="handler of tree lms")
            except ConfigurationError as exc:  # no scheme, or an unencoded '@' in the password
                messages.append(str(exc))
            messages.append(redact_url(url))
            detail = f'connection to server at "127.0.0.1" failed: {url}'
            messages.append(str(database_error(RuntimeError(detail), url, "reading lms.users")))
            messages.append(one_line(RuntimeError(f"invalid dsn: {url}\nmore")))
            messages.append(redact(json.dumps({"error": f"cannot connect to {url}"})))
            for message in messages:
                assert_hidden(message, password)


def test_a_url_without_a_scheme_is_refused_with_its_password_hidden() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_url("user:secret@host:5432/db", where="handler of tree lms")
    assert str(info.value) == (
        "handler of tree lms: database url has no scheme (write it as "
        "postgresql+psycopg://user@host/db or sqlite:///file): user:***@host:5432/db")
    with pytest.raises(ConfigurationError, match="no scheme"):
        resolve_url("lms.db")


def test_an_unencoded_at_sign_in_the_password_is_refused_with_the_password_hidden() -> None:
    # SQLAlchemy would end the password at the first '@' and show the rest as the host
    with pytest.raises(ConfigurationError) as info:
        resolve_url("postgresql://sync:Summer@2024@db.example/lms")
    message = str(info.value)
    assert "write it as %40" in message and "postgresql://sync:***@db.example/lms" in message
    assert "Summer" not in message and "2024" not in message
    # an '@' elsewhere is fine
    assert resolve_url("postgresql://sync:Summer%402024@db.example/lms?x=a@b")
    assert resolve_url("postgresql://sync@db.example/lms?application_name=a@b")
    assert resolve_url("sqlite:////tmp/with@sign.db") == "sqlite:////tmp/with@sign.db"


def test_resolve_url_registers_the_password_for_every_later_message() -> None:
    resolve_url("postgresql+psycopg://sync@127.0.0.1/lms?password=s3cr%40t")
    # a driver's message may show the decoded password in its conninfo
    assert redact("connection failed: host=127.0.0.1 password='s3cr@t'") == \
        "connection failed: host=127.0.0.1 password='***'"


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://sync:S3cret PW@127.0.0.1:1/lms", "postgresql+psycopg://sync:***@127.0.0.1:1/lms"),
    ("sync:S3cret@127.0.0.1:5432/lms", "sync:***@127.0.0.1:5432/lms"),
    ("postgresql://sync:S3%40cret@h/lms", "postgresql://sync:***@h/lms"),
    ("postgresql://sync@h/lms?sslmode=require&password=S3cret", "postgresql://sync@h/lms?sslmode=require&password=***"),
    ("postgresql://h/lms?sslpassword=S3cret&pass=S3cret", "postgresql://h/lms?sslpassword=***&pass=***"),
    ("sqlite:///lms.db", "sqlite:///lms.db"),
])
def test_redact_url_every_form(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_data_value_that_looks_like_a_password_is_not_redacted() -> None:
    resolve_url("postgresql+psycopg://sync:real-secret@127.0.0.1/lms")
    assert redact("note='password=abc')") == "note='password=abc')"
    error = database_error(RuntimeError("value too long: 'password=abc')'"),
                           "postgresql+psycopg://sync:real-secret@127.0.0.1/lms", "writing")
    assert "'password=abc')'" in str(error) and "real-secret" not in str(error)


# -- end to end: the real `dss` command ------------------------------------------------------


@pytest.fixture(scope="module")
def csv2sql_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dss-csv2sql-test installed for real into a folder (as test_sql_csv_e2e does)."""
    pytest.importorskip("dss_csv", reason="dss-csv is not installed")
    source = tmp_path_factory.mktemp("secrets-src") / PACKAGE.name
    shutil.copytree(PACKAGE, source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path_factory.mktemp("secrets-site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(source)],
        capture_output=True, text=True)
    assert proc.returncode == 0, f"installing dss-csv2sql-test failed:\n{proc.stdout}\n{proc.stderr}"
    return target


def run_dss(folder: Path, site: Path, url: str, datastore: str, *args: str) -> tuple[int, str]:
    """``dss run DATASTORE --report report.json`` with DSS_LMS_URL=url: (exit code, all output)."""
    (folder / "users.csv").write_text("id,full name,email\n1,Ann Archer,ann@school\n")
    (folder / "memberships.csv").write_text("group,title,member\nmath,Math,1\n")
    (folder / "dss.toml").write_text(
        '[trees.sis.users]\npath = "users.csv"\n'
        'rename = { id = "idnumber", "full name" = "name" }\n'
        '[trees.sis.groups]\npath = "memberships.csv"\n'
        'rename = { group = "idnumber", member = "members" }\n')
    plugins = ["--plugin", "csv", "--plugin", "sql", "--plugin", "csv2sql"] + (
        ["--plugin", "postgres"] if datastore == "csv2pg" else [])
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DSS_") and k != "PYTHONPATH"}
    environ["PYTHONPATH"] = str(site)
    environ["DSS_LMS_URL"] = url
    proc = subprocess.run(
        [sys.executable, "-m", "dss_core", "--config", str(folder / "dss.toml"), *plugins,
         *args, datastore, "--report", "report.json"],
        cwd=folder, env=environ, capture_output=True, text=True, timeout=120)
    shown = f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    report = folder / "report.json"
    if report.exists():
        shown += f"\n--- report\n{report.read_text()}"
    return proc.returncode, shown


DATASTORES = ["csv2sql", "csv2pg"]


def _datastore(name: str) -> str:
    if name == "csv2pg":
        pytest.importorskip("dss_postgres", reason="dss-postgres is not installed")
    return name


@pytest.mark.parametrize("datastore", DATASTORES)
@pytest.mark.parametrize("password", ["S3cr%40t pw", "hunter2/x?y"])
def test_e2e_a_scheme_less_url_is_refused_without_showing_the_password(
        tmp_path: Path, csv2sql_site: Path, datastore: str, password: str) -> None:
    code, shown = run_dss(tmp_path, csv2sql_site, f"postgres:{password}@127.0.0.1:5432/test",
                          _datastore(datastore), "run")
    assert code == 2, shown
    if datastore == "csv2sql":  # dss-postgres words its own refusal
        assert "database url has no scheme" in shown, shown
        assert "postgres:***@127.0.0.1:5432/test" in shown, shown
    assert_hidden(shown, password)
    assert "S3cr@t" not in shown and "hunter2" not in shown


@pytest.mark.parametrize("datastore", DATASTORES)
def test_e2e_a_password_in_the_query_string_is_never_shown_wrong_port(
        tmp_path: Path, csv2sql_site: Path, datastore: str) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/test?password=s3cr%40t"
    code, shown = run_dss(tmp_path, csv2sql_site, url, _datastore(datastore), "run")
    assert code == 2, shown
    assert "cannot connect to" in shown and "password=***" in shown, shown
    assert "s3cr%40t" not in shown and "s3cr@t" not in shown, shown


@pytest.mark.postgres
@pytest.mark.parametrize("datastore", DATASTORES)
def test_e2e_a_password_in_the_query_string_is_never_shown_wrong_user(
        tmp_path: Path, csv2sql_site: Path, dss_postgres_url: str, datastore: str) -> None:
    # dss_postgres_url only makes sure the server is up (skipped when it is not)
    url = "postgresql+psycopg://nobody_dss@127.0.0.1:5432/test?password=s3cr%40t"
    for command in ("run", "plan"):
        code, shown = run_dss(tmp_path, csv2sql_site, url, _datastore(datastore), command)
        assert code == 2, shown
        assert "nobody_dss" in shown and "password=***" in shown, shown
        assert "s3cr%40t" not in shown and "s3cr@t" not in shown, shown
