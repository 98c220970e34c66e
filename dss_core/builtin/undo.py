"""Builtin plugin: ``dss undo RUN_ID``, the inverse of a journaled run.

The run's successful actions (read from the journal; a prefix of the run id
is enough) are inverted in reverse order: an ``update`` goes back to the old
value, an ``add`` becomes a ``remove`` and the other way round, a ``new``
becomes an ``old`` of the object (retired or deleted as the destination's
handler does it) and an ``old`` a ``new`` that re-creates the object with the
values the journal kept of it.

Like ``dss apply FILE``: the run lock and the journal are taken, the
destinations imported and every object the inverse touches must still look
as the run left it; one that does not is refused as drift, naming it (exit
3, nothing applied). Then the inverse goes through the same engine as a
saved plan: model errors and the deletion limits (``--allow-deletions``)
apply, ``--report`` is written, and ``--dry-run`` only shows the plan.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..actions import ADD, NEW, OLD, REMOVE, UPDATE, Action, jsonable
from ..declaration import TreeDeclaration
from ..errors import ConfigurationError, GateError
from ..gates import Allowances
from ..hookspecs import hookimpl
from ..model import Model
from ..redaction import redact
from ..runner import APPLY, PLAN, Run, execute
from .command import applying_options, finish
from .saved_plans import MAX_DRIFT_NAMES, tracked_json


def find_run(folder: Path, prefix: str) -> tuple[str, str]:
    """The datastore and full id of the journaled run whose id starts with ``prefix``."""
    found: list[tuple[str, str]] = []
    if prefix and folder.is_dir():
        for path in sorted(folder.glob("*.journal.sqlite")):
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                rows = db.execute("SELECT datastore, id FROM runs WHERE id LIKE ? AND mode = ?",
                                  (f"{prefix}%", APPLY)).fetchall()
            except sqlite3.Error:
                rows = []
            finally:
                db.close()
            found.extend(rows)
    if not found:
        raise ConfigurationError(f"no journaled run {prefix!r} (see the run ids in the reports "
                                 "or the journal); nothing was undone")
    if len(found) > 1:
        raise ConfigurationError(f"run id {prefix!r} is ambiguous ({len(found)} runs start with "
                                 "it): give more of it; nothing was undone")
    return found[0]


def _has(current: Model, attribute: str, element: Any) -> bool:
    return jsonable(element) in (jsonable(getattr(current, attribute, None) or ()) or ())


def inverse(run_id: str, done: list[dict[str, Any]], source: TreeDeclaration,
            dests: Sequence[TreeDeclaration]) -> list[tuple[TreeDeclaration, list[Action]]]:
    """The inverse of the successful actions ``done``, per destination; GateError on drift."""
    by_name = {d.name: d for d in dests}
    plans: dict[str, list[Action]] = {d.name: [] for d in dests}
    drifted: dict[tuple[str, str, str], str] = {}
    for item in reversed(done):
        dest = by_name.get(item["tree"])
        branch, idnumber, kind = item["branch"], item["idnumber"], item["kind"]
        if dest is None or branch not in dest.branch_order or idnumber is None:
            raise ConfigurationError(f"run {run_id}: the datastore has no destination "
                                     f"{item['tree']}.{branch}; nothing was undone")
        current = dest.branch(branch).get(idnumber)
        attribute, value, old = item["attribute"], item["value"], item["old_value"]
        saved = item.get("object") or {}
        why: str | None = None
        action: Action | None = None
        if kind == UPDATE:
            if current is None:
                why = "is gone from the destination"
            elif jsonable(getattr(current, attribute, None)) != value:
                why = f"{attribute} changed"
            else:
                action = Action(UPDATE, f"update_{attribute}", branch, idnumber, attribute,
                                old, getattr(current, attribute, None), current, current)
        elif kind in (ADD, REMOVE):
            if current is None:
                why = "is gone from the destination"
            elif _has(current, attribute, value) != (kind == ADD):
                why = f"{attribute} changed"
            elif kind == ADD:
                action = Action(REMOVE, f"remove_{attribute}_from_{branch}", branch, idnumber,
                                attribute, value, None, current, current)
            else:
                action = Action(ADD, f"add_{attribute}_to_{branch}", branch, idnumber,
                                attribute, value, None, current, current)
        elif kind == NEW:
            if current is None:
                why = "is gone from the destination"
            elif "tracked" in saved and tracked_json(current) != saved["tracked"]:
                changed = sorted(k for k in {*saved["tracked"], *tracked_json(current)}
                                 if tracked_json(current).get(k) != saved["tracked"].get(k))
                why = f"{', '.join(changed)} changed"
            else:
                action = Action(OLD, f"old_{branch}", branch, idnumber, None, None, None,
                                None, current)
        elif kind == OLD:
            if "fields" not in saved:
                why = "was retired by a run journaled without its values (cannot re-create it)"
            elif current is not None:
                why = "is in the destination now (the run retired it)"
            else:
                data = source.branch(branch)
                obj = dest.branch(branch).model(idnumber, **saved["fields"])
                data.put(obj)  # where the dependencies look for an object to be created
                action = Action(NEW, f"new_{branch}", branch, idnumber, None, None, None, obj,
                                None)
        if why:
            drifted.setdefault((dest.name, branch, idnumber), why)
        elif action is not None:
            plans[dest.name].append(dataclasses.replace(action, tree=dest.name))
    if drifted:
        items = list(drifted.items())
        lines = [f"{tree}.{branch} {idnumber!r}: {why} since run {run_id[:12]}"
                 for (tree, branch, idnumber), why in items[:MAX_DRIFT_NAMES]]
        if len(items) > MAX_DRIFT_NAMES:
            lines.append(f"... and {len(items) - MAX_DRIFT_NAMES} more objects changed")
        lines.append(f"the destination changed since run {run_id[:12]}: it cannot be undone")
        raise GateError(lines)
    return [(d, plans[d.name]) for d in dests]


def _undo(ctx: click.Context, prefix: str, report: Path | None, quiet: bool, dry_run: bool,
          fail_fast: bool, allow_deletions: tuple[str, ...], wait: float | None,
          extra: dict[str, Any]) -> int:
    from ..journal import Journal
    from ..runner import check_report_path
    from ..state import StateDir, state_folder
    from ..trees import open_datastore

    if report is not None:
        check_report_path(report)
    allow = Allowances.parse(allow_deletions=allow_deletions)
    session = ctx.find_root().obj  # the cli's Session: configuration, plugins, registry
    config = session.config
    config.options.update(extra)  # the options of plugins (dss_cli_options), --html
    config.options.update(quiet=quiet, wait=wait)
    name, run_id = find_run(state_folder(config), prefix)
    datastore = session.registry.datastore(name, config)
    source, dests = open_datastore(datastore, config, session.plugins, session.registry.trees)
    state = StateDir(state_folder(config), datastore.name)
    run = Run.create(PLAN if dry_run else APPLY, session.plugins, config,
                     datastore=datastore.name, stop_on_failure=fail_fast, report_path=report,
                     verbose=session.verbose, allow=allow, state=state)
    with state.lock(run.id, run.started, wait=wait,
                    note=lambda line: click.echo(f"dss: note: {redact(line)}", err=True)):
        run.journal = Journal.in_folder(state_folder(config), datastore.name)
        try:
            done = [a for a in run.journal.actions_of(run_id) if a["outcome"] == "success"]
            summary = execute(run, source, dests,
                              saved=lambda: inverse(run_id, done, source, dests))
        finally:
            run.journal.close()
    return summary.exit_code


@click.command("undo")
@click.argument("run_id", metavar="RUN_ID")
@click.option("--dry-run", "--plan", "dry_run", is_flag=True,
              help="Only show the inverse plan; change nothing.")
@applying_options("the undo")
@click.pass_context
def undo(ctx: click.Context, run_id: str, dry_run: bool, report: Path | None, quiet: bool,
         fail_fast: bool, allow_deletions: tuple[str, ...], wait: float | None,
         **extra: Any) -> None:
    """Undo journaled run RUN_ID (a prefix is enough), if the destination has not changed since."""
    finish(lambda: _undo(ctx, run_id, report, quiet, dry_run, fail_fast, allow_deletions, wait,
                         extra), report, nothing="undone")


@hookimpl
def dss_register_commands(cli: click.Group) -> None:
    cli.add_command(undo)
