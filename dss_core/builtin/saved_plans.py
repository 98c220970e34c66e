"""Builtin plugin: saved plans, ``dss plan NAME --out FILE`` then ``dss apply FILE``.

``--out FILE`` (``dss plan``) writes every planned action with what it needs
to be applied later (the source object's values) and what it was computed
from (the destination object's tracked values), the datastore, the run id and
time, and a digest: the sha256 of the canonical JSON of all that. The file is
readable by its owner only (it holds personal data).

``dss apply FILE`` checks the digest (a modified file is refused, exit 2),
takes the run lock and the journal as ``dss run`` does, imports the
destinations and checks that every object the plan touches still looks as
it did; a destination that drifted is refused naming the objects (exit 3,
nothing applied). Then the plan goes through the same engine as ``dss run``:
model errors and the deletion limits (``--allow-deletions``) apply, and a
report (``--report``) is written for every outcome.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..actions import ERROR, NEW, UPDATE, Action, Status, jsonable
from ..declaration import TreeDeclaration
from ..errors import ConfigurationError, GateError
from ..gates import Allowances
from ..hookspecs import hookimpl
from ..model import Model
from ..private_files import write_private
from ..redaction import redact
from ..runner import APPLY, Run, Summary, execute
from .command import applying_options, finish

FORMAT = "dss-plan/1"
#: Drifted objects named one by one; the rest are counted.
MAX_DRIFT_NAMES = 10


def canonical(body: dict[str, Any]) -> str:
    """The canonical JSON of a plan (sorted keys, no spaces): what the digest is taken of."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(body: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def tracked_json(obj: Model) -> dict[str, Any]:
    """An object's tracked values as JSON: what a saved plan compares."""
    return {name: jsonable(value) for name, value in obj.values().items()}


def _fields(obj: Model) -> dict[str, Any]:
    """An object's declared fields (the untracked ones too) as JSON: what rebuilds it."""
    return {name: jsonable(getattr(obj, name, None)) for name in type(obj).schema().fields}


def _saved_action(action: Action) -> dict[str, Any]:
    return {
        "kind": action.kind, "method": action.method, "tree": action.tree,
        "branch": action.branch, "idnumber": action.idnumber, "attribute": action.attribute,
        "value": jsonable(action.value), "old_value": jsonable(action.old_value),
        "error": action.error,
        "source": _fields(action.source) if action.source is not None else None,
        "dest": tracked_json(action.dest) if action.dest is not None else None,
    }


def plan_data(run: Run, summary: Summary) -> dict[str, Any]:
    """A saved plan: the actions of a ``dss plan`` run, and its digest."""
    body: dict[str, Any] = {
        "format": FORMAT, "datastore": run.datastore, "run": run.id, "created": run.started,
        "actions": [_saved_action(r.action) for r in summary.results
                    if r.status is Status.PLANNED],  # not the ones held back (quarantine)
    }
    return {**body, "digest": digest(body)}


# -- dss plan --out FILE ------------------------------------------------------------------

@hookimpl
def dss_cli_options(command: str) -> list[click.Parameter]:
    if command not in ("run", "plan"):  # on run, only to say it belongs to plan
        return []
    return [click.Option(
        ["--out"], type=click.Path(dir_okay=False, path_type=Path), default=None,
        metavar="FILE",
        help="dss plan: save the plan to FILE (mode 0600, with a digest) for dss apply FILE.")]


@hookimpl
def dss_report_start(run: Run) -> None:
    out = run.options.get("out")
    if out is None:
        return
    if not run.dry_run:
        raise ConfigurationError("--out saves a plan: use it with dss plan, then dss apply FILE")
    path = Path(out)
    if path.is_dir() or not path.parent.is_dir():
        raise ConfigurationError(f"--out {out}: cannot write the plan there "
                                 f"({'a directory' if path.is_dir() else 'no such folder'})")


@hookimpl
def dss_report_finish(run: Run, summary: Summary) -> None:
    out = run.options.get("out")
    if out is None or not run.dry_run or summary.error:
        return
    data = plan_data(run, summary)
    write_private(Path(out), json.dumps(data, indent=1, sort_keys=True) + "\n")
    if not run.options.get("quiet"):
        held = f", {summary.held} held back (quarantine)" if summary.held else ""
        click.echo(redact(f"dss: plan saved to {out} ({len(data['actions'])} actions{held}); "
                          f"apply it with: dss apply {out}"), err=True)


# -- dss apply FILE -----------------------------------------------------------------------

