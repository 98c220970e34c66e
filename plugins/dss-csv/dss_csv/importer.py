"""The CSV importer: one branch from one or more CSV files, streamed row by row.

Every record remembers its file and the line its row starts on, and every
problem in the input is an :class:`~dss_core.InputError` naming file and line.
Two guards for unattended runs: a control character in a value is an error
(naming line and column), and a ``rename`` or ``lists`` key that matches no
column of any file is an error (before the first record is yielded).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import difflib
import glob
import io
import itertools
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from dss_core import (
    BadRecord,
    ConfigurationError,
    Importer,
    InputError,
    Origin,
    Record,
    Setting,
    parse_bool,
)

DEFAULT_MAX_FIELD_SIZE = 1024 * 1024  # 1 MiB

_DELIMITER_NAMES = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
_ESCAPES = {"\\t": "\t", "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\0": ""}
_GLOB_CHARS = frozenset("*?[")

# Control characters refused in values: U+0000-U+001F and U+007F, except tab, CR and LF
# (and except the dialect's own delimiter, quote and escape characters).
_CONTROLS = "".join(map(chr, range(0x20))) + "\x7f"
_CONTROL_NAMES = dict(zip(_CONTROLS, [
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR",
    "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC",
    "FS", "GS", "RS", "US", "DEL"], strict=True))
log = logging.getLogger(__name__)

_CHUNK = 1 << 16  # characters of lines searched for control characters at once
# What a NUL becomes in the lines csv reads once a control character was found (the file is
# refused anyway): csv modules that raise on NUL and those that pass it on then act alike.
# Strict decoding never gives a lone surrogate, so the mark is unambiguous.
_NUL_MARK = "\udc00"


class CSVImporter(Importer):
    """Imports one branch from CSV files with the stdlib :mod:`csv` module.

    Use it by name (``Branch(Student, importer="csv")``) and configure it in
    ``[tool.dss.trees.<tree>.<branch>]``, or subclass it and set class
    attributes. A setting (configuration file or ``DSS_<TREE>_<BRANCH>_<KEY>``
    environment variable) overrides the class attribute of the same meaning.

    Class attributes (setting key in brackets when it differs):

    ``path``
        the file: a path, a glob pattern (``"exports/students-*.csv"``) or a
        list of paths and patterns, all read into the one branch. Relative
        paths resolve against the configuration file's folder. Override
        :meth:`get_path` to compute it.
    ``delimiter``
        one character; ``"\\t"`` (backslash-t) or ``"tab"`` means a tab.
    ``quotechar``
        the quote character (``'"'``); empty for no quoting at all.
    ``escapechar``
        an escape character, or None (default).
    ``skipinitialspace``
        ignore spaces right after a delimiter.
    ``encoding``
        ``"utf-8"`` by default (a byte order mark is removed); ``"cp1252"``...
    ``header``
        True (default): the first row names the columns.
    ``columns``
        column names for a file without header row (``header = False``); with
        a header row they replace its names.
    ``rename`` [``rename``]
        ``{"Student ID": "idnumber"}``: source column -> model attribute. A
        key that matches no column of any file read is an error.
    ``list_columns`` [``lists``]
        ``{"courses": ";"}``: a column holding a list, with its separator;
        its value becomes a list of the non-empty, stripped elements. A key
        (source column or attribute after renaming) that matches no column of
        any file read is an error.
    ``require_idnumber``
        True (default): a file without an ``idnumber`` column (after
        renaming) is an error; False lets the core give running numbers.
    ``max_field_size``
        the largest field accepted, in characters (1 MiB by default).
    ``strip``
        strip whitespace around every value (False by default).
    ``allow_empty``
        accept an empty file (no header row, no data) as zero records
        (False by default: an empty export is usually a failed export).

    A value holding a control character (U+0000-U+001F or U+007F other than
    tab, and other than CR/LF inside quotes) is an error naming line and column.

    A subclass does not inherit the registered name ``csv``: give it its own
    ``name`` if a plugin registers it.

    It reads only local files (``read_ahead``: a destination read by it is
    read while the source is imported); a subclass that reads otherwise sets
    ``read_ahead = False``.
    """

    name: ClassVar[str | None] = "csv"
    read_ahead: ClassVar[bool] = True
    declared_settings: ClassVar[tuple[Setting, ...]] = (
        Setting("path", str | list[str], None,
                "the file, a glob pattern, or a list of them (relative to the configuration)"),
        Setting("delimiter", str, ",", "one character; \\t or tab for a tab"),
        Setting("quotechar", str, '"', "the quote character; empty for no quoting"),
        Setting("escapechar", str, None, "an escape character"),
        Setting("skipinitialspace", bool, False, "ignore spaces right after a delimiter"),
        Setting("encoding", str, "utf-8", "the files' encoding (utf-8, cp1252, ...)"),
        Setting("header", bool, True, "the first row names the columns"),
        Setting("columns", list[str] | str, None, "column names (for a file without header)"),
        Setting("rename", dict[str, str] | str, {}, "source column -> model attribute"),
        Setting("lists", dict[str, str] | str, {}, "list column -> its separator"),
        Setting("require_idnumber", bool, True, "a file without an idnumber column is an error"),
        Setting("max_field_size", int, DEFAULT_MAX_FIELD_SIZE, "the largest field, in characters"),
        Setting("strip", bool, False, "strip whitespace around every value"),
        Setting("allow_empty", bool, False, "accept an empty file as zero records"),
    )
    path: ClassVar[str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None] = None
    delimiter: ClassVar[str] = ","
    quotechar: ClassVar[str] = '"'
    escapechar: ClassVar[str | None] = None
    skipinitialspace: ClassVar[bool] = False
    encoding: ClassVar[str] = "utf-8"
    header: ClassVar[bool] = True
    columns: ClassVar[Sequence[str] | None] = None
    rename: ClassVar[Mapping[str, str]] = {}
    list_columns: ClassVar[Mapping[str, str]] = {}
    require_idnumber: ClassVar[bool] = True
    max_field_size: ClassVar[int] = DEFAULT_MAX_FIELD_SIZE
    strip: ClassVar[bool] = False
    allow_empty: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = None

    # -- options ---------------------------------------------------------------
    def _where(self) -> str:
        return f"{self.tree.name}.{self.branch}"

    def option(self, key: str, attribute: str | None = None) -> Any:
        """The setting ``key`` if configured, else the class attribute (``attribute`` or ``key``)."""
        if key in self.settings and self.settings[key] is not None:
            return self.settings[key]
        return getattr(self, attribute or key)

    def _bool(self, key: str) -> bool:
        value = self.option(key)
        try:
            return parse_bool(value)
        except ValueError:
            raise ConfigurationError(
                f"{self._where()}: setting {key!r} must be true or false, not {value!r}") from None

    def _char(self, key: str, value: Any, allow_empty: bool = False) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigurationError(f"{self._where()}: setting {key!r} must be a string, not {value!r}")
        text = _DELIMITER_NAMES.get(value.lower(), value) if len(value) > 1 else value
        text = _ESCAPES.get(text, text)
        if text == "" and allow_empty:
            return None
        if len(text) != 1:
            raise ConfigurationError(
                f"{self._where()}: setting {key!r} must be one character (or \\t for a tab), "
                f"not {value!r}")
        return text

    def _mapping(self, key: str, attribute: str) -> dict[str, str]:
        value = self.option(key, attribute)
        if isinstance(value, str):  # from the environment: "Student ID=idnumber, Name=name"
            pairs = [p for p in value.split(",") if p.strip()]
            if not all("=" in p for p in pairs):
                raise ConfigurationError(
                    f"{self._where()}: setting {key!r} must be a table or 'a=b,c=d', not {value!r}")
            return {k.strip(): v for k, v in (p.split("=", 1) for p in pairs)}
        if not isinstance(value, Mapping):
            raise ConfigurationError(f"{self._where()}: setting {key!r} must be a table, not {value!r}")
        return {str(k): str(v) for k, v in value.items()}

    def get_path(self) -> str | os.PathLike[str] | Sequence[str | os.PathLike[str]]:
        """The file, glob pattern, or list of them to read: setting ``path``, else attribute ``path``."""
        path = self.option("path")
        if not path:
            raise ConfigurationError(
                f"{self._where()}: the csv importer needs a path: set `path` in "
                f"[tool.dss.trees.{self.tree.name}.{self.branch}] or on {type(self).__name__}")
        return path

    def files(self) -> list[Path]:
        """Every file to read, in order: listed paths in their order, glob matches sorted."""
        spec = self.get_path()
        items = [spec] if isinstance(spec, (str, os.PathLike)) else spec
        if not isinstance(items, (list, tuple)) or not all(
                isinstance(i, (str, os.PathLike)) for i in items):
            raise ConfigurationError(
                f"{self._where()}: setting 'path' must be a path or a list of paths, not {spec!r}")
        files: list[Path] = []
        for item in items:
            text = os.fspath(item)
            resolved = self.tree.config.resolve_path(text)
            if _GLOB_CHARS & set(text):
                matches = sorted(glob.glob(os.fspath(resolved)))
                if not matches:
                    raise InputError(f"no file matches {text!r}", Origin(self._display(resolved)))
                files.extend(Path(m) for m in matches)
            else:
                files.append(resolved)
        return files

    def describe(self) -> str:
        """The files this importer reads, for messages."""
        try:
            spec = self.get_path()
        except ConfigurationError:
            return type(self).__name__
        if isinstance(spec, (str, os.PathLike)):
            return os.fspath(spec)
        return ", ".join(str(s) for s in spec) if isinstance(spec, (list, tuple)) else str(spec)

    def _display(self, path: Path) -> str:
        """How a file is named in origins and messages: relative to the config folder if inside it."""
        base = self.tree.config.base_dir
        try:
            return os.fspath(Path(path).resolve().relative_to(Path(base).resolve()))
        except ValueError:
            return os.fspath(path)

    def _dialect(self) -> dict[str, Any]:
        quotechar = self._char("quotechar", self.option("quotechar"), allow_empty=True)
        delimiter = self._char("delimiter", self.option("delimiter"))
        escapechar = self._char("escapechar", self.option("escapechar"), allow_empty=True)
        if delimiter in ("\r", "\n"):
            raise ConfigurationError(
                f"{self._where()}: setting 'delimiter' cannot be a line break")
        for key, other in (("quotechar", quotechar), ("escapechar", escapechar)):
            if other is not None and other == delimiter:
                raise ConfigurationError(
                    f"{self._where()}: settings 'delimiter' and {key!r} are both {delimiter!r}")
        return {
            "delimiter": delimiter,
            "quotechar": quotechar,
            "quoting": csv.QUOTE_MINIMAL if quotechar else csv.QUOTE_NONE,
            "escapechar": escapechar,
            "skipinitialspace": self._bool("skipinitialspace"),
            "strict": True,
        }

    def _encoding(self) -> str:
        name = str(self.option("encoding") or "utf-8")
        try:
            canonical = codecs.lookup(name).name
        except LookupError:
            raise ConfigurationError(f"{self._where()}: unknown encoding {name!r}") from None
        return "utf-8-sig" if canonical == "utf-8" else canonical

    # -- reading -----------------------------------------------------------------
    def readin(self) -> Iterator[Record | BadRecord]:
        """Yield one :class:`~dss_core.Record` per data row of every file.

        Every file is opened and its header read before the first record is
        yielded, so that ``rename`` and ``lists`` keys are checked against the
        columns of all files; the rows are then streamed file after file. A
        row that cannot be read (the wrong number of fields, a control
        character, mojibake, and when quarantining an undecodable byte) is a
        :class:`~dss_core.BadRecord` in its place.
        """
        self._paths: dict[str, Path] = {}  # the name in messages -> the file (for raw_rows)
        dialect = self._dialect()
        encoding = self._encoding()
        limit = self.option("max_field_size")
        try:
            limit = int(limit)
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"{self._where()}: setting 'max_field_size' must be a number, not {limit!r}") from None
        if limit <= 0:
            limit = sys.maxsize
        columns = self.option("columns")
        if isinstance(columns, str):
            columns = [c.strip() for c in columns.split(",")]
        if columns is not None and not (isinstance(columns, (list, tuple))
                                        and all(isinstance(c, str) for c in columns)):
            raise ConfigurationError(
                f"{self._where()}: setting 'columns' must be a list of column names, not {columns!r}")
        header = self._bool("header")
        if not header and not columns:
            raise ConfigurationError(
                f"{self._where()}: header = false needs `columns` naming the columns in order")
        table, search, locate = _control_check(dialect)
        settings = _Settings(
            dialect=dialect, encoding=encoding, limit=limit, header=header,
            columns=[c.strip() for c in columns] if columns else None,
            rename=self._mapping("rename", "rename"),
            lists=self._mapping("lists", "list_columns"),
            require_idnumber=self._bool("require_idnumber"),
            strip=self._bool("strip"), allow_empty=self._bool("allow_empty"),
            table=table, search=search, locate=locate, quarantine=self.quarantines,
        )
        with contextlib.ExitStack() as stack:
            sources = [self._open(file, settings, stack) for file in self.files()]
            self._check_keys(sources, settings)
            for source in sources:
                if source.names is not None:
                    self._check_columns(source, settings)
            for source in sources:
                if source.names is None:
                    continue  # an empty file (allow_empty)
                try:
                    yield from self._records(itertools.chain(source.pending, source.rows),
                                             source.names, source.name, settings)
                except _ControlCharacter as exc:
                    raise _control_error(exc, source.name, source.names) from None

    def _open(self, file: Path, s: _Settings, stack: contextlib.ExitStack) -> _Source:
        """Open ``file`` (closed with ``stack``) and read up to its first non-blank row."""
        name = self._display(file)
        self._paths[name] = file
        # quarantining, a row's undecodable bytes are kept (as lone surrogates) and that row alone
        # is set aside; a multi-byte codec other than UTF-8 cannot resync, so it stays strict
        errors = "surrogateescape" if s.quarantine and _resyncs(s.encoding) else "strict"
        try:
            fh = open(file, encoding=s.encoding, errors=errors, newline="")  # noqa: SIM115
        except FileNotFoundError:
            raise InputError("file not found", Origin(name)) from None
        except IsADirectoryError:
            raise InputError("is a directory, not a CSV file", Origin(name)) from None
        except OSError as exc:
            raise InputError(f"cannot open: {exc.strerror}", Origin(name)) from None
        stack.enter_context(fh)
        log.info("%s.%s: reading %s (%s%s)", self.tree.name, self.branch, name, s.encoding,
                 ", bad rows quarantined" if s.quarantine else "")
        lines = _Lines(fh, s.table, s.search)
        reader = csv.reader(lines, **s.dialect)
        source = _Source(name, _rows(reader, lines, file, name, s.encoding, s.limit, s.locate,
                                     s.quarantine))
        try:
            for start, row in source.rows:
                if isinstance(row, _Flagged):
                    raise row.control
                if not row[0].strip() and not any(field.strip() for field in row):
                    continue  # a blank row: spaces only, or delimiters only (a spreadsheet's ",,,")
                # the first non-blank row: the header, or (header = false) the first record
                source.line = start
                if s.header:
                    source.header = [c.strip() for c in row]
                    source.names = s.columns or source.header
                else:
                    source.pending.append((start, row))
                    source.names = s.columns
                break
        except _ControlCharacter as exc:
            raise _control_error(exc, name, None if s.header else s.columns) from None
        if source.names is None and not s.allow_empty:
            raise InputError("the file is empty (no header row and no data); "
                             "set allow_empty = true to accept that", Origin(name))
        if source.header is not None and s.columns and len(source.header) != len(s.columns):
            raise InputError(
                f"the header row has {len(source.header)} columns but `columns` names "
                f"{len(s.columns)}", Origin(name, source.line))
        return source

    def _check_keys(self, sources: list[_Source], s: _Settings) -> None:
        """A ``rename`` or ``lists`` key that matches no column of any file read is an error.

        A wrong key would be ignored silently otherwise, and the attribute it
        meant would become empty for every record. Empty files (allow_empty)
        have no columns to check against.
        """
        read = [source for source in sources if source.names is not None]
        if not read:
            return
        columns = {c for source in read for c in source.names or ()}
        attributes = {s.rename.get(c, c) for c in columns}
        rename = [key for key in s.rename if key not in columns]
        if rename:
            raise ConfigurationError(self._unmatched("rename", rename, columns, read))
        lists = [key for key in s.lists if key not in columns and key not in attributes]
        if lists:
            configured = "lists" in self.settings and self.settings["lists"] is not None
            raise ConfigurationError(self._unmatched(
                "lists" if configured else "list_columns", lists, columns | attributes, read))

    def _unmatched(self, setting: str, keys: list[str], candidates: set[str],
                   sources: list[_Source]) -> str:
        """The message for ``keys`` of ``setting`` that match no column of ``sources``."""
        headers: dict[tuple[str, ...], list[str]] = {}
        for source in sources:
            headers.setdefault(tuple(source.names or ()), []).append(source.name)
        described = []
        for names, files in headers.items():
            shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
            described.append(f"{shown} (columns: {', '.join(repr(n) for n in names if n)})")
        subject = (f"key {keys[0]!r} matches" if len(keys) == 1
                   else f"keys {', '.join(repr(k) for k in keys)} match")
        what = "no column" if setting == "rename" else "no column (nor attribute after renaming)"
        message = f"{self._where()}: {setting} {subject} {what} of {' or '.join(described)}"
        for source in sources:  # a whole header in one column: the delimiter is the problem
            hint = _delimiter_hint(source.names or [], self._dialect()["delimiter"])
            if hint:
                return f"{message}{hint}"
        hints = [(key, match) for key in keys if (match := _nearest(key, candidates))]
        if len(keys) == 1 and hints:
            message += f"; did you mean {hints[0][1]!r}?"
        elif hints:
            message += "; did you mean " + ", ".join(
                f"{match!r} (for {key!r})" for key, match in hints) + "?"
        return message

    def _check_columns(self, source: _Source, s: _Settings) -> None:
        """Columns after renaming: none twice, and an idnumber column unless require_idnumber = false."""
        names = source.names or []
        attrs = [s.rename.get(c, c) for c in names]
        seen: set[str] = set()
        for column, attr in zip(names, attrs, strict=True):
            if attr and attr in seen:
                raise InputError(f"column {attr!r} appears twice"
                                 + (f" (after renaming {column!r})" if column != attr else ""),
                                 Origin(source.name, source.line))
            seen.add(attr)
        if s.require_idnumber and "idnumber" not in seen:
            hint = ""
            if names and names[0].startswith("\u00ef\u00bb\u00bf"):
                hint = "; the file starts with a UTF-8 byte order mark: is its encoding utf-8?"
            else:
                hint = _delimiter_hint(names, s.dialect["delimiter"])
            raise InputError(
                f"no idnumber column (columns: {', '.join(repr(n) for n in names)}); rename one "
                f"with rename = {{\"<column>\" = \"idnumber\"}}, or set require_idnumber = false "
                f"to number the records{hint}", Origin(source.name, source.line))

    def _records(self, rows: Iterable[tuple[int, list[str]]], names: list[str], name: str,
                 s: _Settings) -> Iterator[Record | BadRecord]:
        """The records of the data rows of one file whose columns are ``names``.

        A row that cannot be read is a :class:`~dss_core.BadRecord` in its
        place (the core stops on it, or quarantines it).
        """
        make = _record_maker(_plan(names, s), s.strip)
        width = len(names)
        legacy = not s.encoding.startswith("utf")  # only a legacy encoding can give mojibake
        bad = _BadRows(names, name, s)
        for start, row in rows:
            if type(row) is _Flagged:
                yield bad.control(start, row)
                continue
            if not row[0].strip() and not any(field.strip() for field in row):
                continue  # a blank row: spaces only, or delimiters only (a spreadsheet's ",,,")
            if len(row) != width:
                yield bad.row(f"{len(row)} fields, but the {'header has' if s.header else 'columns are'} "
                              f"{width} ({_ragged_hint(row, width)})", start, row, ragged=True)
                continue
            if s.quarantine and not "".join(row).isascii():
                column = next((i for i, field in enumerate(row) if _SURROGATE.search(field)), None)
                if column is not None:
                    yield bad.undecodable(start, row, column)
                    continue
            if legacy:
                found = _mojibake(row, s.encoding)
                if found is not None:
                    yield bad.row(found[1], start, row, found[0])
                    continue
            values = make(row)
            yield Record(values, Origin(name, start, "line"))

    def read_columns(self) -> dict[str, Any] | None:
        """The records as text columns for the core's columnar store, or None (see dss_csv.columnar).

        None whenever polars could read the file otherwise than :meth:`readin`
        (a ragged row, a control character, a bad encoding, quotes it parses
        differently): the core then reads the branch with :meth:`readin`.
        """
        from .columnar import read_columns

        return read_columns(self)

    def raw_rows(self, origins: Sequence[Origin]) -> list[str | None]:
        """The physical lines at ``origins`` (each file read once), for the rejects file."""
        paths = getattr(self, "_paths", None) or {self._display(f): f for f in self.files()}
        wanted: dict[str, set[int]] = {}
        for origin in origins:
            if origin.source in paths and origin.position is not None:
                wanted.setdefault(origin.source, set()).add(origin.position)
        found: dict[tuple[str, int], str] = {}
        encoding = self._encoding()
        for source, lines in wanted.items():
            last = max(lines)
            try:
                with open(paths[source], encoding=encoding, errors="surrogateescape",
                          newline="") as fh:
                    for number, line in enumerate(fh, 1):
                        if number in lines:
                            found[(source, number)] = line.rstrip("\r\n")
                        if number >= last:
                            break
            except (OSError, LookupError, UnicodeError):
                continue
        return [found.get((o.source, o.position or 0)) for o in origins]


class _BadRows:
    """Makes the :class:`~dss_core.BadRecord` of one file's bad rows: reason, line, id, raw row."""

    def __init__(self, names: list[str], name: str, s: _Settings) -> None:
        self.names = names
        self.name = name
        self.dialect = s.dialect
        attrs = [s.rename.get(c, c) for c in names]
        self.id_index = attrs.index("idnumber") if "idnumber" in attrs else None

    def raw(self, row: list[str]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="", **self.dialect).writerow(
            [field.replace(_NUL_MARK, "\x00") for field in row])
        return out.getvalue()

    def idnumber(self, row: list[str], bad_column: int | None, ragged: bool) -> str | None:
        """The row's idnumber, where it can be trusted.

        Not from the field at fault, and in a row with the wrong number of
        fields only from the first column (a stray delimiter shifts the ones
        after it): an idnumber read wrongly would let the real object retire.
        """
        index = self.id_index
        if index is None or index >= len(row) or index == bad_column or (ragged and index != 0):
            return None
        return row[index].strip() or None

    def row(self, reason: str, start: int, row: list[str], column: int | None = None,
            ragged: bool = False) -> BadRecord:
        return BadRecord(reason, Origin(self.name, start, "line"),
                         idnumber=self.idnumber(row, column, ragged),
                         column=self.names[column] if column is not None and column < len(self.names)
                         else None, raw=self.raw(row))

    def control(self, start: int, row: _Flagged) -> BadRecord:
        exc = row.control
        error = _control_error(exc, self.name, self.names)
        return BadRecord(error.detail, Origin(self.name, exc.line, "line"),
                         idnumber=self.idnumber(row, exc.column, False), column=self.names[exc.column] if exc.column is not None
                         and exc.column < len(self.names) else None, raw=self.raw(row))

    def undecodable(self, start: int, row: list[str], column: int) -> BadRecord:
        field = row[column]
        bad = bytes(ord(c) - 0xDC00 for c in _SURROGATE.findall(field))
        name = self.names[column] if column < len(self.names) else str(column + 1)
        return self.row(f"cannot decode byte{'s' if len(bad) > 1 else ''} {bad.hex(' ')} in column "
                        f"{name!r} (set `encoding`, e.g. encoding = \"cp1252\")", start, row, column)


