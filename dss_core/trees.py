"""The front door: :class:`Tree` with the operators ``+ - > >>``, and :func:`open_datastore`.

A tree *declares* (:class:`~dss_core.declaration.TreeDeclaration`: branches,
models, importers, settings); the engine *executes* (:mod:`dss_core.loading`,
:mod:`dss_core.diff`, :mod:`dss_core.runner`). This module is the thin layer
that lets a tree be used like the design says::

    class SIS(Tree):
        users = Branch(Student, importer=StudentsCSV)

    class LMS(Tree):
        handler = LMSHandler
        users = Branch(Account, importer=AccountsTable)

    sis, lms = +SIS(), +LMS()      # import
    sis > lms                      # plan
    sis >> lms                     # apply

========== ================== ===========================================
``+tree``  ``tree.load()``    run every branch importer, in branch order
``-tree``  ``tree.clear()``   forget everything imported
``a - b``  ``a.diff(b)``      generator of actions making ``b`` match ``a``
``a > b``  ``a.plan(b)``      print each action's message (a dry run)
``a >> b`` ``a.apply(b)``     hand each action to ``b``'s handler
========== ================== ===========================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .actions import Action
from .config import Config
from .configcheck import check_configuration
from .declaration import Branch, Datastore, TreeDeclaration, TreeSpec
from .diff import diff
from .gates import Allowances
from .importers import Importer
from .loading import importer_class, importer_for, load_records, load_tree, plugins_of
from .runner import Run, Summary, execute

if TYPE_CHECKING:
    import pluggy

    from .store import Store

__all__ = ["Branch", "Datastore", "Tree", "TreeSpec", "open_datastore"]


class Tree(TreeDeclaration):
    """One side of a sync: the source (point of truth) or a destination.

    Declare branches as class attributes (:class:`Branch`), a ``handler``
    for a destination, and an ``order`` when a branch is derived from
    another. When made, the tree asks the plugins for more branches
    (``dss_branches``, which sees the declared ones in ``tree.branches``).
    """

    def __init__(
        self,
        *,
        config: Config | None = None,
        plugins: pluggy.PluginManager | None = None,
        store: Store | None = None,
    ) -> None:
        super().__init__(config=config, plugins=plugins, store=store)
        for extra in self.plugins.hook.dss_branches(tree=self):
            self.add_branches(extra or ())
        self.check_order()

    @property
    def plugins(self) -> pluggy.PluginManager:
        """The plugin manager this tree uses (the builtin plugins when none was given)."""
        return plugins_of(self)

    # -- importing ----------------------------------------------------------
    def importer_class(self, branch: str) -> type[Importer]:
        """The importer class of ``branch`` (a named importer is looked up in the plugins)."""
        return importer_class(self, branch)

    def importer_for(self, branch: str) -> Importer:
        """A ready importer for ``branch`` with its settings."""
        return importer_for(self, branch)

    def load(self, on_branch: Callable[[str, int], None] | None = None) -> Tree:
        """Run every branch importer in branch order (``+tree``); returns the tree."""
        load_tree(self, on_branch)
        return self

    def load_records(self, records: dict[str, Iterable[Any]]) -> Tree:
        """Fill branches from literal records (tests and examples), through the same rules."""
        load_records(self, records)
        return self

    def clear(self) -> Tree:
        """Forget everything imported into this tree (``-tree``)."""
        super().clear()
        return self

    def __pos__(self) -> Tree:
        return self.load()

    def __neg__(self) -> Tree:
        return self.clear()

    # -- comparing and acting ------------------------------------------------
    def diff(self, other: TreeDeclaration) -> Iterator[Action]:
        """Actions that make ``other`` match this tree (``self - other``)."""
        return diff(self, other)

    def __sub__(self, other: TreeDeclaration) -> Iterator[Action]:
        return self.diff(other)

    def plan(self, other: TreeDeclaration, allow_deletions: int | None = None) -> Summary:
        """Report every action without changing anything (``self > other``): a dry run.

        Like ``dss plan``, it raises :class:`~dss_core.GateError` after listing
        the actions when the deletion limits would stop the run.
        """
        allow = Allowances(deletions={} if allow_deletions is None else {"*": allow_deletions})
        return execute(Run.create(mode="plan", plugins=self.plugins, config=self.config,
                                  allow=allow), self, [other], load=False)

    def __gt__(self, other: TreeDeclaration) -> Summary:
        return self.plan(other)

    def apply(self, other: TreeDeclaration, stop_on_failure: bool = False,
              allow_deletions: int | None = None) -> Summary:
        """Hand every action to ``other``'s handler (``self >> other``).

        The deletion limits hold here as in ``dss run``: a plan that would
        retire too much of a branch raises :class:`~dss_core.GateError` with
        nothing applied; ``allow_deletions=N`` lets up to N through per branch.
        """
        allow = Allowances(deletions={} if allow_deletions is None else {"*": allow_deletions})
        run = Run.create(mode="apply", plugins=self.plugins, config=self.config,
                         stop_on_failure=stop_on_failure, allow=allow)
        return execute(run, self, [other], load=False)

    def __rshift__(self, other: TreeDeclaration) -> Summary:
        return self.apply(other)


def open_datastore(
    datastore: Datastore,
    config: Config | None = None,
    plugins: pluggy.PluginManager | None = None,
    trees: Mapping[str, type[TreeDeclaration]] | None = None,
) -> tuple[Tree, list[Tree]]:
    """Fresh trees of ``datastore`` (see :meth:`Datastore.open`), their configuration checked.

    An unknown setting or a value of the wrong type, in a file or a ``DSS_*``
    variable, is a :class:`~dss_core.ConfigurationError` here, before
    anything is imported.
    """
    source, dests = datastore.open(config, plugins, trees)
    check_configuration(config or source.config, [source, *dests])
    return source, dests
