"""``dss csv-columns FILE``: what a CSV export holds, to help write the csv importer's settings.

Prints the delimiter (sniffed with :class:`csv.Sniffer` unless given), the
header's columns with their positions, the number of data rows, and a TOML
table ready to paste into ``dss.toml``. The values of data rows are never
printed (an export holds personal data): only column names and counts.

Bad input (a missing file, bytes the encoding cannot decode, an empty file,
malformed CSV) is one ``dss: error:`` line and exit code 2, as for any dss
command.
"""

from __future__ import annotations

import codecs
import csv
import functools
import json
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from dss_core import ConfigurationError, DssError, InputError, Origin, redact

F = TypeVar("F", bound=Callable[..., Any])

#: Characters the sniffer may pick as the delimiter.
SNIFFED_DELIMITERS = ",;\t|"
#: How much text the sniffer reads (whole lines of it).
SAMPLE_SIZE = 64 * 1024
#: The largest field read, in characters (the importer's default ``max_field_size``).
MAX_FIELD_SIZE = 1024 * 1024


def reports_errors(func: F) -> F:
    """A :class:`~dss_core.DssError` (or an unexpected exception) becomes one line and exit 2.

    What ``dss``'s own commands do: ``dss: error: <message>`` on stderr, the
    message redacted; with ``dss -v`` an unexpected exception shows its traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DssError as exc:
            _fail(str(exc), exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:
            ctx = click.get_current_context(silent=True)
            root = ctx.find_root().obj if ctx is not None else None
            if getattr(root, "verbose", 0):
                click.echo(redact(traceback.format_exc()), err=True)
            _fail(f"{type(exc).__name__}: {exc} (run with -v for the traceback)", 2)
    return wrapper  # type: ignore[return-value]


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"dss: error: {redact(message)}", err=True)
    sys.exit(code)


@click.command("csv-columns")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--delimiter", "-d", metavar="CHAR",
              help="The delimiter (',', ';', '\\t' or tab, '|'); sniffed from the file when not given.")
@click.option("--encoding", "-e", default="utf-8", show_default=True,
              help="The file's encoding (utf-8, cp1252, ...).")
@click.option("--tree", default="<tree>", help="The tree to name in the TOML table.")
@click.option("--branch", default="<branch>", help="The branch to name in the TOML table.")
@reports_errors
def csv_columns(file: Path, delimiter: str | None, encoding: str, tree: str, branch: str) -> None:
    """Show a CSV file's columns, its row count and the csv importer's settings for it.

    Only column names and counts are printed, never a value of a data row.
    """
    for line in describe(file, delimiter, encoding, tree, branch):
        click.echo(redact(line))


def describe(file: Path, delimiter: str | None, encoding: str, tree: str = "<tree>",
             branch: str = "<branch>") -> list[str]:
    """The lines ``dss csv-columns`` prints for ``file``; InputError/ConfigurationError on bad input."""
    name = str(file)
    codec = _codec(encoding)
    if delimiter is not None:
        chosen, how = _delimiter(delimiter), "given"
    else:
        chosen, how = _sniff(file, name, codec)
    header, header_line, rows, ragged, control = _read(file, name, codec, chosen)
    shown = encoding if codec != "utf-8-sig" else "utf-8"
    width = len(header)
    columns = f"{width} column{'s' if width != 1 else ''}"
    lines = [f"{name}: delimiter {_char(chosen)} ({how}), encoding {shown}"]
    number = _number_in(header)
    if number is None:
        lines.append(f"{columns} (the header row, line {header_line}):")
        digits = len(str(width))
        lines += [f"  {n:>{digits}}  {_column(c)}" for n, c in enumerate(header, 1)]
    else:  # no header row: the first row is data, and data is never shown
        rows += 1
        lines.append(f"{columns}, no header row: line {header_line} holds a number in column "
                     f"{number + 1}, so it is data (not shown); name the columns with "
                     "header = false and columns = [...]")
    lines.append(f"{rows} data row{'s' if rows != 1 else ''}")
    if ragged:
        count, first = ragged
        which = f"{count} rows do" if count != 1 else "1 row does"
        where = f"the first on line {first}" if count != 1 else f"line {first}"
        lines.append(f"warning: {which} not have {width} fields ({where}): "
                     "a wrong delimiter, or a delimiter inside an unquoted value?")
    if control:
        count, first, char = control
        which = f"{count} rows hold" if count != 1 else "1 row holds"
        where = f"the first on line {first}" if count != 1 else f"line {first}"
        lines.append(f"warning: {which} a control character ({where}: U+{ord(char):04X}); "
                     "the csv importer refuses such a file")
    if width == 1 and number is None:
        found = [d for d in SNIFFED_DELIMITERS if d in header[0] and d != chosen]
        if found:
            option = "tab" if found[0] == "\t" else repr(found[0])
            lines.append(f"warning: the only column holds {_char(found[0])}: is that the "
                         f"delimiter? (--delimiter {option})")
    lines += ["", "Settings of the csv importer, to paste into dss.toml "
                  "(in pyproject.toml: [tool.dss.trees...]):", ""]
    if number is not None:  # placeholders: the first column for the id, the others numbered
        header = ["idnumber", *(f"column{n}" for n in range(2, width + 1))]
    lines += settings_table(name, chosen, shown, header, tree, branch, number is None)
    return lines


def settings_table(path: str, delimiter: str, encoding: str, header: list[str],
                   tree: str = "<tree>", branch: str = "<branch>",
                   has_header: bool = True) -> list[str]:
    """The TOML table configuring the csv importer for a file of these columns.

    ``has_header`` False: the file has no header row, and ``header`` names its columns.
    """
    lines = [f"[trees.{_toml_key(tree)}.{_toml_key(branch)}]",
             f"path = {_toml_string(path)}  # relative to the folder of dss.toml",
             f"delimiter = {_toml_string(delimiter)}"]
    if encoding != "utf-8":
        lines.append(f"encoding = {_toml_string(encoding)}")
    if not has_header:  # the columns must be named
        names = ", ".join(_toml_string(c) for c in header)
        lines += ["header = false", f"columns = [{names}]  # name every column, in order"]
        return lines
    named = [c for c in header if c]
    if named and "idnumber" not in named:
        lines.append(f"rename = {{ {_toml_string(named[0])} = \"idnumber\" }}"
                     "  # the column holding the unique id")
    return lines


# -- reading ---------------------------------------------------------------------------


def _codec(encoding: str) -> str:
    try:
        canonical = codecs.lookup(encoding).name
    except LookupError:
        raise ConfigurationError(f"unknown encoding {encoding!r}") from None
    return "utf-8-sig" if canonical == "utf-8" else canonical  # a byte order mark is dropped


def _delimiter(value: str) -> str:
    from .importer import _DELIMITER_NAMES, _ESCAPES

    text = _DELIMITER_NAMES.get(value.lower(), value) if len(value) > 1 else value
    text = _ESCAPES.get(text, text)
    if len(text) != 1 or text in "\r\n":
        raise ConfigurationError(
            f"--delimiter must be one character (or \\t or tab for a tab), not {value!r}")
    return text


def _open(file: Path, name: str, codec: str) -> Any:
    try:
        return open(file, encoding=codec, errors="strict", newline="")  # noqa: SIM115
    except FileNotFoundError:
        raise InputError("file not found", Origin(name)) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a CSV file", Origin(name)) from None
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", Origin(name)) from None


def _decode_error(file: Path, name: str, codec: str, exc: UnicodeError) -> InputError:
    from .importer import _locate_decode_error

    line, detail = _locate_decode_error(file, codec)
    other = "cp1252" if codec.startswith("utf") else "utf-8"
    reason = detail or getattr(exc, "reason", str(exc))
    return InputError(f"cannot decode as {codec.removesuffix('-sig')}: {reason} "
                      f"(give the encoding, e.g. --encoding {other})", Origin(name, line))


def _sniff(file: Path, name: str, codec: str) -> tuple[str, str]:
    """(delimiter, how it was found): sniffed from the first whole lines of the file."""
    with _open(file, name, codec) as fh:
        try:
            sample = fh.read(SAMPLE_SIZE)
            more = fh.read(1)
        except UnicodeError as exc:
            raise _decode_error(file, name, codec, exc) from None
    if more and "\n" in sample:
        sample = sample[:sample.rindex("\n") + 1]  # whole lines only
    if not sample.strip():
        raise InputError("the file is empty (no header row)", Origin(name))
    try:
        found = csv.Sniffer().sniff(sample, delimiters=SNIFFED_DELIMITERS).delimiter
    except csv.Error:  # rows of different widths, say: the header row alone decides
        first = next(line for line in sample.splitlines() if line.strip())
        counts = {d: first.count(d) for d in SNIFFED_DELIMITERS if d in first}
        if not counts:
            return ",", "the default: none found in the header row; give --delimiter"
        found = max(counts, key=lambda d: counts[d])
        return found, "the most frequent in the header row; give --delimiter to choose another"
    return found, "sniffed; give --delimiter to choose another"


def _read(file: Path, name: str, codec: str, delimiter: str) -> tuple[
        list[str], int, int, tuple[int, int] | None, tuple[int, int, str] | None]:
    """What the file holds, its values left out.

    (header, its line, number of data rows, (rows of another width, the
    first's line) or None, (rows holding a control character the importer
    refuses, the first's line, its first such character) or None). Rows are
    counted as the importer reads them: blank rows are skipped.
    """
    from .importer import _control_check

    _, _, search = _control_check({"delimiter": delimiter, "quotechar": '"'})
    header: list[str] | None = None
    header_line = 0
    rows = ragged = first_ragged = controls = first_control = 0
    control_char = ""
    previous = csv.field_size_limit(MAX_FIELD_SIZE)
    try:
        with _open(file, name, codec) as fh:
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
            for start, row in _rows(reader, file, name, codec):
                if not any(field.strip() for field in row):
                    continue  # a blank row, or delimiters only
                found = search("".join(row))
                if found:
                    controls += 1
                    if not first_control:
                        first_control, control_char = start, found.group()
                if header is None:
                    header, header_line = [c.strip() for c in row], start
                    continue
                rows += 1
                if len(row) != len(header):
                    ragged += 1
                    first_ragged = first_ragged or start
    finally:
        csv.field_size_limit(previous)
    if header is None:
        raise InputError("the file is empty (no header row)", Origin(name))
    return (header, header_line, rows, (ragged, first_ragged) if ragged else None,
            (controls, first_control, control_char) if controls else None)


def _rows(reader: Any, file: Path, name: str, codec: str) -> Iterator[tuple[int, list[str]]]:
    """(line the row starts on, fields) of every row; decoding and CSV errors as InputError."""
    end = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeError as exc:
            raise _decode_error(file, name, codec, exc) from None
        except csv.Error as exc:
            from .importer import _csv_error

            raise InputError(_csv_error(str(exc), end + 1, reader.line_num, MAX_FIELD_SIZE),
                             Origin(name, end + 1)) from None
        start, end = end + 1, reader.line_num
        yield start, row


# -- formatting ------------------------------------------------------------------------


def _number_in(row: list[str]) -> int | None:
    """The index of the first cell of ``row`` holding a number (no header has one), or None."""
    for index, cell in enumerate(row):
        text = cell.strip().replace(",", "")
        if not any(c.isdigit() for c in text) or "_" in text:
            continue  # float() reads "inf" and "1_000" too
        try:
            float(text)
        except ValueError:
            continue
        return index
    return None


def _char(c: str) -> str:
    return "'\\t' (tab)" if c == "\t" else repr(c)


def _column(name: str) -> str:
    if not name:
        return "(no name)"
    return name if name.isprintable() else repr(name)


def _toml_string(text: str) -> str:
    # a JSON string is a TOML basic string: the same escapes (\" \\ \t \n \uXXXX); TOML
    # also refuses DEL unescaped
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_key(key: str) -> str:
    """A bare key when it can be one; the placeholders ``<tree>``, ``<branch>`` as they are."""
    bare = key.replace("_", "").replace("-", "")
    if (bare.isascii() and bare.isalnum()) or key in ("<tree>", "<branch>"):
        return key
    return _toml_string(key)
