"""Which SCIM resource holds which idnumber: ids, ETags and locations, cached per run.

The importer fills the index of its tree and branch while it reads; the
handler, in the same process, reads it to find the id and ETag of the
resource an action changes, and adds what it creates. Group members are
resolved through the index of the branch they name (idnumber <-> SCIM id).
An idnumber the index does not know is looked up once on the service and
then cached.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Ref:
    """One resource as last seen: its SCIM ``id``, ETag ``version``, ``location``, ``active``."""

    id: str
    version: str | None = None
    location: str | None = None
    active: bool = True


@dataclass
class Index:
    """idnumber -> :class:`Ref`, and SCIM id -> idnumber, for one tree's branch."""

    by_key: dict[str, Ref] = field(default_factory=dict)
    key_of: dict[str, str] = field(default_factory=dict)

    def put(self, idnumber: str, ref: Ref) -> None:
        old = self.by_key.get(idnumber)
        if old is not None and old.id != ref.id:
            self.key_of.pop(old.id, None)
        self.by_key[idnumber] = ref
        self.key_of[ref.id] = idnumber

    def drop(self, idnumber: str) -> None:
        ref = self.by_key.pop(idnumber, None)
        if ref is not None:
            self.key_of.pop(ref.id, None)

    def get(self, idnumber: str) -> Ref | None:
        return self.by_key.get(idnumber)


_lock = threading.Lock()
_indexes: dict[tuple[str, str], Index] = {}


def fresh_index(tree: str, branch: str) -> Index:
    """A new, empty index for ``tree.branch`` (an import starts one), replacing the last."""
    with _lock:
        _indexes[(tree, branch)] = index = Index()
    return index


def index_of(tree: str, branch: str) -> Index:
    """The index of ``tree.branch`` (empty when nothing was read in this process)."""
    with _lock:
        return _indexes.setdefault((tree, branch), Index())
