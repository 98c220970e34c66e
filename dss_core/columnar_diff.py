"""The diff of one branch whose two sides are stored as columns: a vectorised join.

:func:`diff_columnar` gives exactly the actions of the object path
(:func:`dss_core.diff.diff_branch`), in the same order:

* the idnumbers only in the source (new) and only in the destination (old)
  come from two anti-joins on the idnumber, sorted as the object path sorts;
* the idnumbers on both sides whose compared columns differ in their text
  (compared column by column, vectorised) are the candidates: only for those
  are the two objects built, and the object path's own per-object comparison
  makes their ``update_*``, ``add_*`` and ``remove_*`` actions (membership
  elements sorted). A candidate whose values are equal after all (the same
  groups in another order) gives no action there either; rows whose texts are
  equal give equal objects, since both sides turn text into values the same way
  (checked: same field kind, type and list separator per attribute, else None
  and the object path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .actions import NEW, OLD, Action
from .changes import object_changes, sorted_values
from .columnar import ColumnarRows

if TYPE_CHECKING:
    from .declaration import TreeDeclaration
    from .partition import Part



_sorted = sorted_values


def _reading(rows: ColumnarRows, name: str) -> tuple[Any, ...]:
    """How ``rows`` turn their text into the value of attribute ``name`` (equal: the same way)."""
    present = name in rows.frame.columns
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
    import polars as pl

    compared = []
    for name in attrs:
        reading = _reading(srows, name)
        if reading != _reading(drows, name):
            return None
        if reading[3]:
            compared.append(name)
    out: list[Action] = list(errors)
    tree = dest.name
    # the candidates: ids on both sides whose compared texts differ (one lazy join and filter;
    # the columns renamed to names no model field has)
    sk = srows.frame.lazy().select("idnumber").with_row_index("_dss_s")
    dk = drows.frame.lazy().select("idnumber").with_row_index("_dss_d")
    if part is not None:
        sk, dk = sk.filter(part.keeps()), dk.filter(part.keeps())
    pairs: dict[str, tuple[int, int]] = {}
    if compared:
        sides = [rows.frame.lazy().select("idnumber", *(pl.col(name).alias(f"_dss_{side}{i}")
                                                          for i, name in enumerate(compared)))
                 .with_row_index(f"_dss_{side}") for side, rows in (("s", srows), ("d", drows))]
        if part is not None:  # the inner join keeps the same part of the other side
            sides[0] = sides[0].filter(part.keeps())
        differ = pl.any_horizontal([pl.col(f"_dss_s{i}").ne_missing(pl.col(f"_dss_d{i}"))  # a property may be null
                                    for i in range(len(compared))])
        candidates = (sides[0].join(sides[1], on="idnumber", how="inner").filter(differ)
                      .select("idnumber", "_dss_s", "_dss_d").collect())
        pairs = {i: (s, d) for i, s, d in candidates.iter_rows()}
    if NEW in kinds:
        method = f"new_{branch}"
        new = sk.join(dk, on="idnumber", how="anti").select("idnumber", "_dss_s").collect()
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
    if OLD in kinds:
        method = f"old_{branch}"
        gone = dk.join(sk, on="idnumber", how="anti").select("idnumber", "_dss_d").collect()
        at = dict(gone.iter_rows())
        for idnumber in _sorted(at):
            olds.append(Action(OLD, method, branch, idnumber, dest=drows.object_at(at[idnumber]), tree=tree))
    return out, olds
