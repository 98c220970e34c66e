"""Trees and branches: dict-like branches, mirrored branch names, the dss_branches hook."""

from __future__ import annotations

from typing import Any

import pytest

from dss_core import Branch, ConfigurationError, Datastore, Importer, Model, Tree, hookimpl


class User(Model):
    name: str


class Group(Model):
    members: set[str] = set()


USERS = [{"idnumber": "2", "name": "Bob"}, {"idnumber": "1", "name": "Ann"}]


class Sis(Tree):
    users = Branch(User)
    groups = Branch(Group)


def test_branch_reads_like_a_dict(dss_tree) -> None:
    tree = dss_tree(Sis, users=USERS)
    users = tree.users
    assert len(users) == 2
    assert "1" in users and "3" not in users
    assert users.get("1").name == "Ann"
    assert users.get("3") is None
    assert users["2"].name == "Bob"
    with pytest.raises(KeyError):
        users["3"]
    assert sorted(users) == ["1", "2"]
    assert sorted(users.keys()) == ["1", "2"]
    assert sorted((k, o.name) for k, o in users.items()) == [("1", "Ann"), ("2", "Bob")]
    assert sorted(o.name for o in users.values()) == ["Ann", "Bob"]
    assert tree.branch("users") is users
    assert len(tree.groups) == 0


def test_unknown_branch_is_a_configuration_error(dss_tree) -> None:
    tree = dss_tree(Sis)
    with pytest.raises(ConfigurationError, match="nope"):
        tree.branch("nope")
    with pytest.raises(AttributeError):
        _ = tree.nope


def test_branches_in_declared_order() -> None:
    assert Sis().branch_order == ["users", "groups"]


def test_destination_must_mirror_source_before_any_import(dss_plugins) -> None:
    called: list[str] = []

    class Recording(Importer):
        def readin(self):
            called.append(f"{self.tree.name}.{self.branch}")
            return []

    class Src(Tree):
        users = Branch(User, Recording)
        groups = Branch(Group, Recording)

    class Dst(Tree):
        users = Branch(User, Recording)
        teams = Branch(Group, Recording)

    store = Datastore("school", Src, [Dst])
    with pytest.raises(ConfigurationError) as info:
        store.open(plugins=dss_plugins)
    text = str(info.value)
    assert "dst" in text and "groups" in text and "teams" in text
    assert called == []


def test_execute_checks_the_mirror_before_any_import(dss_plugins) -> None:
    from dss_core import Config, Run
    from dss_core.runner import execute

    called: list[str] = []

    class Recording(Importer):
        def readin(self):
            called.append(self.branch)
            return []

    class Src(Tree):
        users = Branch(User, Recording)
        groups = Branch(Group, Recording)

    class Dst(Tree):
        users = Branch(User, Recording)

    src, dst = Src(plugins=dss_plugins), Dst(plugins=dss_plugins)
    run = Run.create("plan", dss_plugins, Config(environ={}))
    run.options["quiet"] = True
    with pytest.raises(ConfigurationError, match="groups"):
        execute(run, src, [dst])
    assert called == []


def test_mirrored_datastore_opens_fresh_trees_sharing_one_store(dss_plugins) -> None:
    class Dst(Tree):
        users = Branch(User)
        groups = Branch(Group)

    source, dests = Datastore("school", Sis, Dst).open(plugins=dss_plugins)
    assert isinstance(source, Sis)
    assert [type(d) for d in dests] == [Dst]
    assert source._store is dests[0]._store


def test_datastore_names_registered_trees(dss_plugins) -> None:
    ds = Datastore("school", "sis", ["sis2"])
    with pytest.raises(ConfigurationError, match="sis2"):
        ds.open(plugins=dss_plugins, trees={"sis": Sis})
    sis2 = type("Sis2", (Sis,), {"name": "sis2"})
    source, (dest,) = ds.open(plugins=dss_plugins, trees={"sis": Sis, "sis2": sis2})
    assert (source.name, dest.name) == ("sis", "sis2")


def test_dss_branches_hook_adds_a_branch(dss_plugins) -> None:
    class AddsCourses:
        @hookimpl
        def dss_branches(self, tree: Tree) -> list[Branch] | None:
            if tree.name == "sis":
                return [Branch(Group, [{"idnumber": "c1", "members": ["1"]}], name="courses")]
            return None

    class Plain(Tree):
        users = Branch(User)

    class Loaded(Tree):
        name = "sis"
        users = Branch(User, USERS)
        groups = Branch(Group, [])

    dss_plugins.register(AddsCourses())
    tree = Loaded(plugins=dss_plugins)
    assert tree.branch_order == ["users", "groups", "courses"]
    tree.load()
    assert len(tree.users) == 2
    assert tree.courses["c1"].members == {"1"}
    assert Plain(plugins=dss_plugins).branch_order == ["users"]


def test_dss_branches_hook_does_not_replace_declared_branch(dss_plugins) -> None:
    class Clashes:
        @hookimpl
        def dss_branches(self, tree: Tree) -> list[Branch]:
            return [Branch(User, name="groups")]

    dss_plugins.register(Clashes())
    tree = Sis(plugins=dss_plugins)
    assert tree.branches["groups"].model is Group


def test_dss_branches_hook_unnamed_branch_is_an_error(dss_plugins) -> None:
    class Unnamed:
        @hookimpl
        def dss_branches(self, tree: Tree) -> list[Branch]:
            return [Branch(User)]

    dss_plugins.register(Unnamed())
    with pytest.raises(ConfigurationError, match="without a name"):
        Sis(plugins=dss_plugins)


def test_bad_branch_mode_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="mode"):
        Branch(User, mode="sometimes")


def test_tree_repr_and_default_name(dss_tree: Any) -> None:
    tree = dss_tree(Sis, users=USERS)
    assert Sis.name == "sis"
    assert repr(tree) == "<Sis 'sis': users=2, groups=0>"


def test_datastore_trees_of_one_name_are_a_configuration_error(dss_plugins) -> None:
    # the trees of a datastore share one store keyed by tree name: two trees of one
    # name would silently share their data and the diff would always be empty
    class Lms(Tree):
        name = "sis"
        users = Branch(User, [{"idnumber": "9", "name": "Old"}])
        groups = Branch(Group, [])

    with pytest.raises(ConfigurationError, match="'sis'"):
        Datastore("school", Sis, [Lms]).open(plugins=dss_plugins)
