"""The school plugin's hook implementations: the module the ``dss`` entry point names.

Kept thin on purpose: the trees, models and importers live in their own
modules and are imported only when ``dss`` asks for them.

* ``dss_trees`` registers the trees ``sis``, ``lms`` and ``directory`` by name;
* ``dss_datastores`` registers the ``school`` datastore: the SIS into the
  LMS, and into the directory too when one is configured;
* ``dss_branches`` adds the cohorts (a ``groups`` branch) to the three trees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dss_core import hookimpl

if TYPE_CHECKING:
    from dss_core import Branch, Config, Datastore, Tree


@hookimpl
def dss_trees(config: Config) -> list[type[Tree]]:
    """Register the trees by name: ``sis`` (the SIS exports), ``lms`` (the LMS database) and
    ``directory`` (accounts and groups in LDAP).

    Any datastore may then name them, this plugin's and a user's own alike.
    """
    from .directory import Directory
    from .lms import LMS
    from .sis import SIS

    return [SIS, LMS, Directory]


@hookimpl
def dss_datastores(config: Config) -> list[Datastore]:
    """Register the ``school`` datastore: the SIS exports are the truth, the destinations follow.

    The LMS always; the directory too when the configuration names one (a
    ``[trees.directory]`` table, or ``DSS_DIRECTORY_URL``): one
    source feeding two destinations in one run. Configuring the directory is
    the opt-in, so ``dss run school`` (a cron line, the quick start) goes on
    working unchanged where there is none, and feeds both where there is.
    """
    from dss_core import Datastore

    if directory_configured(config):
        return [Datastore("school", source="sis", destinations=["lms", "directory"],
                          description="SIS CSV exports -> LMS accounts, enrolments and cohorts, "
                                      "and the directory's accounts and groups")]
    return [Datastore("school", source="sis", destinations=["lms"],
                      description="SIS CSV exports -> LMS accounts, enrolments and cohorts")]


def directory_configured(config: Config) -> bool:
    """True when dss.toml has a ``[trees.directory]`` table, or ``DSS_DIRECTORY_URL`` is set.

    A table without a ``url`` counts (dss-ldap then says clearly that the URL
    is missing, rather than leaving the directory out in silence); a bind
    password in the environment alone does not.
    """
    trees = config.data.get("trees")
    return (isinstance(trees, dict) and "directory" in trees) or \
        bool(config.settings_for("directory").get("url"))


@hookimpl
def dss_branches(tree: Tree) -> list[Branch] | None:
    """The cohorts, an add-on: a ``groups`` branch on this plugin's trees ``sis``, ``lms``
    and ``directory``.

    On the SIS side the cohorts are derived from ``users``; on the LMS side
    they are the ``lms_cohorts`` and ``lms_cohort_members`` tables; in the
    directory, ``groupOfNames`` entries. Another plugin's tree that happens
    to be called ``sis``, ``lms`` or ``directory`` is left alone.
    """
    if tree.name == "sis":
        from . import sis

        return [sis.GROUPS] if isinstance(tree, sis.SIS) else None
    if tree.name == "lms":
        from . import lms

        return [lms.GROUPS] if isinstance(tree, lms.LMS) else None
    if tree.name == "directory":
        from . import directory

        return [directory.GROUPS] if isinstance(tree, directory.Directory) else None
    return None
