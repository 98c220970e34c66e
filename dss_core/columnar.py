"""A branch stored as columns: the rows of one polars DataFrame, objects built on demand.

An importer that can read its records as columns (dss-csv's, for a plain
UTF-8 file) gives the core, from ``read_columns()``, a mapping::

    {"frame": <polars.DataFrame or LazyFrame>, "source": "users.csv", "lists": {"groups": ";"},
     # optional:
     "rows": 1000000, "fetch": <callable>}

``frame`` holds one text column per record field (the importer's renaming
applied; the values exactly as the object path's records would hold them
before a list is split) and the column :data:`LINE` with each row's line;
``lists`` names the list columns and their separators (the value of such a
column becomes its non-empty, stripped elements, as dss-csv's records do).

``frame`` may be lazy: the core collects it with polars' streaming engine. It
may then hold the Boolean column :data:`VALID`: the columns are used only if
it is true on every row (the reader's checks that need the values, made in the
same pass), and ``rows``, when given, must be the number of rows collected.
``check``, when given, is a DataFrame of some rows' text columns and
:data:`LINE` as the reader vouches for them (dss-csv: the lines holding a quote,
as the ``csv`` module reads them): the rows collected at those lines must be
the same, else the object path.
``pending``, when given, is an object whose ``result()`` gives more of these
keys (dss-csv: ``rows`` and ``check``) or None (the object path): the reader's
checks, made in a thread while the core collects the frame (polars releases
the GIL while it reads); the core asks for it once the frame is collected.
``fetch(rows)``, when given, reads the given rows again (0-based positions
in the frame) and returns their text columns and :data:`LINE` as a
DataFrame, in the order asked: the core then keeps per row only the idnumber,
the line and a 128-bit digest of the other columns (:func:`digest`), and
fetches the text of the rows that need objects (see :func:`collect_columns`).

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

import contextlib
import secrets
import threading
from collections.abc import Callable, ItemsView, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .model import SCALAR, Model
from .origin import Origin

if TYPE_CHECKING:
    import polars

LINE = "_dss_line"  # the column holding each row's line in its file
VALID = "_dss_valid"  # a lazy frame's rows the reader vouches for (all true, or the object path)
H1, H2 = "_dss_h1", "_dss_h2"  # the two 64-bit halves of a row's digest
I1, I2 = "_dss_i1", "_dss_i2"  # the two 64-bit halves of the idnumber's digest (the diff joins on I1)
FETCH_BATCH = 1 << 16  # rows fetched at once when every row is read again
ITER_BATCH = 1 << 18  # idnumbers made into Python text at once when the branch is walked

#: the seeds of the digest, new in every process: nobody outside the run can aim at a collision
_SEEDS = (secrets.randbits(48), secrets.randbits(48))
_ID_SEEDS = (secrets.randbits(48), secrets.randbits(48))
_ODD = 0x100000001B3  # the fold's multiplier: odd, so multiplying is a bijection of the 64-bit words
#: one frame collected at a time: polars' reader maps the whole file (about 190 MiB resident for
#: a 100 MB file while it reads) and uses every core already, so a destination read ahead
#: (the runner's read-ahead thread) overlaps its byte checks and Python work with the
#: source's collect, not a second collect (two at once: 100 MiB more at 1M rows per side)
_COLLECTING = threading.Lock()


def split_list(value: str, sep: str) -> list[str]:
    """A list column's value as dss-csv's records hold it: non-empty, stripped elements."""
    return list(filter(None, map(str.strip, value.split(sep))))


def digest(names: Sequence[str]) -> list[polars.Expr]:
    """The expressions of a row's 128-bit digest over the columns ``names``: :data:`H1`, :data:`H2`.

    Each half folds the columns' polars hashes, column ``i`` hashed with seed
    ``base + i``: ``h = (h * ODD) ^ hash_i(value_i)``, modulo 2**64. For a fixed
    value of every other column, ``h`` is a bijection of any one ``hash_i``
    (xor and multiplying by an odd number are), so two rows that differ in some
    column ``j`` have digests that collide only if the hash of ``j``'s two
    values happen to make them: with the seeded hash taken as a random
    function, probability 2**-64 per half, 2**-128 for both (independent seeds).
    The diff compares the digests of the two rows of one idnumber only, so at
    10 million rows per side the chance that a changed row is taken for equal
    is below 10**-31. The seeds are drawn anew in each process and never shown,
    so a file cannot be made to collide on purpose. polars' hash is not stable
    across polars versions, which does not matter: both sides are hashed in
    the same process.
    """
    import polars as pl

    out = []
    for alias, base in zip((H1, H2), _SEEDS, strict=True):
        h: polars.Expr = pl.lit(0, dtype=pl.UInt64)
        for i, name in enumerate(names):
            h = (h * pl.lit(_ODD, dtype=pl.UInt64)) ^ pl.col(name).hash(base + i)
        out.append(h.alias(alias))
    return out


def id_digest() -> list[polars.Expr]:
    """The idnumber's 128-bit digest, :data:`I1` and :data:`I2` (two seeded polars hashes).

    The diff joins the two sides on :data:`I1` (a join on a 64-bit integer
    costs half a join on text) and takes a pair as one idnumber only when
    :data:`I2` agrees too; a pair whose ``I2`` differ (two idnumbers sharing
    ``I1``, about one chance in 10**7 at 10 million rows per side) sends the
    branch to the object path. Two different idnumbers agreeing on both
    halves: 2**-128 per pair, as for :func:`digest`.
    """
    import polars as pl

    return [pl.col("idnumber").hash(seed).alias(alias) for alias, seed in zip((I1, I2), _ID_SEEDS, strict=True)]


class Compact:
    """A compact branch's way back to its text: the reader's ``fetch`` and the digested columns."""

    def __init__(self, fetch: Callable[[Sequence[int]], polars.DataFrame], fields: list[str],
                 digested: list[str]) -> None:
        self.fetch = fetch
        self.fields = fields  # every record field, as the reader's frame had them
        self.digested = digested  # the columns of the digest, in its order


def collect_columns(given: Mapping[str, Any], model: type[Model]) -> dict[str, Any] | None:
    """``given`` with its frame collected (None: the reader's checks failed, the object path).

    A lazy frame with ``fetch`` for a model whose tracked ``@property``
    attributes are columns of it (:mod:`dss_core.columnar_load` adds declared
    expressions) is collected compact, in one streaming pass: the idnumber, the
    text of the scalar fields that are not ``str`` (the loader checks they
    convert) and of the fields ``"keep"`` names (a derived importer reads them), the
    line and the digest of every column but the idnumber; ``"compact"`` then
    says how to read the rest again and ``"fields"`` names every field. A
    DataFrame is given back as it is.
    """
    try:
        return _collect_columns(given, model)
    except BaseException:
        pending = given.get("pending")
        if pending is not None:  # its thread done before the object path reads the file again
            with contextlib.suppress(Exception):
                pending.result()
        raise


def _collect_columns(given: Mapping[str, Any], model: type[Model]) -> dict[str, Any] | None:
    import polars as pl

    frame = given["frame"]
    if not isinstance(frame, pl.LazyFrame):
        more = given["pending"].result() if given.get("pending") is not None else {}
        return None if more is None else {**{k: v for k, v in given.items() if k != "pending"}, **more}
    out = dict(given)
    schema = frame.collect_schema()
    names = [c for c in schema.names() if c not in (LINE, VALID)]
    valid = pl.col(VALID) if VALID in schema else pl.lit(True)
    fetch = given.get("fetch")
    fields = model.schema().fields
    compact = (fetch is not None and LINE in schema and "idnumber" in names
               and all(name in fields or name in names for name in model.schema().tracked)
               and all(schema[c] == pl.String for c in names))
    if compact and fetch is not None:
        typed = [n for n in names if n != "idnumber" and n in fields and (
            (fields[n].kind == SCALAR and fields[n].type is not str) or n in given.get("keep", ()))]
        digested = sorted(n for n in names if n != "idnumber")
        valid = valid & ~pl.any_horizontal(pl.col(names).is_null())
        with _COLLECTING:
            got = frame.select("idnumber", *typed, LINE, *digest(digested),
                               valid.alias(VALID)).collect(engine="streaming")
        out["compact"] = Compact(fetch, names, digested)
        out["fields"] = names
        out.setdefault("columns", names)
    else:
        with _COLLECTING:
            got = frame.with_columns(valid.alias(VALID)).collect(engine="streaming")
    pending = out.pop("pending", None)
    if pending is not None:  # the reader's checks, made while polars read the frame
        more = pending.result()
        if more is None:
            return None
        out.update(more)
        given = out
    if got.height and not got.get_column(VALID).all():
        return None
    if given.get("rows") is not None and got.height != given["rows"]:
        return None
    got = got.drop(VALID)
    check = given.get("check")
    if check is not None and check.height and not _checked(got, check, out.get("compact")):
        return None
    out["frame"] = got
    return out


def _checked(got: polars.DataFrame, check: polars.DataFrame, compact: Compact | None) -> bool:
    """True when the rows of ``got`` at ``check``'s lines hold ``check``'s texts (compact: the
    same idnumber and digest)."""
    import polars as pl

    lines = check.get_column(LINE)
    if lines.min() < 2 or lines.max() >= got.height + 2:  # type: ignore[operator]
        return False
    held = got[(lines - 2).to_list()]
    if compact is None:
        names = [c for c in check.columns if c != LINE]
        if any(c not in held.columns for c in names):
            return False
        return held.select(*names, LINE).equals(check.select(*names, LINE))
    mine = check.select("idnumber", LINE, *digest(compact.digested))
    return held.select("idnumber", LINE, H1, H2).equals(mine.with_columns(pl.col(LINE).cast(pl.Int64)))


class ColumnarRows:
    """The rows of one branch held as columns; a model object is built for a row when asked.

    The idnumber column is unique (checked by the loader); the index from
    idnumber to row is made on the first lookup by idnumber. A compact branch
    (``compact`` given) holds the idnumber, the line and the digest of each row
    (and the text of a few fields the loader checked); the text of the rows
    that need objects is read again through the reader's ``fetch``, checked
    against the digest.
    """

    def __init__(self, frame: polars.DataFrame, model: type[Model], origin: Origin,
                 lists: Mapping[str, str], where: tuple[str, str], compact: Compact | None = None) -> None:
        self.model = model
        self.lists = dict(lists)
        self.compact = compact
        self._frame = frame
        self._fields = compact.fields if compact else [c for c in frame.columns if c != LINE]
        self.columns = [*self._fields, LINE]  # the columns the frame has, or a compact one stands for
        self._data = None if compact else frame.select(*self._fields, LINE)  # fields, then the line
        self.keys = frame if compact else None  # idnumber, LINE, H1, H2 (and a few texts)
        self._id = self._fields.index("idnumber")
        self._origin = origin  # the template Origin shared by every object (position None)
        self._where = where
        self._build = model.builder()
        self._index: dict[str, int] | None = None
        self._made: dict[str, Model] = {}

    @property
    def frame(self) -> polars.DataFrame:
        """Every row's text columns and line (a compact branch reads them all again for it)."""
        if self.compact is None:
            return self._frame
        import polars as pl

        return pl.concat([self._fetch(range(start, min(start + FETCH_BATCH, len(self))))
                          for start in range(0, len(self), FETCH_BATCH)]
                         or [self._fetch([])])

    def ids(self) -> polars.Series:
        """The idnumber column."""
        return self._frame.get_column("idnumber")

    # -- objects ----------------------------------------------------------------
    def object_at(self, row: int) -> Model:
        """The object of row ``row`` (built on first use, then the same object)."""
        if self._data is None:
            idnumber = self.ids()[row]
            obj = self._made.get(idnumber)
            if obj is None:
                self.prefetch([row])
                obj = self._made[idnumber]
            return obj
        values = self._data.row(row)
        obj = self._made.get(values[self._id])
        return obj if obj is not None else self._make(values)

    def object_of(self, idnumber: str, row: int) -> Model:
        """The object of row ``row``, whose idnumber the caller knows: no lookup of the idnumber
        in the frame once it is built (the diff asks for 40,000 at a million rows a side)."""
        obj = self._made.get(idnumber)
        return obj if obj is not None else self.object_at(row)

    def prefetch(self, rows: Sequence[int]) -> None:
        """Build the objects of ``rows`` now, a compact branch's texts read in one pass (the
        rows in file order, so that each batch's read goes on from where the last one stopped)."""
        if self._data is not None:
            return
        rows = list(rows)
        made = self._made
        todo = sorted([r for r, i in zip(rows, self.ids().gather(rows).to_list(), strict=True) if i not in made]
                      if made and rows else rows)
        for start in range(0, len(todo), FETCH_BATCH):
            for values in self._fetch(todo[start:start + FETCH_BATCH]).iter_rows():
                self._make(values)

    def _fetch(self, rows: Sequence[int]) -> polars.DataFrame:
        """The text columns and line of ``rows``, read again; each checked against its digest."""
        assert self.compact is not None
        rows = list(rows)
        got = self.compact.fetch(rows).select(*self._fields, LINE)
        if not rows:
            return got
        held = self._frame[rows]
        mine = got.select("idnumber", LINE, *digest(self.compact.digested))
        same = held.select("idnumber", LINE, H1, H2).equals(mine.select("idnumber", LINE, H1, H2))
        if not same:
            at = next((i for i, (a, b) in enumerate(zip(held.select("idnumber", LINE, H1, H2).rows(),
                                                        mine.rows(), strict=True)) if a != b), 0)
            where = "{}.{}".format(*self._where)
            raise InputError(f"{where}: {self._origin.source} line {held[LINE][at]} no longer reads as "
                             "it did at the import (changed while it was read): run again")
        return got

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
            ids = self.ids().to_list()
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
        return self._frame.height

    def __iter__(self) -> Iterator[str]:
        """The idnumbers in row order, made into Python text a batch at a time (100M rows: a
        list of every one would be about 7 GB)."""
        ids = self.ids()
        for start in range(0, len(ids), ITER_BATCH):
            yield from ids.slice(start, ITER_BATCH).to_list()

    def lookup(self) -> Callable[[str], Model | None]:
        return self.get

    def objects(self) -> Iterator[tuple[str, Model]]:
        """Every (idnumber, object) in row order, building the ones not made yet."""
        made, at = self._made, self._id
        if self._data is None:  # compact: the texts read again in batches
            for start in range(0, len(self), FETCH_BATCH):
                batch = range(start, min(start + FETCH_BATCH, len(self)))
                self.prefetch(batch)
                for idnumber in self.ids().slice(start, len(batch)).to_list():
                    yield idnumber, made[idnumber]
            return
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