def load_plan(path: Path) -> dict[str, Any]:
    """The saved plan in ``path``, its digest checked (ConfigurationError, exit 2, if not)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read the plan {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigurationError(f"{path} is not a saved plan ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigurationError(f"{path} is not a saved plan (written by dss plan --out)")
    body = {k: v for k, v in data.items() if k != "digest"}
    if data.get("digest") != digest(body):
        raise ConfigurationError(f"{path} was modified after dss plan wrote it (its digest does "
                                 "not match); nothing was applied")
    return data


def _drift(current: Model | None, saved: dict[str, Any] | None) -> str | None:
    """How the object changed since the plan was made, or None."""
    if saved is None:
        return None if current is None else "is in the destination now (the plan creates it)"
    if current is None:
        return "is gone from the destination"
    now = tracked_json(current)
    changed = sorted(k for k in {*now, *saved} if now.get(k) != saved.get(k))
    return f"{', '.join(changed)} changed" if changed else None


def rebuild(path: Path, data: dict[str, Any], source: TreeDeclaration,
            dests: Sequence[TreeDeclaration]) -> list[tuple[TreeDeclaration, list[Action]]]:
    """The saved plan's actions for each (imported) destination; GateError if one drifted.

    Each action's ``dest`` is the destination's object as imported now (it
    equals the saved one), its ``source`` the object rebuilt from the saved
    values and put in the source tree (which is not imported).
    """
    by_name = {d.name: d for d in dests}
    plans: dict[str, list[Action]] = {d.name: [] for d in dests}
    drifted: dict[tuple[str, str, str], str] = {}
    for saved in data["actions"]:
        dest = by_name.get(saved["tree"])
        branch, idnumber, kind = saved["branch"], saved["idnumber"], saved["kind"]
        if dest is None or branch not in dest.branch_order:
            raise ConfigurationError(f"{path}: datastore {data['datastore']!r} has no "
                                     f"destination {saved['tree']}.{branch}; nothing was applied")
        current = dest.branch(branch).get(idnumber) if idnumber is not None else None
        if kind != ERROR and idnumber is not None:
            why = _drift(current, saved["dest"])
            if why:
                drifted.setdefault((dest.name, branch, idnumber), why)
        obj = None
        if saved["source"] is not None and idnumber is not None:
            data_ = source.branch(branch)
            obj = data_.get(idnumber)
            if obj is None:
                obj = data_.model(idnumber, **saved["source"])
                data_.put(obj)
        value, old_value = saved["value"], saved["old_value"]
        if kind == UPDATE and saved["attribute"]:  # typed values, not their JSON
            value = getattr(obj, saved["attribute"]) if obj is not None else value
            old_value = getattr(current, saved["attribute"]) if current is not None else old_value
        plans[dest.name].append(Action(
            kind, saved["method"], branch, idnumber, saved["attribute"], value, old_value,
            obj, current if kind != NEW else None, dest.name, saved["error"]))
    if drifted:
        raise GateError(drift_lines(path, data, drifted))
    return [(d, plans[d.name]) for d in dests]


def drift_lines(path: Path, data: dict[str, Any],
                drifted: dict[tuple[str, str, str], str]) -> list[str]:
    """One line per drifted object (the first ten), a count of the rest, and what to do."""
    items = list(drifted.items())
    lines = [f"{tree}.{branch} {idnumber!r}: {why} since the plan was made"
             for (tree, branch, idnumber), why in items[:MAX_DRIFT_NAMES]]
    if len(items) > MAX_DRIFT_NAMES:
        lines.append(f"... and {len(items) - MAX_DRIFT_NAMES} more objects changed")
    lines.append(f"the destination drifted since {path} was made ({data['created']}, run "
                 f"{data['run']}): make a new plan with dss plan --out")
    return lines


def _apply(ctx: click.Context, path: Path, report: Path | None, quiet: bool, fail_fast: bool,
           allow_deletions: tuple[str, ...], wait: float | None, extra: dict[str, Any]) -> int:
    from ..journal import Journal
    from ..runner import check_report_path
    from ..state import StateDir, state_folder
    from ..trees import open_datastore

    if report is not None:
        check_report_path(report)
    data = load_plan(path)
    allow = Allowances.parse(allow_deletions=allow_deletions)
    session = ctx.find_root().obj  # the cli's Session: configuration, plugins, registry
    config = session.config
    config.options.update(extra)  # the options of plugins (dss_cli_options), --html
    config.options.update(quiet=quiet, wait=wait)
    datastore = session.registry.datastore(data["datastore"], config)
    source, dests = open_datastore(datastore, config, session.plugins, session.registry.trees)
    state = StateDir(state_folder(config), datastore.name)
    run = Run.create(APPLY, session.plugins, config, datastore=datastore.name,
                     stop_on_failure=fail_fast, report_path=report, verbose=session.verbose,
                     allow=allow, state=state)
    with state.lock(run.id, run.started, wait=wait,
                    note=lambda line: click.echo(f"dss: note: {redact(line)}", err=True)):
        run.journal = Journal.in_folder(state_folder(config), datastore.name)
        try:
            summary = execute(run, source, dests,
                              saved=lambda: rebuild(path, data, source, dests))
        finally:
            run.journal.close()
    return summary.exit_code


@click.command("apply")
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE")
@applying_options("the plan")
@click.pass_context
def apply(ctx: click.Context, plan_file: Path, report: Path | None, quiet: bool,
          fail_fast: bool, allow_deletions: tuple[str, ...], wait: float | None,
          **extra: Any) -> None:
    """Apply the plan saved by `dss plan NAME --out FILE`, if the destination has not changed."""
    finish(lambda: _apply(ctx, plan_file, report, quiet, fail_fast, allow_deletions, wait, extra),
           report)


@hookimpl
def dss_register_commands(cli: click.Group) -> None:
    cli.add_command(apply)
