"""The ``dss`` command: run, plan, list, show and check syncs found through plugins.

Exit codes: 0 all done; 1 some actions failed; 2 bad configuration or input,
a model error included (nothing was applied); 3 stopped by a source gate or
a deletion limit (nothing was applied).
"""

from __future__ import annotations

import copy
import io
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from .errors import DssError, GateError
from .exits import fail, stopped
from .redaction import redact

F = TypeVar("F", bound=Callable[..., Any])


class Session:
    """What one ``dss`` invocation needs, built lazily: configuration, plugins, registry.

    One per invocation, made from the group's options before any of them is
    processed (see :meth:`DssGroup.parse_args`), so that every command, and
    ``--help`` and ``--version``, loads the plugins the options choose.
    """

    def __init__(self, config_path: str | None, autoload: bool | None, only: tuple[str, ...],
                 block: tuple[str, ...], strict: bool, verbose: int) -> None:
        self.config_path = config_path
        self.autoload = autoload
        self.only = only or None
        self.block = block
        self.strict = strict
        self.verbose = verbose
        self._pm: Any = None
        self._config: Any = None
        self._registry: Any = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Session:
        """A session from the ``dss`` group's option values (missing ones take their defaults)."""
        return cls(params.get("config_path"), False if params.get("no_plugins") else None,
                   tuple(params.get("only") or ()), tuple(params.get("block") or ()),
                   bool(params.get("strict_plugins")), int(params.get("verbose") or 0))

    @property
    def plugins(self) -> Any:
        """The plugin manager; a plugin that must load and cannot is an error (exit 2)."""
        if self._pm is None:
            from .plugins import build_plugin_manager

            try:
                self._pm = build_plugin_manager(autoload=self.autoload, only=self.only,
                                                block=self.block, strict=self.strict,
                                                trace=True if self.verbose >= 2 else None)
            except DssError as exc:  # --strict-plugins, or --plugin NAME not installed
                fail(str(exc), exc.exit_code)
            for failure in self._pm.load_failures:
                click.echo(f"dss: warning: {redact(str(failure))}", err=True)
                if self.verbose:
                    click.echo(redact(failure.traceback), err=True)
        return self._pm

    @property
    def config(self) -> Any:
        if self._config is None:
            from .config import Config

            self._config = Config.load(self.config_path)
            self.plugins.hook.dss_configure.call_historic(kwargs={"config": self._config})
        return self._config

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from .plugins import Registry

            self._registry = Registry.collect(self.plugins, self.config)
        return self._registry


def _session(ctx: click.Context) -> Session:
    obj = ctx.find_root().obj
    if not isinstance(obj, Session):
        obj = Session(None, None, (), (), False, 0)
        ctx.find_root().obj = obj
    return obj


