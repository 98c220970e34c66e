"""`dss csv-columns FILE`: dss-csv's command (``dss_register_commands``), through the real `dss`.

It helps write the importer's settings: the delimiter (sniffed unless given),
the header's columns with their positions, the number of data rows and a TOML
table to paste. No value of a data row is ever printed; bad input is one
``dss: error:`` line and exit code 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dss_core import Model

#: Values of data rows: none of them may appear in any output.
PERSONAL = ["Ann Archer", "ann@example.org", "Bob Baker", "bob@example.org", "Cy Cole",
            "1001", "1002", "1003"]


class Person(Model):
    name: str = ""
    email: str = ""


def dss(cwd: Path, *args: str, plugins: tuple[str, ...] = ("--plugin", "csv")
        ) -> subprocess.CompletedProcess[str]:
    """The real `dss` command (dss-csv found through its entry point), in ``cwd``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DSS_")}
    return subprocess.run([sys.executable, "-m", "dss_core", *plugins, *args], cwd=cwd,
                          env=environ, capture_output=True, text=True, timeout=120)


def assert_no_values(proc: subprocess.CompletedProcess[str]) -> None:
    for value in PERSONAL:
        assert value not in proc.stdout + proc.stderr, (value, proc.stdout, proc.stderr)


def table(stdout: str) -> dict[str, Any]:
    """The TOML table the command prints (everything from its ``[trees...]`` line), parsed."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("[trees."))
    return tomllib.loads("\n".join(lines[start:]))


SEMICOLONS = ("Student ID;Full Name;E-mail\n"
              "1001;Ann Archer;ann@example.org\n"
              "\n"
              "1002;Bob Baker;bob@example.org\n"
              "1003;Cy Cole;\n")


def test_the_command_is_listed_in_help_only_with_the_plugin(tmp_path: Path) -> None:
    assert "csv-columns" in dss(tmp_path, "--help", plugins=()).stdout
    assert "csv-columns" not in dss(tmp_path, "--help", plugins=("--block", "csv")).stdout
    helped = dss(tmp_path, "csv-columns", "--help")
    assert helped.returncode == 0 and "--delimiter" in helped.stdout
    assert "never a value of a data row" in helped.stdout


def test_sniffs_the_delimiter_and_shows_columns_counts_and_settings(
        tmp_path: Path, write: Callable[..., Path]) -> None:
    write("students.csv", SEMICOLONS)
    proc = dss(tmp_path, "csv-columns", "students.csv")
    assert proc.returncode == 0, proc
    assert proc.stderr == ""
    assert proc.stdout.splitlines()[:6] == [
        "students.csv: delimiter ';' (sniffed; give --delimiter to choose another), encoding utf-8",
        "3 columns (the header row, line 1):",
        "  1  Student ID",
        "  2  Full Name",
        "  3  E-mail",
        "3 data rows",  # the blank line is not a row
    ]
    assert "[trees.<tree>.<branch>]\n" in proc.stdout
    assert 'rename = { "Student ID" = "idnumber" }' in proc.stdout
    assert_no_values(proc)


def test_the_printed_table_configures_the_importer(
        tmp_path: Path, write: Callable[..., Path], load: Callable[..., Any]) -> None:
    write("students.csv", SEMICOLONS)
    proc = dss(tmp_path, "csv-columns", "students.csv", "--tree", "sis", "--branch", "users")
    settings = table(proc.stdout)["trees"]["sis"]["users"]
    assert settings == {"path": "students.csv", "delimiter": ";",
                        "rename": {"Student ID": "idnumber"}}
    # the conftest's tree reads [trees.sis.users] of a dss.toml in tmp_path, like the user's
    users = load(dict(settings, rename={"Student ID": "idnumber", "Full Name": "name",
                                        "E-mail": "email"}), model=Person).branch("users")
    assert sorted(users) == ["1001", "1002", "1003"]
    assert users["1001"].name == "Ann Archer"


def test_a_given_delimiter_and_encoding(tmp_path: Path, write: Callable[..., Path],
                                        load: Callable[..., Any]) -> None:
    write("staff.tsv", "Nom\tidnumber\tE-mail\nAnn Ærcher\t1001\tann@example.org\n",
          encoding="cp1252")
    proc = dss(tmp_path, "csv-columns", "staff.tsv", "--delimiter", "tab", "--encoding",
               "cp1252", "--tree", "sis", "--branch", "staff")
    assert proc.returncode == 0, proc
    lines = proc.stdout.splitlines()
    assert lines[0] == "staff.tsv: delimiter '\\t' (tab) (given), encoding cp1252"
    assert lines[1:5] == ["3 columns (the header row, line 1):", "  1  Nom", "  2  idnumber",
                          "  3  E-mail"]
    assert lines[-4:] == ["[trees.sis.staff]",
                          'path = "staff.tsv"  # relative to the folder of dss.toml',
                          'delimiter = "\\t"', 'encoding = "cp1252"']  # an idnumber column: no rename
    settings = table(proc.stdout)["trees"]["sis"]["staff"]
    users = load(dict(settings, rename={"Nom": "name"}), model=Person).branch("users")
    assert users["1001"].name == "Ann Ærcher"
    assert "Ærcher" not in proc.stdout


def test_rows_of_another_width_are_counted_not_shown(tmp_path: Path,
                                                      write: Callable[..., Path]) -> None:
    write("s.csv", "id,name\n1001,Ann Archer\n1002,Bob, Baker\n1003,Cy Cole,x,y\n")
    proc = dss(tmp_path, "csv-columns", "s.csv", "-d", ",")
    assert proc.returncode == 0, proc
    assert "3 data rows" in proc.stdout
    assert ("warning: 2 rows do not have 2 fields (the first on line 3): a wrong delimiter, "
            "or a delimiter inside an unquoted value?") in proc.stdout
    assert_no_values(proc)


def test_a_header_read_as_one_column_names_the_delimiter(tmp_path: Path,
                                                          write: Callable[..., Path]) -> None:
    write("s.csv", SEMICOLONS)
    proc = dss(tmp_path, "csv-columns", "s.csv", "--delimiter", ",")
    assert "  1  Student ID;Full Name;E-mail" in proc.stdout
    assert "warning: the only column holds ';': is that the delimiter? (--delimiter ';')" \
        in proc.stdout


def test_a_file_without_header_row_shows_no_value(tmp_path: Path, write: Callable[..., Path],
                                                  load: Callable[..., Any]) -> None:
    write("s.csv", "1001,Ann Archer,ann@example.org\n1002,Bob Baker,bob@example.org\n")
    proc = dss(tmp_path, "csv-columns", "s.csv", "--tree", "sis", "--branch", "users")
    assert proc.returncode == 0, proc
    assert ("3 columns, no header row: line 1 holds a number in column 1, so it is data "
            "(not shown)") in proc.stdout
    assert "2 data rows" in proc.stdout
    assert_no_values(proc)
    settings = table(proc.stdout)["trees"]["sis"]["users"]
    assert settings["header"] is False
    assert settings["columns"] == ["idnumber", "column2", "column3"]
    assert sorted(load(settings, model=Person).branch("users")) == ["1001", "1002"]


def test_a_control_character_is_counted(tmp_path: Path, write: Callable[..., Path]) -> None:
    write("s.csv", "id,name\n1001,Ann\x00Archer\n")
    proc = dss(tmp_path, "csv-columns", "s.csv")
    assert ("warning: 1 row holds a control character (line 2: U+0000); the csv importer "
            "refuses such a file") in proc.stdout
    assert "Ann" not in proc.stdout


def test_the_plugin_module_does_not_import_the_command() -> None:
    code = ("import sys, dss_csv.plugin\n"
            "assert 'dss_csv.columns' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


BAD = {
    "missing file": (None, "dss: error: nope.csv: file not found"),
    "a directory": ("dir", "dss: error: nope.csv: is a directory, not a CSV file"),
    "empty file": (b"", "dss: error: nope.csv: the file is empty (no header row)"),
    "blank lines only": (b"\n  \n,,\n", "dss: error: nope.csv: the file is empty (no header row)"),
    "undecodable bytes": (
        b"id,name\n1001,Ann\n1002,Bj\xf6rn\n",
        "dss: error: nope.csv line 3: cannot decode as utf-8: byte f6 (invalid start byte) "
        "(give the encoding, e.g. --encoding cp1252)"),
    "an unterminated quote": (
        b'id,name\n1001,"Ann\n1002,Bob\n',
        "dss: error: nope.csv line 2: unterminated quoted field: the quote opened on this line "
        "is never closed (the file ends at line 3)"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    content, message = BAD[case]
    if content == "dir":
        (tmp_path / "nope.csv").mkdir()
    elif isinstance(content, bytes):
        (tmp_path / "nope.csv").write_bytes(content)
    for extra in ([], ["--delimiter", ","]):  # sniffing reads the file too
        proc = dss(tmp_path, "csv-columns", "nope.csv", *extra)
        assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", message + "\n"), proc


@pytest.mark.parametrize(("option", "message"), [
    (["--encoding", "klingon"], "dss: error: unknown encoding 'klingon'"),
    (["--delimiter", ";;"],
     "dss: error: --delimiter must be one character (or \\t or tab for a tab), not ';;'"),
])
def test_bad_options_are_one_line_and_exit_2(option: list[str], message: str, tmp_path: Path,
                                             write: Callable[..., Path]) -> None:
    write("s.csv", SEMICOLONS)
    proc = dss(tmp_path, "csv-columns", "s.csv", *option)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", message + "\n"), proc
