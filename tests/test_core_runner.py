"""The runner: with several destinations, nothing is applied anywhere unless every handler can begin."""

from __future__ import annotations

import pytest

from dss_core import Branch, ConfigurationError, Datastore, Model, Tree
from dss_core.runner import Run, execute
from dss_core.testing import MemoryDatabase, RecordingHandler, memory_tree


class User(Model):
    name: str


class Source(Tree):
    users = Branch(User, [{"idnumber": "1", "name": "Ann"}, {"idnumber": "2", "name": "Bo"}])


def test_a_destination_that_cannot_begin_stops_the_run_before_any_action(dss_plugins):
    ended: list[bool] = []

    class Ends(RecordingHandler):
        def end(self, failed: bool) -> None:
            ended.append(failed)

    class Down(RecordingHandler):
        def begin(self) -> None:
            raise ConfigurationError("cannot connect to the second LMS")

    first_db = MemoryDatabase()
    first = memory_tree("first", {"users": User}, first_db, handler=Ends)
    second = memory_tree("second", {"users": User}, handler=Down)
    source, dests = Datastore("two", Source, [first, second]).open(plugins=dss_plugins)
    run = Run.create("apply", dss_plugins, source.config)
    run.options["quiet"] = True
    with pytest.raises(ConfigurationError, match="second LMS"):
        execute(run, source, dests)
    assert first.recorded == [] and second.recorded == []
    assert first_db.rows("users") == {}
    assert ended == [True]  # the first handler was ended as failed: nothing to commit


def test_both_destinations_get_every_action_when_they_begin(dss_plugins):
    first = memory_tree("first", {"users": User})
    second = memory_tree("second", {"users": User})
    source, dests = Datastore("two", Source, [first, second]).open(plugins=dss_plugins)
    run = Run.create("apply", dss_plugins, source.config)
    run.options["quiet"] = True
    summary = execute(run, source, dests)
    assert [a.tree for a in summary.actions] == ["first", "first", "second", "second"]
    assert first.database.rows("users") == second.database.rows("users") == {
        "1": {"name": "Ann"}, "2": {"name": "Bo"}}