class _Source:
    """One open file: its name for messages, its rows, and what its first non-blank row said."""

    __slots__ = ("name", "rows", "line", "header", "names", "pending")

    def __init__(self, name: str, rows: Iterator[tuple[int, list[str]]]) -> None:
        self.name = name
        self.rows = rows
        self.line = 1  # the line of the first non-blank row
        self.header: list[str] | None = None  # the header row's names (stripped)
        self.names: list[str] | None = None  # the column names; None for an empty file
        self.pending: list[tuple[int, list[str]]] = []  # the first record (header = false)


def _delimiter_hint(names: list[str], delimiter: str) -> str:
    """``; the header holds ';': is that the delimiter?`` for a header read as one column."""
    if len(names) != 1:
        return ""
    found = [d for d in ",;\t|" if d in names[0] and d != delimiter]
    return (f"; the header holds {found[0]!r}: is that the delimiter? (delimiter = {found[0]!r})"
            if found else "")


class _Settings:
    __slots__ = ("dialect", "encoding", "limit", "header", "columns", "rename", "lists",
                 "require_idnumber", "strip", "allow_empty", "table", "search", "locate",
                 "quarantine")

    def __init__(self, **values: Any) -> None:
        for key, value in values.items():
            setattr(self, key, value)

    dialect: dict[str, Any]
    encoding: str
    limit: int
    header: bool
    columns: list[str] | None
    rename: dict[str, str]
    lists: dict[str, str]
    require_idnumber: bool
    strip: bool
    allow_empty: bool
    table: bytes
    search: Callable[[str], re.Match[str] | None]
    locate: Callable[[str], re.Match[str] | None]
    quarantine: bool  # on_bad_record = "quarantine": read on after a bad row


