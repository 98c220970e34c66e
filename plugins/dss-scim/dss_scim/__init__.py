"""dss-scim: read from and write to a SCIM 2.0 service (RFC 7643, 7644).

* :class:`SCIMImporter` (importer name ``scim``): a resource type, page by page, filtered.
* :class:`SCIMMapping`, :class:`ResourceMap`, :class:`MemberMap`: a declarative
  mapping of branches to resource types that gives a ready :class:`SCIMHandler`
  and ready importers, so a SCIM destination needs no handler code.

Importing this package imports neither scim2-client nor httpx2; that happens
when a service is first used.
"""

from __future__ import annotations

from .checks import Bound, MappingProblems
from .handler import Request, SCIMHandler
from .importer import SCIMImporter
from .index import Index, Ref, index_of
from .mapping import MappedImporter, SCIMMapping
from .paths import AttributePath, parse
from .resources import MemberMap, ResourceMap, ResourceMapping
from .service import Reply, Service

__version__ = "0.1.0"

__all__ = [
    "AttributePath", "Bound", "Index", "MappedImporter", "MappingProblems", "MemberMap", "Ref",
    "Reply", "Request", "ResourceMap", "ResourceMapping", "SCIMHandler", "SCIMImporter",
    "SCIMMapping", "Service", "index_of", "parse",
]
