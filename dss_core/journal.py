"""The journal: every applied action's intent before it is handed over, and its outcome after.

Kept in the datastore's state folder (``<state>/<datastore>.journal.sqlite``,
readable by its owner only), in SQLite's write-ahead log with
``synchronous = NORMAL``: a record survives the process being killed at
any moment, at the cost of one small write per unit of actions.

What it is for:

* a run that was killed or interrupted is reported by the next one
  (``run 9f2c… was interrupted after 4,917 of 9,417 actions; 1 outcome
  unknown``), which then converges (the diff is computed afresh);
* a handler with side effects the destination cannot show (a welcome
  e-mail) asks :meth:`Journal.succeeded` whether an action key already went
  through, so it happens once;
* undo and saved plans read what a run did.

Values are personal data: the file is 0600, and nothing here logs them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import operator
import os
import socket
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .actions import NEW, OLD, Action, Model, Result, jsonable
from .errors import ConfigurationError
from .json_text import dict_encoder
from .private_files import FILE_MODE, private_folder

_quoted = json.encoder.encode_basestring_ascii  # json.dumps of a str, without its checks
#: ``json.dumps(value, default=str)`` with its encoder made once (dumps makes one per call)
_encode = json.JSONEncoder(default=str).encode
#: ``_encode`` of a dict (an object's values), the C encoder called directly
_encode_object = dict_encoder()

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, datastore TEXT NOT NULL, mode TEXT NOT NULL,
    started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
    pid INTEGER, host TEXT, planned INTEGER NOT NULL DEFAULT 0,
    exit_code INTEGER, reported INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS actions (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, tree TEXT NOT NULL,
    branch TEXT NOT NULL, method TEXT NOT NULL, kind TEXT NOT NULL, idnumber TEXT,
    attribute TEXT, value TEXT, old_value TEXT, intent TEXT NOT NULL,
    outcome TEXT, message TEXT, done TEXT, object TEXT,
    PRIMARY KEY (run_id, seq));
CREATE INDEX IF NOT EXISTS actions_by_key ON actions (key, outcome);
CREATE TABLE IF NOT EXISTS outcomes (
    run_id TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, outcome TEXT NOT NULL,
    message TEXT, done TEXT, PRIMARY KEY (run_id, first));
"""
#: the journal's schema (SQLite's ``user_version``): 0 before it was counted, 2 since outcomes have
#: their own table. A dss refuses a journal of a higher version rather than misread it.
SCHEMA_VERSION = 2
# Outcomes are rows of ``outcomes``, one per run of consecutive actions with the same outcome
# and message (a batch's successes: one row), not written into each action's row: rewriting
# every row (its object's values, its index entry) cost as much as inserting it. Journals
# written before keep their outcomes in ``actions.outcome``; both are read, the row's first.

#: an action's outcome (``a``: a row of ``actions``), wherever it was written
_OUTCOME = ("coalesce(a.outcome, (SELECT o.outcome FROM outcomes o WHERE o.run_id = a.run_id "
            "AND o.first <= a.seq AND o.last >= a.seq ORDER BY o.first DESC LIMIT 1))")

RUNNING, DONE, INTERRUPTED, KILLED = "running", "done", "interrupted", "killed"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Interruption:
    """A run that did not end: how far it got."""

    run_id: str
    started: str
    planned: int
    done: int
    unknown: int
    status: str

    def __str__(self) -> str:
        how = "was interrupted" if self.status == INTERRUPTED else "was killed"
        unknown = f"; {self.unknown:,} outcome{'' if self.unknown == 1 else 's'} unknown" \
            if self.unknown else ""
        return (f"run {self.run_id[:12]} (started {self.started}) {how} after {self.done:,} of "
                f"{self.planned:,} actions{unknown}; this run computes the difference afresh")


