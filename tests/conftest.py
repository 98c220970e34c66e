"""Fixtures of the core's end-to-end tests: test plugins installed for real, and the `dss` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

PLUGINS = Path(__file__).parent / "plugins"


def _install(target: Path, *packages: str) -> Path:
    """`pip install --target` the given test plugin packages: real distributions with entry points."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target),
         *(str(PLUGINS / p) for p in packages)],
        capture_output=True, text=True)
    assert proc.returncode == 0, f"installing {packages} failed:\n{proc.stdout}\n{proc.stderr}"
    return target


@pytest.fixture(scope="session")
def testplugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where dss-testplugin is installed (put it on PYTHONPATH to use it)."""
    return _install(tmp_path_factory.mktemp("site-good"), "dss-testplugin")


@pytest.fixture(scope="session")
def broken_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with dss-testplugin and dss-broken (a plugin that fails to import) installed."""
    return _install(tmp_path_factory.mktemp("site-broken"), "dss-testplugin", "dss-broken")


class DssResult:
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


@pytest.fixture
def dss(tmp_path: Path, testplugin_site: Path) -> Callable[..., DssResult]:
    """Run the real `dss` command in `tmp_path` with the test plugin installed."""

    def run(*args: str, site: Path | None = None, env: dict[str, str] | None = None) -> DssResult:
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith("DSS_") and k != "PYTHONPATH"}
        environ["PYTHONPATH"] = str(site or testplugin_site)
        environ.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "dss_core", *args], cwd=tmp_path,
                              env=environ, capture_output=True, text=True, timeout=120)
        return DssResult(proc)

    return run


@pytest.fixture
def sync_files(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """Write the source export, the destination file and a dss.toml for the test sync."""

    def write(source: dict[str, object], dest: dict[str, object], fail: str = "") -> tuple[Path, Path]:
        src = tmp_path / "export.json"
        dst = tmp_path / "lms.json"
        src.write_text(json.dumps(source))
        dst.write_text(json.dumps(dest))
        (tmp_path / "dss.toml").write_text(
            '[trees.src.users]\npath = "export.json"\n\n'
            f'[trees.dst]\npath = "lms.json"\nfail = "{fail}"\n')
        return src, dst

    return write
