"""LDAPImporter against a real slapd: paged search, multi-valued attributes, the DN as origin."""

from __future__ import annotations

from typing import Any

import pytest
from dss_ldap import LDAPImporter
from dss_ldap.testing import READER_SIZE_LIMIT, LDAPTree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dss_core import Branch, Config, ConfigurationError, Datastore, InputError, Model, Tree


class Person(Model):
    name: str
    mail: set[str] = set()
    _dn: str = ""
    title: str = ""


class Team(Model):
    members: set[str] = set()


def load(ldap: LDAPTree, settings: dict[str, Any], model: type[Model] = Person,
         environ: dict[str, str] | None = None, **importer: Any) -> Tree:
    imp = type("Reader", (LDAPImporter,), {"name": None, **importer})

    class Dir(Tree):
        name = "dir"
        users = Branch(model, importer=imp)

    class Other(Tree):
        name = "other"
        users = Branch(model, importer=[])

    config = Config({"trees": {"dir": {**ldap.settings, **settings}}}, environ=environ or {})
    source, _ = Datastore("t", Dir, [Other]).open(config)
    return source.load()


def add_people(ldap: LDAPTree, n: int) -> None:
    ldap.ou("people")
    for i in range(1, n + 1):
        ldap.add(f"uid=u{i},ou=people", ["inetOrgPerson"],
                 {"uid": f"u{i}", "cn": f"Person {i}", "sn": f"S{i}",
                  "mail": [f"u{i}@a.org", f"u{i}@b.org"] if i % 2 else [f"u{i}@a.org"],
                  "userPassword": f"pw-of-u{i}"})


def test_every_entry_is_read_page_by_page_even_past_the_servers_size_limit(dss_ldap: LDAPTree) -> None:
    count = 3 * READER_SIZE_LIMIT + 2
    add_people(dss_ldap, count)
    server = dss_ldap.server
    as_reader = {"bind_dn": server.reader_dn, "bind_password": server.reader_password,
                 "base": f"ou=people,{dss_ldap.base}", "filter": "(objectClass=inetOrgPerson)",
                 "attributes": {"cn": "name", "dn": "_dn"}, "page_size": 4}
    tree = load(dss_ldap, as_reader)
    assert len(tree.users) == count  # a plain search would stop at READER_SIZE_LIMIT
    one = tree.users.get("u3")
    assert one.name == "Person 3" and one.mail == {"u3@a.org", "u3@b.org"}  # multi-valued: a set
    assert tree.users.get("u4").mail == {"u4@a.org"}
    assert one.title == ""  # an attribute the entry lacks reads as empty text
    dn = f"uid=u3,ou=people,{dss_ldap.base}"
    assert one._dn == dn and str(one.dss_origin) == dn  # the DN is the object's origin
    # the reader's plain searches are cut: that is what the paging above went past
    conn = server.connection(server.reader_dn, server.reader_password)
    conn.raise_exceptions = False
    conn.search(f"ou=people,{dss_ldap.base}", "(objectClass=inetOrgPerson)", attributes=["uid"])
    assert conn.result["description"] == "sizeLimitExceeded" and len(conn.entries) == READER_SIZE_LIMIT


def test_key_scope_filter_and_rdn_values(dss_ldap: LDAPTree) -> None:
    add_people(dss_ldap, 3)
    dss_ldap.ou("teams")
    dss_ldap.add("cn=red,ou=teams", ["groupOfNames"], {"cn": "red", "member": [
        f"uid=u1,ou=people,{dss_ldap.base}", f"uid=u2,ou=people,{dss_ldap.base}"]})
    teams = load(dss_ldap, {"base": f"ou=teams,{dss_ldap.base}", "scope": "one",
                            "filter": "objectClass=groupOfNames", "attributes": {"member": "members"},
                            "rdn_values": ["member"]}, Team)
    assert teams.users.get("red").members == {"u1", "u2"}  # key: the RDN's value; members: uids
    by_mail = load(dss_ldap, {"base": dss_ldap.base, "key": "sn", "filter": "(uid=u2)",
                              "attributes": {"cn": "name"}})
    assert list(by_mail.users.keys()) == ["S2"]


def test_a_single_valued_field_with_several_values_names_the_entry(dss_ldap: LDAPTree) -> None:
    add_people(dss_ldap, 1)

    class OneMail(Model):
        name: str
        mail: str = ""

    with pytest.raises(InputError) as err:
        load(dss_ldap, {"base": dss_ldap.base, "filter": "(uid=u1)", "attributes": {"cn": "name"}},
             OneMail)
    assert str(err.value) == (
        f"dir.users: entry uid=u1,ou=people,{dss_ldap.base}: attribute mail holds 2 values "
        "('u1@a.org', 'u1@b.org') but mail is a single value; declare mail a set[str], or read "
        "one value in preprocess()")


def test_passwords_are_never_read(dss_ldap: LDAPTree) -> None:
    add_people(dss_ldap, 1)

    class WithPassword(Model):
        name: str
        secret: str = ""

    with pytest.raises(ConfigurationError, match="holds passwords; dss-ldap never reads"):
        load(dss_ldap, {"base": dss_ldap.base, "attributes": {"cn": "name",
                                                              "userPassword": "secret"}},
             WithPassword)


def test_a_missing_base_and_a_refused_bind_are_one_line_without_the_password(dss_ldap: LDAPTree) -> None:
    with pytest.raises(InputError) as err:
        load(dss_ldap, {"base": f"ou=nowhere,{dss_ldap.base}"})
    assert str(err.value) == (
        f"dir.users: reading ou=nowhere,{dss_ldap.base}: searching ou=nowhere,{dss_ldap.base} for "
        f"(objectClass=*) on {dss_ldap.url}: noSuchObject")
    wrong = "Wr0ng-pa55word"
    with pytest.raises(ConfigurationError) as err:
        load(dss_ldap, {}, environ={"DSS_DIR_BIND_PASSWORD": wrong})
    assert str(err.value) == (f"dir.users: reading {dss_ldap.base}: cannot bind to {dss_ldap.url} "
                              f"as {dss_ldap.server.root_dn}: invalidCredentials")
    with pytest.raises(ConfigurationError) as err:
        load(dss_ldap, {"url": "ldap://127.0.0.1:1"})
    assert "cannot connect to ldap://127.0.0.1:1: " in str(err.value)
    assert "refused" in str(err.value).lower()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                               min_size=1, max_size=12).map(str.strip).filter(bool),
                       min_size=1, max_size=5, unique_by=str.lower))
def test_any_text_in_a_multi_valued_attribute_reads_back_as_written(dss_ldap: LDAPTree,
                                                                    values: list[str]) -> None:
    """Whatever text is stored (non-ASCII, DN specials, spaces), the set read back is that text."""
    import uuid

    uid = uuid.uuid4().hex[:8]
    dss_ldap.add(f"uid={uid}", ["inetOrgPerson"], {"uid": uid, "cn": "x", "sn": "y",
                                                   "description": values})

    class Described(Model):
        description: set[str] = set()

    tree = load(dss_ldap, {"base": dss_ldap.base, "filter": f"(uid={uid})"}, Described)
    assert tree.users.get(uid).description == set(values)
