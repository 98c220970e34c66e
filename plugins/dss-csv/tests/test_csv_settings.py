"""Point 1 and 2: where the path comes from, dialect, header/columns and renaming."""

from __future__ import annotations

import pytest
from dss_csv import CSVImporter
from dss_csv.importer import DEFAULT_MAX_FIELD_SIZE

from dss_core import Config, ConfigurationError, Tree


def objects(tree: Tree) -> dict[str, dict[str, object]]:
    return {i: o.values() for i, o in tree.branch("users").items()}


def test_importer_is_registered_and_resolved_by_name(csv_plugins, load, write):
    names = [cls.name for group in csv_plugins.hook.dss_importers() for cls in group]
    assert "csv" in names
    write("students.csv", "idnumber,name\n1,Ann\n")
    tree = load({"path": "students.csv"})
    assert type(tree.importer_for("users")) is CSVImporter
    assert objects(tree) == {"1": {"name": "Ann", "email": ""}}


def test_relative_path_resolves_against_the_config_folder(load, write, tmp_path, monkeypatch):
    write("exports/students.csv", "idnumber,name\n1,Ann\n")
    monkeypatch.chdir(tmp_path.parent)  # not the config folder
    assert objects(load({"path": "exports/students.csv"}))["1"]["name"] == "Ann"


def test_path_from_class_attribute(load, write):
    path = write("s.csv", "idnumber,name\n7,Bo\n")

    class Students(CSVImporter):
        pass

    Students.path = str(path)
    assert list(objects(load(importer=Students))) == ["7"]


def test_path_from_get_path_override(load, write):
    write("computed.csv", "idnumber,name\n8,Cy\n")

    class Students(CSVImporter):
        def get_path(self):
            return "computed.csv"

    tree = load(importer=Students)
    assert list(objects(tree)) == ["8"]
    assert str(tree.branch("users")["8"].dss_origin) == "computed.csv line 2"


def test_setting_overrides_class_attribute(load, write):
    write("a.csv", "idnumber,name\n1,A\n")
    write("b.csv", "idnumber,name\n2,B\n")

    class Students(CSVImporter):
        path = "a.csv"

    assert list(objects(load({"path": "b.csv"}, importer=Students))) == ["2"]


def test_environment_overrides_path(load, write):
    write("a.csv", "idnumber,name\n1,A\n")
    write("env.csv", "idnumber,name\n3,E\n")
    tree = load({"path": "a.csv"}, environ={"DSS_SIS_USERS_PATH": "env.csv"})
    assert list(objects(tree)) == ["3"]


def test_no_path_is_a_configuration_error(load):
    with pytest.raises(ConfigurationError, match=r"sis\.users: the csv importer needs a path"):
        load({})


def test_subclass_does_not_claim_the_registered_name():
    class Mine(CSVImporter):
        pass

    class Named(CSVImporter):
        name = "students-csv"

    assert CSVImporter.name == "csv"
    assert Mine.name is None
    assert Named.name == "students-csv"


@pytest.mark.parametrize("setting", ["\\t", "\t", "tab", "TAB"])
def test_tab_delimiter_written_as_backslash_t(load, write, setting):
    write("s.tsv", "idnumber\tname\n1\tAnn, Jr.\n")
    assert objects(load({"path": "s.tsv", "delimiter": setting}))["1"]["name"] == "Ann, Jr."


def test_tab_delimiter_from_toml_file(tmp_path, write, make_tree):
    write("s.tsv", "idnumber\tname\n1\tAnn\n")
    (tmp_path / "dss.toml").write_text(
        '[trees.sis.users]\npath = "s.tsv"\ndelimiter = "\\\\t"\n', encoding="utf-8")
    config = Config.load(tmp_path / "dss.toml")
    assert config.settings_for("sis", "users")["delimiter"] == "\\t"  # two characters
    tree = make_tree(config).load()
    assert tree.branch("users")["1"].name == "Ann"


def test_semicolon_delimiter_and_custom_quotechar(load, write):
    write("s.csv", "idnumber;name\n1;'Doe; Jo'\n2;'It''s'\n")
    tree = load({"path": "s.csv", "delimiter": ";", "quotechar": "'"})
    assert objects(tree)["1"]["name"] == "Doe; Jo"
    assert objects(tree)["2"]["name"] == "It's"


def test_quoting_off_with_empty_quotechar(load, write):
    write("s.csv", 'idnumber,name\n1,"Ann"\n')
    assert objects(load({"path": "s.csv", "quotechar": ""}))["1"]["name"] == '"Ann"'


