"""A branch stored as columns: the rows of one polars DataFrame, objects built on demand.

An importer that can read its records as columns (dss-csv's, for a plain
UTF-8 file) gives the core, from ``read_columns()``, a mapping::

    {"frame": <polars.DataFrame>, "source": "users.csv", "lists": {"groups": ";"}}

``frame`` holds one text column per record field (the importer's renaming
applied; the values exactly as the object path's records would hold them
before a list is split) and the column :data:`LINE` with each row's line;
``lists`` names the list columns and their separators (the value of such a
column becomes its non-empty, stripped elements, as dss-csv's records do).
The core decides whether the branch's model allows the columnar path
(:mod:`dss_core.columnar_load`); when it does, :class:`ColumnarRows` keeps the
frame and :class:`~dss_core.store.BranchData` reads through it. Model objects
are built only for the rows asked for (the rows of actions, ``get``, ``show``,
a handler), each once, and are the same objects on every later read.

polars was chosen over pyarrow by a measurement at 1M rows per side (read two
CSV files as text, full join on the idnumber, compare nine columns): polars
1.8 s CPU, pyarrow 5.1 s, the same memory. It is imported only when a
branch is read as columns (``dss --help`` and ``dss list`` import no
columnar library).
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .model import Model
from .origin import Origin

if TYPE_CHECKING:
    import polars

LINE = "_dss_line"  # the column holding each row's line in its file


def split_list(value: str, sep: str) -> list[str]:
    """A list column's value as dss-csv's records hold it: non-empty, stripped elements."""
    return list(filter(None, map(str.strip, value.split(sep))))


class ColumnarRows:
    """The rows of one branch held as columns; a model object is built for a row when asked.

    The idnumber column is unique (checked by the loader); the index from
    idnumber to row is made on the first lookup by idnumber.
    """

    def __init__(self, frame: polars.DataFrame, model: type[Model], origin: Origin,
                 lists: Mapping[str, str], where: tuple[str, str]) -> None:
        self.frame = frame
        self.model = model
        self.lists = dict(lists)
        self._fields = [c for c in frame.columns if c != LINE]
        self._data = frame.select(*self._fields, LINE)  # a row: the fields, then the line
        self._id = self._fields.index("idnumber")
        self._origin = origin  # the template Origin shared by every object (position None)
        self._where = where
        self._build = model.builder()
        self._index: dict[str, int] | None = None
        self._made: dict[str, Model] = {}

    # -- objects ----------------------------------------------------------------
    def object_at(self, row: int) -> Model:
        """The object of row ``row`` (built on first use, then the same object)."""
        values = self._data.row(row)
        obj = self._made.get(values[self._id])
        return obj if obj is not None else self._make(values)

    def _make(self, values: tuple[Any, ...]) -> Model:
        lists = self.lists
        record = {name: (split_list(value, lists[name]) if name in lists else value)
                  for name, value in zip(self._fields, values, strict=False)}
        idnumber = values[self._id]
        obj = self._build(record, self._origin, idnumber, values[-1])
        obj._dss_where = self._where
        self._made[idnumber] = obj
        return obj

    def index(self) -> dict[str, int]:
        """idnumber -> row (made once, on the first lookup)."""
        if self._index is None:
            ids = self.frame.get_column("idnumber").to_list()
            self._index = dict(zip(ids, range(len(ids)), strict=True))
        return self._index

    # -- the read-only mapping BranchData delegates to ----------------------------
    def get(self, idnumber: str, default: Model | None = None) -> Model | None:
        obj = self._made.get(idnumber)
        if obj is not None:
            return obj
        row = self.index().get(idnumber)
        return default if row is None else self.object_at(row)

    def __contains__(self, idnumber: object) -> bool:
        return idnumber in self._made or idnumber in self.index()

    def __len__(self) -> int:
        return self.frame.height

    def __iter__(self) -> Iterator[str]:
        return iter(self.frame.get_column("idnumber").to_list())

    def lookup(self) -> Callable[[str], Model | None]:
        return self.get

    def objects(self) -> Iterator[tuple[str, Model]]:
        """Every (idnumber, object) in row order, building the ones not made yet."""
        made, at = self._made, self._id
        for values in self._data.iter_rows():
            obj = made.get(values[at])
            yield values[at], obj if obj is not None else self._make(values)

    def items(self, owner: Mapping[str, Model]) -> ItemsView[str, Model]:
        return _Items(owner, self)


class _Items(ItemsView[str, Model]):
    """``items()`` of a columnar branch: walks the rows once, not one lookup per key."""

    def __init__(self, owner: Mapping[str, Model], rows: ColumnarRows) -> None:
        super().__init__(owner)
        self._rows = rows

    def __iter__(self) -> Iterator[tuple[str, Model]]:
        return self._rows.objects()
