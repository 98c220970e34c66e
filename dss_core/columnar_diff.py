"""The diff of one branch whose two sides are stored as columns: a vectorised join.

:func:`diff_columnar` gives exactly the actions of the object path
(:func:`dss_core.diff.diff_branch`), in the same order:

* each side's idnumbers, row positions and a 128-bit digest of its compared
  columns (:func:`dss_core.columnar.digest`; a compact side keeps the digest
  of all its columns but the idnumber, made as it was read) meet in one full
  join on the idnumber;
* the idnumbers only in the source (new) and only in the destination (old)
  are its rows with one side missing, sorted as the object path sorts;
* the idnumbers on both sides whose digests differ are the candidates: only
  for those are the two objects built, and the object path's own per-object
  comparison makes their ``update_*``, ``add_*`` and ``remove_*`` actions
  (membership elements sorted). A candidate whose values are equal after all
  (the same groups in another order, a column that is not compared) gives no
  action there either; rows whose digests are equal have equal texts, so give
  equal objects, since both sides turn text into values the same way
  (checked: same field kind, type and list separator per attribute, else None
  and the object path).

The objects of a side's rows are built in one batch per side
(:meth:`~dss_core.columnar.ColumnarRows.prefetch`: a compact side reads their
texts again in one pass).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .actions import NEW, OLD, Action
from .changes import object_changes, sorted_values
from .columnar import H1, H2, ColumnarRows, digest

if TYPE_CHECKING:
    import polars

    from .declaration import TreeDeclaration
    from .partition import Part


_sorted = sorted_values


def _reading(rows: ColumnarRows, name: str) -> tuple[Any, ...]:
    """How ``rows`` turn their text into the value of attribute ``name`` (equal: the same way)."""
    present = name in rows.columns
    f = rows.model.schema().fields.get(name)
    if f is None:  # a tracked @property: its column holds its values' texts (dss_core.columnar_derived)
        return ("property", None, None, present, None, None)  # present: reading[3]
    return (f.kind, f.type, f.optional, present, rows.lists.get(name),
            None if present else repr(f.default))


def diff_columnar(source: TreeDeclaration, dest: TreeDeclaration, branch: str,
                  srows: ColumnarRows, drows: ColumnarRows, attrs: list[str],
                  membership: frozenset[str], errors: list[Action],
                  kinds: frozenset[str],
                  part: Part | None = None) -> tuple[list[Action], list[Action]] | None:
    """The actions of ``branch`` (everything but retirements, retirements); None: use the object path.

    With ``part``, those of the idnumbers of that part only (:mod:`dss_core.partition`): each
    side's rows are filtered after their row index is taken, so it still points at the whole frame.
    """
    compared = []
    for name in attrs:
        reading = _reading(srows, name)
        if reading != _reading(drows, name):
            return None
        if reading[3]:
            compared.append(name)
    # the columns digested: a compact side's own (both sides the same), else the compared ones
    digested = next((rows.compact.digested for rows in (srows, drows) if rows.compact is not None),
                    sorted(compared))
    sk, dk = _keys(srows, digested, "s"), _keys(drows, digested, "d")
    if sk is None or dk is None:
        return None
    if part is not None:  # filtered after the row index is taken: it still points at the whole frame
        sk, dk = sk.filter(part.keeps()), dk.filter(part.keeps())
    import polars as pl

    joined = sk.join(dk, on="idnumber", how="full", coalesce=True).collect()
    s_row, d_row = pl.col("_dss_s"), pl.col("_dss_d")
    new = joined.filter(d_row.is_null()).select("idnumber", s_row) if NEW in kinds else None
    gone = joined.filter(s_row.is_null()).select("idnumber", d_row) if OLD in kinds else None
    differ = (pl.col("_dss_s1") != pl.col("_dss_d1")) | (pl.col("_dss_s2") != pl.col("_dss_d2"))
    candidates = joined.filter(s_row.is_not_null() & d_row.is_not_null() & differ) \
        .select("idnumber", s_row, d_row)
    del joined
    pairs: dict[str, tuple[int, int]] = {i: (s, d) for i, s, d in candidates.iter_rows()}
    # every object the actions need, built in one batch per side
    srows.prefetch([*(new.get_column("_dss_s").to_list() if new is not None else ()),
                    *candidates.get_column("_dss_s").to_list()])
    drows.prefetch([*candidates.get_column("_dss_d").to_list(),
                    *(gone.get_column("_dss_d").to_list() if gone is not None else ())])
    out: list[Action] = list(errors)
    tree = dest.name
    if new is not None:
        method = f"new_{branch}"
        at = dict(new.iter_rows())
        for idnumber in _sorted(at):
            out.append(Action(NEW, method, branch, idnumber, source=srows.object_at(at[idnumber]),
                              tree=tree))
    for idnumber in _sorted(pairs):
        s, d = pairs[idnumber]
        sobj, dobj = srows.object_at(s), drows.object_at(d)
        errors, changes = object_changes(
            source.name, tree, branch, idnumber, sobj, [getattr(sobj, n) for n in attrs],
            dobj, [getattr(dobj, n) for n in attrs], attrs, membership, kinds)
        out += errors
        out += changes
    olds: list[Action] = []
    if gone is not None:
        method = f"old_{branch}"
        at = dict(gone.iter_rows())
        for idnumber in _sorted(at):
            olds.append(Action(OLD, method, branch, idnumber, dest=drows.object_at(at[idnumber]), tree=tree))
    return out, olds


def _keys(rows: ColumnarRows, digested: list[str], side: str) -> polars.LazyFrame | None:
    """idnumber, row position (``_dss_<side>``) and digest halves (``_dss_<side>1``, ``2``) of
    ``rows``; None when a compact side's digest is not over ``digested``."""
    import polars as pl

    if rows.compact is not None:
        if rows.compact.digested != digested:
            return None
        keys = rows.keys
        assert keys is not None
        lf = keys.lazy().select("idnumber", H1, H2)
    else:
        if any(name not in rows.columns for name in digested):
            return None
        lf = rows.frame.lazy().select("idnumber", *digest(digested))
    return lf.with_row_index(f"_dss_{side}").rename({H1: f"_dss_{side}1", H2: f"_dss_{side}2"}) \
        .with_columns(pl.col(f"_dss_{side}").cast(pl.Int64))
