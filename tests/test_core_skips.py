"""A destination that does not take every branch of the source says so: ``skips``."""

from __future__ import annotations

import pytest

from dss_core import Branch, ConfigurationError, Datastore, Model, Tree
from dss_core.plugins import builtin_plugin_manager
from dss_core.testing import MemoryDatabase, memory_tree


class User(Model):
    name: str = ""


class Enrolment(Model):
    courses: set[str] = set()


class Source(Tree):
    name = "src"
    users = Branch(User, [{"idnumber": "1", "name": "Ann"}])
    enrolments = Branch(Enrolment, [{"idnumber": "1", "courses": ["math"]}])


def _directory(skips: tuple[str, ...], **branches: type[Model]) -> type[Tree]:
    cls = memory_tree("dir", branches or {"users": User}, MemoryDatabase())
    cls.skips = skips
    return cls


def test_a_destination_skipping_a_branch_is_synced_on_the_others() -> None:
    directory = _directory(("enrolments",))
    source, (dest,) = Datastore("ds", Source, [directory]).open(plugins=builtin_plugin_manager())
    summary = source.load().apply(dest.load())
    assert [r.action.message for r in summary.results] == ["new_users(idnumber='1')"]
    assert directory.database.rows("users") == {"1": {"name": "Ann"}}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("skips", "branches", "message"), [
    ((), {}, "missing ['enrolments'] (a destination that does not take a branch names it: "
             "skips = ('enrolments',))"),
    (("enrolment",), {}, "missing ['enrolments']"),
    (("enrolment", "enrolments"), {}, "skips names ['enrolment'], not branches of src"),
    (("users",), {"users": User, "enrolments": Enrolment}, "skips names ['users'], which it has"),
])
def test_any_other_difference_in_branch_names_is_still_an_error(
        skips: tuple[str, ...], branches: dict[str, type[Model]], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Datastore("ds", Source, [_directory(skips, **branches)]).open(plugins=builtin_plugin_manager())
    assert str(info.value).startswith("tree dir does not mirror source tree src: ")
    assert message in str(info.value)
