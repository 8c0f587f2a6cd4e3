"""A config value from the command line (``agentctl config set KEY VALUE``):
read as TOML of the key's type, checked against the schema.

The schema is ``agentd.shared.config.Config`` (msgspec structs; the types, the
allowed values and the ranges are in their annotations). VALUE is what would
follow ``key =`` in the file: ``true``, ``8``, ``2.5``, ``["a", "b"]``,
``{ fetch_page = 45 }``, ``"text"``. For convenience a string needs no quotes,
a list may be written comma-separated (``a, b``) and a table without braces
(``fetch_page = 45, web_search = 5``); anything else that is not the key's
type is refused with a :class:`BadValue` that names the type and gives an
example. ``none`` (or ``null``, or nothing) empties a key whose default is
empty; TOML has no null, so that removes the key from the file.
"""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass
from typing import Literal, get_args, get_origin, get_type_hints

import msgspec
import msgspec.inspect as mi

_NULL_WORDS = ("", "none", "null")
_NOT_TOML = object()


class BadValue(Exception):
    """The value does not fit the key; the message says what would."""


@dataclass(frozen=True)
class Key:
    """One key of the schema: ``section.key``, its type and its default."""

    section: str
    name: str
    type: mi.Type
    default: object

    @property
    def full(self) -> str:
        return f"{self.section}.{self.name}"


def _in_order(t: mi.Type, hint: object) -> mi.Type:
    """``t`` with its literal values in the order the annotation gives them
    (msgspec.inspect sorts them; ``trace, debug, …`` reads better)."""
    literals = [a for h in (hint, *get_args(hint)) if get_origin(h) is Literal for a in get_args(h)]
    if isinstance(t, mi.LiteralType) and literals:
        return mi.LiteralType(values=tuple(literals))
    if isinstance(t, mi.UnionType) and literals:
        return mi.UnionType(types=tuple(mi.LiteralType(values=tuple(literals)) if isinstance(x, mi.LiteralType)
                                        else x for x in t.types))
    return t


def find(section: str, name: str) -> Key:
    """The key ``section.name`` of ``agentd.shared.config.Config``. Raises BadValue
    naming the sections, or the section's keys, when there is no such key."""
    from agentd.shared.config import Config

    info = mi.type_info(Config)
    sections = {f.name: f.type for f in info.fields if isinstance(f.type, mi.StructType)}
    if section not in sections:
        raise BadValue(f"unknown section {section!r}; sections: {', '.join(sorted(sections))}")
    fields = {f.name: f for f in sections[section].fields}
    if name not in fields:
        raise BadValue(f"unknown key {section}.{name}; keys of [{section}]: {', '.join(sorted(fields))}")
    f = fields[name]
    hint = get_type_hints(sections[section].cls)[name]
    default = f.default if f.default is not mi.NODEFAULT else (
        f.default_factory() if f.default_factory is not mi.NODEFAULT else None)
    return Key(section, name, _in_order(f.type, hint), default)


def _toml(text: str) -> object:
    """``text`` as one TOML value, or _NOT_TOML."""
    try:
        doc = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return _NOT_TOML
    return doc["v"] if list(doc) == ["v"] else _NOT_TOML


def _range(t: mi.Type) -> str:
    bounds = []
    for attr, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        b = getattr(t, attr, None)
        if b is not None:
            bounds.append(f"{word} {b}")
    return " " + " and ".join(bounds) if bounds else ""


def describe(t: mi.Type) -> str:
    """What a value of type ``t`` is, in words."""
    if isinstance(t, mi.UnionType):
        return " or ".join(describe(x) for x in t.types if not isinstance(x, mi.NoneType))
    if isinstance(t, mi.BoolType):
        return "a boolean (true or false)"
    if isinstance(t, mi.IntType):
        return "an integer" + _range(t)
    if isinstance(t, mi.FloatType):
        return "a number" + _range(t)
    if isinstance(t, mi.LiteralType):
        return "one of " + ", ".join(map(str, t.values))
    if isinstance(t, mi.StrType):
        return "a string"
    if isinstance(t, mi.ListType):
        return f"a list of {_plural(t.item_type)} (a TOML array, or comma-separated)"
    if isinstance(t, mi.DictType):
        return f"a table of {_plural(t.value_type)} (a TOML inline table)"
    if isinstance(t, mi.StructType):
        return "a table with " + ", ".join(f.encode_name for f in t.fields)
    return type(t).__name__


def _plural(t: mi.Type) -> str:
    words = {mi.StrType: "strings", mi.IntType: "integers", mi.FloatType: "numbers", mi.BoolType: "booleans"}
    return words.get(type(t), describe(t)) + _range(t)


