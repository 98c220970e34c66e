"""Trees, models, importer and handler of the test sync."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from dss_core import (
    Branch,
    ConfigurationError,
    Handler,
    Importer,
    Model,
    Origin,
    Record,
    Setting,
    Tree,
)


class JSONImporter(Importer):
    """Reads a JSON file holding {"users": [...], "groups": [...]} (setting `path`)."""

    name = "json"
    declared_settings = (Setting("path", str, None, "the JSON file"),)

    def readin(self) -> Iterator[Record]:
        path = self.tree.config.resolve_path(self.setting("path"))
        data = json.loads(path.read_text())
        for i, rec in enumerate(data.get(self.branch, []), 1):
            yield Record(rec, Origin(f"{path.name}[{self.branch}]", i, "item"))


class User(Model):
    _lastfirst: str
    department: str = ""

    @property
    def name(self) -> str:
        last, first = self._lastfirst.split(", ")
        return f"{first} {last}"


class Group(Model):
    members: set[str]


class Account(Model):
    name: str
    department: str = ""


def groups_from_users(importer: Importer) -> Iterator[dict[str, Any]]:
    """The source's groups branch, derived from its users: one group per department."""
    for user in importer.tree.branch("users").values():
        if user.department:
            yield {"idnumber": user.department, "members": user.idnumber}


class Source(Tree):
    name = "src"
    users = Branch(User, importer="json")
    groups = Branch(Group, importer=groups_from_users)


class JSONHandler(Handler):
    """Applies actions to the destination JSON file; idnumbers in setting `fail` fail."""

    declared_settings = (Setting("path", str, None, "the destination JSON file"),
                         Setting("fail", str, "", "idnumbers whose actions fail, comma-separated"))

    def verify(self) -> None:
        path = self.config.resolve_path(self.settings["path"])
        if not path.is_file():
            raise ConfigurationError(f"destination file {path.name} does not exist")

    def begin(self) -> None:
        self.path = self.config.resolve_path(self.settings["path"])
        self.data = json.loads(self.path.read_text())
        self.failing = set(str(self.settings.get("fail", "")).split(",")) - {""}

    def end(self, failed: bool) -> None:
        self.path.write_text(json.dumps(self.data, indent=1, sort_keys=True))

    def _rows(self, branch: str) -> dict[str, dict[str, Any]]:
        return {r["idnumber"]: r for r in self.data.setdefault(branch, [])}

    def _check(self, action: Any) -> None:
        if action.idnumber in self.failing:
            raise RuntimeError(f"refused to touch {action.idnumber}")

    def new(self, action: Any) -> None:
        self._check(action)
        values = action.source.values()
        row = {"idnumber": action.idnumber}
        row.update({k: sorted(v) if isinstance(v, set) else v for k, v in values.items()})
        self.data.setdefault(action.branch, []).append(row)

    def update(self, action: Any) -> None:
        self._check(action)
        self._rows(action.branch)[action.idnumber][action.attribute] = action.value

    def add(self, action: Any) -> None:
        row = self._rows(action.branch)[action.idnumber]
        row[action.attribute] = sorted({*row.get(action.attribute, []), action.value})

    def remove(self, action: Any) -> None:
        row = self._rows(action.branch)[action.idnumber]
        row[action.attribute] = sorted(set(row.get(action.attribute, [])) - {action.value})

    def old_users(self, action: Any) -> Any:
        if action.dest.department == "staff":
            return action.dropped("staff accounts are kept")
        self.data["users"] = [r for r in self.data["users"] if r["idnumber"] != action.idnumber]
        return None

    def old_groups(self, action: Any) -> None:
        self.data["groups"] = [r for r in self.data["groups"] if r["idnumber"] != action.idnumber]


class Destination(Tree):
    name = "dst"
    handler = JSONHandler
    users = Branch(Account, importer="json")
    groups = Branch(Group, importer="json")