def _plan(names: list[str], s: _Settings) -> list[tuple[int, str, str | None]]:
    """(column index, attribute, list separator or None) of every named column."""
    plan = []
    for index, source in enumerate(names):
        if not source:
            continue  # an unnamed column (a trailing delimiter in the header)
        attr = s.rename.get(source, source)
        sep = s.lists.get(attr, s.lists.get(source))
        plan.append((index, attr, sep or None))
    return plan


def _record_maker(plan: list[tuple[int, str, str | None]],
                  strip: bool) -> Callable[[list[str]], dict[str, Any]]:
    """A function making the record of one row: one dict display, generated from the plan.

    A list column's value becomes its non-empty, stripped elements; with
    ``strip`` every other value is stripped. Column names enter the code only
    as ``repr()`` literals.
    """
    env: dict[str, Any] = {"strip": str.strip}
    items = []
    for n, (index, attr, sep) in enumerate(plan):
        if sep is not None:
            env[f"sep{n}"] = sep
            items.append(f"{attr!r}: list(filter(None, map(strip, row[{index}].split(sep{n}))))")
        else:
            items.append(f"{attr!r}: row[{index}]{'.strip()' if strip else ''}")
    exec("def make(row):\n    return {" + ", ".join(items) + "}\n", env)  # noqa: S102
    return env["make"]


