"""Derived attributes on the columnar store, and a columnar branch read as a frame.

A model's tracked ``@property`` (a derived attribute) becomes one more column
of its branch's frame when the branch is stored as columns
(:func:`derived_columns`, called by :mod:`dss_core.columnar_load` before the
rows are stored), so the columnar diff compares it like any field:

* a property declared with :func:`dss_core.derived` is computed for the whole
  column by its expression (polars, vectorised);
* any other property is evaluated by its own body, in batches, on lightweight
  row objects: instances of a subclass of the model whose fields are read from
  the columns on access (converted as the builder converts them: ``int``,
  ``float``, ``bool``, lists split and stripped), so the body sees what it sees
  on a real object (methods, other properties, ``idnumber``, ``dss_origin``).

A property that raises on a row, or gives a value other than ``str``,
``int``, ``bool``, a float that is not NaN, ``None``, or a set, list or tuple of
``str``, makes the branch take the object path (whose diff then reports or
quarantines the row exactly as before): :class:`NotColumnar` is raised.

The values are stored as text, so that equal texts mean equal values on both
sides of a diff whatever the two models' property types: a ``str`` is itself
(prefixed with :data:`TAG` + ``"s"`` if it starts with :data:`TAG`), ``None``
is null, any other value is :data:`TAG`, a type letter and its text. Unequal
texts for equal values (``1`` and ``1.0``) only make the diff build the two
objects and compare them as the object path does.

:func:`branch_frame` gives a derived importer (groups from users) the rows of
the branch it reads as a polars frame, values as the objects hold them, so it
can build its own frame and return it from ``read_columns()`` (see
:meth:`dss_core.BranchData.frame`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .columnar import LINE, split_list
from .model import _MISSING, LIST, SCALAR, SET, Model, column_expression
from .origin import Origin

if TYPE_CHECKING:
    import polars

    from .columnar import ColumnarRows

TAG = "\x00"  # starts the text of every value that is not a plain str
BATCH = 1 << 16  # rows per batch when a property's body is evaluated
_ODD_CHARS = "\x1c\x1d\x1e\x1f"  # whitespace to Python's str.strip but not to polars' strip_chars


class NotColumnar(Exception):
    """This branch's derived attributes cannot be columns: the object path reads it."""


def properties(model: type[Model]) -> dict[str, property]:
    """The tracked properties of ``model`` (name -> property), in the schema's order."""
    schema = model.schema()
    out: dict[str, property] = {}
    for name in schema.tracked:
        if name in schema.fields:
            continue
        for klass in model.__mro__:
            value = vars(klass).get(name)
            if value is not None:
                if not isinstance(value, property) or value.fget is None:
                    raise NotColumnar(f"{name}: not a property with a getter")
                out[name] = value
                break
    return out


