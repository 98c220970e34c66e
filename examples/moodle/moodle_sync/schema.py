"""Moodle's own tables, the subset the sync touches, as Moodle's installer creates them.

Taken from Moodle's ``lib/db/install.xml`` (tables ``user``, ``cohort`` and
``cohort_members``) and rendered the way Moodle's XMLDB generators do
(``lib/ddl/*_sql_generator.php``): ``int`` of length 1-4 is SMALLINT on
PostgreSQL (TINYINT up to 2, SMALLINT up to 4 on MySQL/MariaDB), of length 10
BIGINT; the sequence ``id`` is BIGSERIAL / BIGINT AUTO_INCREMENT / SQLite's
INTEGER PRIMARY KEY; a NOT NULL ``char`` without a DEFAULT gets ``DEFAULT ''``
(``$default_for_char``). Used by the tests and the demo only: the sync itself
never creates a table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()


def _id() -> sa.Column[Any]:
    kind = sa.BigInteger().with_variant(sa.Integer, "sqlite").with_variant(
        mysql.BIGINT(10), "mysql", "mariadb")
    return sa.Column("id", kind, primary_key=True, autoincrement=True)


def _int(name: str, length: int, default: int | None = None, notnull: bool = True) -> sa.Column[Any]:
    """Moodle's ``TYPE="int" LENGTH=...``."""
    if length > 9:
        kind: Any = sa.BigInteger().with_variant(mysql.BIGINT(length), "mysql", "mariadb")
    elif length > 4:
        kind = sa.Integer().with_variant(mysql.INTEGER(length), "mysql", "mariadb")
    else:
        small = mysql.TINYINT(length) if length <= 2 else mysql.SMALLINT(length)
        kind = sa.SmallInteger().with_variant(small, "mysql", "mariadb")
    return sa.Column(name, kind, nullable=not notnull,
                     server_default=None if default is None else str(default))


def _char(name: str, length: int, default: str | None = None, notnull: bool = True) -> sa.Column[Any]:
    """Moodle's ``TYPE="char"``: NOT NULL without DEFAULT gets DEFAULT '' (``$default_for_char``)."""
    if notnull and default is None:
        default = ""
    return sa.Column(name, sa.String(length), nullable=not notnull, server_default=default)


def _text(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"),
                     nullable=True)


mdl_user = sa.Table(
    "mdl_user", metadata, _id(),
    _char("auth", 20, "manual"), _int("confirmed", 1, 0), _int("policyagreed", 1, 0),
    _int("deleted", 1, 0), _int("suspended", 1, 0), _int("mnethostid", 10, 0),
    _char("username", 100), _char("password", 255), _char("idnumber", 255),
    _char("firstname", 100), _char("lastname", 100), _char("email", 100),
    _int("emailstop", 1, 0), _char("lang", 30, "en"), _char("calendartype", 30, "gregorian"),
    _char("timezone", 100, "99"), _int("firstaccess", 10, 0), _int("lastaccess", 10, 0),
    _int("lastlogin", 10, 0), _int("currentlogin", 10, 0), _char("lastip", 45),
    _text("description"), _int("descriptionformat", 2, 1), _int("timecreated", 10, 0),
    _int("timemodified", 10, 0),
    sa.Index("mdl_user_mneuse_uix", "mnethostid", "username", unique=True),
    sa.Index("mdl_user_idn_ix", "idnumber"),
    sa.Index("mdl_user_del_ix", "deleted"),
)

mdl_cohort = sa.Table(
    "mdl_cohort", metadata, _id(),
    _int("contextid", 10), _char("name", 254), _char("idnumber", 100, notnull=False),
    _text("description"), _int("descriptionformat", 2), _int("visible", 1, 1),
    _char("component", 100), _int("timecreated", 10), _int("timemodified", 10),
    _char("theme", 50, notnull=False),
    sa.Index("mdl_coho_con_ix", "contextid"),
)

mdl_cohort_members = sa.Table(
    "mdl_cohort_members", metadata, _id(),
    _int("cohortid", 10, 0), _int("userid", 10, 0), _int("timeadded", 10, 0),
    sa.Index("mdl_cohomemb_cohuse_uix", "cohortid", "userid", unique=True),
    sa.Index("mdl_cohomemb_coh_ix", "cohortid"),
    sa.Index("mdl_cohomemb_use_ix", "userid"),
)


def install(url: str, users: Iterable[dict[str, Any]] = (),
            cohorts: Iterable[dict[str, Any]] = (),
            members: Iterable[tuple[str, str]] = ()) -> None:
    """(Re)create the tables at ``url`` with a fresh site's guest and admin, then the given rows.

    ``members`` are ``(cohort name, username)`` pairs, linked by id as Moodle does.
    """
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        metadata.drop_all(engine)
        metadata.create_all(engine)
        with engine.begin() as conn:
            for user in [{"username": "guest", "firstname": "Guest user"},
                         {"username": "admin", "firstname": "Admin", "lastname": "User",
                          "email": "admin@school.example"}, *users]:
                conn.execute(mdl_user.insert().values(mnethostid=1, confirmed=1, **user))
            for cohort in cohorts:
                conn.execute(mdl_cohort.insert().values(
                    contextid=1, descriptionformat=1, timecreated=0, timemodified=0, **cohort))
            ids = {"users": dict(conn.execute(sa.select(mdl_user.c.username, mdl_user.c.id)).all()),
                   "cohorts": dict(conn.execute(sa.select(mdl_cohort.c.name, mdl_cohort.c.id)).all())}
            rows = [{"cohortid": ids["cohorts"][c], "userid": ids["users"][u]} for c, u in members]
            if rows:
                conn.execute(mdl_cohort_members.insert(), rows)
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the three tables, sorted (for tests)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {t.name: sorted(tuple(r) for r in conn.execute(sa.select(t)))
                    for t in metadata.sorted_tables}
    finally:
        engine.dispose()
