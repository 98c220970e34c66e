"""The declarative mapping: branches to tables, so a SQL destination needs no handler code.

::

    mapping = SQLMapping(
        users=TableMap("accounts", key="username",
                       columns={"name": "full_name"},       # attribute -> column
                       retire={"suspended": True}),         # old_users marks, never deletes
        groups=TableMap("cohorts", key="code",
                        links={"members": LinkMap("cohort_members", owner="cohort",
                                                  member="username")}),
    )

    class LMS(Tree):
        handler = mapping.handler()
        users = Branch(Account, importer=mapping.importer("users"))
        groups = Branch(Cohort, importer=mapping.importer("groups"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from dss_core import ConfigurationError

from .handler import SQLHandler
from .importer import SQLImporter, reflect_table
from .tables import LinkMap, TableMap, TableMapping, check_columns

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["LinkMap", "MappedImporter", "SQLMapping", "TableMap", "TableMapping"]


class SQLMapping(TableMapping):
    """Branch name -> :class:`TableMap`; makes the destination's handler and importers.

    ``SQLMapping(users=TableMap(...), groups=TableMap(...))``. ``url`` is a
    fallback database URL (the tree setting ``url`` wins); ``batch_size`` the
    number of actions committed per transaction (default: the handler's, see
    :class:`TableMapping`).
    """

    importer_base: ClassVar[type[SQLImporter]] = SQLImporter

    def handler_base(self) -> type[SQLHandler]:
        """The handler class :meth:`handler` subclasses by default."""
        return SQLHandler

    def handler(self, base: type[SQLHandler] | None = None, **attrs: Any) -> type[SQLHandler]:
        """A handler class applying actions through this mapping (subclass it to add methods)."""
        base = base or self.handler_base()
        return type(base.__name__, (base,), {"mapping": self, **attrs})

    def importer(self, branch: str, base: type[SQLImporter] | None = None,
                 **attrs: Any) -> type[SQLImporter]:
        """An importer class reading ``branch`` back from its mapped table(s).

        Retired rows are skipped; each membership is read with one query
        over its link table (one row per membership, merged by the core).
        """
        if branch not in self.tables:
            raise ConfigurationError(f"the mapping has no branch {branch!r}")
        base = base or self.importer_base
        return type(f"Mapped{base.__name__}", (MappedImporter, base),
                    {"mapping": self, "mapped_branch": branch, "url": self.url,
                     "name": None, **attrs})


class MappedImporter(SQLImporter):
    """Reads a branch through a :class:`SQLMapping` (made by :meth:`SQLMapping.importer`)."""

    mapping: ClassVar[SQLMapping]
    mapped_branch: ClassVar[str]

    @property
    def table_map(self) -> TableMap:
        return self.mapping[self.mapped_branch]

    def describe(self) -> str:
        return self.table_map.table

    def renames(self) -> dict[str, str]:
        return {}

    def statements(self, conn: Connection) -> list[Any]:
        """The base rows, then one statement per membership attribute over its link table.

        Only the rows in the mapping's ``scope`` that are not retired are
        read. A link table holding surrogate keys is read with one join
        through the owner's and the member's tables (members outside the
        scope of their own branch are left out).
        """
        import sqlalchemy as sa

        from .tables import scope_clause, scope_columns

        tmap = self.table_map
        model = self.tree.branches[self.branch].model
        url = self.database_url
        md = sa.MetaData()
        table = reflect_table(conn, tmap.table, url, md)
        columns = tmap.columns_for(model)
        check_columns(table, [tmap.key, *columns.values(), *(tmap.retire or {}),
                              *scope_columns(tmap.scope)], url)
        selected = [table.c[tmap.key].label("idnumber"),
                    *(table.c[col].label(attr) for attr, col in columns.items())]
        conditions = [c for c in (scope_clause(tmap.scope, table), tmap.live_clause(table))
                      if c is not None]
        out = [sa.select(*selected).where(*conditions)]
        for attr, link in tmap.links_for(model).items():
            ltable = reflect_table(conn, link.table, url, md)
            check_columns(ltable, [link.owner, link.member], url)
            owner = table.c[link.owner_id] if link.owner_id else table.c[tmap.key]
            check_columns(table, [owner.name], url)
            joined = table.join(ltable, ltable.c[link.owner] == owner)
            member = ltable.c[link.member]
            where = list(conditions)
            if link.member_table:
                key = self.mapping.member_key(link)
                mscope = self.mapping.member_scope(link)
                mtable = reflect_table(conn, link.member_table, url, md)
                check_columns(mtable, [link.member_id, key, *scope_columns(mscope)], url)
                # a table linking rows of its own is joined twice: the members through an alias
                alias = sa.alias(mtable, name="dss_member") if mtable is table else mtable
                joined = joined.join(alias, alias.c[link.member_id] == member)
                member = alias.c[key]
                mclause = scope_clause(mscope, alias)
                if mclause is not None:
                    where.append(mclause)
            out.append(sa.select(*selected, member.label(attr)).select_from(joined).where(*where))
        return out