def _example_value(t: mi.Type, default: object) -> object:
    if default not in (None, [], {}) and not isinstance(default, msgspec.Struct):
        return default
    if isinstance(t, mi.UnionType):
        t = next(x for x in t.types if not isinstance(x, mi.NoneType))
    if isinstance(t, mi.BoolType):
        return True
    if isinstance(t, (mi.IntType, mi.FloatType)):
        low = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else 1)
        return float(low) if isinstance(t, mi.FloatType) else int(low)
    if isinstance(t, mi.LiteralType):
        return t.values[0]
    if isinstance(t, mi.ListType):
        return [_example_value(t.item_type, None)]
    if isinstance(t, mi.DictType):
        return {"name": _example_value(t.value_type, None)}
    if isinstance(t, mi.StructType):  # a table of a list of tables ([[mcp.servers]]): its required keys
        return {f.encode_name: _example_value(f.type, None) for f in t.fields if f.required}
    if isinstance(t, mi.StrType) and t.pattern:
        from agentd.shared.config import PATTERN_EXAMPLES

        return PATTERN_EXAMPLES.get(t.pattern, "text")
    return "text"


def example(key: Key) -> str:
    """A command line that sets ``key`` to a good value."""
    from .tomlfile import dumps_value

    value = _example_value(key.type, key.default)
    text = value if isinstance(value, str) and " " not in value and value.isprintable() else dumps_value(value)
    return f"agentctl config set {key.full} {shlex.quote(text)}"


def _refuse(key: Key, text: str, why: str = "") -> BadValue:
    why = f" ({why})" if why else ""
    return BadValue(f"{key.full} takes {describe(key.type)}, not {text!r}{why}; for example: {example(key)}")


def _scalar(text: str, t: mi.Type) -> object:
    """``text`` as a value of the scalar (or literal) type ``t``, or _NOT_TOML."""
    v = _toml(text)
    if isinstance(t, (mi.StrType, mi.LiteralType)):
        # A string needs no quotes; a quoted one is TOML.
        return v if isinstance(v, str) else text.strip()
    if isinstance(t, mi.BoolType):
        return v if isinstance(v, bool) else _NOT_TOML
    if isinstance(t, mi.IntType):
        return v if isinstance(v, int) and not isinstance(v, bool) else _NOT_TOML
    if isinstance(t, mi.FloatType):
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else _NOT_TOML
    return v


def _value(text: str, t: mi.Type) -> object:
    if isinstance(t, mi.UnionType):
        for sub in t.types:
            if not isinstance(sub, mi.NoneType):
                v = _value(text, sub)
                if v is not _NOT_TOML:
                    return v
        return _NOT_TOML
    if isinstance(t, mi.ListType):
        v = _toml(text)
        if isinstance(v, list):
            return v
        if text.strip().startswith("["):
            return _NOT_TOML  # meant as an array, but not TOML: never an item "[..."
        items = [_scalar(part, t.item_type) for part in text.split(",") if part.strip()]
        return _NOT_TOML if _NOT_TOML in items else items
    if isinstance(t, mi.DictType):
        v = _toml(text)
        if v is _NOT_TOML and not text.strip().startswith("{"):
            v = _toml("{" + text + "}")
        return v if isinstance(v, dict) else _NOT_TOML
    return _scalar(text, t)


def parse(key: Key, text: str) -> object:
    """The value ``text`` means for ``key``, checked against the schema (the
    type, the items of a list or table, the allowed values, the range), or
    None for "empty" where the default is empty. Raises BadValue naming the
    key's type, with an example, when it does not fit."""
    from agentd.shared.config import Config

    t = key.type
    nullable = isinstance(t, mi.UnionType) and any(isinstance(x, mi.NoneType) for x in t.types)
    if text.strip().lower() in _NULL_WORDS:
        if nullable and key.default is None:
            return None
        raise BadValue(f"{key.full} cannot be empty; `agentctl config unset {key.full}` restores its default"
                       + (f" ({key.default!r})" if key.default is not None else ""))
    if key.full == "daemon.log_level":
        from agentd.protocol import loglevels

        text = loglevels.canonical(text) or text
    value = _value(text, t)
    if value is _NOT_TOML:
        raise _refuse(key, text)
    try:
        cfg = msgspec.convert({key.section: {key.name: value}}, Config)
    except msgspec.ValidationError as exc:
        # Name what is wrong when it is inside the value (a list item, a table entry).
        detail, _, where = str(exc).partition(" - at ")
        inner = where.strip("`").removeprefix(f"$.{key.full}").replace("[...]", "a value")
        raise _refuse(key, text, f"{inner.lstrip('.')}: {detail}" if inner else "") from None
    # As the daemon will read it (an integer given for a number is a float).
    return msgspec.to_builtins(getattr(getattr(cfg, key.section), key.name))
