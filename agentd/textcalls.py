"""Tool calls that a model wrote as text instead of as native tool calls.

Small local models (and servers whose chat template does not parse their
output) put the call in the answer's content. ``recover_calls`` finds it in
these forms:

- Hermes/Qwen tags: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
  (the closing tag may be missing when it is the end of the answer);
- a JSON object ``{"name": ..., "arguments" | "parameters": {...}}`` (the
  arguments may also be a JSON string holding the object), or an OpenAI-shaped
  ``{"type": "function", "function": {...}}``, or a JSON list of them; bare, or
  in a fenced block whose language is empty, ``json`` or ``tool_call``;
- ``<function=NAME>{...}</function>`` and ``<function name="NAME">{...}</function>``
  (optionally inside ``<tools>``), whose body is a JSON object or a list of
  ``<parameter=KEY>VALUE</parameter>`` / ``<parameter name="KEY">VALUE</parameter>``.

What is not a call (so the answer stays plain text):
- a JSON object of another shape (data, a config example, a summary's sample
  output), however it is fenced: a call needs exactly a name and its arguments
  (plus at most ``id``/``type``), and bare or fenced JSON must carry the
  arguments key;
- a name that is not one of ``tool_names``. Spelling variants are accepted only
  when they differ in case or separators (``Write-File``, ``writeFile``,
  ``WRITE FILE`` → ``write_file``) and map to exactly one tool: edit-distance
  guesses could run a tool the model did not name (``send_email`` for
  ``send_mail`` is harmless, ``write_file`` for ``read_file`` is not), and an
  unrecognised name costs only a nudge;
- anything inside a fenced block of another language (``python``, ``bash``,
  ...): that is a code sample;
- JSON that does not parse (truncated, single quotes).

Several calls: small models often write a whole plan — a call, a result they
invented, the next call built on that invented result, and so on. Only the
first *batch* is returned: the first call plus the calls that follow it with
nothing but whitespace (or a comma) in between, as in a JSON list or adjacent
``<tool_call>`` blocks — the same thing as native parallel calls. The first
non-blank text after a call ends the batch, because what comes after it may
depend on a result the model made up. A ``finish`` in a batch with other calls
is dropped together with what follows it: finishing is decided after seeing
the results, not alongside the calls that produce them.

A described call: some models explain the call instead of making it — "call
the `fetch_page` tool with these arguments:" and a JSON object of the
arguments alone. When ``schemas`` is given and no call of the forms above is
found, such an answer is a call when the first JSON object in it (bare or in a
call fence) has only parameters of the tool named last before it (its exact
name, as a word) and every required one: the schema is the evidence that the
object is that tool's arguments, not data. The arguments may also come as a
list, one per line (``- `url`: `http://...```), right after the tool's name;
the same schema check applies, and each value must read as its parameter's
type.

Ids are ``text-<hash>-<n>``: deterministic for a given text and distinct
across the turns of a run (the hash is of the text).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from .messages import ToolCall

_DECODER = json.JSONDecoder(strict=False)  # models write raw newlines inside strings
_NAME_CHARS = r"[A-Za-z0-9_.\-]+"
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.S)
_FUNCTION = re.compile(r"<function(?:=\s*(" + _NAME_CHARS + r")|\s+name\s*=\s*[\"']?(" + _NAME_CHARS
                       + r")[\"']?)\s*>(.*?)(?:</function>|\Z)", re.S)
_PARAMETER = re.compile(r"<parameter(?:=\s*(" + _NAME_CHARS + r")|\s+name\s*=\s*[\"']?(" + _NAME_CHARS
                        + r")[\"']?)\s*>(.*?)</parameter>", re.S)
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+\-]*)[ \t]*\n(.*?)(?:```|\Z)", re.S)
_CALL_FENCES = frozenset({"", "json", "json5", "jsonc", "tool_call", "tool_calls", "tool_code", "function_call"})
_ALLOWED_EXTRA = frozenset({"id", "type"})
_OPEN = re.compile(r"[{\[]")
_BRACE = re.compile(r"\{")
# One parameter per line: "- `url`: `http://...`", "* **limit**: 10", "- path = notes.md".
_ARG_LINE = re.compile(r"^[ \t]*[-*][ \t]+[`*]*([A-Za-z_][A-Za-z0-9_]*)[`*]*[ \t]*[:=][ \t]*(\S.*?)[ \t]*$", re.M)
_ARG_LIST = re.compile(r"(?:" + _ARG_LINE.pattern + r"\n?)+", re.M)
_BATCH_GAP = re.compile(r"[\s,]*\Z")  # what may stand between two calls of one batch


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    name: str
    arguments: dict[str, Any]


def recover_calls(text: str, tool_names: Collection[str],
                  schemas: Mapping[str, Mapping[str, Any]] | None = None) -> list[ToolCall]:
    """The tool calls written in ``text`` (see the module docstring for the
    forms and the rules), or [] when the text is not a tool call. ``schemas``
    (tool name -> JSON Schema of its parameters) enables described calls for
    those tools. Never raises on any text: what does not parse is simply not
    a call."""
    if not text or not tool_names:
        return []
    names = _Names(tool_names)
    found = sorted(_scan(text, names), key=lambda f: f.start)
    if not found and schemas:
        found = _described(text, schemas) or _described_list(text, schemas)
    if not found:
        return []
    batch = [found[0]]
    for f in found[1:]:
        same_container = f.start == batch[-1].start  # items of one JSON list or one tag
        if not same_container and (f.start < batch[-1].end or not _BATCH_GAP.match(text, batch[-1].end, f.start)):
            break
        batch.append(f)
    finish_at = next((i for i, f in enumerate(batch) if f.name == "finish"), None)
    if finish_at is not None and len(batch) > 1:
        batch = batch[:finish_at] or batch[:1]
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return [ToolCall(id=f"text-{digest}-{n}", name=f.name,
                     arguments=json.dumps(f.arguments, ensure_ascii=False, separators=(",", ":")))
            for n, f in enumerate(batch, 1)]


class _Names:
    """Known tool names, and their case/separator-free spellings when unique."""

    def __init__(self, tool_names: Collection[str]) -> None:
        self.exact = frozenset(tool_names)
        loose: dict[str, list[str]] = {}
        for n in self.exact:
            loose.setdefault(_loose(n), []).append(n)
        self.loose = {k: v[0] for k, v in loose.items() if len(v) == 1}

    def resolve(self, name: Any) -> str | None:
        if not isinstance(name, str):
            return None
        if name in self.exact:
            return name
        return self.loose.get(_loose(name))


def _loose(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name).lower()


def _scan(text: str, names: _Names) -> list[_Found]:
    """Every call in ``text``, in any form. Regions claimed by a tag or a fence
    are not scanned again for bare JSON."""
    found: list[_Found] = []
    claimed: list[tuple[int, int]] = []
    for m in _TOOL_CALL.finditer(text):
        calls = _calls_in(_decode_whole(m.group(1).strip()), names, need_args=False)
        if calls:
            claimed.append(m.span())
            found += [_Found(m.start(), m.end(), n, a) for n, a in calls]
    for m in _FUNCTION.finditer(text):
        if _inside(m.start(), claimed):
            continue
        claimed.append(m.span())
        name = names.resolve(m.group(1) or m.group(2))
        args = _function_body(m.group(3))
        if name is not None and args is not None:
            found.append(_Found(m.start(), m.end(), name, args))
    for m in _FENCE.finditer(text):
        if _inside(m.start(), claimed):
            continue
        if m.group(1).lower() not in _CALL_FENCES:
            claimed.append(m.span())  # a code sample in another language
            continue
        calls = _calls_in(_decode_whole(m.group(2).strip()), names, need_args=True)
        if calls:  # otherwise the bare scan still looks inside (a fence in a string cut the block)
            claimed.append(m.span())
            found += [_Found(m.start(), m.end(), n, a) for n, a in calls]
    found += _bare(text, names, claimed)
    return found


def _bare(text: str, names: _Names, claimed: list[tuple[int, int]]) -> list[_Found]:
    """JSON calls outside tags and fences: each ``{`` or ``[`` that starts a
    JSON value is decoded, and the scan goes on after the value (a call nested
    inside some other JSON object is data, not a call)."""
    return [_Found(start, end, n, a) for start, end, value in _json_values(text, _OPEN, claimed)
            for n, a in _calls_in(value, names, need_args=True)]


def _json_values(text: str, opener: re.Pattern[str], skip: list[tuple[int, int]]):
    """(start, end, value) of each JSON value that starts at a match of
    ``opener`` outside the ``skip`` spans; the scan goes on after each value."""
    pos = 0
    while (m := opener.search(text, pos)) is not None:
        start = m.start()
        span = _claimed_span(start, skip)
        if span is not None:
            pos = span[1]
            continue
        try:
            value, end = _DECODER.raw_decode(text, start)
        except ValueError:
            pos = start + 1
            continue
        yield start, end, value
        pos = end


def _described(text: str, schemas: Mapping[str, Mapping[str, Any]]) -> list[_Found]:
    """A call explained in prose: the first JSON object of the text (outside
    fences of another language) taken as the arguments of the tool named last
    before it, when that tool's schema fits the object's keys."""
    skip = [m.span() for m in _FENCE.finditer(text) if m.group(1).lower() not in _CALL_FENCES]
    first = next(_json_values(text, _BRACE, skip), None)
    if first is None:
        return []
    start, end, value = first
    if not isinstance(value, dict) or not value:
        return []
    name = _named_before(text, start, schemas)
    if name is None or not _fits(value, schemas[name]):
        return []
    return [_Found(start, end, name, value)]


def _named_before(text: str, pos: int, schemas: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The tool of ``schemas`` whose exact name (as a word) comes last before ``pos``."""
    mentions = [(m.start(), name) for name in schemas
                for m in re.finditer(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", text[:pos])]
    return max(mentions)[1] if mentions else None


def _fits(args: dict[str, Any], schema: Mapping[str, Any]) -> bool:
    """Only parameters of the schema, and every required one."""
    return bool(args) and set(args) <= set(schema.get("properties", {})) \
        and set(schema.get("required", ())) <= set(args)


def _described_list(text: str, schemas: Mapping[str, Mapping[str, Any]]) -> list[_Found]:
    """A call explained as a list of its arguments after the tool's name:
    ``- `url`: `http://...```, one parameter per line. Values are text,
    read as the parameter's schema type (a number, a boolean, a JSON list or
    object)."""
    m = _ARG_LIST.search(text)
    if m is None:
        return []
    name = _named_before(text, m.start(), schemas)
    if name is None:
        return []
    props = schemas[name].get("properties", {})
    args: dict[str, Any] = {}
    for line in _ARG_LINE.finditer(m.group(0)):
        key, raw = line.group(1), line.group(2).strip().strip("`").strip()
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            raw = raw[1:-1]
        value = _typed(raw, props.get(key, {}))
        if key in args or value is _NOT:
            return []
        args[key] = value
    return [_Found(m.start(), m.end(), name, args)] if _fits(args, schemas[name]) else []


_NOT = object()


def _typed(raw: str, prop: Mapping[str, Any]) -> Any:
    """``raw`` as the JSON type ``prop`` asks for, or _NOT when it is not one."""
    kind = prop.get("type")
    if kind in ("integer", "number", "boolean", "array", "object"):
        value = _decode_whole(raw.lower() if kind == "boolean" else raw)
        ok = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
              "boolean": lambda v: isinstance(v, bool), "array": lambda v: isinstance(v, list),
              "object": lambda v: isinstance(v, dict)}[kind]
        return value if ok(value) else _NOT
    return raw


def _calls_in(value: Any, names: _Names, *, need_args: bool) -> list[tuple[str, dict[str, Any]]]:
    """The calls a decoded JSON value stands for: one object, or a list whose
    every item is a call (a list with anything else in it is data)."""
    if isinstance(value, dict):
        call = _call_of(value, names, need_args=need_args)
        return [call] if call is not None else []
    if isinstance(value, list) and value:
        calls = [_call_of(v, names, need_args=need_args) if isinstance(v, dict) else None for v in value]
        if all(c is not None for c in calls):
            return calls  # type: ignore[return-value]
    return []


def _call_of(obj: dict[str, Any], names: _Names, *, need_args: bool) -> tuple[str, dict[str, Any]] | None:
    if isinstance(obj.get("function"), dict) and set(obj) <= {"function"} | _ALLOWED_EXTRA:
        obj = obj["function"]  # the OpenAI wire shape
    keys = set(obj)
    arg_keys = keys & {"arguments", "parameters"}
    if "name" not in keys or len(arg_keys) > 1 or not keys - {"name"} - arg_keys <= _ALLOWED_EXTRA:
        return None
    if need_args and not arg_keys:
        return None
    name = names.resolve(obj["name"])
    if name is None:
        return None
    args = _arguments(obj[arg_keys.pop()]) if arg_keys else {}
    return (name, args) if args is not None else None


def _arguments(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        decoded = _decode_whole(raw.strip())
        return decoded if isinstance(decoded, dict) else None
    if raw is None:
        return {}
    return raw if isinstance(raw, dict) else None


def _function_body(body: str) -> dict[str, Any] | None:
    """The arguments of a ``<function ...>`` tag: a JSON object, or parameter
    tags (values are text; a value that is a JSON object or list is decoded),
    or nothing at all (no arguments)."""
    body = body.strip()
    params = list(_PARAMETER.finditer(body))
    if params:
        args: dict[str, Any] = {}
        for p in params:
            value = p.group(3).strip("\n")
            decoded = _decode_whole(value.strip()) if value.strip()[:1] in ("{", "[") else None
            args[p.group(1) or p.group(2)] = decoded if isinstance(decoded, (dict, list)) else value
        return args
    if not body:
        return {}
    return _arguments(_decode_whole(body))


def _decode_whole(text: str) -> Any:
    """``text`` as one JSON value, or None when it is not exactly that."""
    try:
        value, end = _DECODER.raw_decode(text)
    except ValueError:
        return None
    return value if not text[end:].strip() else None


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return _claimed_span(pos, spans) is not None


def _claimed_span(pos: int, spans: list[tuple[int, int]]) -> tuple[int, int] | None:
    for s in spans:
        if s[0] <= pos < s[1]:
            return s
    return None


_ATTEMPT = re.compile(r'\{\s*"name"\s*:\s*"(' + _NAME_CHARS + r')"\s*,\s*"(?:arguments|parameters)"\s*:')


def broken_call(text: str, tool_names: Collection[str]) -> tuple[str, str] | None:
    """(tool, why) when ``text`` starts a JSON call of a known tool that does
    not parse — a coder model writes ``"content": "Total: " + (3 + 5)`` —,
    else None. Call it only when :func:`recover_calls` found nothing: such an
    answer is a call gone wrong, to be sent back for fixing, not prose."""
    names = _Names(tool_names)
    for m in _ATTEMPT.finditer(text or ""):
        name = names.resolve(m.group(1))
        if name is None:
            continue
        try:
            _DECODER.raw_decode(text, m.start())
        except ValueError as exc:
            return name, str(exc)
    return None


__all__ = ["broken_call", "recover_calls"]
