"""Every plugin-control flag and variable works for every command and for --help (issue 9.1).

Installed for real (``pip install --target``): dss-broken, which fails to
import, and dss-testplugin, which adds a command (``hello``, through
``dss_register_commands``) and an option to run and plan (``--greeting``,
through ``dss_cli_options``). Each command runs in a subprocess under each
flag; then the click group runs several times in one process, with and
without ``--no-plugins``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

BROKEN_WARNING = "dss: warning: plugin 'broken' from dss-broken failed to load"
STRICT_ERROR = "dss: error: plugin 'broken' from dss-broken failed to load"

SOURCE = {"users": [{"idnumber": "1", "_lastfirst": "Doe, Jane", "department": "math"}]}
DEST = {"users": [], "groups": []}


def _hello_listed(out: str) -> bool:
    return re.search(r"^\s+hello\s", out, re.MULTILINE) is not None


#: command -> (its arguments, "the test plugin is seen" judged on (exit code, stdout))
COMMANDS: dict[str, tuple[list[str], Callable[[int, str], bool]]] = {
    "run": (["run", "testsync", "--greeting", "hi"],
            lambda code, out: code == 0 and "greeting: hi" in out),
    "plan": (["plan", "testsync", "--greeting", "hi"],
             lambda code, out: code == 0 and "greeting: hi" in out),
    "list": (["list"], lambda code, out: "testplugin  dss-testplugin 1.2.3" in out),
    "show": (["show", "users", "1", "--datastore", "testsync"],
             lambda code, out: code == 0 and "source src.users '1'" in out),
    "check": (["check", "testsync"],
              lambda code, out: "destination dst: handler JSONHandler is ready" in out),
    "--help": (["--help"], lambda code, out: _hello_listed(out)),
    "run --help": (["run", "--help"], lambda code, out: "--greeting" in out),
    "plan --help": (["plan", "--help"], lambda code, out: "--greeting" in out),
    "--version": (["--version"], lambda code, out: "plugin testplugin: dss-testplugin 1.2.3" in out),
    "hello": (["hello"], lambda code, out: "hello from dss-testplugin" in out),
}

#: flag -> (options before the command, environment, broken plugin loaded, test plugin loaded)
FLAGS: dict[str, tuple[list[str], dict[str, str], bool, bool]] = {
    "no flag": ([], {}, True, True),
    "--no-plugins": (["--no-plugins"], {}, False, False),
    "DSS_DISABLE_PLUGIN_AUTOLOAD=1": ([], {"DSS_DISABLE_PLUGIN_AUTOLOAD": "1"}, False, False),
    "--plugin testplugin": (["--plugin", "testplugin"], {}, False, True),
    "--plugin csv": (["--plugin", "csv"], {}, False, False),
    "DSS_PLUGINS=csv,testplugin": ([], {"DSS_PLUGINS": "csv,testplugin"}, False, True),
    "DSS_PLUGINS=csv,sql": ([], {"DSS_PLUGINS": "csv,sql"}, False, False),
    "--block broken": (["--block", "broken"], {}, False, True),
    "--block testplugin": (["--block", "testplugin"], {}, True, False),
    "--strict-plugins --block broken": (["--strict-plugins", "--block", "broken"], {}, False, True),
}


@pytest.fixture
def in_sync_folder(dss: Callable[..., Any], sync_files: Callable[..., Any]) -> Callable[..., Any]:
    sync_files(SOURCE, DEST)
    return dss


@pytest.mark.parametrize("flag", list(FLAGS))
def test_every_command_honours_the_flag(flag: str, in_sync_folder: Callable[..., Any],
                                        broken_site: Path) -> None:
    options, env, broken_loaded, plugin_loaded = FLAGS[flag]

    def one(command: str) -> tuple[str, Any]:
        args, _ = COMMANDS[command]
        return command, in_sync_folder(*options, *args, site=broken_site, env=env)

    with ThreadPoolExecutor(4) as pool:
        results = dict(pool.map(one, COMMANDS))
    wrong = []
    for command, result in results.items():
        seen = COMMANDS[command][1](result.code, result.out)
        warned = BROKEN_WARNING in result.err
        if warned != broken_loaded or seen != plugin_loaded:
            wrong.append(f"dss {' '.join(options)} {command} (env {env}): broken warning "
                         f"{warned}, test plugin seen {seen}; expected {broken_loaded}, "
                         f"{plugin_loaded}\n{result!r}")
        if not broken_loaded:
            assert "broken" not in result.err, result
    assert not wrong, "\n\n".join(wrong)


def test_each_flag_and_variable_works_in_every_position(in_sync_folder: Callable[..., Any],
                                                        broken_site: Path) -> None:
    # after --help or --version on the command line: both are eager, processed first
    for args in (["--help", "--no-plugins"], ["--version", "--block", "broken", "--block",
                                              "testplugin"], ["--help", "--plugin=csv"]):
        result = in_sync_folder(*args, site=broken_site)
        assert result.code == 0, result
        assert "broken" not in result.err and "testplugin" not in result.out, result
        assert not _hello_listed(result.out), result


@pytest.mark.parametrize("command", list(COMMANDS))
def test_strict_plugins_makes_the_broken_plugin_an_error_for_every_command(
        command: str, in_sync_folder: Callable[..., Any], broken_site: Path) -> None:
    result = in_sync_folder("--strict-plugins", *COMMANDS[command][0], site=broken_site)
    assert result.code == 2, result
    assert result.err.startswith(STRICT_ERROR) and len(result.err.splitlines()) == 1, result
    assert "Traceback" not in result.err and "hello from" not in result.out, result


def test_plugin_named_but_not_installed_is_an_error_for_every_command(
        in_sync_folder: Callable[..., Any], broken_site: Path) -> None:
    for command, (args, _) in COMMANDS.items():
        result = in_sync_folder("--plugin", "nosuch", *args, site=broken_site)
        assert result.code == 2, (command, result)
        assert "dss: error: no installed dss plugin named nosuch" in result.err, (command, result)


# ---------------------------------------------------------------------------
# Several invocations in one process
# ---------------------------------------------------------------------------

@pytest.fixture
def in_process(testplugin_site: Path, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Invoke the module-level click group in this process, with dss-testplugin importable."""
    from click.testing import CliRunner

    from dss_core.cli import cli

    monkeypatch.syspath_prepend(str(testplugin_site))
    for variable in ("DSS_PLUGINS", "DSS_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "export.json").write_text(json.dumps(SOURCE))
    (tmp_path / "lms.json").write_text(json.dumps(DEST))
    (tmp_path / "dss.toml").write_text('[trees.src.users]\npath = "export.json"\n')
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(cli, list(args), prog_name="dss")

    return invoke


def _module_level_state() -> Any:
    from dss_core.cli import cli, plan, run

    return (sorted(cli.commands), [p.name for p in run.params], [p.name for p in plan.params],
            [p.name for p in cli.params])


def test_a_second_invocation_does_not_see_the_first_ones_plugins(
        in_process: Callable[..., Any]) -> None:
    before = _module_level_state()
    assert "--greeting" in in_process("run", "--help").stdout
    assert "--greeting" not in in_process("--no-plugins", "run", "--help").stdout
    assert "--greeting" in in_process("plan", "--help").stdout
    assert "--greeting" not in in_process("--no-plugins", "plan", "--help").stdout
    assert _hello_listed(in_process("--help").stdout)
    assert not _hello_listed(in_process("--no-plugins", "--help").stdout)
    assert in_process("hello").stdout.strip() == "hello from dss-testplugin"
    assert in_process("--no-plugins", "hello").exit_code == 2
    planned = in_process("plan", "testsync", "--greeting", "hi")
    assert planned.exit_code == 0 and planned.stdout.startswith("greeting: hi"), planned.output
    refused = in_process("--no-plugins", "plan", "testsync", "--greeting", "hi")
    assert refused.exit_code == 2 and "No such option '--greeting'" in refused.output
    assert "testplugin" not in in_process("--no-plugins", "--version").stdout
    assert _module_level_state() == before  # the module-level click objects were not changed


def test_no_plugins_first_does_not_hide_them_from_the_next_invocation(
        in_process: Callable[..., Any]) -> None:
    assert not _hello_listed(in_process("--no-plugins", "--help").stdout)
    assert "--greeting" not in in_process("--no-plugins", "run", "--help").stdout
    assert _hello_listed(in_process("--help").stdout)
    assert "--greeting" in in_process("run", "--help").stdout
    assert "plugin testplugin: dss-testplugin 1.2.3" in in_process("--version").stdout


def test_plugin_options_are_added_once_per_invocation(in_process: Callable[..., Any]) -> None:
    for _ in range(3):
        text = in_process("--plugin", "testplugin", "run", "--help").stdout
        assert text.count("--greeting") == 1, text


def test_vv_traces_every_hook_call_for_every_command(in_sync_folder: Callable[..., Any],
                                                     broken_site: Path) -> None:
    for args, hook in ((["--help"], "dss_register_commands"), (["run", "--help"], "dss_cli_options"),
                       (["list"], "dss_datastores"), (["plan", "testsync"], "dss_report_start")):
        traced = in_sync_folder("-vv", "--block", "broken", *args, site=broken_site)
        assert traced.code == 0 and f"  {hook} [hook]" in traced.err, traced
        once = in_sync_folder("-v", "--block", "broken", *args, site=broken_site)
        assert once.code == 0 and "[hook]" not in once.err, once