def test_escapechar_and_skipinitialspace(load, write):
    write("s.csv", "idnumber, name\n1, Ann\\, Jr.\n")
    tree = load({"path": "s.csv", "escapechar": "\\", "skipinitialspace": True})
    assert objects(tree)["1"]["name"] == "Ann, Jr."


def test_bad_delimiter_is_a_configuration_error(load, write):
    write("s.csv", "idnumber,name\n1,A\n")
    with pytest.raises(ConfigurationError, match="'delimiter' must be one character"):
        load({"path": "s.csv", "delimiter": ",,"})


def test_headerless_file_with_columns_setting(load, write):
    write("s.csv", "1,Ann,ann@x\n2,Bo,bo@x\n")
    tree = load({"path": "s.csv", "header": False, "columns": ["idnumber", "name", "email"]})
    assert objects(tree) == {"1": {"name": "Ann", "email": "ann@x"},
                             "2": {"name": "Bo", "email": "bo@x"}}
    assert str(tree.branch("users")["1"].dss_origin) == "s.csv line 1"


def test_headerless_file_with_class_columns_and_env_header(load, write):
    write("s.csv", "1,Ann\n")

    class Students(CSVImporter):
        path = "s.csv"
        columns = ("idnumber", "name")

    tree = load(importer=Students, environ={"DSS_SIS_USERS_HEADER": "false"})
    assert objects(tree) == {"1": {"name": "Ann", "email": ""}}


def test_columns_replace_the_header_names(load, write):
    write("s.csv", "ID,Full name\n1,Ann\n")
    tree = load({"path": "s.csv", "columns": ["idnumber", "name"]})
    assert objects(tree)["1"]["name"] == "Ann"


def test_header_false_without_columns_is_a_configuration_error(load, write):
    write("s.csv", "1,Ann\n")
    with pytest.raises(ConfigurationError, match="header = false needs `columns`"):
        load({"path": "s.csv", "header": False})


def test_rename_in_settings(load, write):
    write("s.csv", "Student ID,Full Name,Homeroom\n11111,Ann Doe,10B\n")
    tree = load({"path": "s.csv", "rename": {"Student ID": "idnumber", "Full Name": "name"}})
    assert objects(tree) == {"11111": {"name": "Ann Doe", "email": ""}}  # Homeroom: not a field


def test_rename_as_class_dict(load, write):
    write("s.csv", "Student ID,Full Name\n11111,Ann Doe\n")

    class Students(CSVImporter):
        path = "s.csv"
        rename = {"Student ID": "idnumber", "Full Name": "name"}

    assert objects(load(importer=Students))["11111"]["name"] == "Ann Doe"


def test_rename_from_environment_string(load, write):
    write("s.csv", "Student ID,Full Name\n5,Eve\n")
    tree = load({"path": "s.csv"},
                environ={"DSS_SIS_USERS_RENAME": "Student ID=idnumber, Full Name=name"})
    assert objects(tree)["5"]["name"] == "Eve"


def test_header_names_are_stripped_and_unnamed_columns_ignored(load, write):
    write("s.csv", " idnumber , name ,\n1,Ann,\n")
    assert objects(load({"path": "s.csv"}))["1"]["name"] == "Ann"


def test_strip_setting(load, write):
    write("s.csv", "idnumber,name\n 1 ,  Ann \n")
    assert objects(load({"path": "s.csv", "strip": True})) == {"1": {"name": "Ann", "email": ""}}
    # without `strip` values keep their spaces; the idnumber is stripped by the core
    assert objects(load({"path": "s.csv"}))["1"]["name"] == "  Ann "
    assert objects(load({"path": "s.csv", "strip_idnumber": False}))[" 1 "]["name"] == "  Ann "


def test_values_are_coerced_by_the_model(load, write):
    from dss_core import Model

    class Pupil(Model):
        grade: int = 0
        active: bool = True

    write("s.csv", "idnumber,grade,active\n1,10,no\n")
    obj = load({"path": "s.csv"}, model=Pupil).branch("users")["1"]
    assert (obj.grade, obj.active) == (10, False)


def test_default_max_field_size_is_one_mebibyte():
    assert DEFAULT_MAX_FIELD_SIZE == CSVImporter.max_field_size == 1024 * 1024


def test_describe_names_the_path(tmp_path, make_tree):
    tree = make_tree(Config({"trees": {"sis": {"users": {"path": ["a.csv", "b/*.csv"]}}}},
                            path=tmp_path / "dss.toml", environ={}))
    assert tree.importer_for("users").describe() == "a.csv, b/*.csv"
