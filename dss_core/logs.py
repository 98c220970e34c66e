"""Logging: the standard ``logging`` module, one logger per module, set up once by the command.

Every module of dss-core and of the plugins logs to ``logging.getLogger(__name__)``
(``dss_core.runner``, ``dss_sql.handler``, ...). What each level holds:

* ``WARNING`` and above: what went wrong (shown on stderr by default);
* ``INFO`` (on stderr with ``-vv``; always in ``--log-file``): the run's steps and counts: run
  started, each branch imported (records, objects), gates, the plan's size,
  batches applied, the run's end and exit code. No values from the data:
  no idnumbers, names or e-mail addresses;
* ``DEBUG`` (on stderr with ``-vvv``, in the log file with ``-vv``): each
  action and its result, by idnumber.

``-v`` alone is the console's: every result, tracebacks, each branch as it is
imported.

``--log-file PATH`` (for cron) writes INFO and above (DEBUG with ``-vv``) to a
file readable by its owner only; ``--log-json`` makes every line a JSON object
(``time``, ``level``, ``logger``, ``message``). Registered secrets are masked
in every line, whatever its level.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from .redaction import redact

#: the packages whose loggers dss sets up (a plugin's own package logs under its name too)
ROOT = ""

_HANDLERS: list[logging.Handler] = []


class _Redacting(logging.Filter):
    """Masks registered secrets in the formatted message (and the exception text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_text is None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        import datetime as dt

        return dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")


_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ConsoleFormatter(logging.Formatter):
    """stderr's lines as dss writes its own: ``dss: warning: ...``; the logger's name from INFO down."""

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        where = "" if record.levelno >= logging.WARNING else f"{record.name}: "
        text = f"dss: {level}: {where}{record.getMessage()}"
        if record.exc_text:
            text += "\n" + record.exc_text
        return text


def configure(verbose: int = 0, log_file: str | os.PathLike[str] | None = None,
              as_json: bool = False) -> None:
    """Set up logging for one command: stderr by ``verbose``, and the log file if given.

    stderr shows WARNING and above, INFO with ``-vv``, DEBUG with ``-vvv``;
    the log file INFO and above (DEBUG with ``-vv``). Calling it again
    replaces what an earlier call set up.
    """
    root = logging.getLogger(ROOT)
    for handler in _HANDLERS:
        root.removeHandler(handler)
        handler.close()
    _HANDLERS.clear()
    stderr_level = (logging.DEBUG if verbose >= 3 else logging.INFO if verbose == 2
                    else logging.WARNING)
    file_level = logging.DEBUG if verbose >= 2 else logging.INFO
    formatter: logging.Formatter = JSONFormatter() if as_json else logging.Formatter(_TEXT)
    stream = logging.StreamHandler(sys.stderr)
    stream.setLevel(stderr_level)
    stream.setFormatter(formatter if as_json else ConsoleFormatter())
    _HANDLERS.append(stream)
    if log_file is not None:
        path = Path(log_file)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)  # personal data at DEBUG: readable by its owner only
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setLevel(file_level)
        handler.setFormatter(formatter)
        _HANDLERS.append(handler)
    for handler in _HANDLERS:
        handler.addFilter(_Redacting())
        root.addHandler(handler)
    root.setLevel(min(h.level for h in _HANDLERS))
    # libraries dss uses keep to their warnings (SQLAlchemy's INFO is every statement)
    for noisy in ("sqlalchemy", "urllib3", "httpx", "httpcore", "ldap3", "asyncio", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
