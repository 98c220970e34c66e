"""How a sync is declared: branches, the tree that holds them, and the datastore that pairs trees.

This module only declares; nothing here imports, diffs or applies. The
engine (:mod:`dss_core.loading`, :mod:`dss_core.diff`, :mod:`dss_core.runner`)
works on these declarations, and :class:`dss_core.Tree` adds the operators
``+ - > >>`` on top of both.

A tree is a class whose :class:`Branch` attributes name the kinds of object
it holds, each with its model and importer (classes, never dotted paths)::

    class SIS(Tree):
        users = Branch(Student, importer=StudentsCSV)
        groups = Branch(Cohort, importer=CohortsFromUsers)   # derived from users

Branches import in the order they are declared (or ``order``), so a branch
may be derived from one imported before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, overload

from .config import Config
from .errors import ConfigurationError
from .model import Model
from .settings import MODES
from .store import BranchData, Store

if TYPE_CHECKING:
    import pluggy

#: What a branch's ``importer`` may be: an Importer class, a registered importer's
#: name, literal records, or a function of the importer yielding records.
ImporterSpec = type | str | Iterable[Any] | Callable[[Any], Iterable[Any]]


class Branch:
    """Declares one branch of a tree: its model, its importer and its sync mode.

    ``importer`` is an :class:`~dss_core.Importer` subclass, the registered
    name of one (``"csv"``), a list of literal records, or a function taking
    the importer and yielding records (handy for a branch derived from
    another). ``mode`` limits the actions generated for this branch when the
    tree is a destination: ``full`` (default), ``create-only``,
    ``update-only`` or ``no-retire``.

    ``references`` names the values that are objects of another branch:
    ``{"members": "users"}`` (each member is a user's idnumber), or
    ``{"idnumber": "users"}`` (each object belongs to the user of its
    idnumber). An action needing an object that will not be there (its
    ``new`` failed, it is retired in this run) is skipped with the reason.
    """

    def __init__(
        self,
        model: type[Model],
        importer: ImporterSpec | None = None,
        *,
        mode: str = "full",
        on_duplicate: str | None = None,
        name: str | None = None,
        references: dict[str, str] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigurationError(f"branch mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.references = dict(references or {})
        self.model = model
        self.importer = importer
        self.mode = mode
        self.on_duplicate = on_duplicate
        self.name = name or ""

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.name:
            self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> Branch: ...
    @overload
    def __get__(self, instance: TreeDeclaration, owner: type) -> BranchData: ...
    def __get__(self, instance: TreeDeclaration | None, owner: type) -> Branch | BranchData:
        if instance is None:
            return self
        return instance.branch(self.name)

    def __repr__(self) -> str:
        return f"Branch({self.name!r}, model={self.model.__name__})"


class TreeDeclaration:
    """One side of a sync as declared: its branches, their order, settings and data.

    Subclass :class:`dss_core.Tree`, which adds the operators; importers,
    handlers and the engine see a tree through this class.

    A destination has the source's branches. One that does not take some of
    them (a directory of accounts and groups beside an LMS that also takes
    enrolments) names them in ``skips``: those are then not synced to it,
    and any other difference in branch names is still an error.
    """

    name: ClassVar[str] = ""
    handler: ClassVar[type[Any] | None] = None  # a dss_core.Handler subclass
    order: ClassVar[Sequence[str] | None] = None
    description: ClassVar[str] = ""
    skips: ClassVar[Sequence[str]] = ()  # source branches this destination does not take

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__.lower()

    def __init__(
        self,
        *,
        config: Config | None = None,
        plugins: pluggy.PluginManager | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config or Config()
        self._plugins = plugins
        self._store = store or Store()
        self.branches: dict[str, Branch] = self.declared_branches()
        self.branch_order: list[str] = self._order(strict=False)

    def add_branches(self, branches: Iterable[Branch]) -> None:
        """Add branches a plugin discovered (``dss_branches``); a declared one of the name wins.

        ``order`` may name a branch that only discovery brings; once every
        plugin was asked, :meth:`check_order` refuses a name still unknown.
        """
        for branch in branches:
            if not branch.name:
                raise ConfigurationError(f"a plugin added a branch without a name to {self.name}")
            self.branches.setdefault(branch.name, branch)
        self.branch_order = self._order(strict=False)

    def check_order(self) -> None:
        """Raise ConfigurationError when ``order`` or a ``references`` names what is not there."""
        self.branch_order = self._order(strict=True)
        for name, branch in self.branches.items():
            schema = branch.model.schema()
            for attribute, target in branch.references.items():
                if target not in self.branches:
                    raise ConfigurationError(
                        f"tree {self.name}: branch {name} references {attribute} -> {target!r}, "
                        f"which is no branch of the tree ({', '.join(self.branch_order)})")
                if attribute != "idnumber" and attribute not in schema.membership:
                    raise ConfigurationError(
                        f"tree {self.name}: branch {name} references {attribute!r}, which is not "
                        f"a set or list attribute of {branch.model.__name__} (nor 'idnumber')")

    def _order(self, strict: bool) -> list[str]:
        order = list(type(self).order or self.branches)
        unknown = [n for n in order if n not in self.branches]
        if unknown and strict:
            raise ConfigurationError(f"tree {self.name}: order names unknown branches {unknown}")
        order = [n for n in order if n in self.branches]
        return order + [n for n in self.branches if n not in order]

    @classmethod
    def declared_branches(cls) -> dict[str, Branch]:
        """The branches the class declares (base classes first), by name."""
        branches: dict[str, Branch] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                if isinstance(value, Branch):
                    branches[value.name] = value
        return branches

    @property
    def plugin_manager(self) -> pluggy.PluginManager | None:
        """The plugin manager given to this tree, if any."""
        return self._plugins

    # -- reading ------------------------------------------------------------
    def branch(self, name: str) -> BranchData:
        """The data of branch ``name``: a read-only dict of objects by idnumber."""
        try:
            declared = self.branches[name]
        except KeyError:
            raise ConfigurationError(f"tree {self.name} has no branch {name!r}") from None
        return self._store.branch(self.name, name, declared.model)

    def __getattr__(self, name: str) -> BranchData:
        branches = self.__dict__.get("branches")
        if branches is not None and name in branches:
            return self.branch(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def settings(self, branch: str | None = None) -> dict[str, Any]:
        """Configured settings of this tree, or of one of its branches (with the tree's)."""
        return self.config.settings_for(self.name, branch, self.branches)

    def mode_of(self, branch: str) -> str:
        """The sync mode of ``branch`` (configuration overrides the declaration)."""
        mode = self.settings(branch).get("mode") or self.branches[branch].mode
        if mode not in MODES:
            raise ConfigurationError(
                f"{self.name}.{branch}: mode must be one of {', '.join(MODES)}, not {mode!r}")
        return str(mode)

    def clear(self) -> TreeDeclaration:
        """Forget everything imported into this tree."""
        self._store.clear(self.name)
        return self

    def check_mirror(self, other: TreeDeclaration) -> None:
        """Raise :class:`ConfigurationError` unless ``other`` has this tree's branch names.

        Branches ``other`` names in its ``skips`` may be missing from it (and only those).
        """
        mine, theirs, skipped = set(self.branches), set(other.branches), set(other.skips)
        parts = []
        if mine - theirs - skipped:
            parts.append(f"missing {sorted(mine - theirs - skipped)} (a destination that does not "
                         f"take a branch names it: skips = {tuple(sorted(mine - theirs - skipped))!r})")
        if theirs - mine:
            parts.append(f"extra {sorted(theirs - mine)}")
        if skipped - mine:
            parts.append(f"skips names {sorted(skipped - mine)}, not branches of {self.name}")
        if skipped & theirs:
            parts.append(f"skips names {sorted(skipped & theirs)}, which it has")
        if parts:
            raise ConfigurationError(
                f"tree {other.name} does not mirror source tree {self.name}: {'; '.join(parts)}")

    def takes(self, branch: str) -> bool:
        """True when this (destination) tree takes ``branch`` of the source (see ``skips``)."""
        return branch in self.branches

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(self.branch(n))}" for n in self.branch_order)
        return f"<{type(self).__name__} {self.name!r}: {sizes}>"


TreeSpec = type[TreeDeclaration] | str


class Datastore:
    """A named sync: one source tree and one or more destination trees.

    Trees are given as classes, or as the names of trees a plugin registered
    through ``dss_trees``. :func:`dss_core.open_datastore` (or
    ``datastore.open()``) makes fresh tree instances sharing one store.
    """

    def __init__(
        self,
        name: str,
        source: TreeSpec,
        destinations: Sequence[TreeSpec] | TreeSpec,
        description: str = "",
    ) -> None:
        self.name = name
        self.source = source
        self.destinations: list[TreeSpec] = (
            list(destinations) if isinstance(destinations, (list, tuple))
            else [destinations])  # type: ignore[list-item]
        self.description = description

    def __repr__(self) -> str:
        return f"Datastore({self.name!r})"

    def open(
        self,
        config: Config | None = None,
        plugins: pluggy.PluginManager | None = None,
        trees: Mapping[str, type[TreeDeclaration]] | None = None,
    ) -> tuple[Any, list[Any]]:
        """Fresh, empty tree instances sharing one store: the source and the destinations.

        Checks that every destination mirrors the source. The commands use
        :func:`dss_core.open_datastore`, which also checks the configuration.
        """
        store = Store()

        def make(spec: TreeSpec) -> TreeDeclaration:
            cls: type[TreeDeclaration]
            if isinstance(spec, str):
                if trees is None or spec not in trees:
                    raise ConfigurationError(
                        f"datastore {self.name}: no tree named {spec!r} is registered")
                cls = trees[spec]
            else:
                cls = spec
            return cls(config=config, plugins=plugins, store=store)

        source = make(self.source)
        dests = [make(d) for d in self.destinations]
        names = [source.name, *(d.name for d in dests)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:  # trees of one store are kept by name: two of one name would share their data
            raise ConfigurationError(
                f"datastore {self.name}: more than one tree is named {', '.join(map(repr, twice))}")
        for dest in dests:
            source.check_mirror(dest)
        return source, dests