# -- the text of a value --------------------------------------------------------
def _encode(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        return TAG + "s" + value if value.startswith(TAG) else value
    if value is None:
        return None
    if kind is bool:
        return TAG + ("bT" if value else "bF")
    if kind is int:
        return TAG + "i" + str(value)
    if kind is float:
        if value != value:
            raise NotColumnar("a NaN value (never equal to itself)")
        return TAG + "f" + repr(value)
    if kind is set or kind is frozenset or kind is list or kind is tuple:
        if not all(type(v) is str for v in value):
            raise NotColumnar(f"a {kind.__name__} of values other than str")
        letter = "L" if kind is list else "T" if kind is tuple else "S"
        return TAG + letter + json.dumps(sorted(value) if letter == "S" else list(value))
    raise NotColumnar(f"a value of type {kind.__name__}")


def _decode(text: str | None) -> Any:
    if text is None or not text.startswith(TAG):
        return text
    letter, rest = text[1], text[2:]
    if letter == "s":
        return TAG + rest
    if letter == "b":
        return rest == "T"
    if letter == "i":
        return int(rest)
    if letter == "f":
        return float(rest)
    items = json.loads(rest)
    return set(items) if letter == "S" else tuple(items) if letter == "T" else items


def encode_values(values: list[Any]) -> polars.Series:
    """The text column of a property's values (see the module's docstring)."""
    import polars as pl

    if set(map(type, values)) <= {str, type(None)}:  # the usual case: text, no conversion
        series = pl.Series(values, dtype=pl.String)
        return _escape(series)
    return pl.Series(list(map(_encode, values)), dtype=pl.String)


def _escape(series: polars.Series) -> polars.Series:
    import polars as pl

    if not series.str.starts_with(TAG).any():
        return series
    return pl.select(pl.when(pl.lit(series).str.starts_with(TAG))
                     .then(pl.lit(TAG + "s") + pl.lit(series)).otherwise(pl.lit(series))).to_series()


def encode_series(series: polars.Series, kind: str) -> polars.Series:
    """The text column of an expression's result (``kind``: the property's declared kind)."""
    import polars as pl

    if series.dtype == pl.String:
        return _escape(series)
    if series.dtype == pl.Null:
        return series.cast(pl.String)
    values = series.to_list()
    if isinstance(series.dtype, pl.List) and kind != LIST:
        values = [None if v is None else set(v) if kind == SET else tuple(v) for v in values]
    return encode_values(values)


# -- the fields as the objects hold them ------------------------------------------
def held(frame: polars.DataFrame, lists: Mapping[str, str], model: type[Model],
         name: str) -> polars.Series:
    """Field ``name`` (or ``idnumber``) of every row, as the model's objects hold it.

    Text fields as they are; int, float and bool fields converted by the
    model's own converters; a list or set field as a list of its elements
    (split and stripped as dss-csv's records are; for a set field an element
    the text repeats is repeated, as it is in the text: polars' list.unique
    costs a quarter of a second per million rows); a field without a column:
    its default.
    """
    import polars as pl

    if name == "idnumber":
        return frame.get_column(name)
    schema = model.schema()
    f = schema.fields.get(name)
    if f is None:
        raise AttributeError(f"{model.__name__} has no field {name!r}")
    if name not in frame.columns:
        if f.kind != SCALAR:
            return pl.Series(name, [[]] * frame.height, dtype=pl.List(pl.String))
        default = None if f.default is _MISSING else f.default
        return pl.Series(name, [default] * frame.height)
    column = frame.get_column(name)
    if f.kind == SCALAR:
        if f.type is str:
            return column  # the builder keeps a str as it is (an optional field's "" too)
        convert = schema.coercers[name]
        old = column.unique()
        new = [convert(v) for v in old.to_list()]
        dtype = {int: pl.Int64, float: pl.Float64, bool: pl.Boolean}[f.type]
        return column.replace_strict(old, pl.Series(new, dtype=dtype), return_dtype=dtype)
    sep = lists[name]
    # Python strips \x1c-\x1f, polars does not: split in Python where an element may hold one
    # (a one-character separator among them is never in an element: text_lists' \x1f)
    odd = "".join(c for c in _ODD_CHARS if c != sep) if len(sep) == 1 else _ODD_CHARS
    if not column.str.contains(f"[\\s{odd}]").any():
        # no whitespace at all (one scan): nothing to strip, only the empty elements to drop
        parts = column.str.split(sep).list.eval(pl.element().filter(pl.element() != ""))
    elif column.str.contains(f"[{odd}]").any():
        parts = pl.Series(name, [split_list(v, sep) for v in column.to_list()],
                          dtype=pl.List(pl.String))
    else:
        parts = column.str.split(sep).list.eval(
            pl.element().str.strip_chars().filter(pl.element().str.strip_chars() != ""))
    return parts.alias(name)


class Columns:
    """The ``c`` of a :func:`dss_core.derived` expression: ``c.<field>`` is that field's column."""

    def __init__(self, model: type[Model]) -> None:
        self._model = model
        self._names: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        import polars as pl

        if name.startswith("__"):
            raise AttributeError(name)
        if name != "idnumber" and name not in self._model.schema().fields:
            raise AttributeError(f"{self._model.__name__} has no field {name!r} (derived columns "
                                 "read fields and idnumber)")
        self._names.add(name)
        return pl.col(name)


def expression_column(frame: polars.DataFrame, lists: Mapping[str, str], model: type[Model],
                      name: str, expression: Callable[[Any], Any]) -> polars.Series:
    """The values of property ``name`` on every row, by its declared column ``expression``."""
    import polars as pl

    c = Columns(model)
    expr = expression(c)
    if not isinstance(expr, pl.Expr):
        expr = pl.lit(expr)
    inputs = pl.DataFrame([held(frame, lists, model, n) for n in sorted(c._names)]) if c._names \
        else pl.DataFrame({"_dss_rows": pl.int_range(0, frame.height, eager=True)})
    series = inputs.select(expr.alias(name)).to_series()
    if len(series) != frame.height:
        if len(series) != 1:
            raise NotColumnar(f"{name}: the expression gave {len(series)} values for {frame.height} rows")
        series = series.extend_constant(series[0], frame.height - 1)
    return series


def lazy_derived(frame: polars.LazyFrame, model: type[Model]) -> list[polars.Expr] | None:
    """The text columns of every tracked property as expressions over ``frame``'s text, or None.

    Only where every property declares an expression (:func:`dss_core.derived`)
    that reads the idnumber and ``str`` fields alone (their text is what the
    objects hold) and gives text, integers, booleans or nulls: a lazy frame
    (a compact branch's streaming pass) then computes them with the rest.
    """
    import polars as pl

    props = properties(model)
    if not props:
        return []
    fields = model.schema().fields
    schema = frame.collect_schema()
    out = []
    for name, prop in props.items():
        expression = column_expression(prop)
        if expression is None:
            return None
        c = Columns(model)
        expr = expression(c)
        if not isinstance(expr, pl.Expr):
            return None
        for used in c._names:
            f = fields.get(used)
            if used not in schema or (used != "idnumber" and (
                    f is None or f.kind != SCALAR or f.type is not str)):
                return None
        dtype = frame.select(expr.alias(name)).collect_schema()[name]
        if dtype == pl.String:
            text = pl.when(expr.str.starts_with(TAG)).then(pl.lit(TAG + "s") + expr).otherwise(expr)
        elif dtype == pl.Null:
            text = expr.cast(pl.String)
        elif dtype == pl.Boolean:
            text = pl.when(expr).then(pl.lit(TAG + "bT")).otherwise(pl.lit(TAG + "bF"))
            text = pl.when(expr.is_null()).then(None).otherwise(text)
        elif dtype.is_integer():
            text = pl.lit(TAG + "i") + expr.cast(pl.String)
        else:
            return None
        out.append(text.alias(name))
    return out


# -- a property's body over row objects ----------------------------------------------
class _Batch:
    __slots__ = ("start", "size")

    def __init__(self) -> None:
        self.start = 0
        self.size = 0


class _Field:
    """A field of the row objects: read from the batch's slice of its column on first access."""

    __slots__ = ("column", "batch", "values", "convert")

    def __init__(self, column: polars.Series, batch: _Batch,
                 convert: Callable[[Any], Any] | None) -> None:
        self.column = column
        self.batch = batch
        self.values: list[Any] | None = None
        self.convert = convert

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        values = self.values
        if values is None:
            batch = self.batch
            values = self.values = self.column.slice(batch.start, batch.size).to_list()
        convert = self.convert
        return values[obj._dss_row] if convert is None else convert(values[obj._dss_row])


def _membership(kind: str, sep: str) -> Callable[[str], Any]:
    container: Callable[[Any], Any] = set if kind == SET else list
    return lambda text: container(split_list(text, sep))


def _row_class(frame: polars.DataFrame, lists: Mapping[str, str], model: type[Model],
               origin: Origin, where: tuple[str, str], batch: _Batch) -> tuple[type, list[_Field]]:
    """A subclass of ``model`` whose instances read their fields from ``frame``'s columns."""
    schema = model.schema()
    made: list[_Field] = []
    ns: dict[str, Any] = {"__slots__": ("_dss_row",), "__module__": model.__module__,
                          "__qualname__": model.__qualname__, "_dss_origin": origin,
                          "_dss_where": where}

    def field(column: polars.Series, convert: Callable[[Any], Any] | None) -> _Field:
        made.append(_Field(column, batch, convert))
        return made[-1]

    ns["idnumber"] = field(frame.get_column("idnumber"), None)
    ns["_dss_line"] = field(frame.get_column(LINE), None)
    for name, f in schema.fields.items():
        if name in frame.columns:
            if f.kind != SCALAR:
                ns[name] = field(frame.get_column(name), _membership(f.kind, lists[name]))
            else:
                ns[name] = field(frame.get_column(name), None if f.type is str else schema.coercers[name])
        elif f.kind != SCALAR and f.default is _MISSING:
            empty: Callable[[], Any] = set if f.kind == SET else list
            ns[name] = _Default(empty)
        elif isinstance(f.default, (set, list, dict)):
            ns[name] = _Default(functools.partial(_copy, f.default))
    row = type(model.__name__, (model,), ns)
    row._dss_schema_cache = schema  # type: ignore[attr-defined]  # the model's, not rebuilt
    return row, made


def _copy(default: Any) -> Any:
    return type(default)(default)


class _Default:
    """A field without a column whose default is made anew for each object (the builder's copy)."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return self if obj is None else self.make()


def evaluated_column(frame: polars.DataFrame, lists: Mapping[str, str], model: type[Model],
                     origin: Origin, where: tuple[str, str], fget: Callable[[Any], Any]) -> list[Any]:
    """The values of a property's body on every row, evaluated in batches over row objects."""
    batch = _Batch()
    row, fields = _row_class(frame, lists, model, origin, where, batch)
    new = object.__new__
    out: list[Any] = []
    height = frame.height
    for start in range(0, height, BATCH):
        batch.start, batch.size = start, min(BATCH, height - start)
        for f in fields:
            f.values = None
        objects: list[Any] = [new(row) for _ in range(batch.size)]
        for i, obj in enumerate(objects):
            obj._dss_row = i
        try:
            out += map(fget, objects)
        except Exception as exc:
            raise NotColumnar(f"{fget.__name__} raised {type(exc).__name__}: the object path "
                              "reports it") from exc
    return out


def derived_columns(frame: polars.DataFrame, lists: Mapping[str, str], model: type[Model],
                    origin: Origin, where: tuple[str, str]) -> polars.DataFrame:
    """``frame`` with one text column per tracked property of ``model`` (named after it)."""
    props = properties(model)
    if not props:
        return frame
    types = model.schema().types
    columns = []
    for name, prop in props.items():
        expression = column_expression(prop)
        if expression is not None:
            series = encode_series(expression_column(frame, lists, model, name, expression),
                                   types[name][0])
        else:
            assert prop.fget is not None
            series = encode_values(evaluated_column(frame, lists, model, origin, where, prop.fget))
        columns.append(series.alias(name))
    return frame.with_columns(columns)


# -- a columnar branch as a frame ------------------------------------------------------
def branch_frame(rows: ColumnarRows, names: tuple[str, ...] = ()) -> polars.DataFrame:
    """The rows of a columnar branch: idnumber, each field and each property, as objects hold them.

    With ``names``, those columns only (in that order): each is made when asked.
    """
    import polars as pl

    model, lists = rows.model, rows.lists
    props = properties(model)
    wanted = names or ("idnumber", *model.schema().fields, *props)
    kept = rows.keys  # a compact branch's own columns: read the file again only for others
    frame = kept if kept is not None and all(n in kept.columns for n in wanted) else rows.frame
    columns = []
    for name in wanted:
        if name not in props:
            columns.append(held(frame, lists, model, name))
            continue
        text = frame.get_column(name)
        if text.str.starts_with(TAG).any():  # values other than text: as Python gives them
            values = list(map(_decode, text.to_list()))
            try:
                text = pl.Series(name, values)
            except (TypeError, ValueError, OverflowError):  # of several types: a column of objects
                text = pl.Series(name, values, dtype=pl.Object)
        columns.append(text)
    return pl.DataFrame(columns)


# -- list columns given by an importer ---------------------------------------------------
_BAD_ELEMENT = r"^$|^\s|\s$|[\x1c-\x1f]"


def text_lists(frame: polars.DataFrame, lists: dict[str, str],
               model: type[Model]) -> polars.DataFrame | None:
    """``frame`` with its list columns (a derived importer's) as text columns split by ``lists``.

    Each element must read back as itself (non-empty, no surrounding
    whitespace, none of the separators ``\\x1c``-``\\x1f`` that Python strips),
    else None: the object path reads the branch; the elements are joined by
    ``\\x1f``. Equal lists give equal texts; a set given in another order (or
    with an element twice) only makes the diff build and compare its two
    objects, so the importer may give its elements in any order (sorting them
    costs more than it saves: polars' list.sort is slow).
    """
    import polars as pl

    fields = model.schema().fields
    out = frame
    for name in frame.columns:
        dtype = frame.schema[name]
        if not isinstance(dtype, pl.List):
            continue
        f = fields.get(name)
        if f is None or f.kind == SCALAR or dtype.inner != pl.String or name in lists:
            return None
        column = frame.get_column(name).fill_null([]).list.drop_nulls()  # None is no member
        # one pass: an empty element, surrounding whitespace (\s: Unicode, as strip_chars), \x1c-\x1f
        if column.explode().drop_nulls().str.contains(_BAD_ELEMENT).any():
            return None
        lists[name] = "\x1f"
        out = out.with_columns(column.list.join("\x1f").alias(name))
    return out
