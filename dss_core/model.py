"""Objects: the model base class every branch's objects are built from.

A model declares its fields with annotations, like a dataclass::

    class Student(Model):
        _lastfirst: str          # untracked: starts with an underscore
        homeroom: str = ""
        courses: set[str] = set()  # a membership attribute

        @property
        def name(self) -> str:   # tracked: a public property
            last, first = self._lastfirst.split(", ")
            return f"{first} {last}"

The *tracked* attributes, the ones compared between trees, are the public
fields and the public properties. Lists and sets are *membership*
attributes: their elements are compared one by one.

Type checkers (mypy, pyright) read a model like a keyword-only dataclass
(``typing.dataclass_transform``): ``Student(idnumber="1", _lastfirst="Doe, Jo")``
is checked against the declared fields and types. They check the declared
types, not what the model coerces at run time: ``grade="3"`` for an ``int``
field runs but is a type error (importers hand records to the generated
builder, not to ``__init__``). A field without a default is required for
them even where the model supplies one at run time (an empty set or list, a
``None`` for an optional field): give it ``= set()``, ``= []`` or ``= None``
to make it optional in calls too.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, dataclass_transform

from .errors import InputError
from .origin import Origin
from .values import parse_bool

SCALAR = "scalar"
SET = "set"
LIST = "list"

_MISSING: Any = object()



_Declared_T = typing.TypeVar("_Declared_T")


def derived(expression: Callable[[Any], Any]) -> Callable[[_Declared_T], _Declared_T]:
    """Declare a tracked ``@property``'s column expression: its fast path on the columnar store.

    ::

        @property
        @derived(lambda c: c.firstname + " " + c.lastname)
        def display_name(self) -> str:
            return f"{self.firstname} {self.lastname}"

    (under ``@property``: type checkers refuse decorators above it).

    The property's body stays the truth: every object evaluates it as before.
    Where a branch is stored as columns (see :mod:`dss_core.columnar`), the
    whole column is computed at once by ``expression(c)`` instead, ``c.<name>``
    being a polars expression of field ``name`` as the objects hold it (text,
    ``int``/``float``/``bool`` converted, a list or set field as a list of its
    elements). The expression must give what the body gives on every row; a
    test with random rows checks it (see ``tests/test_columnar_derived.py``).
    Nothing is imported here: polars is loaded only when a columnar branch is read.
    """
    if not callable(expression):
        raise TypeError(f"derived() takes a function of the columns, not {expression!r}")

    def mark(prop: _Declared_T) -> _Declared_T:
        fget = prop.fget if isinstance(prop, property) else prop
        if not callable(fget):
            raise TypeError(f"@derived decorates a property or its function, not {prop!r}")
        fget._dss_expression = expression  # type: ignore[attr-defined]
        return prop
    return mark


def column_expression(prop: property) -> Callable[[Any], Any] | None:
    """The expression :func:`derived` declared for ``prop``, or None."""
    return getattr(prop.fget, "_dss_expression", None)


@dataclass(frozen=True)
class Field:
    """One declared field of a model: its name, kind and Python type."""

    name: str
    kind: str  # SCALAR, SET or LIST
    type: Any  # the scalar type, or the element type of a membership
    default: Any = _MISSING
    optional: bool = False

    @property
    def tracked(self) -> bool:
        return not self.name.startswith("_")


@dataclass(frozen=True)
class Schema:
    """What a model class declares, computed once per class."""

    fields: dict[str, Field]
    tracked: tuple[str, ...]  # public fields, then public properties, in declared order
    types: dict[str, tuple[str, Any]]  # tracked name -> (kind, type or None if unknown)
    coercers: dict[str, Callable[[Any], Any]]
    exact: dict[str, type]  # scalar fields of a plain type: a value of that type is kept as is

    @property
    def membership(self) -> frozenset[str]:
        return frozenset(n for n in self.tracked if self.types[n][0] != SCALAR)


def _kind_of(tp: Any) -> tuple[str, Any, bool]:
    """Split an annotation into (kind, element or scalar type, optional)."""
    optional = False
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        tp = args[0] if len(args) == 1 else Any
        origin = typing.get_origin(tp)
    if tp in (set, frozenset) or origin in (set, frozenset):
        elems = typing.get_args(tp)
        return SET, (elems[0] if elems else Any), optional
    if tp is list or origin is list:
        elems = typing.get_args(tp)
        return LIST, (elems[0] if elems else Any), optional
    return SCALAR, tp, optional


def _scalar_coercer(tp: Any) -> Callable[[Any], Any] | None:
    if tp is int:
        return lambda v: v if type(v) is int else int(v)
    if tp is float:
        return lambda v: v if type(v) is float else float(v)
    if tp is str:
        return lambda v: v if type(v) is str else str(v)
    if tp is bool:
        return parse_bool
    return None


def _coercer(f: Field) -> Callable[[Any], Any]:
    elem = _scalar_coercer(f.type)
    if f.kind == SCALAR:
        if elem is None:
            return lambda v: v
        optional = f.optional

        def scalar(v: Any) -> Any:
            if v is None or (optional and v == ""):
                return None
            return elem(v)
        return scalar
    container: Callable[[Iterable[Any]], Any] = set if f.kind == SET else list
    # builtin converters run in C over a whole list; a str of a str is the same object
    convert: Callable[[Any], Any] | None = f.type if f.type in (str, int, float) else elem

    def membership(v: Any) -> Any:
        # a None element (a NULL from an outer join) is no member: never the string "None"
        kind = type(v)
        if kind is list or kind is set or kind is tuple or kind is frozenset:  # the usual case
            if None in v:
                v = [x for x in v if x is not None]
            return container(map(convert, v) if convert else v)
        if v is None or v == "":
            return container(())
        if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
            return container((convert(v) if convert else v,))
        v = [x for x in v if x is not None]
        return container(map(convert, v) if convert else v)
    return membership


def _build_schema(cls: type) -> Schema:
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass in (object, Model):
            continue
        try:
            hints.update(typing.get_type_hints(klass))
        except Exception:  # unresolvable forward reference: keep the raw annotations
            hints.update(getattr(klass, "__annotations__", {}))
    fields: dict[str, Field] = {}
    for name, tp in hints.items():
        if name == "idnumber" or name.startswith("_dss") or typing.get_origin(tp) is ClassVar:
            continue
        kind, elem, optional = _kind_of(tp)
        default = getattr(cls, name, _MISSING)
        if isinstance(default, property):
            continue
        if default is _MISSING and (optional or kind != SCALAR):
            default = None if kind == SCALAR else _MISSING
        fields[name] = Field(name, kind, elem, default, optional)
    type_of: dict[str, tuple[str, Any]] = {
        n: (f.kind, f.type) for n, f in fields.items() if f.tracked
    }
    for klass in cls.__mro__:
        if klass in (object, Model):
            continue
        for name, value in vars(klass).items():
            if isinstance(value, property) and not name.startswith("_") and name not in type_of:
                ret = (value.fget.__annotations__.get("return") if value.fget else None)
                if isinstance(ret, str) or ret is None:
                    try:
                        ret = typing.get_type_hints(value.fget).get("return")
                    except Exception:
                        ret = None
                if ret is None:
                    type_of[name] = (SCALAR, None)
                else:
                    kind, elem, _ = _kind_of(ret)
                    type_of[name] = (kind, elem)
    # order: fields as declared, then properties in declaration order (base classes first)
    ordered = [n for n in fields if fields[n].tracked]
    props = [n for n in type_of if n not in fields]
    declared: list[str] = []
    for klass in reversed(cls.__mro__):
        declared += [n for n in vars(klass) if n in props and n not in declared]
    tracked = tuple(ordered + declared)
    coercers = {n: _coercer(f) for n, f in fields.items()}
    exact = {n: f.type for n, f in fields.items()
             if f.kind == SCALAR and f.type in (str, int, float, bool)}
    return Schema(fields, tracked, {n: type_of[n] for n in tracked}, coercers, exact)


def _model_field(*, default: Any = None, init: bool = True, kw_only: bool = True,
                 alias: str | None = None) -> Any:
    """The field specifier of :class:`Model`'s bookkeeping attributes, for type checkers.

    Never called at run time: it tells a type checker that such an attribute
    is no constructor keyword (``init=False``), may be given by position
    (``kw_only=False``) or is a keyword under another name (``alias``), as
    :func:`dataclasses.field` would.
    """
    return default


if TYPE_CHECKING:
    # For type checkers only: classes derived from this one are read as keyword-only
    # dataclasses, so each Model subclass gets a checked __init__ of its fields. At run
    # time the base is plain `object` (Model's MRO, schema and builder are unchanged).
    @dataclass_transform(kw_only_default=True, field_specifiers=(_model_field,))
    class _Declared:
        pass
else:
    _Declared = object


class Model(_Declared):
    """Base class of every object held in a branch.

    Build an object by keyword: ``Student(idnumber="11111", homeroom="10B")``.
    ``idnumber`` (a string, unique within its branch) always comes first.
    Values are coerced to the declared types (``"3"`` becomes ``3`` for an
    ``int`` field, a single string becomes a one-element set for a ``set``
    field), so every importer may yield plain strings.
    """

    _dss_schema_cache: ClassVar[Schema | None] = None
    _dss_builder: ClassVar[Any] = None
    if TYPE_CHECKING:
        # Declared for type checkers only (at run time __init__ and the builder set them),
        # as each is in a subclass's checked __init__: idnumber first, by position or
        # keyword, then every field by keyword.
        idnumber: str = _model_field(kw_only=False)
        # Where the object came from: an Origin, or (compact, for the millions an importer
        # makes) a template Origin shared by every object of one file plus this object's
        # line in _dss_line. Its constructor keyword is `_origin` (internal); the others
        # are no keyword at all (as bare annotations they would be required ones).
        _dss_origin: Origin | None = _model_field(default=None, alias="_origin")
        _dss_line: int | None = _model_field(init=False)
        _dss_where: tuple[str, str] | None = _model_field(init=False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._dss_schema_cache = None
        cls._dss_builder = None

    @classmethod
    def schema(cls) -> Schema:
        """The declared fields and tracked attributes of this class (computed once)."""
        schema = cls.__dict__.get("_dss_schema_cache")
        if schema is None:
            schema = _build_schema(cls)
            cls._dss_schema_cache = schema
        return schema

    @classmethod
    def builder(cls) -> Builder:
        """The generated function building objects of this class from records (made once)."""
        build = cls.__dict__.get("_dss_builder")
        if build is None:
            build = _make_builder(cls, cls.schema())
            cls._dss_builder = build
        return build

    @classmethod
    def tracked_attributes(cls) -> tuple[str, ...]:
        """Names compared between trees: public fields, then public properties."""
        return cls.schema().tracked

    def __init__(self, idnumber: str, _origin: Origin | None = None, **values: Any) -> None:
        if not isinstance(idnumber, str):
            idnumber = str(idnumber)
        self.idnumber = idnumber
        self._dss_origin = _origin
        self._dss_line = None
        self._dss_where = None
        _fill(self, type(self).schema(), values, strict=True)

    @property
    def dss_origin(self) -> Origin | None:
        """Where this object was read from (importer, file and line, or row)."""
        line = self._dss_line
        if line is None:
            return self._dss_origin
        # compact form: made on first use, then kept (the same Origin every time)
        shared = self._dss_origin
        assert shared is not None
        origin = Origin(shared.source, line, shared.unit, shared.importer)
        self._dss_origin = origin
        self._dss_line = None
        return origin

    def values(self) -> dict[str, Any]:
        """The tracked attributes and their values, in declared order."""
        return {n: getattr(self, n) for n in type(self).schema().tracked}

    def __repr__(self) -> str:
        where = "{}.{} ".format(*self._dss_where) if self._dss_where else ""
        return f"<{type(self).__name__} {where}idnumber={self.idnumber!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Model):
            return NotImplemented
        return self.idnumber == other.idnumber and self.values() == other.values()

    __hash__ = None  # type: ignore[assignment]


def _fill(obj: Model, schema: Schema, values: Mapping[str, Any], strict: bool) -> None:
    """Set the fields of ``obj`` from ``values``, coerced; defaults for the ones missing.

    With ``strict`` an unknown name is an error; without it (records from an
    importer, which may carry extra columns) it is ignored.
    """
    # setattr, not obj.__dict__: instances then share their key table (a third less memory)
    exact = schema.exact
    coercers = schema.coercers
    found = 0
    for name, value in values.items():
        if exact.get(name) is type(value):
            setattr(obj, name, value)
            found += 1
            continue
        convert = coercers.get(name)
        if convert is None:
            if strict:
                raise InputError(f"{type(obj).__name__} has no field {name!r} "
                                 f"(idnumber {obj.idnumber!r})", obj.dss_origin)
            continue
        try:
            setattr(obj, name, convert(value))
        except (TypeError, ValueError) as exc:
            tp = schema.fields[name].type
            raise InputError(
                f"idnumber {obj.idnumber!r}: field {name!r}: cannot read {value!r} as "
                f"{getattr(tp, '__name__', tp)}: {exc}", obj.dss_origin, column=name) from None
        found += 1
    if found == len(schema.fields):
        return
    for name, f in schema.fields.items():
        if name in values:
            continue
        if f.default is _MISSING:
            if f.kind == SCALAR:
                raise InputError(f"idnumber {obj.idnumber!r}: no value for field {name!r} of "
                                 f"{type(obj).__name__}", obj.dss_origin, column=name)
            setattr(obj, name, set() if f.kind == SET else [])
        elif isinstance(f.default, (set, list, dict)):
            setattr(obj, name, type(f.default)(f.default))


Builder = Callable[..., "Model"]  # (record, origin, idnumber, line=None) -> Model


def _make_builder(model: type[Model], schema: Schema) -> Builder:
    """Generate a function building ``model`` objects from records, one line per field.

    The import hot path: no loop over the record, no lookups by field name at
    run time. ``origin`` is the object's Origin or, with ``line``, a template
    Origin shared by many objects (see :attr:`Model.dss_origin`). A record it
    cannot build plainly (a value that does not convert, a missing field) goes
    to the generic :func:`_fill`, whose errors name the field and the record's
    origin.
    """
    env: dict[str, Any] = {"new": model.__new__, "cls": model, "MISSING": _MISSING,
                           "fill": _fill, "schema": schema}
    lines = ["def build(record, origin, idnumber, line=None):",
             "    obj = new(cls)",
             "    obj.idnumber = idnumber",
             "    obj._dss_origin = origin",
             "    obj._dss_line = line",
             "    obj._dss_where = None",
             "    get = record.get",
             "    try:",
             "        pass"]  # a model may declare no field at all
    for i, (name, f) in enumerate(schema.fields.items()):
        env[f"c{i}"] = schema.coercers[name]
        exact = schema.exact.get(name)
        if f.default is _MISSING and f.kind == SCALAR:
            # required: a missing key raises KeyError, and _fill says which field is missing
            lines.append(f"        v = record[{name!r}]")
            if exact is not None:
                env[f"t{i}"] = exact
                lines.append(f"        obj.{name} = v if type(v) is t{i} else c{i}(v)")
            else:
                lines.append(f"        obj.{name} = c{i}(v)")
            continue
        lines.append(f"        v = get({name!r}, MISSING)")
        lines.append("        if v is MISSING:")
        if f.default is _MISSING:
            lines.append(f"            obj.{name} = {'set()' if f.kind == SET else '[]'}")
        elif isinstance(f.default, (set, list, dict)):
            env[f"d{i}"] = f.default
            lines.append(f"            obj.{name} = type(d{i})(d{i})")
        else:
            lines.append("            pass")
        if f.kind != SCALAR and f.type in (str, int, float, Any):
            # the usual membership value, a list without None, made here (the coercer's first case)
            env[f"k{i}"] = set if f.kind == SET else list
            env[f"e{i}"] = f.type
            made = f"k{i}(v)" if f.type is Any else f"k{i}(map(e{i}, v))"
            lines.append("        elif type(v) is list and None not in v:")
            lines.append(f"            obj.{name} = {made}")
        lines.append("        else:")
        if exact is not None:
            env[f"t{i}"] = exact
            lines.append(f"            obj.{name} = v if type(v) is t{i} else c{i}(v)")
        else:
            lines.append(f"            obj.{name} = c{i}(v)")
    lines += ["    except (KeyError, TypeError, ValueError):",
              "        fill(obj, schema, record, False)",
              "    return obj"]
    exec("\n".join(lines), env)  # noqa: S102 - generated from declared field names only
    return env["build"]

