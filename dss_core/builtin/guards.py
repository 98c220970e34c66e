"""Builtin plugin: the guards' options on ``dss run`` and ``dss plan`` (``dss_cli_options``).

``--accept TREE.BRANCH`` lets a source gate through for one night;
``--allow-deletions [TREE.BRANCH=]N`` lifts the deletion and member-loss
limits to N. The runner reads them from ``run.options`` like any plugin's
option (see :mod:`dss_core.gates`).
"""

from __future__ import annotations

import click

from ..hookspecs import hookimpl


@hookimpl(trylast=True)
def dss_cli_options() -> list[click.Parameter]:
    return [
        click.Option(
            ["--accept"], multiple=True, metavar="TREE.BRANCH",
            help="Accept tonight's source of this branch (or tree, or 'all') although a source "
                 "gate stops it: empty, shrunk, or a column gone (repeatable)."),
        click.Option(
            ["--allow-deletions", "allow_deletions"], multiple=True, metavar="[TREE.BRANCH=]N",
            help="Let this run retire or delete up to N objects per branch, and remove up to N "
                 "members per set, past the deletion limits (repeatable)."),
    ]
