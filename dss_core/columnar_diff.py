"""The diff of one branch whose two sides are stored as columns: a vectorised join.

:func:`diff_columnar` gives exactly the actions of the object path
(:func:`dss_core.diff.diff_branch`), in the same order:

* each side's row positions, a 128-bit digest of its idnumbers
  (:func:`dss_core.columnar.id_digest`) and one of its compared columns
  (:func:`dss_core.columnar.digest`; a compact side keeps the digest of all
  its columns but the idnumber, made as it was read) meet in one full join on
  the idnumber's digest;
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
from .columnar import H1, H2, I1, I2, ColumnarRows, digest, id_digest

if TYPE_CHECKING:
    import polars

    from .declaration import TreeDeclaration
    from .partition import Part


_sorted = sorted_values
#: rows a side joined at once; above, the join goes in slices of the idnumber's digest (memory)
JOIN_SLICE = 8_000_000


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
    sk, dk = _keys(srows, digested, "s", part), _keys(drows, digested, "d", part)
    if sk is None or dk is None:
        return None
    found = _compare(sk, dk, max(len(srows), len(drows)))
    if found is None:
        return None  # two idnumbers share I1 (see dss_core.columnar.id_digest)
    new = found[0] if NEW in kinds else None
    gone = found[1] if OLD in kinds else None
    candidates = found[2]
    sids, dids = srows.ids(), drows.ids()
    pairs: dict[str, tuple[int, int]] = dict(zip(
        sids.gather(candidates.get_column("_dss_s")).to_list(), candidates.iter_rows(), strict=True))
    # every object the actions need, built in one batch per side
    srows.prefetch([*(new.to_list() if new is not None else ()),
                    *candidates.get_column("_dss_s").to_list()])
    drows.prefetch([*candidates.get_column("_dss_d").to_list(),
                    *(gone.to_list() if gone is not None else ())])
    out: list[Action] = list(errors)
    tree = dest.name
    if new is not None:
        method = f"new_{branch}"
        at = dict(zip(sids.gather(new).to_list(), new.to_list(), strict=True))
        for idnumber in _sorted(at):
            out.append(Action(NEW, method, branch, idnumber, source=srows.object_of(idnumber, at[idnumber]),
                              tree=tree))
    for idnumber in _sorted(pairs):
        s, d = pairs[idnumber]
        sobj, dobj = srows.object_of(idnumber, s), drows.object_of(idnumber, d)
        errors, changes = object_changes(
            source.name, tree, branch, idnumber, sobj, [getattr(sobj, n) for n in attrs],
            dobj, [getattr(dobj, n) for n in attrs], attrs, membership, kinds)
        out += errors
        out += changes
    olds: list[Action] = []
    if gone is not None:
        method = f"old_{branch}"
        at = dict(zip(dids.gather(gone).to_list(), gone.to_list(), strict=True))
        for idnumber in _sorted(at):
            olds.append(Action(OLD, method, branch, idnumber, dest=drows.object_of(idnumber, at[idnumber]),
                               tree=tree))
    return out, olds


def _compare(sk: polars.LazyFrame, dk: polars.LazyFrame,
             rows: int) -> tuple[polars.Series, polars.Series, polars.DataFrame] | None:
    """The rows only in the source, only in the destination, and the (source, destination) row
    pairs whose digests differ; None when two idnumbers share I1.

    One full join on I1; above :data:`JOIN_SLICE` rows a side, one join per slice of the I1
    values (``I1 % slices``), collected by the streaming engine, keeping only what each
    slice gives: the join's memory is a slice's (100M rows a side joined whole: over 10 GB).
    The order of the rows given does not matter: the actions are sorted by idnumber.
    """
    import polars as pl

    s_row, d_row = pl.col("_dss_s"), pl.col("_dss_d")
    both = s_row.is_not_null() & d_row.is_not_null()
    differ = (pl.col("_dss_s1") != pl.col("_dss_d1")) | (pl.col("_dss_s2") != pl.col("_dss_d2"))
    slices = max(1, -(-rows // JOIN_SLICE))
    found: list[tuple[polars.Series, polars.Series, polars.DataFrame]] = []
    for k in range(slices):
        if slices == 1:
            joined = sk.join(dk, on=I1, how="full", coalesce=True).collect()
        else:
            mine = pl.col(I1) % slices == k
            joined = sk.filter(mine).join(dk.filter(mine), on=I1, how="full",
                                          coalesce=True).collect(engine="streaming")
        if joined.select((both & (pl.col("_dss_si") != pl.col("_dss_di"))).any()).item():
            return None
        found.append((joined.filter(d_row.is_null()).get_column("_dss_s"),
                      joined.filter(s_row.is_null()).get_column("_dss_d"),
                      joined.filter(both & differ).select(s_row, d_row)))
        del joined
    if slices == 1:
        return found[0]
    return (pl.concat([f[0] for f in found]), pl.concat([f[1] for f in found]),
            pl.concat([f[2] for f in found]))


def _keys(rows: ColumnarRows, digested: list[str], side: str, part: Part | None) -> polars.LazyFrame | None:
    """I1 (the join key), then row position ``_dss_<side>``, I2 (``_dss_<side>i``) and the digest
    halves (``_dss_<side>1``, ``2``) of ``rows``; None when a compact side's digest is not over
    ``digested``. With ``part``, its rows only (filtered after the row position is taken)."""
    import polars as pl

    if rows.compact is not None:
        if rows.compact.digested != digested:
            return None
        keys = rows.keys
        assert keys is not None
        lf = keys.lazy().select("idnumber", *id_digest(), H1, H2)  # (I1, I2 not kept: 16 B a row)
    else:
        if any(name not in rows.columns for name in digested):
            return None
        lf = rows.frame.lazy().select("idnumber", *id_digest(), *digest(digested))
    lf = lf.with_row_index(f"_dss_{side}").with_columns(pl.col(f"_dss_{side}").cast(pl.Int64))
    if part is not None:
        lf = lf.filter(part.keeps())
    return lf.select(I1, f"_dss_{side}", pl.col(I2).alias(f"_dss_{side}i"),
                     pl.col(H1).alias(f"_dss_{side}1"), pl.col(H2).alias(f"_dss_{side}2"))
