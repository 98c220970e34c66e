"""dss-csv's columnar reader: a plain CSV file read by polars into text columns, for the core.

:func:`read_columns` gives the core (see ``dss_core``'s columnar store) the
records of one file as columns, or None when polars could give a different
answer from the ``csv`` module's reading row by row, in which case the core
reads the branch the ordinary way (``readin``), with its quarantine and
messages. It serves only what it can prove gives the same records:

* one UTF-8 file with a header row, the default quoting (a quote character,
  no escape character, no ``skipinitialspace``), ``strip`` off;
* the header and settings already accepted by ``readin`` itself (its first
  record read and the generator closed), the first record on line 2;
* no refused control character and no lone CR in the bytes; valid UTF-8
  (polars refuses anything else);
* every row one physical line (rows + header = lines, so line numbers are
  row + 2), every line outside quotes of exactly the header's width (counted
  delimiters; polars refuses longer rows), every line holding a quote
  character parsed again with the ``csv`` module and compared field by field;
* no field of ``max_field_size`` characters or more, no blank first field
  (a blank row is skipped by ``readin``).
"""

from __future__ import annotations

import csv
import re
import sys
from typing import TYPE_CHECKING, Any

from dss_core import Record

if TYPE_CHECKING:
    from .importer import CSVImporter

LINE = "_dss_line"  # the line column the core reads (dss_core.columnar.LINE)
_BOM = b"\xef\xbb\xbf"


def read_columns(importer: CSVImporter) -> dict[str, Any] | None:
    """The file's records as text columns (``{"frame", "source", "lists"}``), or None."""
    from .importer import _control_check, _plan

    dialect = importer._dialect()
    delimiter, quote = dialect["delimiter"], dialect["quotechar"]
    if (importer._encoding() != "utf-8-sig" or not importer._bool("header") or importer.option("columns")
            or importer._bool("strip") or dialect["escapechar"] is not None
            or dialect["skipinitialspace"] or quote is None
            or not (" " < delimiter < "\x7f") or not (" " < quote < "\x7f")):
        return None
    files = importer.files()
    if len(files) != 1:
        return None
    limit = int(importer.option("max_field_size"))
    limit = sys.maxsize if limit <= 0 else limit
    # the header and settings through readin's own checks; its first record gives the plan
    records = importer.readin()
    try:
        first = next(iter(records), None)
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()
    if not isinstance(first, Record) or first.origin.position != 2:
        return None
    raw = files[0].read_bytes()
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    table, _, _ = _control_check(dialect)
    step = 1 << 23  # searched in slices: no second copy of the whole file
    if any(raw[i:i + step].translate(table).find(0) >= 0 for i in range(0, len(raw), step)):
        return None
    if raw.count(b"\r") != raw.count(b"\r\n"):
        return None
    header_end = raw.find(b"\n")
    header = raw[:header_end if header_end >= 0 else len(raw)].decode("utf-8")
    names = [c.strip() for c in next(csv.reader([header], **dialect))]
    rename = importer._mapping("rename", "rename")
    lists = importer._mapping("lists", "list_columns")
    settings: Any = type("S", (), {"rename": rename, "lists": lists})
    plan = _plan(names, settings)
    if [attr for _, attr, _ in plan] != list(first.values):
        return None
    width = len(names)
    frame = _read(raw, delimiter, quote, width)
    if frame is None:
        return None
    lines = raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1)
    if lines != frame.height + 1 or not _same_as_csv(raw, frame, dialect, width, lines):
        return None
    return _columns(importer, frame, plan, lists, limit, files[0])


def _read(raw: bytes, delimiter: str, quote: str, width: int) -> Any:
    import polars as pl

    try:
        return pl.read_csv(raw, has_header=True, separator=delimiter, quote_char=quote,
                           infer_schema=False, empty_string_is_null=False, eol_char="\n",
                           new_columns=[f"c{i}" for i in range(width)], raise_if_empty=False,
                           truncate_ragged_lines=False)
    except Exception:  # polars' reading differs from the csv module's here: the object path
        return None


def _same_as_csv(raw: bytes, frame: Any, dialect: dict[str, Any], width: int, lines: int) -> bool:
    """Every line of the header's width, and each line with a quote as the csv module reads it."""
    sep, quote = dialect["delimiter"].encode(), dialect["quotechar"].encode()
    quoted: dict[int, bytes] = {}  # line index (0: the header) -> the line
    line = previous = 0
    for match in re.finditer(re.escape(quote), raw):
        pos = match.start()
        line += raw.count(b"\n", previous, pos)
        previous = pos
        if line not in quoted:
            end = raw.find(b"\n", pos)
            quoted[line] = raw[raw.rfind(b"\n", 0, pos) + 1:end if end >= 0 else len(raw)]
    outside = raw.count(sep) - sum(text.count(sep) for text in quoted.values())
    if outside != (lines - len(quoted)) * (width - 1):
        return False  # a line outside quotes with fewer fields (polars fills them with "")
    rows = [i - 1 for i in quoted if i > 0]
    if not rows:
        return True
    got = frame[rows].rows()
    for row, values in zip(rows, got, strict=True):
        try:
            fields = next(csv.reader([quoted[row + 1].decode("utf-8")], **dialect))
        except (csv.Error, StopIteration, UnicodeDecodeError):
            return False
        if tuple(fields) != values:
            return False
    return True


def _columns(importer: CSVImporter, frame: Any, plan: list[tuple[int, str, str | None]],
             lists: dict[str, str], limit: int, file: Any) -> dict[str, Any] | None:
    import polars as pl

    if frame.height and frame.select(pl.all().str.len_chars().max()).max_horizontal()[0] >= limit:
        return None  # a field the csv module refuses (max_field_size)
    if frame.height and (frame.get_column("c0").str.strip_chars() == "").any():
        return None  # a blank row (or an empty first field): readin skips or says so
    out = frame.select([pl.col(f"c{index}").alias(attr) for index, attr, _ in plan]).with_columns(
        pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias(LINE))
    return {"frame": out, "source": importer._display(file),
            "lists": {attr: sep for _, attr, sep in plan if sep is not None}}