def reports_errors(func: F) -> F:
    """Turn a :class:`DssError` (or any unexpected exception) into one line and exit code 2."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GateError as exc:
            stopped(exc)
        except DssError as exc:
            fail(str(exc), exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            ctx = click.get_current_context(silent=True)
            if ctx is not None and _session(ctx).verbose:
                click.echo(redact(traceback.format_exc()), err=True)
            fail(f"{type(exc).__name__}: {exc} (run with -v for the traceback)")
    return wrapper  # type: ignore[return-value]


#: ``ctx.meta`` keys of one invocation: its commands (the builtins and the plugins'),
#: and its run/plan commands with the plugins' options.
_COMMANDS = "dss.commands"
_WITH_OPTIONS = "dss.commands_with_options"
# the commands that plan or apply a run: they get the options of dss_cli_options
RUN_COMMANDS = ("run", "plan", "apply", "undo")


def _warn(exc: DssError) -> None:
    click.echo(f"dss: warning: {redact(str(exc))}", err=True)


class DssGroup(click.Group):
    """The ``dss`` group: plugin commands and run/plan options, added for one invocation.

    The options choosing the plugins (``--no-plugins``, ``--plugin``,
    ``--block``, ``--strict-plugins``, ``--config``, ``-v``) are read from the
    raw arguments before click processes any option: ``--help`` and
    ``--version`` are eager, and list the commands (loading the plugins)
    before the group's callback runs. Commands (``dss_register_commands``)
    and options (``dss_cli_options``) of plugins go into copies kept in the
    context, never into the module-level ``cli``, ``run`` and ``plan``, so a
    second invocation in one process starts from the builtins again.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not isinstance(ctx.find_root().obj, Session):
            ctx.find_root().obj = Session.from_params(self._peek(ctx, args))
        return super().parse_args(ctx, args)

    def _peek(self, ctx: click.Context, args: list[str]) -> dict[str, Any]:
        """The group's options as given (nothing processed, no callback run); {} on a usage error."""
        try:
            opts, _, _ = self.make_parser(ctx).parse_args(args=list(args))
        except click.UsageError:
            return {}  # the real parse reports it
        return dict(opts)

    def _commands(self, ctx: click.Context) -> dict[str, click.Command]:
        """This invocation's commands: the builtins, then what the plugins register."""
        meta = ctx.meta
        if _COMMANDS not in meta:
            group = copy.copy(self)
            group.commands = dict(self.commands)
            meta[_COMMANDS] = group.commands
            try:
                _session(ctx).plugins.hook.dss_register_commands(cli=group)
            except DssError as exc:
                _warn(exc)
            meta[_COMMANDS] = {**group.commands, **self.commands}  # a builtin is never replaced
        commands: dict[str, click.Command] = meta[_COMMANDS]
        return commands

    def _with_plugin_options(self, ctx: click.Context, command: click.Command) -> click.Command:
        """A copy of ``command`` (run, plan, apply, undo) with the options of every plugin added."""
        made: dict[str, click.Command] = ctx.meta.setdefault(_WITH_OPTIONS, {})
        name = command.name or ""
        if name not in made:
            extra: list[click.Parameter] = []
            try:
                for options in _session(ctx).plugins.hook.dss_cli_options(command=name):
                    extra.extend(options or ())
            except DssError as exc:
                _warn(exc)
            made[name] = copy.copy(command)
            made[name].params = [*command.params, *extra]
        return made[name]

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._commands(ctx))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name) or self._commands(ctx).get(cmd_name)
        if command is not None and cmd_name in RUN_COMMANDS:
            return self._with_plugin_options(ctx, command)
        return command


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``dss --version``: dss-core and every plugin the options load, with their versions."""
    if not value or ctx.resilient_parsing:
        return
    from .inspect import describe_versions

    for line in describe_versions(_session(ctx)):
        click.echo(line)
    ctx.exit()


@click.group(cls=DssGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version,
              help="Show the version of dss-core and of every plugin loaded, and exit.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Configuration file (default: dss.toml, else [tool.dss] in pyproject.toml).")
@click.option("--no-plugins", is_flag=True, default=None,
              help="Load no third-party plugin (also DSS_DISABLE_PLUGIN_AUTOLOAD=1).")
@click.option("--plugin", "only", multiple=True, metavar="NAME",
              help="Load only this plugin (repeatable; also DSS_PLUGINS=a,b).")
@click.option("--block", multiple=True, metavar="NAME", help="Do not load this plugin (repeatable).")
@click.option("--strict-plugins", is_flag=True, help="A plugin that fails to load is an error.")
@click.option("-v", "--verbose", count=True,
              help="Show every result and tracebacks; -vv also the run's steps (INFO log lines) "
                   "and every hook call; -vvv each action (DEBUG).")
@click.option("--log-file", type=click.Path(dir_okay=False, writable=True), default=None,
              metavar="PATH", help="Append log lines to PATH (0600): INFO and above, DEBUG with "
                                   "-vv. For cron.")
@click.option("--log-json", is_flag=True, help="Write log lines as JSON objects.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, no_plugins: bool | None, only: tuple[str, ...],
        block: tuple[str, ...], strict_plugins: bool, verbose: int, log_file: str | None,
        log_json: bool) -> None:
    """dss: one-way sync from a source of truth to destinations.

    Trees, branches and handlers come from installed plugins (entry-point
    group `dss`); `dss list` shows them.
    """
    from .logs import configure

    configure(verbose, log_file, log_json)
    # the session was made from these same options in DssGroup.parse_args
    _session(ctx)


def _run_options(func: F) -> F:
    func = click.option("--report", "report", type=click.Path(dir_okay=False, path_type=Path),
                        help="Write a JSON report of every action and its result.")(func)
    func = click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")(func)
    func = click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
                        help="Compute the diff in N processes after the import, each a part of "
                             "the idnumbers (default 1); the plan is the same.")(func)
    return click.argument("name", required=False)(func)


def _execute(ctx: click.Context, name: str | None, mode: str, report: Path | None,
             quiet: bool, fail_fast: bool, extra: dict[str, Any]) -> None:
    """Run or plan; a report asked for is written whatever the outcome."""
    try:
        _run_or_plan(ctx, name, mode, report, quiet, fail_fast, extra)
    except Exception as exc:
        if report is not None and not getattr(exc, "dss_reported", False):
            from .builtin.json_report import write_failure_report

            write_failure_report(report, mode, name, exc)
        raise


def _run_or_plan(ctx: click.Context, name: str | None, mode: str, report: Path | None,
                 quiet: bool, fail_fast: bool, extra: dict[str, Any]) -> None:
    from .gates import Allowances
    from .runner import Run, check_report_path, execute
    from .selection import Selection
    from .state import StateDir, state_folder
    from .trees import open_datastore

    if report is not None:
        check_report_path(report)
    allow = Allowances.parse(extra.pop("accept", ()), extra.pop("allow_deletions", ()))
    select = Selection.parse(extra.pop("only", ()), extra.pop("limit", None), extra.pop("id", ()))
    session = _session(ctx)
    config = session.config
    config.options.update(extra)
    config.options["quiet"] = quiet
    datastore = session.registry.datastore(name, config)
    source, dests = open_datastore(datastore, config, session.plugins, session.registry.trees)
    run = Run.create(mode, session.plugins, config, datastore=datastore.name,
                     stop_on_failure=fail_fast, report_path=report, verbose=session.verbose,
                     allow=allow, select=select, state=StateDir(state_folder(config), datastore.name))
    with _run_lock(run):  # held from before the import until the report is written
        if not run.dry_run:  # each action's intent and outcome, in the state folder
            from .journal import Journal

            run.journal = Journal.in_folder(state_folder(config), datastore.name)
        try:
            summary = execute(run, source, dests)
        finally:
            if run.journal is not None:
                run.journal.close()
    sys.exit(summary.exit_code)


def _run_lock(run: Any) -> Any:
    """``dss run``: the datastore's run lock, one run at a time (``dss plan`` takes none)."""
    import contextlib

    if run.dry_run or run.state is None:
        return contextlib.nullcontext()
    return run.state.lock(run.id, run.started, wait=run.options.get("wait"),
                          note=lambda line: click.echo(f"dss: note: {redact(line)}", err=True))


