"""The hook the ``dss`` entry point names: the ``moodle`` datastore."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dss_core import hookimpl

if TYPE_CHECKING:
    from dss_core import Config, Datastore


@hookimpl
def dss_datastores(config: Config) -> list[Datastore]:
    """The registry's export is the truth; Moodle's accounts and cohorts follow."""
    from dss_core import Datastore

    from .sync import Moodle, Registry

    return [Datastore("moodle", source=Registry, destinations=[Moodle],
                      description="registry CSV export -> Moodle mdl_user and cohorts")]
