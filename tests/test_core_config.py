"""Configuration: pyproject.toml and dss.toml, tree and branch settings, environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from dss_core import Branch, Config, ConfigurationError, Importer, Model, Tree

PYPROJECT = """\
[project]
name = "school-sync"

[tool.dss]
datastore = "school"

[tool.dss.trees.lms]
url = "sqlite:///lms.db"
batch = 100

[tool.dss.trees.lms.users]
path = "accounts.csv"
batch = 5
"""

DSS_TOML = """\
datastore = "other"

[trees.sis.users]
path = "exports/students.csv"
delimiter = "\\t"
"""


def test_tool_dss_in_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    config = Config.load(cwd=tmp_path)
    assert config.path == (tmp_path / "pyproject.toml").resolve()
    assert Config(config.data, environ={}).datastore == "school"
    assert config.data["trees"]["lms"]["url"] == "sqlite:///lms.db"
    assert "project" not in config.data


def test_dss_toml(tmp_path: Path) -> None:
    (tmp_path / "dss.toml").write_text(DSS_TOML)
    config = Config.load(cwd=tmp_path)
    assert config.path == (tmp_path / "dss.toml").resolve()
    assert Config(config.data, environ={}).settings_for("sis", "users") == {
        "path": "exports/students.csv", "delimiter": "\t"}


def test_dss_toml_is_preferred_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "dss.toml").write_text(DSS_TOML)
    assert Config.load(cwd=tmp_path).path == (tmp_path / "dss.toml").resolve()


def test_pyproject_without_tool_dss_gives_empty_config(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    config = Config.load(cwd=tmp_path)
    assert config.data == {} and config.path is None


def test_explicit_path_and_missing_file(tmp_path: Path) -> None:
    file = tmp_path / "conf" / "sync.toml"
    file.parent.mkdir()
    file.write_text(DSS_TOML)
    config = Config.load(file)
    assert config.data["trees"]["sis"]["users"]["path"] == "exports/students.csv"
    assert config.resolve_path("exports/students.csv") == file.resolve().parent / "exports/students.csv"
    with pytest.raises(ConfigurationError, match="nope.toml"):
        Config.load(tmp_path / "nope.toml")


def test_tree_and_branch_settings_merge(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    config = Config(Config.load(cwd=tmp_path).data, environ={})
    assert config.settings_for("lms") == {"url": "sqlite:///lms.db", "batch": 100}
    assert config.settings_for("lms", "users") == {
        "url": "sqlite:///lms.db", "batch": 5, "path": "accounts.csv"}
    assert config.settings_for("lms", "groups") == {"url": "sqlite:///lms.db", "batch": 100}
    assert config.settings_for("nosuchtree", "users") == {}


def test_environment_overrides_tree_and_branch_settings(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    data = Config.load(cwd=tmp_path).data
    environ = {"DSS_LMS_URL": "postgresql://u@db/lms", "DSS_LMS_USERS_PATH": "/secure/a.csv",
               "DSS_SIS_URL": "unrelated", "OTHER": "x"}
    config = Config(data, environ=environ)
    users = config.settings_for("lms", "users")
    assert users["url"] == "postgresql://u@db/lms"
    assert users["path"] == "/secure/a.csv"
    assert users["batch"] == 5
    groups = config.settings_for("lms", "groups")
    assert groups["url"] == "postgresql://u@db/lms"
    assert "path" not in groups
    assert config.settings_for("lms")["url"] == "postgresql://u@db/lms"


def test_branch_environment_beats_tree_environment() -> None:
    config = Config({}, environ={"DSS_LMS_PATH": "tree.csv", "DSS_LMS_USERS_PATH": "branch.csv"})
    assert config.settings_for("lms", "users")["path"] == "branch.csv"
    assert config.settings_for("lms", "groups")["path"] == "tree.csv"


def test_environment_names_of_trees_with_dashes() -> None:
    config = Config({}, environ={"DSS_MY_LMS_URL": "x"})
    assert config.settings_for("my-lms") == {"url": "x"}


def test_process_environment_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dss.toml").write_text(DSS_TOML)
    monkeypatch.setenv("DSS_SIS_USERS_DELIMITER", ";")
    monkeypatch.setenv("DSS_DATASTORE", "fromenv")
    config = Config.load(cwd=tmp_path)
    assert config.settings_for("sis", "users")["delimiter"] == ";"
    assert config.datastore == "fromenv"


@pytest.mark.parametrize("name", ["dss.toml", "pyproject.toml"])
def test_invalid_toml_is_a_configuration_error_naming_the_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("[tool.dss\ndatastore = \n")
    with pytest.raises(ConfigurationError) as info:
        Config.load(cwd=tmp_path)
    assert name in str(info.value)
    assert "TOML" in str(info.value)


def test_importers_receive_their_branch_settings(tmp_path: Path, dss_plugins) -> None:
    from dss_core import Setting

    class User(Model):
        name: str

    got: dict[str, object] = {}

    class Reads(Importer):
        declared_settings = (Setting("path"), Setting("url"), Setting("missing"))

        def readin(self):
            got.update(path=self.setting("path"), url=self.setting("url"),
                       missing=self.setting("missing", "default"))
            return []

    class Lms(Tree):
        users = Branch(User, Reads)

    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    config = Config(Config.load(cwd=tmp_path).data, environ={"DSS_LMS_USERS_PATH": "env.csv"})
    Lms(config=config, plugins=dss_plugins).load()
    assert got == {"path": "env.csv", "url": "sqlite:///lms.db", "missing": "default"}


def test_branch_environment_stays_with_its_branch(tmp_path):
    from dss_core import Branch, Config, Model, Tree

    class M(Model):
        name: str = ""

    class Lms(Tree):
        users = Branch(M, [])
        groups = Branch(M, [])

    env = {"DSS_LMS_USERS_PATH": "u.csv", "DSS_LMS_URL": "sqlite://"}
    tree = Lms(config=Config({"trees": {"lms": {"rename": {"a": "b"}, "users": {"x": 1}}}},
                             environ=env))
    assert tree.settings("users") == {"rename": {"a": "b"}, "x": 1, "path": "u.csv",
                                      "url": "sqlite://"}
    assert tree.settings("groups") == {"rename": {"a": "b"}, "url": "sqlite://"}
    assert tree.settings() == {"rename": {"a": "b"}, "url": "sqlite://"}