class _Flagged(list[str]):
    """A row holding a refused control character (quarantining): ``control`` says where."""

    control: _ControlCharacter


def _rows(reader: Any, lines: _Lines, file: Path, name: str, encoding: str, limit: int,
          locate: Callable[[str], re.Match[str] | None],
          quarantine: bool = False) -> Iterator[tuple[int, list[str]]]:
    """(line the row starts on, fields) of every non-blank row, errors turned into InputError.

    The row holding the first control character ``lines`` found raises
    :class:`_ControlCharacter` instead (``locate`` finds its field); when
    ``quarantine``, it comes as a :class:`_Flagged` row, and so does every
    later row holding one.

    The csv module's field size limit is process-wide: it is set to ``limit``
    only while this reader reads a row, and put back before the row is yielded.
    """
    end = 0  # the physical line the previous row ended on
    flagged = 0  # rows flagged so far (quarantining)
    while True:
        previous = csv.field_size_limit(limit)
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            line, detail = _locate_decode_error(file, encoding)
            raise InputError(
                f"cannot decode as {encoding.removesuffix('-sig')}: {detail or exc.reason} "
                "(set `encoding`, e.g. encoding = \"cp1252\")", Origin(name, line)) from None
        except UnicodeError as exc:  # a codec's own complaint (utf-16 without a byte order mark)
            raise InputError(f"cannot decode as {encoding.removesuffix('-sig')}: {exc} "
                             "(set `encoding`)", Origin(name, end + 1)) from None
        except csv.Error as exc:
            raise InputError(_csv_error(str(exc), end + 1, reader.line_num, limit),
                             Origin(name, end + 1)) from None
        finally:
            csv.field_size_limit(previous)
        start, end = end + 1, reader.line_num
        if lines.bad and end >= lines.bad:
            column = next((i for i, field in enumerate(row) if locate(field)), None)
            if not quarantine:
                raise _ControlCharacter(lines.bad, start, lines.char, column)
            if column is not None or not flagged:
                char = lines.char if not flagged else locate(row[column or 0])
                marked = _Flagged(row)
                marked.control = _ControlCharacter(
                    lines.bad if not flagged else start, start,
                    char if isinstance(char, str) else _unmark(char.group() if char else ""), column)
                flagged += 1
                yield start, marked
                continue
        if row:
            yield start, row


