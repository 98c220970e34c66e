"""The CSV importer: one branch from one or more CSV files, streamed row by row.

Every record remembers its file and the line its row starts on, and every
problem in the input is an :class:`~dss_core.InputError` naming file and line.
"""

from __future__ import annotations

import codecs
import csv
import glob
import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from dss_core import ConfigurationError, Importer, InputError, Origin, Record, Setting, parse_bool

DEFAULT_MAX_FIELD_SIZE = 1024 * 1024  # 1 MiB

_DELIMITER_NAMES = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
_ESCAPES = {"\\t": "\t", "\\\\": "\\", "\\n": "\n", "\\r": "\r", "\\0": ""}
_GLOB_CHARS = frozenset("*?[")


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
        ``{"Student ID": "idnumber"}``: source column -> model attribute.
    ``list_columns`` [``lists``]
        ``{"courses": ";"}``: a column holding a list, with its separator;
        its value becomes a list of the non-empty, stripped elements.
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

    A subclass does not inherit the registered name ``csv``: give it its own
    ``name`` if a plugin registers it.
    """

    name: ClassVar[str | None] = "csv"
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
    def readin(self) -> Iterator[Record]:
        """Yield one :class:`~dss_core.Record` per data row of every file."""
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
        settings = _Settings(
            dialect=dialect, encoding=encoding, limit=limit, header=header,
            columns=list(columns) if columns else None,
            rename=self._mapping("rename", "rename"),
            lists=self._mapping("lists", "list_columns"),
            require_idnumber=self._bool("require_idnumber"),
            strip=self._bool("strip"), allow_empty=self._bool("allow_empty"),
        )
        for file in self.files():
            yield from self._read_file(file, settings)

    def _read_file(self, file: Path, s: _Settings) -> Iterator[Record]:
        name = self._display(file)
        try:
            fh = open(file, encoding=s.encoding, errors="strict", newline="")  # noqa: SIM115
        except FileNotFoundError:
            raise InputError("file not found", Origin(name)) from None
        except IsADirectoryError:
            raise InputError("is a directory, not a CSV file", Origin(name)) from None
        except OSError as exc:
            raise InputError(f"cannot open: {exc.strerror}", Origin(name)) from None
        with fh:
            reader = csv.reader(fh, **s.dialect)
            rows = _rows(reader, file, name, s.encoding, s.limit)
            names: list[str] | None = None
            pending: list[tuple[int, list[str]]] = []
            for start, row in rows:
                if not row[0].strip() and not any(field.strip() for field in row):
                    continue  # a blank row: spaces only, or delimiters only (a spreadsheet's ",,,")
                # the first non-blank row: the header, or (header = false) the first record
                names = self._columns(row if s.header else None, start, name, s)
                if not s.header:
                    pending.append((start, row))
                break
            if names is None:
                if not s.allow_empty:
                    raise InputError("the file is empty (no header row and no data); "
                                     "set allow_empty = true to accept that", Origin(name))
                return
            yield from self._records(itertools.chain(pending, rows), names, name, s)

    def _records(self, rows: Iterable[tuple[int, list[str]]], names: list[str], name: str,
                 s: _Settings) -> Iterator[Record]:
        """The records of the data rows of one file whose columns are ``names``."""
        make = _record_maker(_plan(names, s), s.strip)
        width = len(names)
        legacy = not s.encoding.startswith("utf")  # only a legacy encoding can give mojibake
        for start, row in rows:
            if not row[0].strip() and not any(field.strip() for field in row):
                continue  # a blank row: spaces only, or delimiters only (a spreadsheet's ",,,")
            if len(row) != width:
                raise InputError(
                    f"{len(row)} fields, but the {'header has' if s.header else 'columns are'} "
                    f"{width} ({_ragged_hint(row, width)})", Origin(name, start))
            if legacy:
                _check_mojibake(row, s.encoding, name, start)
            values = make(row)
            yield Record(values, Origin(name, start, "line"))

    def _columns(self, header_row: list[str] | None, line: int, name: str, s: _Settings) -> list[str]:
        if s.columns:
            names = [c.strip() for c in s.columns]
            if header_row is not None and len(header_row) != len(names):
                raise InputError(
                    f"the header row has {len(header_row)} columns but `columns` names "
                    f"{len(names)}", Origin(name, line))
        else:
            assert header_row is not None
            names = [c.strip() for c in header_row]
        attrs = [s.rename.get(c, c) for c in names]
        seen: set[str] = set()
        for source, attr in zip(names, attrs, strict=True):
            if attr and attr in seen:
                raise InputError(f"column {attr!r} appears twice"
                                 + (f" (after renaming {source!r})" if source != attr else ""),
                                 Origin(name, line))
            seen.add(attr)
        if s.require_idnumber and "idnumber" not in seen:
            hint = ""
            if names and names[0].startswith("\u00ef\u00bb\u00bf"):
                hint = "; the file starts with a UTF-8 byte order mark: is its encoding utf-8?"
            elif len(names) == 1:
                found = [d for d in ",;\t|" if d in names[0] and d != s.dialect["delimiter"]]
                if found:
                    hint = (f"; the header holds {found[0]!r}: is that the delimiter? "
                            f"(delimiter = {found[0]!r})")
            raise InputError(
                f"no idnumber column (columns: {', '.join(repr(n) for n in names)}); rename one "
                f"with rename = {{\"<column>\" = \"idnumber\"}}, or set require_idnumber = false "
                f"to number the records{hint}", Origin(name, line))
        return names


class _Settings:
    __slots__ = ("dialect", "encoding", "limit", "header", "columns", "rename", "lists",
                 "require_idnumber", "strip", "allow_empty")

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


def _rows(reader: Any, file: Path, name: str, encoding: str,
          limit: int) -> Iterator[tuple[int, list[str]]]:
    """(line the row starts on, fields) of every non-blank row, errors turned into InputError.

    The csv module's field size limit is process-wide: it is set to ``limit``
    only while this reader reads a row, and put back before the row is yielded.
    """
    end = 0  # the physical line the previous row ended on
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
        if row:
            yield start, row


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


def _check_mojibake(row: list[str], encoding: str, name: str, line: int) -> None:
    """A legacy (non-Unicode) encoding decoding what is really UTF-8 gives mojibake: refuse it."""
    if encoding.startswith("utf"):
        return
    for value in row:
        if value.isascii():
            continue
        try:
            value.encode(encoding).decode("utf-8")
        except (UnicodeError, LookupError):
            continue
        raise InputError(
            f"{value!r} looks like UTF-8 read as {encoding}: the file seems to be UTF-8 "
            f"(set encoding = \"utf-8\")", Origin(name, line))
