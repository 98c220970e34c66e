"""The school plugin's hook implementations: the module the ``dss`` entry point names.

Kept thin on purpose: the trees, models and importers live in their own
modules and are imported only when ``dss`` asks for the datastore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dss_core import hookimpl

if TYPE_CHECKING:
    from dss_core import Config, Datastore


@hookimpl
def dss_datastores(config: Config) -> list[Datastore]:
    """Register the ``school`` datastore: the SIS exports are the truth, the LMS follows."""
    from dss_core import Datastore

    from .lms import LMS
    from .sis import SIS

    return [Datastore("school", source=SIS, destinations=[LMS],
                      description="SIS CSV exports -> LMS accounts, enrolments and cohorts")]