@cli.command()
@_run_options
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed action.")
@click.pass_context
@reports_errors
def run(ctx: click.Context, name: str | None, report: Path | None, quiet: bool, fail_fast: bool,
        **extra: Any) -> None:
    """Import, diff, apply and report datastore NAME."""
    _execute(ctx, name, "apply", report, quiet, fail_fast, extra)


@cli.command()
@_run_options
@click.pass_context
@reports_errors
def plan(ctx: click.Context, name: str | None, report: Path | None, quiet: bool,
         **extra: Any) -> None:
    """Dry run: print every action datastore NAME would take; change nothing."""
    _execute(ctx, name, "plan", report, quiet, False, extra)


@cli.command("list")
@click.option("--json", "as_json", is_flag=True,
              help="The same as JSON: plugins, load failures, importers, settings, datastores.")
@click.pass_context
@reports_errors
def list_(ctx: click.Context, as_json: bool) -> None:
    """Installed plugins, importers and datastores with their trees and branches."""
    from .inspect import describe_installation, installation

    session = _session(ctx)
    if as_json:
        import json

        click.echo(redact(json.dumps(installation(session), indent=2)))
        return
    for line in describe_installation(session):
        click.echo(redact(line))


@cli.command()
@click.argument("branch")
@click.argument("idnumber")
@click.option("--datastore", "name", help="Datastore to look in (when several are installed).")
@click.pass_context
@reports_errors
def show(ctx: click.Context, branch: str, idnumber: str, name: str | None) -> None:
    """Explain one object: BRANCH IDNUMBER on every tree, where it came from, its differences."""
    from .inspect import show_object

    session = _session(ctx)
    lines, found = show_object(session, name, branch, idnumber)
    for line in lines:
        click.echo(redact(line))
    sys.exit(0 if found else 1)


@cli.command()
@click.argument("name", required=False)
@click.pass_context
@reports_errors
def check(ctx: click.Context, name: str | None) -> None:
    """Check datastore NAME: read every importer, verify each destination, compare models. Writes nothing."""
    from .inspect import check_datastore

    session = _session(ctx)
    lines, ok = check_datastore(session, name)
    for line in lines:
        click.echo(redact(line))
    sys.exit(0 if ok else 2)


class _PipeSafeWriter(io.RawIOBase):
    """A file descriptor whose output is dropped once its reader has gone (a closed pipe)."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self.reader_gone = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if not self.reader_gone:
            try:
                return os.write(self.fd, data)
            except BrokenPipeError:
                self.reader_gone = True
        return size


def _pipe_safe(stream: Any, unbuffered: bool = False) -> Any:
    """``stream`` (sys.stdout, sys.stderr) writing through a :class:`_PipeSafeWriter`.

    ``unbuffered`` (stderr): every line goes out as it is written, as Python's
    own stderr does, so a reader following stderr (a progress line, a note)
    never waits on a buffer while stdout fills its pipe.
    """
    try:
        fd = stream.fileno()
        stream.flush()
    except (AttributeError, OSError, ValueError):  # no file descriptor: leave it
        return stream
    return io.TextIOWrapper(io.BufferedWriter(_PipeSafeWriter(fd)),
                            encoding=getattr(stream, "encoding", None),
                            errors=getattr(stream, "errors", None),
                            line_buffering=unbuffered or getattr(stream, "line_buffering", False),
                            write_through=unbuffered)


def main() -> None:
    """Entry point of the ``dss`` console script.

    A closed stdout or stderr (``dss list | head -1``) is no error: what is
    written after the reader has gone is dropped, and the command finishes as
    it would have, with its own exit code (a run is never cut short by it).
    """
    sys.stdout = _pipe_safe(sys.stdout)
    sys.stderr = _pipe_safe(sys.stderr, unbuffered=True)
    cli(prog_name="dss")
