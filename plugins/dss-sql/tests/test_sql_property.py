"""Property: for random source records and random destination tables, applying the plan with
the mapping's ready handler makes the destination equal the source, and the next plan is empty."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dss_core import Config, Datastore
from dss_core.testing import check_conformance, snapshot

IDS = ["a", "b", "c", "d", "e"]
COURSES = ["art", "bio", "math"]
text = st.text(st.characters(codec="utf-8", exclude_characters="\x00",
                             exclude_categories=["Cs"]), max_size=8)
ids = st.sets(st.sampled_from(IDS))

users = st.dictionaries(st.sampled_from(IDS), st.tuples(text, text, st.sets(st.sampled_from(COURSES))))
groups = st.dictionaries(st.sampled_from(["g1", "g2", "g3"]), st.tuples(text, ids))
# destination rows: (full_name, email, suspended, courses)
dest_users = st.dictionaries(st.sampled_from(IDS), st.tuples(
    text, text, st.booleans(), st.sets(st.sampled_from(COURSES))))


def reset(url: str, kit, dusers, dgroups) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for table in ("cohort_members", "cohorts", "account_courses", "accounts"):
            conn.execute(sa.text(f"drop table if exists {table}"))
    kit.create_schema(url)
    with engine.begin() as conn:
        for uid, (name, email, suspended, courses) in dusers.items():
            conn.execute(sa.text("insert into accounts values (:u, :n, :e, :s)"),
                         {"u": uid, "n": name, "e": email, "s": suspended})
            for c in courses:
                conn.execute(sa.text("insert into account_courses values (:u, :c)"),
                             {"u": uid, "c": c})
        for gid, (title, members) in dgroups.items():
            conn.execute(sa.text("insert into cohorts values (:g, :t)"), {"g": gid, "t": title})
            for m in members:
                conn.execute(sa.text("insert into cohort_members values (:g, :m)"),
                             {"g": gid, "m": m})
    engine.dispose()


def check(url: str, kit, susers, sgroups, dusers, dgroups) -> None:
    reset(url, kit, dusers, dgroups)
    records = {
        "users": [{"idnumber": u, "name": n, "email": e, "courses": c}
                  for u, (n, e, c) in susers.items()],
        "groups": [{"idnumber": g, "title": t, "members": m} for g, (t, m) in sgroups.items()],
    }
    SIS, LMS = kit.make_trees(records, kit.make_mapping())
    config = Config({"trees": {"lms": {"url": url}}}, environ={})
    datastore = Datastore("prop", SIS, [LMS])
    check_conformance(datastore, config=config)
    source, (dest,) = datastore.open(config)
    source.load()
    dest.load()
    assert snapshot(dest) == snapshot(source)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(susers=users, sgroups=groups, dusers=dest_users, dgroups=groups)
def test_sqlite_destination_converges_to_the_source(dss_sqlite_url, kit, susers, sgroups, dusers, dgroups):
    check(dss_sqlite_url, kit, susers, sgroups, dusers, dgroups)


@pytest.mark.postgres
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(susers=users, sgroups=groups, dusers=dest_users, dgroups=groups)
def test_postgres_destination_converges_to_the_source(dss_postgres_url, kit, susers, sgroups, dusers,
                                                      dgroups):
    check(dss_postgres_url, kit, susers, sgroups, dusers, dgroups)
