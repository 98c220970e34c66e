"""The second destination: a directory of accounts and groups (OpenLDAP, 389 DS, ...), through dss-ldap.

Declared, not coded: an :class:`~dss_ldap.LDAPMapping` says where each branch
lives and which LDAP attribute holds each tracked attribute, and dss-ldap
makes the importers (reading the entries back) and the handler (writing
them) from it. There is no handler code here.

``users``
    ``inetOrgPerson`` entries under ``ou=people``, named by the login name:
    ``uid=anguyen0123,ou=people,<base>``. The idnumber is ``employeeNumber``
    (the key: it never changes, so a renamed student is found and renamed,
    modrdn, with every group's ``member`` value rewritten). ``cn`` is the
    display name, ``mail`` the address, ``employeeType`` the role,
    ``departmentNumber`` the grade. ``sn``, which the class requires, is
    ``-`` on new entries (see the README: a value that is written but not
    compared needs a handler method; this example has none).
    A leaver's entry is *moved* to ``ou=retired``, never deleted, as the LMS
    suspends rather than deletes: a student who comes back gets the same
    entry back (moved home and rewritten), and a wrong night loses nothing
    that the next right one cannot bring back.
``groups``
    ``groupOfNames`` entries under ``ou=groups`` named by the idnumber
    (``cn=homeroom-10b``), ``description`` the name, ``businessCategory`` the
    kind, ``member`` the DNs of the members' entries. Added to the tree by the
    plugin's ``dss_branches`` hook (:data:`GROUPS`), as on the other trees.
``enrolments``
    not taken: the directory names it in ``skips``, so those actions go to
    the LMS only.

The tree's settings (``[trees.directory]`` in dss.toml, or
``DSS_DIRECTORY_<KEY>``): ``url``, ``bind_dn``, ``base`` and the secret
``bind_password`` (keep it in ``DSS_DIRECTORY_BIND_PASSWORD``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from dss_core import Branch, Tree
from dss_ldap import EntryMap, LDAPHandler, LDAPMapping, MemberMap

from .models import DirectoryUser, Group

#: Where the branches live, relative to the tree's ``base`` setting.
PEOPLE, GROUPS_OU, RETIRED = "ou=people", "ou=groups", "ou=retired"

#: The value of ``sn`` (which inetOrgPerson requires) on a new entry.
SURNAME_PLACEHOLDER = "-"

MAPPING = LDAPMapping(
    users=EntryMap(
        PEOPLE,
        object_classes=("inetOrgPerson",),
        key="employeeNumber",  # the idnumber: stable, unique (never the DN's value)
        rdn="uid",  # entries are named by the login name: a new username is a modrdn
        attributes={"username": "uid", "name": "cn", "email": "mail",
                    "role": "employeeType", "grade": "departmentNumber"},
        retire_to=RETIRED,  # old_users moves the entry there; new_users moves it back
        defaults={"sn": SURNAME_PLACEHOLDER},
    ),
    groups=EntryMap(
        GROUPS_OU,
        object_classes=("groupOfNames",),
        key="cn",
        attributes={"name": "description", "kind": "businessCategory"},
        members={"members": MemberMap("member", branch="users")},  # idnumbers <-> entry DNs
    ),
)


class DirectoryHandler(LDAPHandler):
    """The mapping's generic handler (``new``, ``update``, ``add``, ``remove``, ``old``), nothing more."""

    mapping = MAPPING


class Directory(Tree):
    """The directory: accounts and groups, no enrolments.

    Registered by name (``dss_trees``) as ``"directory"``; the ``school``
    datastore names it beside ``"lms"`` when the configuration has a
    ``[trees.directory]`` table. Its ``groups`` branch comes from the
    plugin's ``dss_branches`` hook (:data:`GROUPS`).
    """

    name = "directory"
    description = "the directory of accounts and groups (LDAP)"
    handler = DirectoryHandler
    order = ("users",)  # added branches come last
    skips: ClassVar[Sequence[str]] = ("enrolments",)  # the SIS's enrolments go to the LMS only

    users = Branch(DirectoryUser, importer=MAPPING.importer("users"))


#: The groups on the directory side: the plugin's ``dss_branches`` adds this branch to
#: :class:`Directory`. ``references``: a member whose account could not be created is not
#: added (and the group that would name it waits), with the reason, until the next run.
GROUPS = Branch(Group, importer=MAPPING.importer("groups"), name="groups",
                references=MAPPING.references("groups"))
