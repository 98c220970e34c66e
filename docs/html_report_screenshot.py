"""Make docs/html-report.png: the HTML report of a real run of the demo, after a week of nights.

    .venv/bin/python docs/html_report_screenshot.py [--out docs/html-report.png]

In a temporary folder: the demo's school (``python -m school_sync.generate``,
1000 people, seed 7) and its first sync; then five quiet nights, each with two
students renamed and one withdrawn; then tonight, when 40 students withdrew at
once and the LMS refuses to rename one account (a trigger, as in the
``lms-refuses-update`` case of tests/test_bad_input.py). Tonight runs with
``--html``, and Debian's headless Chromium takes the screenshot. Every run is
a real ``dss run`` (its history is what the trend shows); ``dss history`` of
the school is printed at the end (the README shows it).
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DSS = [sys.executable, "-m", "dss_core"]


def dss(folder: Path, *args: str, code: int = 0) -> None:
    done = subprocess.run([*DSS, "--config", str(folder / "dss.toml"), *args, "-q"],
                          capture_output=True, text=True)
    if done.returncode != code:
        sys.exit(f"dss {' '.join(args)}: exit {done.returncode}\n{done.stdout}{done.stderr}")


def edit_students(folder: Path, rename: list[int], withdraw: list[int], night: int) -> str:
    """Rename and withdraw students (by row index); the idnumber of the first one renamed."""
    path = folder / "students.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    active = [r for r in rows if r["enroll_status"] == "Active"]
    for i in rename:
        last, first = active[i]["lastfirst"].split(", ", 1)
        active[i]["lastfirst"] = f"{last}-{['Smith', 'Okafor', 'Novak', 'Silva', 'Kim', 'Berg'][night % 6]}, {first}"
    for i in withdraw:
        active[i]["enroll_status"] = "Withdrawn"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return active[rename[0]]["student_number"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "html-report.png")
    parser.add_argument("--keep", type=Path, help="also copy the HTML report here")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "school"
        subprocess.run([sys.executable, "-m", "school_sync.generate", "--users", "1000",
                        "--out", str(folder)], check=True, capture_output=True)
        dss(folder, "run", "school")  # the first sync
        for night in range(5):  # quiet nights
            edit_students(folder, [10 + 2 * night, 11 + 2 * night], [300 + night], night)
            dss(folder, "run", "school")
        refused = edit_students(folder, [40, 41], list(range(400, 800, 10)), 5)
        with sqlite3.connect(folder / "lms.sqlite") as db:
            db.execute(f"CREATE TRIGGER refuse BEFORE UPDATE OF name ON lms_users "
                       f"WHEN NEW.idnumber = '{refused}' BEGIN "
                       f"SELECT RAISE(ABORT, 'the LMS refuses to change account {refused}'); END")
        report = folder / "report.html"
        dss(folder, "run", "school", "--html", str(report), code=1)
        if args.keep:
            shutil.copyfile(report, args.keep)
        history = subprocess.run([*DSS, "--config", str(folder / "dss.toml"), "history"],
                                 capture_output=True, text=True, check=True)
        print(history.stdout.replace(str(folder), "school"), end="")  # for the README
        subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--window-size=1280,2300",
                        f"--screenshot={args.out.resolve()}", report.as_uri()],
                       check=True, capture_output=True, timeout=120)
    print(f"{args.out}: written")


if __name__ == "__main__":
    main()
