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
* valid UTF-8 (polars refuses anything else); no refused control character
  and no lone CR in the bytes;
* every row one physical line (rows + header = lines, so line numbers are
  row + 2), every line outside quotes of exactly the header's width (counted
  delimiters; polars refuses longer rows), every line holding a quote
  character parsed with the ``csv`` module: one row of the header's width,
  given to the core as ``check`` (polars' reading of those rows must be the same);
* no field of ``max_field_size`` bytes or more, no blank first field
  (a blank row is skipped by ``readin``).

The frame is lazy: the core collects it with polars' streaming engine, and
since ``fetch`` can read given rows again (each one line, parsed by the
``csv`` module as ``readin`` does), it keeps per row only what the diff needs.
The checks that need the values are the Boolean column ``_dss_valid`` (the
core uses the columns only where it is true on every row), ``rows`` (the
row count the file's lines imply) and ``check``.
"""

from __future__ import annotations

import csv
import itertools
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from dss_core import InputError, Record

if TYPE_CHECKING:
    from pathlib import Path

    from .importer import CSVImporter

LINE = "_dss_line"  # the line column the core reads (dss_core.columnar.LINE)
VALID = "_dss_valid"  # the rows polars read as the csv module does (dss_core.columnar.VALID)
_BOM = b"\xef\xbb\xbf"
_SLICE = 1 << 23  # bytes of the file read and searched at once by the byte checks
#: files from this size on are checked by numpy (when installed): below it, importing numpy
#: costs more than it saves (100k rows, 10 MB: 0.1 s more CPU a run; 1M rows, 100 MB: 0.2 s less
#: a file)
_NUMPY_FROM = 1 << 25


def read_columns(importer: CSVImporter) -> dict[str, Any] | None:
    """The file's records as lazy text columns (``{"frame", "source", "lists", "rows", "fetch"}``),
    or None."""
    import polars as pl

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
    path = files[0]
    stat = os.stat(path)
    with open(path, "rb") as fh:
        head = fh.readline()
    bom = len(_BOM) if head.startswith(_BOM) else 0
    header = head[bom:len(head) - 1 if head.endswith(b"\n") else len(head)].decode("utf-8")
    names = [c.strip() for c in next(csv.reader([header], **dialect))]
    rename = importer._mapping("rename", "rename")
    lists = importer._mapping("lists", "list_columns")
    settings: Any = type("S", (), {"rename": rename, "lists": lists})
    plan = _plan(names, settings)
    if [attr for _, attr, _ in plan] != list(first.values):
        return None
    table, _, _ = _control_check(dialect)
    kept = bytes(b for b in range(256) if table[b])
    fields = [attr for _, attr, _ in plan]
    width = len(names)

    def checks() -> dict[str, Any] | None:
        """The byte checks: ``rows`` and ``check``, or None (the object path)."""
        found = _scan(path, stat, kept, delimiter, quote, width, dialect)
        if found is None:
            return None
        quoted, lines = found
        check = pl.DataFrame({attr: [row[index] for row in quoted.values()] for index, attr, _ in plan},
                             schema=dict.fromkeys(fields, pl.String)).with_columns(
            pl.Series(LINE, list(quoted), dtype=pl.Int64))
        return {"rows": lines - 1, "check": check}

    return {"frame": _frame(path, delimiter, quote, width, plan, limit),
            "source": importer._display(path), "pending": Pending(checks),
            "lists": {attr: sep for _, attr, sep in plan if sep is not None},
            "fetch": _Fetch(path, stat, dialect, plan, fields, importer._display(path))}


class Pending:
    """A function run in a thread from now on; :meth:`result` waits for what it returns (or raises
    what it raised). The byte checks run so while polars parses the file (it releases the GIL)."""

    def __init__(self, function: Callable[[], Any]) -> None:
        self._function = function
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="dss-csv-checks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._function()
        except BaseException as exc:  # raised by result(), in the caller's thread
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _scan(path: Path, stat: os.stat_result, kept: bytes, delimiter: str, quote: str, width: int,
          dialect: dict[str, Any]) -> tuple[dict[int, list[str]], int] | None:
    """({line number: its fields as the csv module reads them} of the data lines holding a quote
    character, the number of lines); None when the file holds a refused control character (a
    byte left when the ``kept`` ones are deleted) or a lone CR, a line outside quotes has
    another width than the header's, a line with quotes is not one row of that width to the
    csv module, or the file changed since ``stat``.

    The file is read :data:`_SLICE` bytes at a time, each slice cut after its last LF (the
    rest goes with the next): a few MiB held, not the file.
    """
    sep, q = delimiter.encode(), quote.encode()
    quoted: dict[int, bytes] = {}  # line index (0: the header) -> the line
    line = seps = 0  # LFs before the current part; delimiters so far
    rest = b""
    # numpy counts the bytes without holding the GIL (half the CPU of bytes.translate and
    # count); only for the usual refused set (the C0 controls but tab, LF and CR, and DEL) and
    # a file big enough to pay for importing numpy (0.1-0.15 s) unless something imported it
    np = (_numpy() if kept == _USUAL_KEPT and (stat.st_size >= _NUMPY_FROM or "numpy" in sys.modules)
          else None)
    with open(path, "rb") as fh:
        if np is not None:
            for buf, n, last in _filled(fh):
                counted = _counted(np, buf, n, sep[0], q, line, quoted)
                if counted is None:
                    return None
                line += counted[0] + last  # (the last line, without LF)
                seps += counted[1]
        while np is None:
            block = fh.read(_SLICE)
            data = rest + block if rest else block
            if not block:  # the end: what is left is the last line, without LF
                part, rest = data, b""
                if not part:
                    break
            else:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    rest = data  # no LF yet: a line longer than a slice
                    continue
                part, rest = data[:cut], data[cut:]
            if part.translate(None, kept):
                return None  # a refused control character: the bytes left when every other is deleted
            if part.find(b"\r") >= 0 and part.count(b"\r") != part.count(b"\r\n"):
                return None  # a lone CR: a line break to the csv module, not to polars
            seps += part.count(sep)
            previous = 0
            pos = part.find(q)
            while pos >= 0:
                line += part.count(b"\n", previous, pos)
                start = part.rfind(b"\n", 0, pos) + 1
                end = part.find(b"\n", pos)
                end = len(part) if end < 0 else end
                quoted[line] = part[start:end]
                previous = pos
                pos = part.find(q, end)
            line += part.count(b"\n", previous)
            if not block:
                line += 1  # the last line, without LF
                break
        now = os.fstat(fh.fileno())
    if (now.st_size, now.st_mtime_ns, now.st_ino) != (stat.st_size, stat.st_mtime_ns, stat.st_ino):
        return None  # changed while it was read: the object path reads it again
    lines = line
    outside = seps - sum(text.count(sep) for text in quoted.values())
    if outside != (lines - len(quoted)) * (width - 1):
        return None  # a line outside quotes with fewer fields (polars fills them with "")
    out: dict[int, list[str]] = {}
    indexes = [index for index in quoted if index]  # (0: the header, readin's)
    try:  # one reader for all: a row per text when none runs into the next (else one by one)
        rows = list(csv.reader([quoted[index].decode("utf-8") + "\n" for index in indexes], **dialect))
    except (csv.Error, UnicodeDecodeError):
        rows = []
    if len(rows) == len(indexes):
        for index, row in zip(indexes, rows, strict=True):
            if len(row) != width:
                return None
            out[index + 1] = row
        return out, lines
    for index in indexes:
        text = quoted[index]
        try:
            rows = list(csv.reader([text.decode("utf-8") + "\n"], **dialect))
        except (csv.Error, UnicodeDecodeError):
            return None
        if len(rows) != 1 or len(rows[0]) != width:
            return None
        out[index + 1] = rows[0]
    return out, lines


#: the bytes of a file kept when the refused ones are deleted, for the usual dialects (a
#: delimiter and a quote character that are not controls): all but the C0 controls other than
#: tab, LF and CR, and DEL (dss_csv.importer._control_check)
_USUAL_KEPT = bytes(b for b in range(256) if b in (9, 10, 13) or 32 <= b < 127 or b > 127)


def _numpy() -> Any:
    """The numpy module, or None when it is not installed (the checks then use bytes' methods)."""
    try:
        import numpy
    except ImportError:  # pragma: no cover (installed with the columnar extra)
        return None
    return numpy


def _filled(fh: Any) -> Iterator[tuple[bytearray, int, int]]:
    """(buffer, n, last) for the file in parts of whole lines: the part is the buffer's first
    ``n`` bytes, valid until the next one is asked for; ``last`` is 1 for the last part when it
    is a line without LF. One buffer of :data:`_SLICE` bytes filled again (grown for a longer
    line), the rest of a part's last line moved to its front: no copy of the file's bytes."""
    buf = bytearray(_SLICE)
    held = 0  # bytes of an unfinished line at the buffer's front
    while True:
        if held == len(buf):  # a line longer than the buffer
            buf.extend(bytes(len(buf)))
        got = fh.readinto(memoryview(buf)[held:])
        total = held + got
        if not got:  # the end: what is left is the last line, without LF
            if total:
                yield buf, total, 1
            return
        cut = buf.rfind(b"\n", 0, total) + 1
        if cut:
            yield buf, cut, 0
            buf[:total - cut] = buf[cut:total]
        held = total - cut


def _counted(np: Any, buf: bytearray, n: int, sep: int, q: bytes, line: int,
             quoted: dict[int, bytes]) -> tuple[int, int] | None:
    """(LFs, delimiters) in ``buf[:n]`` (whole lines, the first one line ``line``), its lines
    holding ``q`` put in ``quoted``; None for a refused control character or a lone CR. What the
    bytes methods of :func:`_scan` find, counted by numpy (which does not hold the GIL)."""
    a = np.frombuffer(buf, np.uint8, count=n)
    lows = np.flatnonzero(a < 32)  # LFs, and tabs, CRs and refused controls if any
    kinds = a[lows]
    lfs = lows[kinds == 10]
    if len(lfs) != len(lows):  # a control character other than LF: tab, CR or a refused one
        crs = int(np.count_nonzero(kinds == 13))
        if len(lows) != len(lfs) + crs + int(np.count_nonzero(kinds == 9)):
            return None  # a refused control character
        if crs and crs != buf.count(b"\r\n", 0, n):
            return None  # a lone CR: a line break to the csv module, not to polars
    if buf.find(b"\x7f", 0, n) >= 0:
        return None  # DEL, refused too
    pos = buf.find(q, 0, n)
    if pos >= 0:
        count = len(lfs)
        while pos >= 0:
            k = int(lfs.searchsorted(pos))  # the LFs before the quote
            start = int(lfs[k - 1]) + 1 if k else 0
            end = int(lfs[k]) if k < count else n
            quoted[line + k] = bytes(buf[start:end])
            pos = buf.find(q, end, n)
    seps = int(np.count_nonzero(a == sep))
    del a, lows, kinds  # (views of the buffer, which is refilled and may grow)
    return len(lfs), seps


def _frame(path: Path, delimiter: str, quote: str, width: int, plan: list[tuple[int, str, str | None]],
           limit: int) -> Any:
    """The lazy frame: the plan's columns, the line, and VALID (no blank first field, no field
    of ``limit`` bytes or more)."""
    import polars as pl

    raw_names = [f"c{i}" for i in range(width)]
    lf = pl.scan_csv(path, has_header=True, separator=delimiter, quote_char=quote,
                     infer_schema=False, empty_string_is_null=False, eol_char="\n",
                     new_columns=raw_names, raise_if_empty=False, truncate_ragged_lines=False,
                     encoding="utf8")
    lf = lf.with_row_index(LINE, offset=2).with_columns(pl.col(LINE).cast(pl.Int64))
    # a blank first field: readin skips the row or says so (an idnumber there: the core's own check)
    checks = [] if plan[0][:2] == (0, "idnumber") else [pl.col("c0").str.strip_chars() != ""]
    if limit < sys.maxsize:
        checks += [pl.col(c).str.len_bytes() < limit for c in raw_names]
    return lf.select([pl.col(f"c{index}").alias(attr) for index, attr, _ in plan]
                     + [pl.col(LINE), (pl.all_horizontal(checks) if checks else pl.lit(True)).alias(VALID)])


class _Fetch:
    """Rows read again from the file (each one physical line, parsed by the csv module)."""

    def __init__(self, path: Path, stat: os.stat_result, dialect: dict[str, Any],
                 plan: list[tuple[int, str, str | None]], fields: list[str], display: str) -> None:
        self.path, self.stat, self.dialect, self.plan, self.fields = path, stat, dialect, plan, fields
        self.display = display
        self._resume = (0, 0)  # (line index, byte offset) where the last read stopped

    def __call__(self, rows: Sequence[int]) -> Any:
        """The text columns and the line of ``rows`` (row positions, ascending)."""
        import polars as pl

        self._unchanged()
        wanted = sorted(set(rows))
        texts = self._read(wanted)
        parsed = list(csv.reader(texts, **self.dialect))
        if len(parsed) != len(texts):
            raise self._changed()
        columns: dict[str, list[str]] = {attr: [r[index] for r in parsed] for index, attr, _ in self.plan}
        frame = pl.DataFrame(columns, schema=dict.fromkeys(self.fields, pl.String))
        frame = frame.with_columns(pl.Series(LINE, [r + 2 for r in wanted], dtype=pl.Int64))
        order = {r: i for i, r in enumerate(wanted)}
        return frame[[order[r] for r in rows]] if list(rows) != wanted else frame

    def _read(self, wanted: list[int]) -> list[str]:
        """The lines of rows ``wanted`` (ascending), LF included, read line by line: from the
        start, or from where the last read stopped when it stopped before the first of them
        (rows asked in ascending batches: one pass over a 10 GB file, not one per batch)."""
        texts: list[str] = []
        with open(self.path, "rb") as fh:
            at, offset = self._resume if wanted and wanted[0] + 1 >= self._resume[0] else (0, 0)
            fh.seek(offset)  # at: line index of the next line fh gives (0: the header)
            for row in wanted:
                line = next(itertools.islice(fh, row + 1 - at, None), None)
                if line is None:
                    raise self._changed()
                at = row + 2
                texts.append(line.decode("utf-8"))
            self._resume = (at, fh.tell())
        return texts

    def _unchanged(self) -> None:
        now = os.stat(self.path)
        if (now.st_size, now.st_mtime_ns, now.st_ino) != (self.stat.st_size, self.stat.st_mtime_ns,
                                                          self.stat.st_ino):
            raise self._changed()

    def _changed(self) -> InputError:
        return InputError(f"{self.display} changed while it was read: run again")