def _unmark(char: str) -> str:
    """The control character a found mark stands for (a NUL reaches csv as ``_NUL_MARK``)."""
    return "\x00" if char == _NUL_MARK else char


def _resyncs(encoding: str) -> bool:
    """True for an encoding whose reader goes on after a bad byte: UTF-8 and single-byte codecs."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    if name in ("utf-8", "utf-8-sig"):
        return True
    return not name.startswith(("utf-16", "utf-32", "utf_16", "utf_32")) and len(
        "\u00e9".encode(name, "replace")) == 1


#: a lone surrogate: a byte the encoding could not decode (read with errors="surrogateescape")
_SURROGATE = re.compile("[\udc80-\udcff]")


class _Lines:
    """The lines of an open text file, for csv.reader, searched for control characters.

    The lines are read in chunks of about ``_CHUNK`` characters (the first
    chunk is the first line alone, so reading a header reads no further). Each
    chunk is checked with a few C-level calls: joined, encoded to UTF-8 (a
    control character is the same byte in UTF-8) and translated with
    ``table``, which maps every refused control character to a zero byte and
    every other byte to a non-zero one; a zero byte is looked for. Only a
    chunk with a hit is searched line by line (``search``): ``bad`` becomes
    the physical line (from 1) of the first control character and ``char``
    that character. From that line on a NUL reaches csv as ``_NUL_MARK``.
    """

    __slots__ = ("bad", "char", "_fh", "_table", "_search")

    def __init__(self, fh: Any, table: bytes, search: Callable[[str], re.Match[str] | None]) -> None:
        self.bad = 0
        self.char = ""
        self._fh = fh
        self._table = table
        self._search = search

    def __iter__(self) -> Iterator[str]:
        return itertools.chain.from_iterable(self._chunks())

    def _chunks(self) -> Iterator[list[str]]:
        fh, table, search = self._fh, self._table, self._search
        read = 0  # the lines handed out so far
        lines = fh.readlines(1)
        while lines:
            if "".join(lines).encode("utf-8", "surrogatepass").translate(table).find(0) >= 0:
                hit = next(((n, m) for n, line in enumerate(lines) if (m := search(line))), None)
                if hit is not None:
                    n, match = hit
                    self.bad, self.char = read + n + 1, match.group()
                    yield lines[:n]
                    rest = lines[n:]
                    while rest:
                        yield [line.replace("\x00", _NUL_MARK) for line in rest]
                        rest = fh.readlines(_CHUNK)
                    return
            read += len(lines)
            yield lines
            lines = fh.readlines(_CHUNK)


class _ControlCharacter(Exception):  # noqa: N818 (internal: becomes an InputError)
    """A row holds a control character: raised by :func:`_rows`, turned into an InputError."""

    def __init__(self, line: int, start: int, char: str, column: int | None) -> None:
        super().__init__(line, start, char, column)
        self.line = line  # the physical line of the character
        self.start = start  # the line its row starts on
        self.char = char
        self.column = column  # the index of its field


def _control_check(dialect: Mapping[str, Any]) -> tuple[
        bytes, Callable[[str], re.Match[str] | None], Callable[[str], re.Match[str] | None]]:
    """(translation table, search, locate) finding the control characters refused in values.

    Tab, CR and LF are allowed, and so are the dialect's own delimiter, quote
    and escape characters (ASCII-delimited text uses US as delimiter).
    ``locate`` also finds the mark a NUL becomes once one was found.
    """
    allowed = {"\t", "\n", "\r"} | {dialect[key] for key in ("delimiter", "quotechar", "escapechar")
                                     if dialect.get(key)}
    refused = [c for c in _CONTROLS if c not in allowed]
    table = bytes(0 if chr(b) in refused else (b or 0x20) for b in range(256))
    pattern = "".join(f"\\x{ord(c):02x}" for c in refused)
    return (table, re.compile(f"[{pattern}]").search,
            re.compile(f"[{pattern}{_NUL_MARK}]").search)


def _control_error(exc: _ControlCharacter, name: str, names: list[str] | None) -> InputError:
    """The InputError for a control character; ``names`` None: it is in the header row."""
    what = f"a control character U+{ord(exc.char):04X} ({_CONTROL_NAMES[exc.char]})"
    index = exc.column
    if index is None:
        message = f"a value holds {what}"
    elif names is None:
        message = f"column {index + 1} of the header row holds {what}"
        if exc.char == "\x00":
            message += "; a file full of NUL bytes may be UTF-16 (set encoding = \"utf-16\")"
    else:
        column = names[index] if index < len(names) else ""
        message = f"column {column!r} ({index + 1}) holds {what}" if column else (
            f"column {index + 1} holds {what}")
    if exc.start != exc.line:
        message += f" (in the row starting on line {exc.start})"
    return InputError(message, Origin(name, exc.line))


def _nearest(key: str, names: Iterable[str]) -> str | None:
    """The name closest to ``key`` (ignoring case), if any is close (difflib)."""
    by_lower: dict[str, str] = {}
    for n in sorted(n for n in names if n):
        by_lower.setdefault(n.lower(), n)
    found = difflib.get_close_matches(key.lower(), list(by_lower), n=1)
    return by_lower[found[0]] if found else None


def _csv_error(message: str, start: int, last: int, limit: int) -> str:
    """One clear sentence for a csv.Error raised while reading the row starting on line ``start``."""
    if "unexpected end of data" in message:
        return (f"unterminated quoted field: the quote opened on this line is never closed "
                f"(the file ends at line {last})")
    runs = f" (the row runs to line {last}: an unbalanced quote?)" if last > start else ""
    if "field larger than field limit" in message:
        return f"a field has more than max_field_size ({limit}) characters{runs}"
    return f"malformed CSV: {message}{runs}"


def _locate_decode_error(file: Path, encoding: str) -> tuple[int | None, str]:
    """Find the line and bytes of the first decoding error (read again in chunks: errors only)."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    newlines = 0
    try:
        with open(file, "rb") as fh:
            while True:
                chunk = fh.read(1 << 16)
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    before = exc.object[:exc.start]
                    newlines += codecs.decode(before, encoding, "replace").count("\n")
                    bad = bytes(exc.object[exc.start:exc.end])
                    return newlines + 1, f"byte {bad.hex(' ')} ({exc.reason})"
                newlines += text.count("\n")
                if not chunk:
                    return None, ""
    except OSError:
        return None, ""


def _ragged_hint(row: list[str], width: int) -> str:
    return ("too many: a delimiter inside an unquoted value?" if len(row) > width
            else "too few: missing fields or the wrong delimiter?")


def _mojibake(row: list[str], encoding: str) -> tuple[int, str] | None:
    """(column, reason) where a legacy encoding decoded what is really UTF-8, else None."""
    for index, value in enumerate(row):
        if value.isascii():
            continue
        try:
            value.encode(encoding).decode("utf-8")
        except (UnicodeError, LookupError):
            continue
        return index, (f"{value!r} looks like UTF-8 read as {encoding}: the file seems to be UTF-8 "
                       f"(set encoding = \"utf-8\")")
    return None
