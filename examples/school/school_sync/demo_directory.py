"""A throwaway local directory for the demo: OpenLDAP's slapd on a free loopback port.

    python -m school_sync.demo_directory start demo-output/slapd   # prints the ldap:// URL
    python -m school_sync.demo_directory stop demo-output/slapd

``start`` runs dss-ldap's own test server (:func:`dss_ldap.testing.start_slapd`:
a temporary configuration in the folder, suffix ``dc=example,dc=org``, root
DN ``cn=admin,dc=example,dc=org``) and leaves it running; ``stop`` ends it
(by the process id slapd wrote in the folder). ``.ci/demo`` uses both when
``DSS_DEMO_DIRECTORY=1``. The server's password goes to the file
``bind-password`` (0600) in the folder, never to the output: the demo reads
it into ``DSS_DIRECTORY_BIND_PASSWORD``.

Needs slapd (Debian: ``apt-get install slapd ldap-utils``); without it,
``start`` says so and exits 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

#: The file in the folder holding the bind password (mode 0600).
PASSWORD_FILE = "bind-password"


def start(folder: Path) -> str:
    """Start a fresh slapd in ``folder`` (an earlier server there is stopped, its data removed).

    Returns its URL; raises RuntimeError (slapd's own words) or FileNotFoundError (no slapd).
    """
    from dss_ldap.testing import ROOT_PASSWORD, start_slapd

    folder = folder.resolve()  # slapd.conf names its files by absolute paths
    stop(folder)
    shutil.rmtree(folder, ignore_errors=True)
    try:
        server = start_slapd(folder)
    except FileNotFoundError:
        raise
    except Exception as exc:  # started but not ready (slapd keeps running): stop it
        stop(folder)
        raise RuntimeError(f"slapd did not start in {folder}: {exc}") from exc
    secret = folder / PASSWORD_FILE
    secret.unlink(missing_ok=True)
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(ROOT_PASSWORD)
    return server.url


def stop(folder: Path, wait: float = 10.0) -> bool:
    """Stop the slapd whose process id is in ``folder``/slapd.pid; False when none was running."""
    pidfile = folder / "slapd.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``start FOLDER`` (prints the URL) or ``stop FOLDER``."""
    parser = argparse.ArgumentParser(prog="python -m school_sync.demo_directory",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("command", choices=("start", "stop"))
    parser.add_argument("folder", type=Path, help="where slapd keeps its configuration and data")
    args = parser.parse_args(argv)
    if args.command == "stop":
        stop(args.folder)
        return 0
    try:
        print(start(args.folder))
    except (FileNotFoundError, RuntimeError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
