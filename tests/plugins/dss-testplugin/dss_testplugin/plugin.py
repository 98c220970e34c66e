"""Hook implementations of the test plugin: one datastore, one importer, a CLI option and a command."""

from __future__ import annotations

from typing import Any

import click

from dss_core import Datastore, hookimpl


@hookimpl
def dss_importers() -> list[Any]:
    from .sync import JSONImporter

    return [JSONImporter]


@hookimpl
def dss_configure(config: Any) -> None:
    """Default the destination file to lms.json when the configuration names none."""
    dst = config.data.setdefault("trees", {}).setdefault("dst", {})
    dst.setdefault("path", "lms.json")


@hookimpl
def dss_trees() -> list[Any]:
    from .sync import Destination, Source

    return [Source, Destination]


@hookimpl
def dss_datastores() -> list[Datastore]:
    # trees named by their registered names, not by dotted paths
    return [Datastore("testsync", source="src", destinations=["dst"],
                      description="JSON export -> JSON file")]


@hookimpl
def dss_cli_options() -> list[click.Option]:
    return [click.Option(["--greeting"], default=None, help="Printed when a run starts.")]


@hookimpl
def dss_report_start(run: Any) -> None:
    if run.options.get("greeting"):
        click.echo(f"greeting: {run.options['greeting']}")


@hookimpl
def dss_register_commands(cli: click.Group) -> None:
    @cli.command()
    def hello() -> None:
        """Say hello (a command added by a plugin)."""
        click.echo("hello from dss-testplugin")


@hookimpl
def dss_import_done(run: Any, tree: Any, branch: str, count: int) -> None:
    if run.verbose:
        click.echo(f"imported {tree.name}.{branch}: {count} records")


@hookimpl
def dss_handle_action(action: Any) -> Any:
    """Take over the actions of externally managed accounts (idnumber ext-...); leave the rest."""
    if action.idnumber and action.idnumber.startswith("ext-"):
        return action.dropped("managed elsewhere (testplugin)")
    return None
