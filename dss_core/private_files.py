"""Files that hold personal data (reports, state) are readable by their owner only."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def write_private(path: Path, text: str | Iterable[str]) -> None:
    """Write ``text`` to ``path`` atomically, readable and writable by its owner only (0600).

    ``text`` may come in pieces (an iterable of str), written one after the other: a report
    of millions of actions is then never one string in memory.

    The text goes to a temporary file created 0600 beside ``path``, which then
    replaces ``path``: a reader never sees half a file, and a file that was
    0644 before is 0600 after.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if isinstance(text, str):
                fh.write(text)
            else:
                for piece in text:
                    fh.write(piece)
        os.chmod(tmp, FILE_MODE)  # the umask cannot widen it, but an existing tmp could be wider
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def private_folder(path: Path) -> Path:
    """Create ``path`` (and parents) if needed; a folder dss creates is 0700."""
    if not path.is_dir():
        path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    return path
