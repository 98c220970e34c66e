"""Every dss hook, implemented once, each writing what it saw to $DSS_HOOKPROBE_LOG (JSON lines).

The sync it registers: tree ``probesrc`` (three users, importer ``probe``)
into tree ``probedst`` (a JSON file its handler writes), datastore ``probe``.
Both trees get a discovered branch ``extras`` from ``dss_branches``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from dss_core import Branch, Datastore, Handler, Importer, Model, Setting, Tree, hookimpl


def log(hook: str, **saw: Any) -> None:
    with open(os.environ["DSS_HOOKPROBE_LOG"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"hook": hook, **saw}, default=str) + "\n")


class User(Model):
    name: str = ""


class Extra(Model):
    note: str = ""


class ProbeImporter(Importer):
    """Source side: three literal users; destination side: the JSON file (setting ``path``)."""

    name = "probe"
    declared_settings = (Setting("path", str, None, "the destination JSON file"),)

    def readin(self) -> Iterator[dict[str, Any]]:
        path = self.setting("path")
        if path is None:
            yield from ({"idnumber": str(i), "name": f"User {i}"} for i in (1, 2, 3))
            return
        file = self.tree.config.resolve_path(path)
        rows = json.loads(file.read_text()) if file.exists() else {}
        yield from rows.get(self.branch, [])


class ProbeHandler(Handler):
    declared_settings = (Setting("path", str, None, "the destination JSON file"),)

    def begin(self) -> None:
        self.file = self.config.resolve_path(self.settings["path"])
        self.rows = json.loads(self.file.read_text()) if self.file.exists() else {}

    def new(self, action: Any) -> None:
        self.rows.setdefault(action.branch, []).append(
            {"idnumber": action.idnumber, **action.source.values()})

    def end(self, failed: bool) -> None:
        if not failed:
            self.file.write_text(json.dumps(self.rows))


class ProbeSource(Tree):
    name = "probesrc"
    users = Branch(User, importer="probe")


class ProbeDest(Tree):
    name = "probedst"
    handler = ProbeHandler
    users = Branch(User, importer="probe")


@hookimpl
def dss_configure(config: Any) -> None:
    log("dss_configure", config_file=Path(config.path).name if config.path else None,
        trees=sorted(config.data.get("trees", {})))


@hookimpl
def dss_cli_options() -> list[click.Option]:
    log("dss_cli_options")
    return [click.Option(["--probe"], default=None, help="A value the probe's hooks look for.")]


@hookimpl
def dss_register_commands(cli: click.Group) -> None:
    log("dss_register_commands", group=cli.name)

    @cli.command("probe-hello")
    def probe_hello() -> None:
        """A command added by the probe plugin."""
        click.echo("hello from the probe")


@hookimpl
def dss_importers() -> list[type[Importer]]:
    log("dss_importers")
    return [ProbeImporter]


@hookimpl
def dss_trees(config: Any) -> list[type[Tree]]:
    log("dss_trees", config_file=Path(config.path).name if config.path else None)
    return [ProbeSource, ProbeDest]


@hookimpl
def dss_datastores(config: Any) -> list[Datastore]:
    log("dss_datastores")
    return [Datastore("probe", source="probesrc", destinations=["probedst"])]


@hookimpl
def dss_branches(tree: Any) -> list[Branch] | None:
    log("dss_branches", tree=tree.name, declared=sorted(tree.branches))
    if tree.name in ("probesrc", "probedst"):
        records = [{"idnumber": "x1", "note": "discovered"}] if tree.name == "probesrc" else []
        return [Branch(Extra, importer=records, name="extras")]
    return None


@hookimpl
def dss_import_done(run: Any, tree: Any, branch: str, count: int) -> None:
    log("dss_import_done", mode=run.mode, tree=tree.name, branch=branch, count=count,
        objects=len(tree.branch(branch)))


@hookimpl
def dss_import_progress(run: Any, tree: Any, branch: str, count: int) -> None:
    log("dss_import_progress", mode=run.mode, tree=tree.name, branch=branch, count=count)


@hookimpl
def dss_apply_start(run: Any, actions: Any) -> None:
    log("dss_apply_start", mode=run.mode, actions=[a.method for a in actions])


@hookimpl
def dss_handle_action(action: Any, destination: Any, handler: Any, run: Any) -> None:
    log("dss_handle_action", method=action.method, idnumber=action.idnumber,
        destination=destination.name, handler=type(handler).__name__, mode=run.mode)
    return None  # leave the action to the destination's handler


@hookimpl
def dss_report_start(run: Any) -> None:
    log("dss_report_start", mode=run.mode, datastore=run.datastore, probe=run.options.get("probe"))


@hookimpl
def dss_report_result(run: Any, result: Any) -> None:
    log("dss_report_result", method=result.action.method, status=result.status.value)


@hookimpl
def dss_report_finish(run: Any, summary: Any) -> None:
    log("dss_report_finish", actions=len(summary.results), failed=summary.failed,
        exit_code=summary.exit_code)
