"""Declared settings: types, percentages, the nearest key, secrets, and what `dss list` shows."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dss_core import Branch, Config, ConfigurationError, Importer, Model, Setting, Tree, redact
from dss_core.configcheck import check_configuration
from dss_core.plugins import builtin_plugin_manager
from dss_core.settings import CORE_SETTINGS, nearest, parse_percent, validate


class Person(Model):
    name: str = ""


class Reader(Importer):
    declared_settings = (Setting("path", str, None, "a file"),
                         Setting("api_key", str, None, "a token", secret=True),
                         Setting("limit", int, 10, "rows"))

    def readin(self) -> list[dict[str, Any]]:
        return []


class Src(Tree):
    name = "src"
    users = Branch(Person, Reader)


def check(data: dict[str, Any], environ: dict[str, str] | None = None) -> None:
    config = Config(data, environ=environ or {})
    check_configuration(config, [Src(config=config, plugins=builtin_plugin_manager())])


def test_known_settings_pass_from_files_and_the_environment() -> None:
    check({"trees": {"src": {"users": {"path": "a.csv", "limit": 5, "mode": "no-retire"}}}},
          {"DSS_SRC_USERS_LIMIT": "7", "DSS_SRC_STRIP_IDNUMBER": "false", "DSS_OTHER_X": "1"})


@pytest.mark.parametrize(("data", "environ", "message"), [
    ({"trees": {"src": {"users": {"limt": 5}}}}, {},
     "unknown setting 'limt' (did you mean 'limit'?)"),
    ({"trees": {"src": {"users": {"limit": "5"}}}}, {}, "'5' is not a valid limit"),
    ({"trees": {"src": {"users": {"limit": True}}}}, {}, "True is not a valid limit"),
    ({"trees": {"src": {"strip_idnumber": "no"}}}, {}, "'no' is not a valid strip_idnumber"),
    ({}, {"DSS_SRC_USERS_LIMIT": "many"}, "environment variable DSS_SRC_USERS_LIMIT: 'many'"),
    ({}, {"DSS_SRC_LIMT": "5"}, "did you mean 'DSS_SRC_LIMIT'?"),
    ({"datastor": "x"}, {}, "unknown setting 'datastor' (did you mean 'datastore'?)"),
])
def test_misread_settings_are_one_line(data: dict[str, Any], environ: dict[str, str],
                                       message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        check(data, environ)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_secret_setting_is_registered_and_never_shown() -> None:
    with pytest.raises(ConfigurationError) as info:
        check({"trees": {"src": {"users": {"api_key": 12345678}}}})
    assert "12345678" not in str(info.value) and "***" in str(info.value)
    check({"trees": {"src": {"users": {"api_key": "k9-opaque-token"}}}})
    assert redact("the server said: bad key k9-opaque-token") == "the server said: bad key ***"


@given(st.floats(0, 100, allow_nan=False))
def test_percent_numbers_and_strings_agree(value: float) -> None:
    assert parse_percent(value, "x") == pytest.approx(parse_percent(f"{value}%", "x"))
    assert 0 <= parse_percent(value, "x") <= 1


@pytest.mark.parametrize("bad", ["lots", "120%", "-1%"])
def test_a_bad_percentage_is_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="shrink_limit"):
        parse_percent(bad, "src.users: shrink_limit")


def test_every_core_setting_validates_its_own_default() -> None:
    for setting in CORE_SETTINGS:
        if setting.default is not None:
            validate(setting, setting.default, setting.name)
        assert setting.description


def test_nearest_suggests_only_close_keys() -> None:
    assert nearest("mod", ["mode", "path"]) == " (did you mean 'mode'?)"
    assert nearest("zzz", ["mode", "path"]) == ""
