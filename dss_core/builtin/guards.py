"""Builtin plugin: the guards' options on ``dss run`` and ``dss plan`` (``dss_cli_options``).

``--only BRANCH|KIND``, ``--limit N`` and ``--id BRANCH:IDNUMBER`` take part
of the plan (:mod:`dss_core.selection`).

``--accept TREE.BRANCH`` lets a source gate through for one night;
``--allow-deletions [TREE.BRANCH=]N`` lifts the deletion and member-loss
limits to N. The runner reads them from ``run.options`` like any plugin's
option (see :mod:`dss_core.gates`). ``--wait SECONDS`` lets ``dss run`` wait
for another run of the datastore to end instead of stopping (the run lock,
:mod:`dss_core.lock`).
"""

from __future__ import annotations

import click

from ..hookspecs import hookimpl


@hookimpl(trylast=True)
def dss_cli_options(command: str) -> list[click.Parameter]:
    if command not in ("run", "plan"):  # apply and undo take --allow-deletions of their own
        return []
    return [
        click.Option(
            ["--accept"], multiple=True, metavar="TREE.BRANCH",
            help="Accept tonight's source of this branch (or tree, or 'all') although a source "
                 "gate stops it: empty, shrunk, or a column gone (repeatable)."),
        click.Option(
            ["--allow-deletions", "allow_deletions"], multiple=True, metavar="[TREE.BRANCH=]N",
            help="Let this run retire or delete up to N objects per branch, and remove up to N "
                 "members per set, past the deletion limits (repeatable)."),
        click.Option(
            ["--only"], multiple=True, metavar="BRANCH|KIND",
            help="Plan or apply only this branch (users, or lms.users) or kind of action (new, "
                 "update, add, remove, old); repeatable: kinds and branches combine."),
        click.Option(
            ["--limit"], type=click.IntRange(min=1), default=None, metavar="N",
            help="Plan or apply at most N actions (whole objects, in plan order): for a cautious "
                 "first run."),
        click.Option(
            ["--id", "id"], multiple=True, metavar="BRANCH:IDNUMBER",
            help="Only this object, its objects in branches keyed by it and the memberships "
                 "naming it (users:1001; repeatable)."),
        click.Option(
            ["--wait"], type=click.FloatRange(min=0), default=None, metavar="SECONDS",
            help="When another run of the datastore is running, wait up to SECONDS for it to "
                 "end instead of stopping (exit 3). Only dss run takes the lock; plan ignores it."),
    ]
