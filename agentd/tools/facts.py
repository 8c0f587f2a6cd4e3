"""Exact counts and sums of the data a tool returns, for the model to quote.

Small models read data well and count it badly: given a file of seven numbers
they write the numbers instead of their total, or a total that is off; given
eight orders they report 8 "open" ones when four are; given a feed of four
entries they send the ``limit`` they asked for. Models of any size get long
columns wrong now and then. So the tools that return data add one line of
facts computed here, exactly, which the model can copy instead of working them
out:

- a text whose every non-empty line is a number: how many, and their sum;
- JSON: for each list of objects (at the top or one or two keys down) its
  length, how many items have each value of a field that sorts the items into
  a few groups (``status``: 4 "open", 3 "shipped"), naming the items of each
  small group, and the sum of each numeric field;
- a markdown table (what ``html_to_markdown`` makes of an HTML table): the
  same, its rows taken as the objects and its first column as their names.

Nothing else is reported: prose gets no line. The line is part of the tool's
result, inside the untrusted wrapper when the data came from outside (its
group names are that data's own words). Never raises: data it cannot read
gives no facts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

HEAD = "Counted by agentd (exact):"
MAX_TEXT = 1_000_000  # bigger data gets no facts (the parse would cost more than it helps)
MAX_LISTS = 3  # lists of objects reported per text
MAX_FIELDS = 4  # grouping fields reported per list
MAX_GROUPS = 8  # a field with more distinct values than this does not sort items into groups
MAX_NAMED = 10  # a group's items are named when it has at most this many
MAX_LABEL = 40  # longer values and names are shortened

_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
_ROW = re.compile(r"^\s*\|(.*)\|\s*$")
_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")


def data_facts(text: str) -> str | None:
    """The facts line for ``text`` (starting with HEAD), or None when ``text``
    is not data this module reads: a column of numbers, JSON with lists of
    objects, or markdown tables."""
    if not text or len(text) > MAX_TEXT:
        return None
    try:
        parts = _numbers(text) or _json(text) or _tables(text)
    except (ValueError, TypeError, ArithmeticError, RecursionError):
        return None
    return f"{HEAD} {'; '.join(parts)}." if parts else None


def with_facts(body: str, facts: str | None, limit: int) -> str:
    """``body`` with its facts line: after it, or before it when the body is
    longer than ``limit`` (the loop cuts long results there; the facts are
    about the whole data and must survive the cut)."""
    if not facts:
        return body
    return f"{facts}\n\n{body}" if len(body) + len(facts) + 2 > limit else f"{body}\n\n{facts}"


# ------------------------------------------------------------------ a column of numbers
def _numbers(text: str) -> list[str]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2 or not all(_NUMBER.fullmatch(ln) for ln in lines):
        return []
    total = sum((Decimal(ln) for ln in lines), Decimal(0))
    return [f"{len(lines)} lines, each a number; they add up to {_num(total)}"]


# ------------------------------------------------------------------ JSON
def _json(text: str) -> list[str]:
    s = text.strip()
    if not s or s[0] not in "[{":
        return []
    try:
        value = json.loads(s, parse_float=Decimal)
    except ValueError:
        return []
    parts: list[str] = []
    for where, items in list(_object_lists(value, "", 0))[:MAX_LISTS]:
        parts.append(_describe(f"`{where}`" if where else "the list", items, name_key=_name_key(items)))
    return parts


def _object_lists(value: Any, where: str, depth: int) -> Iterator[tuple[str, list[dict]]]:
    """(where, list) for each list of objects at most two keys down."""
    if isinstance(value, list):
        objs = [v for v in value if isinstance(v, dict)]
        if len(objs) >= 2 and len(objs) == len(value):
            yield where, objs
    elif isinstance(value, dict) and depth < 2:
        for key, sub in value.items():
            yield from _object_lists(sub, f"{where}.{key}" if where else str(key), depth + 1)


def _name_key(items: Sequence[dict]) -> str | None:
    """The field that names the items: the first whose values are all
    present, scalar and different from each other."""
    for key in items[0]:
        values = [it.get(key) for it in items]
        if all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values) and \
                len(set(values)) == len(values):
            return key
    return None


# ------------------------------------------------------------------ markdown tables
def _tables(text: str) -> list[str]:
    parts: list[str] = []
    lines = text.splitlines()
    i = 0
    while i + 1 < len(lines) and len(parts) < MAX_LISTS:
        head = _ROW.match(lines[i])
        if head and _RULE.match(lines[i + 1]):
            names = [_cell(c) for c in head.group(1).split("|")]
            rows = []
            i += 2
            while i < len(lines) and (row := _ROW.match(lines[i])):
                cells = [_cell(c) for c in row.group(1).split("|")]
                if len(cells) == len(names):
                    rows.append(dict(zip(names, cells)))
                i += 1
            if len(rows) >= 2 and len(set(names)) == len(names):
                label = ", ".join(f"`{n}`" for n in names)
                parts.append(_describe(f"the table ({label})", rows, name_key=names[0], noun="rows"))
            continue
        i += 1
    return parts


def _cell(text: str) -> str:
    return text.strip().strip("*_`").strip()


# ------------------------------------------------------------------ the facts of one list
def _describe(name: str, items: list[dict], *, name_key: str | None, noun: str = "items") -> str:
    """``name`` (as shown: "`orders`", "the table (...)") has N items; its groups and sums."""
    facts = [f"{name} has {len(items)} {noun}"]
    keys = list(dict.fromkeys(k for it in items for k in it))
    grouped = 0
    for key in keys:
        if key == name_key:
            continue
        values = [it.get(key) for it in items]
        if grouped < MAX_FIELDS and (groups := _groups(values)):
            grouped += 1
            facts.append(f"by `{key}`: " + ", ".join(
                f"{len(idx)} {_label(v)}" + (f" ({', '.join(_name(items[i], name_key, i) for i in idx)})"
                                             if len(idx) <= MAX_NAMED else "")
                for v, idx in groups))
        elif (total := _sum(values, key)) is not None:
            facts.append(f"`{key}` adds up to {_num(total)}")
    return "; ".join(facts)


def _groups(values: list[Any]) -> list[tuple[Any, list[int]]]:
    """Values that sort the items into a few groups (strings or booleans,
    some repeated, at most MAX_GROUPS different), biggest group first."""
    if not all(isinstance(v, (str, bool)) or v is None for v in values):
        return []
    by: dict[Any, list[int]] = {}
    for i, v in enumerate(values):
        by.setdefault(v, []).append(i)
    if not 2 <= len(by) <= MAX_GROUPS or len(by) == len(values):
        return []
    return sorted(by.items(), key=lambda kv: -len(kv[1]))


def _sum(values: list[Any], key: str) -> Decimal | None:
    nums = []
    for v in values:
        if isinstance(v, bool):
            return None
        if isinstance(v, (int, Decimal)):
            nums.append(Decimal(v))
        elif isinstance(v, str) and _NUMBER.fullmatch(v.strip()):
            nums.append(Decimal(v.strip()))
        else:
            return None
    if len(nums) < 2 or key == "id" or key.endswith(("_id", "Id", "ID")):  # numbers that name, not amounts
        return None
    try:
        return sum(nums, Decimal(0))
    except InvalidOperation:
        return None


def _label(value: Any) -> str:
    if value is None:
        return "without a value"
    if isinstance(value, bool):
        return json.dumps(value)
    return json.dumps(_short(value), ensure_ascii=False)


def _name(item: dict, key: str | None, index: int) -> str:
    if key is None:
        return f"#{index + 1}"
    return _short(str(item.get(key)))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _num(value: Decimal) -> str:
    """A sum as people write it: no exponent, no trailing zeros after a point."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"
