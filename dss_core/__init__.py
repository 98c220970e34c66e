"""dss: a plugin framework for one-way syncs. The public API is exported from here.

Importing ``dss_core`` is light: no plugin is loaded and no heavy library is
imported until a command or a tree needs it.
"""

from __future__ import annotations

from .actions import ADD, ERROR, KINDS, NEW, OLD, REMOVE, UPDATE, Action, Result, Status
from .config import Config
from .errors import (
    ConfigurationError,
    ConfigurationProblems,
    DssError,
    DuplicateIdError,
    GateError,
    InputError,
    PluginError,
)
from .handlers import Handler, ObjectUnit
from .hookspecs import hookimpl, hookspec
from .importers import GeneratorImporter, Importer, Record
from .model import LIST, SCALAR, SET, Model, derived
from .origin import Origin
from .redaction import mask_url, redact, register_secret, register_url_secrets
from .rejects import BadRecord
from .runner import Run, Summary
from .settings import Setting
from .store import BranchData
from .trees import Branch, Datastore, Tree, open_datastore
from .values import parse_bool

__version__ = "0.1.0"

__all__ = [
    "ADD", "ERROR", "KINDS", "LIST", "NEW", "OLD", "REMOVE", "SCALAR", "SET", "UPDATE",
    "Action", "BadRecord", "Branch", "BranchData", "Config", "ConfigurationError", "ConfigurationProblems", "Datastore", "DssError",
    "DuplicateIdError", "GateError", "GeneratorImporter", "Handler", "Importer", "InputError", "Model",
    "ObjectUnit", "Origin", "PluginError", "Record", "Result", "Run", "Setting", "Status", "Summary", "Tree",
    "derived", "hookimpl", "hookspec", "mask_url", "open_datastore", "parse_bool", "redact", "register_secret", "register_url_secrets",
]
