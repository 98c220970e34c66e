"""Trees and branches: how a sync is declared, and the operators that run it.

A tree is a class whose :class:`Branch` attributes name the kinds of object
it holds, each with its model and importer (classes, never dotted paths)::

    class SIS(Tree):
        users = Branch(Student, importer=StudentsCSV)
        groups = Branch(Cohort, importer=CohortsFromUsers)   # derived from users

    class LMS(Tree):
        handler = LMSHandler
        users = Branch(Account, importer=AccountsTable)
        groups = Branch(Cohort, importer=CohortsTable)

Branches import in the order they are declared (or ``order``), so a branch
may be derived from one imported before it. A :class:`Datastore` groups one
source tree and one or more destination trees under a name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, overload

from .errors import ConfigurationError
from .handlers import Handler
from .importers import GeneratorImporter, Importer, load_branch
from .model import Model
from .settings import MODES, check_configuration
from .store import BranchData, Store

if TYPE_CHECKING:
    import pluggy

    from .actions import Action
    from .config import Config
    from .runner import Summary


ImporterSpec = type[Importer] | str | Iterable[Any] | Callable[[Importer], Iterable[Any]]


class Branch:
    """Declares one branch of a tree: its model, its importer and its sync mode.

    ``importer`` is an :class:`Importer` subclass, the registered name of one
    (``"csv"``), a list of literal records, or a function taking the importer
    and yielding records (handy for a branch derived from another).
    ``mode`` limits the actions generated for this branch when the tree is a
    destination: ``full`` (default), ``create-only``, ``update-only`` or
    ``no-retire``.
    """

    def __init__(
        self,
        model: type[Model],
        importer: ImporterSpec | None = None,
        *,
        mode: str = "full",
        on_duplicate: str | None = None,
        name: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ConfigurationError(f"branch mode must be one of {', '.join(MODES)}, not {mode!r}")
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
    def __get__(self, instance: Tree, owner: type) -> BranchData: ...
    def __get__(self, instance: Tree | None, owner: type) -> Branch | BranchData:
        if instance is None:
            return self
        return instance.branch(self.name)

    def __repr__(self) -> str:
        return f"Branch({self.name!r}, model={self.model.__name__})"


class Tree:
    """One side of a sync: the source (point of truth) or a destination.

    Operators, each with an explicit method of the same behaviour:

    ========== ================== ===========================================
    ``+tree``  ``tree.load()``    run every branch importer, in branch order
    ``-tree``  ``tree.clear()``   forget everything imported
    ``a - b``  ``a.diff(b)``      generator of actions making ``b`` match ``a``
    ``a > b``  ``a.plan(b)``      print each action's message (a dry run)
    ``a >> b`` ``a.apply(b)``     hand each action to ``b``'s handler
    ========== ================== ===========================================
    """

    name: ClassVar[str] = ""
    handler: ClassVar[type[Handler] | None] = None
    order: ClassVar[Sequence[str] | None] = None
    description: ClassVar[str] = ""

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
        from .config import Config

        self.config = config or Config()
        self._plugins = plugins
        self._store = store or Store()
        branches: dict[str, Branch] = {}
        for klass in reversed(type(self).__mro__):
            for value in vars(klass).values():
                if isinstance(value, Branch):
                    branches[value.name] = value
        for extra in self.plugins.hook.dss_branches(tree=self):
            for branch in extra or ():
                if not branch.name:
                    raise ConfigurationError(f"a plugin added a branch without a name to {self.name}")
                branches.setdefault(branch.name, branch)
        self.branches = branches
        order = list(type(self).order or branches)
        unknown = [n for n in order if n not in branches]
        if unknown:
            raise ConfigurationError(f"tree {self.name}: order names unknown branches {unknown}")
        self.branch_order: list[str] = order + [n for n in branches if n not in order]

    # -- plugins ------------------------------------------------------------
    @property
    def plugins(self) -> pluggy.PluginManager:
        """The plugin manager this tree uses (the builtin plugins when none was given)."""
        if self._plugins is None:
            from .plugins import builtin_plugin_manager

            self._plugins = builtin_plugin_manager()
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

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={len(self.branch(n))}" for n in self.branch_order)
        return f"<{type(self).__name__} {self.name!r}: {sizes}>"

    # -- importing ----------------------------------------------------------
    def importer_class(self, branch: str) -> type[Importer]:
        """The importer class of ``branch`` (a named importer is looked up in the plugins)."""
        spec = self.branches[branch].importer
        if spec is None:
            raise ConfigurationError(f"{self.name}.{branch} has no importer")
        if isinstance(spec, type) and issubclass(spec, Importer):
            return spec
        if isinstance(spec, str):
            from .plugins import find_importer

            return find_importer(self.plugins, spec, where=f"{self.name}.{branch}")
        if callable(spec) or isinstance(spec, Iterable):
            cached = self.__dict__.setdefault("_generated_importers", {})
            if branch not in cached:
                cached[branch] = GeneratorImporter.of(spec, name=f"{self.name}.{branch}")
            return cached[branch]
        raise ConfigurationError(f"{self.name}.{branch}: not an importer: {spec!r}")

    def importer_for(self, branch: str) -> Importer:
        """A ready importer for ``branch`` with its settings."""
        return self.importer_class(branch)(self, branch, self.settings(branch))

    def load(self, on_branch: Callable[[str, int], None] | None = None) -> Tree:
        """Run every branch importer in branch order (``+tree``); returns the tree."""
        self.clear()
        for name in self.branch_order:
            importer = self.importer_for(name)
            count = load_branch(importer, self.branch(name), self.branches[name].on_duplicate)
            if on_branch is not None:
                on_branch(name, count)
        return self

    def load_records(self, records: dict[str, Iterable[Any]]) -> Tree:
        """Fill branches from literal records (tests and examples), through the same rules.

        A branch not given runs its own importer when that importer is
        *derived* (reads only branches imported before it); else it stays empty.
        """
        self.clear()
        for name in self.branch_order:
            if name in records:
                literal = GeneratorImporter.of(list(records[name]), name=f"{self.name}.{name}")
                importer: Importer = literal(self, name, self.settings(name))
            elif self.branches[name].importer is None:
                continue
            else:
                importer = self.importer_for(name)
                if not importer.derived:
                    continue
            load_branch(importer, self.branch(name), self.branches[name].on_duplicate)
        return self

    def clear(self) -> Tree:
        """Forget everything imported into this tree (``-tree``)."""
        self._store.clear(self.name)
        return self

    def __pos__(self) -> Tree:
        return self.load()

    def __neg__(self) -> Tree:
        return self.clear()

    # -- comparing and acting ------------------------------------------------
    def check_mirror(self, other: Tree) -> None:
        """Raise :class:`ConfigurationError` unless ``other`` has exactly this tree's branch names."""
        mine, theirs = set(self.branches), set(other.branches)
        if mine != theirs:
            parts = []
            if mine - theirs:
                parts.append(f"missing {sorted(mine - theirs)}")
            if theirs - mine:
                parts.append(f"extra {sorted(theirs - mine)}")
            raise ConfigurationError(
                f"tree {other.name} does not mirror source tree {self.name}: {'; '.join(parts)}")

    def diff(self, other: Tree) -> Iterator[Action]:
        """Actions that make ``other`` match this tree (``self - other``)."""
        from .diff import diff

        return diff(self, other)

    def __sub__(self, other: Tree) -> Iterator[Action]:
        return self.diff(other)

    def plan(self, other: Tree, allow_deletions: int | None = None) -> Summary:
        """Report every action without changing anything (``self > other``): a dry run.

        Like ``dss plan``, it raises :class:`~dss_core.GateError` after listing
        the actions when the deletion limits would stop the run.
        """
        from .gates import Allowances
        from .runner import Run, execute

        allow = Allowances(deletions={} if allow_deletions is None else {"*": allow_deletions})
        return execute(Run.create(mode="plan", plugins=self.plugins, config=self.config,
                                  allow=allow), self, [other], load=False)

    def __gt__(self, other: Tree) -> Summary:
        return self.plan(other)

    def apply(self, other: Tree, stop_on_failure: bool = False,
              allow_deletions: int | None = None) -> Summary:
        """Hand every action to ``other``'s handler (``self >> other``).

        The deletion limits hold here as in ``dss run``: a plan that would
        retire too much of a branch raises :class:`~dss_core.GateError` with
        nothing applied; ``allow_deletions=N`` lets up to N through per branch.
        """
        from .gates import Allowances
        from .runner import Run, execute

        allow = Allowances(deletions={} if allow_deletions is None else {"*": allow_deletions})
        run = Run.create(mode="apply", plugins=self.plugins, config=self.config,
                         stop_on_failure=stop_on_failure, allow=allow)
        return execute(run, self, [other], load=False)

    def __rshift__(self, other: Tree) -> Summary:
        return self.apply(other)


TreeSpec = type[Tree] | str


class Datastore:
    """A named sync: one source tree and one or more destination trees.

    Trees are given as classes, or as the names of trees a plugin registered
    through ``dss_trees``. ``open()`` makes fresh tree instances sharing one
    store, after checking that every destination mirrors the source.
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
        trees: dict[str, type[Tree]] | None = None,
    ) -> tuple[Tree, list[Tree]]:
        """Fresh, empty tree instances: the source and the destinations."""
        store = Store()

        def make(spec: TreeSpec) -> Tree:
            cls: type[Tree]
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
        check_configuration(config or source.config, [source, *dests])
        return source, dests
