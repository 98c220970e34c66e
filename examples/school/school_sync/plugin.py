"""The school plugin's hook implementations: the module the ``dss`` entry point names.

Kept thin on purpose: the trees, models and importers live in their own
modules and are imported only when ``dss`` asks for them.

* ``dss_trees`` registers the trees ``sis`` and ``lms`` by name;
* ``dss_datastores`` registers the ``school`` datastore, naming those trees;
* ``dss_branches`` adds the cohorts (a ``groups`` branch) to both trees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dss_core import hookimpl

if TYPE_CHECKING:
    from dss_core import Branch, Config, Datastore, Tree


@hookimpl
def dss_trees(config: Config) -> list[type[Tree]]:
    """Register the trees by name: ``sis`` (the SIS exports) and ``lms`` (the LMS database).

    Any datastore may then name them, this plugin's and a user's own alike.
    """
    from .lms import LMS
    from .sis import SIS

    return [SIS, LMS]


@hookimpl
def dss_datastores(config: Config) -> list[Datastore]:
    """Register the ``school`` datastore: the SIS exports are the truth, the LMS follows."""
    from dss_core import Datastore

    return [Datastore("school", source="sis", destinations=["lms"],
                      description="SIS CSV exports -> LMS accounts, enrolments and cohorts")]


@hookimpl
def dss_branches(tree: Tree) -> list[Branch] | None:
    """The cohorts, an add-on: a ``groups`` branch on this plugin's trees ``sis`` and ``lms``.

    On the SIS side the cohorts are derived from ``users``; on the LMS side
    they are the ``lms_cohorts`` and ``lms_cohort_members`` tables. Another
    plugin's tree that happens to be called ``sis`` or ``lms`` is left alone.
    """
    if tree.name == "sis":
        from . import sis

        return [sis.GROUPS] if isinstance(tree, sis.SIS) else None
    if tree.name == "lms":
        from . import lms

        return [lms.GROUPS] if isinstance(tree, lms.LMS) else None
    return None
