"""The dss side of ``benchmarks/peers.py``: the workload's trees and datastores, as a plugin.

``peers.py`` makes it visible to the real ``dss`` command through an entry point
(``[dss] peers-bench = dss_peers_bench``) in a generated ``.dist-info`` folder on
``PYTHONPATH``, so nothing is installed into the environment. Paths, URLs and the
Postgres table come from the ``dss.toml`` that ``peers.py`` writes next to the data.

Datastores: ``peers_<dest>`` (``dest`` one of ``csv``, ``sqlite``, ``postgres``),
source ``source.csv`` against that destination, the users branch only; and
``peers_<dest>_derived``: the same with a derived attribute (``display_name``, a
``@property``, declared with a column expression too) and a derived ``groups``
branch (each group and its members, built from the imported users: from their
columns when the users are stored as columns, else from their objects) on both sides.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from dss_csv import CSVImporter
from dss_postgres import PostgresImporter
from dss_sql import SQLImporter

from dss_core import Branch, Datastore, Importer, Model, Tree, derived, hookimpl

DESTINATIONS = ("csv", "sqlite", "postgres")


class User(Model):
    """One row of the workload: eight text columns and the ``;``-separated groups as a set."""

    firstname: str
    lastname: str
    email: str
    username: str
    department: str
    homeroom: str
    grade: str
    status: str
    groups: set[str] = set()


class DerivedUser(User):
    """The same user with one derived attribute, compared like any other.

    Its body is the truth for objects; on a columnar branch the whole column is
    the expression's (``c.firstname``: the column of field ``firstname``).
    """

    @property
    @derived(lambda c: c.firstname + " " + c.lastname)
    def display_name(self) -> str:
        return f"{self.firstname} {self.lastname}"


class Group(Model):
    """A group and its members (user idnumbers), derived from the users branch."""

    members: set[str] = set()


class GroupsFromUsers(Importer):
    """The groups branch: every group any user is in, with its members."""

    derived = True

    def readin(self) -> Iterator[dict[str, Any]]:
        members: dict[str, set[str]] = {}
        users: Any = self.tree.branch("users")
        for idnumber, user in users.items():
            for group in user.groups:
                members.setdefault(group, set()).add(idnumber)
        for group in sorted(members):
            yield {"idnumber": group, "members": members[group]}

    def read_columns(self) -> dict[str, Any] | None:
        """The same groups from the users' columns: one row per group, its members a list."""
        users = self.tree.branch("users").frame("idnumber", "groups")
        if users is None:
            return None  # the users are objects: readin() reads them
        import polars as pl

        frame = (users.lazy().select("idnumber", "groups").explode("groups")
                 .drop_nulls("groups").group_by("groups").agg(members=pl.col("idnumber"))
                 .sort("groups").rename({"groups": "idnumber"}).collect())
        return {"frame": frame}

    def describe(self) -> str:
        return "groups derived from users"


class UsersCSV(CSVImporter):
    """A users file (``path`` from dss.toml); the groups column split on ``;``."""

    list_columns: ClassVar[Mapping[str, str]] = {"groups": ";"}


class UsersSQLite(SQLImporter):
    """Table ``users`` of dest.sqlite (``url`` from dss.toml); ``groups`` a list column, as in the CSV."""

    table = "users"
    list_columns: ClassVar[Mapping[str, str]] = {"groups": ";"}


class UsersPostgres(PostgresImporter):
    """The destination table on Postgres (``url`` and ``table`` from dss.toml), as UsersSQLite."""

    table = "users"
    list_columns: ClassVar[Mapping[str, str]] = {"groups": ";"}


IMPORTERS: dict[str, type[Importer]] = {"csv": UsersCSV, "sqlite": UsersSQLite,
                                        "postgres": UsersPostgres}


def tree(name: str, importer: type[Importer], derived: bool) -> type[Tree]:
    """A tree class: users (and with ``derived``, the derived model and the groups branch)."""
    attrs: dict[str, Any] = {"name": name, "description": f"benchmarks/peers.py: {name}",
                             "users": Branch(DerivedUser if derived else User, importer=importer)}
    if derived:
        attrs["order"] = ("users", "groups")
        attrs["groups"] = Branch(Group, importer=GroupsFromUsers)
    return type(name, (Tree,), attrs)


def _trees() -> dict[str, type[Tree]]:
    out = {}
    for with_derived in (False, True):
        suffix = "_derived" if with_derived else ""
        out[f"peers_source{suffix}"] = tree(f"peers_source{suffix}", UsersCSV, with_derived)
        for dest in DESTINATIONS:
            name = f"peers_dest_{dest}{suffix}"
            out[name] = tree(name, IMPORTERS[dest], with_derived)
    return out


TREES = _trees()


@hookimpl
def dss_trees(config: Any) -> list[type[Tree]]:
    """Every tree of the benchmark, registered by name."""
    return list(TREES.values())


@hookimpl
def dss_datastores(config: Any) -> list[Datastore]:
    """``peers_<dest>`` and ``peers_<dest>_derived`` for each destination."""
    return [Datastore(f"peers_{dest}{suffix}", source=f"peers_source{suffix}",
                      destinations=[f"peers_dest_{dest}{suffix}"])
            for dest in DESTINATIONS for suffix in ("", "_derived")]
