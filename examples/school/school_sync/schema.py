"""The LMS database: its tables, its URL, and how to fill it.

The LMS is a stand-in for a real one (Moodle, Canvas): accounts, cohorts
(groups) and cohort members, plus class enrolments. Retired accounts are not
deleted but marked ``suspended``. The same tables work on SQLite (the
default: one file, no server) and Postgres (give a URL).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .lms import COHORT_MEMBERS, COHORTS, ENROLMENTS, USERS

metadata = sa.MetaData()

users = sa.Table(
    USERS, metadata,
    sa.Column("idnumber", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("grade", sa.Integer, nullable=True),
    sa.Column("suspended", sa.Boolean, nullable=False, default=False),
)

cohorts = sa.Table(
    COHORTS, metadata,
    sa.Column("idnumber", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
)

cohort_members = sa.Table(
    COHORT_MEMBERS, metadata,
    sa.Column("cohort_idnumber", sa.String(64),
              sa.ForeignKey(f"{COHORTS}.idnumber", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_idnumber", sa.String(64),
              sa.ForeignKey(f"{USERS}.idnumber", ondelete="CASCADE"), primary_key=True),
)

enrolments = sa.Table(
    ENROLMENTS, metadata,
    sa.Column("user_idnumber", sa.String(64),
              sa.ForeignKey(f"{USERS}.idnumber", ondelete="CASCADE"), primary_key=True),
    sa.Column("course", sa.String(64), primary_key=True),
)

#: The environment variable naming the LMS database (also the `url` setting of tree `lms`).
URL_VARIABLE = "DSS_LMS_URL"


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path).resolve()}"


def default_url(folder: str | os.PathLike[str]) -> str:
    """``$DSS_LMS_URL`` if set, else ``lms.sqlite`` in ``folder``."""
    return os.environ.get(URL_VARIABLE) or sqlite_url(Path(folder) / "lms.sqlite")


def create(url: str, users_rows: Iterable[Mapping[str, Any]],
           cohort_rows: Iterable[Mapping[str, Any]],
           member_rows: Iterable[Mapping[str, Any]],
           enrolment_rows: Iterable[Mapping[str, Any]]) -> None:
    """(Re)create the LMS tables at ``url`` and fill them with the given rows."""
    engine = sa.create_engine(url)
    try:
        metadata.drop_all(engine)
        metadata.create_all(engine)
        with engine.begin() as conn:
            for table, rows in ((users, users_rows), (cohorts, cohort_rows),
                                (cohort_members, member_rows), (enrolments, enrolment_rows)):
                batch = [dict(r) for r in rows]
                if batch:
                    conn.execute(table.insert(), batch)
    finally:
        engine.dispose()


def drop(url: str) -> None:
    """Drop the LMS tables at ``url`` (tests clean up with this)."""
    engine = sa.create_engine(url)
    try:
        metadata.drop_all(engine)
    finally:
        engine.dispose()


def counts(url: str) -> dict[str, int]:
    """Rows per LMS table, and the number of active (not suspended) accounts."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            out = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                   for t in metadata.sorted_tables}
            out["active users"] = conn.execute(
                sa.select(sa.func.count()).select_from(users).where(~users.c.suspended)
            ).scalar_one()
        return out
    finally:
        engine.dispose()
