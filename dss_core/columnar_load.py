"""The columnar import: a branch kept as its importer's columns when that gives the same branch.

:func:`load_columnar` is tried first by :func:`~dss_core.importers.load_branch`.
It serves a branch when

* the importer reads columns (``read_columns()`` gives a frame, see
  :mod:`dss_core.columnar`) and overrides neither ``filter_out`` nor
  ``preprocess``;
* the model's fields are plain scalars (str, int, float, bool, optional or
  not) and lists or sets of str; its tracked ``@property`` attributes become
  columns (:mod:`dss_core.columnar_derived`: by their declared expression, else
  by their body evaluated in batches; one raising on a row, or giving a value
  the columns cannot hold, sends the branch to the object path);
* the records need none of the object path's special cases: every idnumber is
  printable ASCII without spaces (nothing to strip, case folding is
  lowercasing), none appears twice nor differs from another only in case,
  every int/float/bool value converts (and no float is NaN), every required
  field has a column, and the list columns are the model's membership fields.

A frame may come without the line column (a derived importer's, built from
another branch's :meth:`~dss_core.BranchData.frame`): its rows are then
numbered 1, 2, ... as ``record`` N, as the object path numbers plain records;
and its membership fields may be list columns (:func:`~dss_core.columnar_derived.text_lists`).

Otherwise it returns None and the object path reads the branch again, with its
quarantine, duplicate policy and messages: never a different answer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from .columnar import LINE, VALID, ColumnarRows, collect_columns
from .columnar_derived import derived_columns, lazy_derived, properties, text_lists
from .errors import DssError
from .model import _MISSING, SCALAR, Model
from .origin import Origin
from .settings import CORE_SETTINGS, DUPLICATE_POLICIES, validate

log = logging.getLogger(__name__)

_SCALARS = (str, int, float, bool)
_ID = r"^[!-~]+$"  # printable ASCII, no space: strip is a no-op and casefold is lower()


def model_allows(model: type[Model]) -> bool:
    """True when ``model``'s objects can be built from text columns (its properties become columns)."""
    for f in model.schema().fields.values():
        if f.kind == SCALAR:
            if f.type not in _SCALARS:
                return False
        elif f.type not in (str, Any):
            return False
    return True


def load_columnar(importer: Any, data: Any, on_duplicate: str | None = None) -> int | None:
    """Fill ``data`` (a BranchData) from ``importer``'s columns; None: use the object path.

    The caller has checked that the importer overrides neither ``filter_out``
    nor ``preprocess``.
    """
    read = getattr(importer, "read_columns", None)
    if read is None:
        return None
    try:  # a wrong policy is the object path's ConfigurationError, as is a wrong strip_idnumber
        _strip_setting(importer, data)
        policy = importer.setting("on_duplicate") or on_duplicate or importer.on_duplicate
    except DssError:
        return None
    if policy not in DUPLICATE_POLICIES:
        return None
    model = data.model
    if not model_allows(model):
        return None
    try:
        given = read()
    except DssError:
        raise  # a signal (Interrupted): never read the branch again
    except Exception as exc:  # the object path reads it and says what is wrong, as always
        log.debug("%s.%s: columnar read failed, object path: %s", data.tree, data.name, exc)
        return None
    if given is None:
        return None
    try:
        given = _lazy_derived(given, model)
        if _has_derived_branch(importer.tree):  # a derived importer may read the list fields' texts
            given = {**given, "keep": [n for n, f in model.schema().fields.items() if f.kind != SCALAR]}
        collected = collect_columns(given, model)  # a lazy frame collected (compact when rows can be fetched)
        rows = None if collected is None else _rows(collected, model, importer, data)
    except Exception as exc:
        log.debug("%s.%s: columns not usable, object path: %s", data.tree, data.name, exc)
        return None
    if rows is None or collected is None:
        return None
    given = collected
    data._columnar = rows
    if len(rows):  # "columns": the record fields when the frame has others (dss-sql's members)
        data.columns.update(given.get("columns") or (c for c in given["frame"].columns if c != LINE))
    log.info("%s.%s: %d rows stored as columns", data.tree, data.name, len(rows))
    return len(rows)


