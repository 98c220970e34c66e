"""The datastore's storage: where imported objects are kept and read back.

Everything above this module reaches the data through :class:`BranchData`,
a read-only mapping. Keeping that interface narrow lets a columnar store
replace the plain dict later without touching trees, diff or handlers.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, Mapping
from typing import TYPE_CHECKING

from .model import Model
from .rejects import BadRecord

if TYPE_CHECKING:
    import polars

    from .columnar import ColumnarRows


class BranchData(Mapping[str, Model]):
    """The objects of one branch of one tree, read like a dict keyed by idnumber."""

    def __init__(self, tree: str, branch: str, model: type[Model]) -> None:
        self.tree = tree
        self.name = branch
        self.model = model
        self._objects: dict[str, Model] = {}
        self._where = (tree, branch)
        self.columns: set[str] = set()  # the fields of the importer's records (its own renaming applied)
        self.rejects: list[BadRecord] = []  # the records quarantined while importing (on_bad_record)
        # the branch stored as columns (dss_core.columnar), else None: every read goes there
        self._columnar: ColumnarRows | None = None

    def __getitem__(self, idnumber: str) -> Model:
        if self._columnar is not None:
            obj = self._columnar.get(idnumber)
            if obj is None:
                raise KeyError(idnumber)
            return obj
        return self._objects[idnumber]

    def get(self, idnumber: str, default: Model | None = None) -> Model | None:  # type: ignore[override]
        if self._columnar is not None:
            return self._columnar.get(idnumber, default)
        return self._objects.get(idnumber, default)

    def __contains__(self, idnumber: object) -> bool:
        if self._columnar is not None:
            return idnumber in self._columnar
        return idnumber in self._objects

    def __iter__(self) -> Iterator[str]:
        if self._columnar is not None:
            return iter(self._columnar)
        return iter(self._objects)

    def __len__(self) -> int:
        if self._columnar is not None:
            return len(self._columnar)
        return len(self._objects)

    def items(self) -> ItemsView[str, Model]:
        if self._columnar is not None:
            return self._columnar.items(self)
        return self._objects.items()  # the dict's own view: no per-item call

    def lookup(self) -> Callable[[str], Model | None]:
        """A function giving the object of an idnumber, or None (for a walk over many)."""
        if self._columnar is not None:
            return self._columnar.get
        return self._objects.get

    def frame(self, *names: str) -> polars.DataFrame | None:
        """The branch's rows as a polars DataFrame when it is stored as columns, else None.

        For a derived importer's ``read_columns()`` (groups from users): one
        row per object, the columns ``idnumber``, each field and each tracked
        property (or only ``names``, in that order: cheaper), valued as the
        objects hold them (a list or set field: a list column of its elements,
        an element its text repeats repeated). None when
        the branch holds objects: the importer then gives None too, and the
        core runs its ``readin()``. A new frame at each call; the branch is not
        changed by it.
        """
        if self._columnar is None:
            return None
        from .columnar_derived import branch_frame

        return branch_frame(self._columnar, names)

    @property
    def columnar(self) -> ColumnarRows | None:
        """The branch's columns when it is stored columnar (dss_core.columnar), else None."""
        return self._columnar

    def _to_objects(self) -> None:
        """A columnar branch written to: every row becomes an object, held as on the object path."""
        if self._columnar is not None:
            self._objects = dict(self._columnar.objects())
            self._columnar = None

    def __repr__(self) -> str:
        return f"<BranchData {self.tree}.{self.name}: {len(self)} objects>"

    # -- writing: used by the import machinery, not by users -----------------
    def put(self, obj: Model) -> None:
        if self._columnar is not None:
            self._to_objects()
        obj._dss_where = self._where
        self._objects[obj.idnumber] = obj

    def clear(self) -> None:
        self._objects.clear()
        self._columnar = None
        self.columns = set()
        self.rejects = []

    def remove(self, idnumber: str) -> None:
        self._to_objects()
        del self._objects[idnumber]


class Store:
    """The datastore root: holds the data of every branch of every tree."""

    def __init__(self) -> None:
        self._branches: dict[tuple[str, str], BranchData] = {}

    def branch(self, tree: str, branch: str, model: type[Model]) -> BranchData:
        """The data of ``tree.branch``, created empty on first use."""
        key = (tree, branch)
        data = self._branches.get(key)
        if data is None:
            data = self._branches[key] = BranchData(tree, branch, model)
        return data

    def clear(self, tree: str) -> None:
        for (t, _), data in self._branches.items():
            if t == tree:
                data.clear()
