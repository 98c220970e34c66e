"""`dss --help` and `dss list` start fast: no heavy library is imported before it is needed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["sqlalchemy", "psycopg", "pymysql", "rich", "hypothesis", "pytest", "jinja2", "ldap3",
         "httpx",
         # the columnar libraries: imported only when a branch is read as columns (issue 12)
         "polars", "pyarrow", "duckdb", "numpy", "pandas",
         # dss-sql's SQLite reader into Arrow (its columnar extra)
         "adbc_driver_manager", "adbc_driver_sqlite"]

PROBE = """
import json, sys
{prelude}
from dss_core.cli import cli
try:
    cli(args=sys.argv[1:], prog_name="dss", standalone_mode=False)
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


def _loaded(*args: str, prelude: str = "") -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY, prelude=prelude), *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["list"], ["run", "--help"], ["plan", "--help"]])
def test_no_heavy_imports(args: list[str]):
    # every plugin installed in this environment is loaded here, the real way
    assert _loaded(*args) == []


@pytest.mark.parametrize("library", ["polars", "duckdb", "numpy", "pyarrow", "pandas", "adbc_driver_sqlite"])
def test_the_probe_sees_a_columnar_library_once_imported(library: str):
    """Not vacuous: the same probe names a columnar library when something did import it."""
    pytest.importorskip(library)
    assert library in _loaded("--help", prelude=f"import {library}")


def test_import_dss_core_loads_no_plugin():
    code = ("import sys, dss_core; "
            "print(sorted(m for m in sys.modules if m.startswith(('dss_csv', 'dss_sql', 'click'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