def _lazy_derived(given: Mapping[str, Any], model: type[Model]) -> Mapping[str, Any]:
    """``given`` with the derived attributes as columns of its lazy frame, where they can be.

    Then a compact branch (:func:`~dss_core.columnar.collect_columns`) digests
    them with the fields in its one streaming pass, and its rows read again
    (``fetch``) get them too; ``"columns"`` keeps the reader's own. Otherwise
    ``given`` as it is: :func:`_rows` adds them to the collected frame.
    """
    import polars as pl

    frame = given["frame"]
    if not isinstance(frame, pl.LazyFrame) or not properties(model):
        return given
    exprs = lazy_derived(frame, model)
    if not exprs:
        return given
    out = dict(given)
    out["columns"] = given.get("columns") or [
        c for c in frame.collect_schema().names() if c not in (LINE, VALID)]
    out["frame"] = frame.with_columns(exprs)
    fetch = given.get("fetch")
    if fetch is not None:
        out["fetch"] = lambda rows: fetch(rows).with_columns(exprs)
    if given.get("check") is not None:  # the rows the reader vouches for: theirs too
        out["check"] = given["check"].with_columns(exprs)
    if given.get("pending") is not None:  # (the same, once the reader's checks are made)
        out["pending"] = _WithDerived(given["pending"], exprs)
    out["derived"] = True  # (for _rows: the columns are there already)
    return out


class _WithDerived:
    """A reader's pending checks whose ``check`` rows get the derived columns."""

    def __init__(self, pending: Any, exprs: list[Any]) -> None:
        self._pending, self._exprs = pending, exprs

    def result(self) -> dict[str, Any] | None:
        more = self._pending.result()
        if more is None or more.get("check") is None:
            return more
        return {**more, "check": more["check"].with_columns(self._exprs)}


def _has_derived_branch(tree: Any) -> bool:
    """True when a branch of ``tree`` has a derived importer (a class with ``derived``, a callable)."""
    for branch in getattr(tree, "branches", {}).values():
        spec = getattr(branch, "importer", None)
        if (getattr(spec, "derived", False) is True
                or (callable(spec) and not isinstance(spec, type))):
            return True
    return False


def _unique(values: Any) -> bool:
    """True when the text Series ``values`` holds no value twice (distinct 64-bit hashes first:
    a third of the cost of counting the texts; equal hashes are counted again as texts)."""
    return bool(values.hash(0).n_unique() == len(values) or values.n_unique() == len(values))


def _strip_setting(importer: Any, data: Any) -> bool:
    declared = next(s for s in CORE_SETTINGS if s.name == "strip_idnumber")
    strip = importer.settings.get("strip_idnumber")
    return bool(declared.default if strip is None else validate(
        declared, strip, f"{data.tree}.{data.name}: strip_idnumber", from_env=True))


def _rows(given: Mapping[str, Any], model: type[Model], importer: Any, data: Any) -> ColumnarRows | None:
    """The branch's rows, or None where the object path would act otherwise than plain storing."""
    import polars as pl

    frame: pl.DataFrame = given["frame"]
    lists: dict[str, str] = dict(given.get("lists") or {})
    names = list(given.get("fields") or (c for c in frame.columns if c != LINE))  # compact: all fields
    if "idnumber" not in names or "idnumber" in lists:
        return None
    unit = given.get("unit") or ("line" if LINE in frame.columns else "record")
    if LINE not in frame.columns:  # numbered as the object path numbers plain records
        frame = frame.with_columns(pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias(LINE))
    if any(isinstance(frame.schema.get(c), pl.List) for c in names):
        listed = text_lists(frame, lists, model)
        if listed is None:
            return None
        frame = listed
    if any(frame.schema.get(c, pl.String) != pl.String for c in names) or frame.null_count().sum_horizontal()[0]:
        return None
    schema = model.schema()
    for name, f in schema.fields.items():
        present = name in names
        if f.kind == SCALAR:
            if name in lists or (not present and f.default is _MISSING):
                return None  # a list given to a scalar, a required field missing: the object path's error
        elif present and name not in lists:
            return None  # a membership field from one text value: the coercer's special cases
    ids = frame.get_column("idnumber")
    if not ids.str.contains(_ID).all():
        return None
    if not _unique(ids):
        return None  # duplicates: merged or refused by the object path
    if not ids.str.contains(r"^[0-9]+$").all() and not _unique(ids.str.to_lowercase()):
        return None  # ids differing only in case: the object path refuses or keeps one
    for name, f in schema.fields.items():
        if f.kind != SCALAR or f.type is str or name not in names:
            continue
        convert = schema.coercers[name]
        for value in frame.get_column(name).unique().to_list():
            try:
                made = convert(value)
            except (TypeError, ValueError):
                return None  # a bad record: quarantined or refused by the object path
            if isinstance(made, float) and math.isnan(made):
                return None  # NaN != NaN: the object path reports it changed
    origin = Origin(importer.describe() if given.get("source") is None else given["source"],
                    None, unit, type(importer).__name__)
    where = (data.tree, data.name)
    # the derived attributes: columns of the frame before the rows are stored (or digested)
    if not given.get("derived"):
        frame = derived_columns(frame, lists, model, origin, where)
    return ColumnarRows(frame, model, origin, lists, where, given.get("compact"))