class Journal:
    """The journal of one datastore (a SQLite file in its state folder)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_folder(path.parent)
        new = not path.exists()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if new:
            os.chmod(path, FILE_MODE)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:  # a newer dss wrote it: reading it here could mislead undo
            self._db.close()
            raise ConfigurationError(
                f"journal {path} was written by a newer dss (journal schema {version}; this dss "
                f"reads up to {SCHEMA_VERSION}): upgrade dss, or move the file away to start anew")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(actions)")}
        if "object" not in columns:  # a journal written before undo: its actions have none
            self._db.execute("ALTER TABLE actions ADD COLUMN object TEXT")
        if version < SCHEMA_VERSION:
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._seq = 0
        self._pending: list[list[Any]] = []  # outcome, message, done, run, first seq, last seq
        self._held: list[list[Any]] = []  # as _pending, of changes not yet durable (see record)
        self.run_id: str | None = None

    @classmethod
    def in_folder(cls, folder: Path, datastore: str) -> Journal:
        return cls(folder / f"{datastore}.journal.sqlite")

    def close(self) -> None:
        self._db.close()
        for suffix in ("-wal", "-shm"):  # SQLite's side files hold the same data: private too
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.chmod(side, FILE_MODE)

    # -- one run -----------------------------------------------------------------
    def start(self, run_id: str, datastore: str, mode: str, started: str, planned: int) -> None:
        """Record that run ``run_id`` starts applying ``planned`` actions."""
        self.run_id = run_id
        self._db.execute(
            "INSERT INTO runs (id, datastore, mode, started, status, pid, host, planned) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, datastore, mode, started, RUNNING, os.getpid(), socket.gethostname(),
             planned))

    def intend(self, actions: Sequence[Action]) -> list[int]:
        """Record the intent of ``actions`` (one unit) before they are handed over; their numbers."""
        now, run_id, first = _now(), self.run_id, self._seq + 1
        rows = [(run_id, seq, a.key, a.tree, a.branch, a.method, a.kind, a.idnumber, a.attribute,
                 _json(a.value), _json(a.old_value), now, _object(a))
                for seq, a in enumerate(actions, first)]
        self._seq += len(rows)
        numbers = list(range(first, self._seq + 1))
        with self._db:  # one transaction: the last unit's outcomes, then this unit's intents
            self._db.execute("BEGIN")
            self._write_outcomes()
            self._db.executemany(
                "INSERT INTO actions (run_id, seq, key, tree, branch, method, kind, idnumber, "
                "attribute, value, old_value, intent, object) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows)
        return numbers

    def record(self, numbers: Sequence[int], results: Sequence[Result], held: bool = False) -> None:
        """Record the outcome of the actions numbered ``numbers``.

        Written with the next unit's intents (or when the run finishes): one
        transaction per unit. A run killed in between leaves these outcomes
        unknown, which is what the next run says; it never claims more.
        ``held``: the handler has not committed them yet (its transaction
        holds several units); they are written only after :meth:`release`.
        """
        now = _now()
        pending = self._held if held else self._pending
        last: list[Any] | None = None
        for n, r in zip(numbers, results, strict=True):
            outcome, message = r.status.value, r.message[:500]
            if last is not None and last[5] == n - 1 and last[0] == outcome and last[1] == message:
                last[5] = n  # one statement for a run of the same outcome (a batch's successes)
            else:
                last = [outcome, message, now, self.run_id, n, n]
                pending.append(last)

    def release(self) -> None:
        """The handler committed: the outcomes recorded ``held`` are written with the others."""
        if self._held:
            self._pending.extend(self._held)
            self._held = []

    def _write_outcomes(self) -> None:
        if self._pending:
            self._db.executemany(
                "INSERT INTO outcomes (outcome, message, done, run_id, first, last) "
                "VALUES (?, ?, ?, ?, ?, ?)", self._pending)
            self._pending = []

    def finish(self, status: str, exit_code: int) -> None:
        """Record the last outcomes and how the run ended (``done`` or ``interrupted``)."""
        with self._db:
            self._db.execute("BEGIN")
            self._write_outcomes()
        self._db.execute("UPDATE runs SET status = ?, finished = ?, exit_code = ?, reported = ? "
                         "WHERE id = ?", (status, _now(), exit_code,
                                          0 if status == INTERRUPTED else 1, self.run_id))

    # -- what earlier runs did ------------------------------------------------------
    def interruptions(self, datastore: str) -> list[Interruption]:
        """Runs of ``datastore`` that did not end well and were not reported yet; marks them reported.

        Call it holding the datastore's run lock: a run still marked running
        is then one that was killed.
        """
        found = []
        stale = self._db.execute(
            "SELECT id, started, planned, status FROM runs WHERE datastore = ? AND mode = 'apply' "
            "AND reported = 0 AND id != ? ORDER BY started", (datastore, self.run_id or ""))
        for run_id, started, planned, status in stale.fetchall():
            intended, done = self._db.execute(
                "SELECT count(*), count(outcome) + (SELECT coalesce(sum(last - first + 1), 0) "
                "FROM outcomes WHERE run_id = ?1) FROM actions WHERE run_id = ?1",
                (run_id,)).fetchone()
            unknown = intended - done
            found.append(Interruption(run_id, started, planned, done, unknown, status))
            self._db.execute("UPDATE runs SET reported = 1, status = CASE status WHEN ? THEN ? "
                             "ELSE status END WHERE id = ?", (RUNNING, KILLED, run_id))
        return found

    def succeeded(self, key: str) -> bool:
        """True when an action of this key succeeded in any journaled run (for side effects once)."""
        row = self._db.execute(f"SELECT 1 FROM actions a WHERE a.key = ? AND {_OUTCOME} = 'success' "
                               "LIMIT 1", (key,)).fetchone()
        return row is not None

    def actions_of(self, run_id: str) -> list[dict[str, Any]]:
        """What run ``run_id`` did, in order (for undo and reports)."""
        ranges: dict[str, list[tuple[int, int, str, str]]] = {}
        for run, first, last, outcome, message in self._db.execute(
                "SELECT run_id, first, last, outcome, message FROM outcomes WHERE run_id LIKE ? "
                "ORDER BY run_id, first", (f"{run_id}%",)):
            ranges.setdefault(run, []).append((first, last, outcome, message))
        starts = {run: [r[0] for r in found] for run, found in ranges.items()}
        cursor = self._db.execute(
            "SELECT run_id, seq, key, tree, branch, method, kind, idnumber, attribute, value, "
            "old_value, outcome, message, object FROM actions WHERE run_id LIKE ? ORDER BY seq",
            (f"{run_id}%",))
        names = [c[0] for c in cursor.description]
        out = []
        for row in cursor:
            item = dict(zip(names, row, strict=True))
            run = item.pop("run_id")
            if item["outcome"] is None and run in ranges:  # written as a range (see SCHEMA)
                at = bisect.bisect_right(starts[run], item["seq"]) - 1
                if at >= 0 and ranges[run][at][1] >= item["seq"]:
                    item["outcome"], item["message"] = ranges[run][at][2:]
            item["value"] = json.loads(item["value"])
            item["old_value"] = json.loads(item["old_value"])
            item["object"] = json.loads(item["object"]) if item["object"] else None
            out.append(item)
        return out

    def runs(self, datastore: str) -> Iterable[dict[str, Any]]:
        """Every journaled run of ``datastore``, newest first."""
        cursor = self._db.execute(
            "SELECT id, mode, started, finished, status, planned, exit_code FROM runs "
            "WHERE datastore = ? ORDER BY started DESC", (datastore,))
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]


def _object(action: Action) -> str | None:
    """What undo needs of the object: the values ``new`` gave it, those ``old`` took away.

    For ``new``, the source object's tracked values (how the run left it);
    for ``old``, the destination object's declared fields (what re-creates
    it) and tracked values. None for the other kinds.
    """
    if action.kind == NEW and action.source is not None:
        return _encode_object({"tracked": _tracked(action.source)})
    if action.kind == OLD and action.dest is not None:
        dest = action.dest
        fields = {name: getattr(dest, name, None) for name in type(dest).schema().fields}
        return _encode_object({"fields": _values(fields), "tracked": _tracked(dest)})
    return None


_PLAIN = frozenset({str, int, float, bool, type(None)})
#: per tuple of tracked names, a function giving an object's values of them as a tuple
_getters: dict[tuple[str, ...], Callable[[Any], tuple[Any, ...]]] = {}


def _values(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value if type(value) in _PLAIN else jsonable(value)
            for name, value in values.items()}


def _tracked(obj: Model) -> dict[str, Any]:
    """``_values(obj.values())``, the values read by one ``attrgetter`` call."""
    if type(obj).values is not Model.values:  # a model of its own making: ask it
        return _values(obj.values())
    names = type(obj).schema().tracked
    get = _getters.get(names)
    if get is None:
        get = _getters[names] = _getter(names)
    values = get(obj)
    if _PLAIN.issuperset(map(type, values)):
        return dict(zip(names, values, strict=True))
    return {name: value if type(value) in _PLAIN else jsonable(value)
            for name, value in zip(names, values, strict=True)}


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        one = operator.attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _json(value: Any) -> str:
    """``value`` as JSON (what ``json.dumps(jsonable(value))`` gives; text and None the quick way)."""
    if value is None:
        return "null"
    if type(value) is str:
        return _quoted(value)
    return _encode(jsonable(value))
