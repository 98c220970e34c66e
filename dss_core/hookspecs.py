"""Every hook dss calls, in the order a run calls them. This module is the reference.

Implement a hook in a plugin module with :data:`dss_core.hookimpl`::

    from dss_core import hookimpl

    @hookimpl
    def dss_datastores(config):
        return [Datastore("school", source=SIS, destinations=[LMS])]

and register the module under the ``dss`` entry-point group::

    [project.entry-points.dss]
    school = "school_sync.plugin"

An implementation may accept any subset of a hook's arguments. Hooks marked
*first result wins* stop at the first implementation that returns something
other than ``None``; all others collect every implementation's result in a list.
The core's own defaults are plugins using these same hooks, registered
``trylast`` so that any plugin can override them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from .importers import PROGRESS_EVERY

if TYPE_CHECKING:
    from collections.abc import Sequence

    import click

    from .actions import Action, Result
    from .config import Config
    from .declaration import Branch, Datastore, TreeDeclaration
    from .handlers import Handler
    from .importers import Importer
    from .runs import Run, Summary

PROJECT = "dss"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ---------------------------------------------------------------------------
# Configuration and the command line
# ---------------------------------------------------------------------------


@hookspec(historic=True)
def dss_configure(config: Config) -> None:
    """Called once the configuration is loaded, before anything is registered.

    *Historic*: a plugin registered later (``pm.register(...)`` after the
    configuration was loaded) is called with the same configuration when it
    registers, so no plugin misses it. Callers use
    ``pm.hook.dss_configure.call_historic(kwargs={"config": config})``.

    :param config: the loaded :class:`~dss_core.Config`; a plugin may read
        its own table from ``config.data`` or add defaults to it.
    :return: nothing.
    """


@hookspec
def dss_cli_options(command: str) -> list[click.Parameter]:
    """Add command-line options to the commands that plan or apply a run.

    :param command: the command being built: ``"run"``, ``"plan"``, ``"apply"``
        (a saved plan) or ``"undo"``. An implementation may leave this
        parameter out: its options then go on all four.
    :return: a list of ``click.Option`` objects. Their values reach every
        plugin as ``config.options[name]`` (and ``run.options``).
    """
    return []


@hookspec
def dss_register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``dss`` command.

    :param cli: the ``dss`` click group; call ``cli.command()`` on it.
    :return: nothing.
    """


# ---------------------------------------------------------------------------
# Registration and discovery
# ---------------------------------------------------------------------------


@hookspec
def dss_importers() -> list[type[Importer]]:
    """Register importers by name, so branches and configuration can name them.

    :return: a list of :class:`~dss_core.Importer` subclasses, each with a
        ``name`` class attribute (``"csv"``). Two plugins registering the same
        name is an error naming both distributions.
    """
    return []


@hookspec
def dss_trees(config: Config) -> list[type[TreeDeclaration]]:
    """Register trees, so datastores (and users) can name them.

    :param config: the loaded configuration.
    :return: a list of :class:`~dss_core.Tree` subclasses; each is known by
        its ``name``.
    """
    return []


@hookspec
def dss_datastores(config: Config) -> list[Datastore]:
    """Register datastores: named syncs of one source and its destinations.

    :param config: the loaded configuration.
    :return: a list of :class:`~dss_core.Datastore` objects; ``dss run NAME``
        picks one by name.
    """
    return []


@hookspec
def dss_branches(tree: TreeDeclaration) -> list[Branch]:
    """Branch discovery: add branches to a tree when it is created.

    Called for every tree instance. A plugin may add a branch to a tree it
    did not declare (an extra ``groups`` branch on both sides, say); every
    tree of a datastore must still end with the same branch names.

    :param tree: the tree being created (its declared branches are in
        ``tree.branches``).
    :return: a list of named :class:`~dss_core.Branch` objects, or ``None``.
    """
    return []


# ---------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------


@hookspec
def dss_import_progress(run: Run, tree: TreeDeclaration, branch: str, count: int) -> None:
    """A branch of a tree is being imported: called as it starts, then every so many records.

    Called with ``count`` 0 as the branch starts, then every :data:`IMPORT_PROGRESS_EVERY`
    records the importer has read, so that a reporter can show records read and a rate while
    a million rows import; :func:`dss_import_done` ends the branch.

    Called often: an implementation should only note the numbers (the builtin console
    reporter draws them from another thread, a few times a second).

    :param run: the current run.
    :param tree: the tree being imported into (its objects are not all there yet).
    :param branch: the branch name.
    :param count: the number of records the importer has read so far.
    :return: nothing.
    """


#: how many records :func:`dss_import_progress` is called after (and once with 0 at the start)
IMPORT_PROGRESS_EVERY = PROGRESS_EVERY


@hookspec
def dss_import_done(run: Run, tree: TreeDeclaration, branch: str, count: int) -> None:
    """Called after one branch of one tree has been imported.

    :param run: the current run.
    :param tree: the tree imported into.
    :param branch: the branch name.
    :param count: the number of records the importer read.
    :return: nothing.
    """


# ---------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def dss_handle_action(action: Action, destination: TreeDeclaration, handler: Handler, run: Run) -> Result | None:
    """Act on one difference. *First result wins.*

    The builtin implementation (``trylast``) dispatches to the destination's
    :class:`~dss_core.Handler` by the documented method order. A plugin may
    take over some actions by returning a result for them, and ``None`` for
    the rest. An exception raised here is caught and reported for this
    action only.

    :param action: the :class:`~dss_core.Action` to apply.
    :param destination: the destination tree the action is for.
    :param handler: the destination's handler instance for this run.
    :param run: the current run.
    :return: a :class:`~dss_core.Result`, or ``None`` to leave the action
        to the next implementation.
    """


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


@hookspec
def dss_report_start(run: Run) -> None:
    """A run starts (after configuration checks, before importing).

    :param run: the run: its ``id``, ``datastore``, ``mode`` (``plan`` or
        ``apply``) and options.
    :return: nothing.
    """


@hookspec
def dss_apply_start(run: Run, actions: Sequence[Action]) -> None:
    """A real run starts applying: every diff computed, every guard passed.

    Called once, before the first destination's handler begins; not by a dry run, nor by a
    run that stopped before applying.

    :param run: the current run.
    :param actions: every action about to be handed to a handler, in the order they will be,
        over all destinations (``len(actions)`` is the total; ``action.tree`` and
        ``action.branch`` say where each goes). Actions held back (quarantine) are not in it:
        their ``held`` results were reported before this call.
    :return: nothing.
    """


@hookspec
def dss_report_result(run: Run, result: Result) -> None:
    """One action has a result (``planned`` in a dry run).

    :param run: the current run.
    :param result: the :class:`~dss_core.Result`, with its action.
    :return: nothing.
    """


@hookspec
def dss_report_finish(run: Run, summary: Summary) -> None:
    """A run is over.

    :param run: the current run.
    :param summary: counts per branch and kind, failures, and the action
        methods no handler implements.
    :return: nothing.
    """


def hook_names() -> list[str]:
    """Names of every hookspec, in the order of this module."""
    return [name for name, value in globals().items()
            if name.startswith("dss_") and callable(value)]


