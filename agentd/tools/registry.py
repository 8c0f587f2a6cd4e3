"""The tool registry: lookup by name, JSON Schemas for the model, argument decoding.

``decode_args`` turns the model's raw JSON into the tool's params struct and
raises ToolError (a model mistake, reported back to it) naming the field path
on any problem. An unknown tool name is a ToolError listing the valid names.

``get`` hands out every tool behind ``ContainedTool``: whatever a tool raises,
except cancellation (and the interpreter's own exits), reaches the caller as a
ToolError, so a tool's failure is the model's observation and never ends the
run. This is the one place every tool call passes through.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

import msgspec

from .. import log
from ..messages import ToolSpec
from ..shared.config import ToolsConfig
from ..protocol.methods import ToolInfo
from ..protocol.errors import ToolError
from .base import EFFECT_DEFAULTS, Tool, copy_attributes

ALWAYS_ALLOWED = ("finish",)

_log = log.get("agentd.tools")

# What the model is told about an unexpected failure, by exception class (the
# first match in this order); the class name and message follow.
_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (RecursionError, "the input is nested too deeply to process"),
    (MemoryError, "the input is too large to process"),
    (UnicodeError, "text in an encoding that could not be handled"),
    (OSError, "an operating-system error (file or network)"),
    (ArithmeticError, "a calculation error inside the tool"),
    (LookupError, "the tool met data it did not expect"),
    (ValueError, "the tool met a value it could not handle"),
)


def unexpected_failure(name: str, exc: Exception) -> ToolError:
    """The ToolError the model sees for ``exc``, an exception ``name`` did not
    expect: what kind of failure it was, the exception's class and (cut)
    message, and that the model may try another way."""
    kind = next((text for cls, text in _KINDS if isinstance(exc, cls)), "an unexpected error inside the tool")
    detail = " ".join(str(exc).split())[:300]
    shown = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return ToolError(f"{name} failed: {kind} ({shown}). This is not a mistake in your arguments; "
                     "try another input or another way, or go on without it.", tool=name,
                     exception=type(exc).__name__)


class ContainedTool:
    """A tool whose failures are observations.

    ``run`` passes ToolError (and ToolRefused) through; any other Exception is
    logged with its traceback (a bug of ours, or a library surprise) and
    re-raised as ``unexpected_failure``. Cancellation, KeyboardInterrupt and
    SystemExit are not Exceptions and pass untouched, so cancel and shutdown
    still work."""

    def __init__(self, tool: Tool) -> None:
        self.tool = tool
        copy_attributes(self, tool)

    async def run(self, params: Any, ctx: Any) -> str:
        try:
            return await self.tool.run(params, ctx)
        except ToolError:
            raise
        except Exception as exc:  # noqa: BLE001 - the boundary: every failure becomes the model's observation
            _log.error("tool failed unexpectedly", exc_info=exc, tool=self.name, error=type(exc).__name__)
            raise unexpected_failure(self.name, exc) from exc


def inline_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace every ``$ref`` into ``$defs`` by the definition itself."""
    defs = schema.get("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name in seen:
                    raise ValueError(f"recursive schema through {name}; cannot inline")
                merged = {**copy.deepcopy(defs[name]), **{k: v for k, v in node.items() if k != "$ref"}}
                return resolve(merged, seen + (name,))
            return {k: resolve(v, seen) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(v, seen) for v in node]
        return node

    out = resolve(schema, ())
    out.pop("title", None)
    return out


def params_schema(params: type[msgspec.Struct]) -> dict[str, Any]:
    schema = inline_schema(msgspec.json.schema(params))
    schema.setdefault("properties", {})
    schema.setdefault("required", [])
    schema["additionalProperties"] = False
    return schema


class ToolRegistry:
    """The built-in tools, plus the tools of ``sources`` (MCP servers): a
    source answers ``names()``, ``lookup(name)``, ``expand(entry)`` (the tools
    a goal's entry such as ``server.*`` names, None if not its own),
    ``accepts(entry)``, ``decode(name, raw)``, ``schema(name)`` and
    ``infos(timeout_for)``; its tools come already behind their breakers."""

    def __init__(self, tools: Iterable[Tool], sources: Iterable[Any] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"two tools named {tool.name!r}")
            self._tools[tool.name] = tool
        self._decoders = {name: msgspec.json.Decoder(t.Params) for name, t in self._tools.items()}
        self._schemas = {name: params_schema(t.Params) for name, t in self._tools.items()}
        self.sources = list(sources)

    def _find(self, name: str) -> Tool | None:
        tool = self._tools.get(name)
        if tool is None:
            for source in self.sources:
                tool = source.lookup(name)
                if tool is not None:
                    break
        return tool

    def names(self) -> list[str]:
        return [*self._tools, *(n for source in self.sources for n in source.names())]

    def accepts(self, entry: str) -> bool:
        """``entry`` may stand in a goal's tools: a tool's name, or one a
        source recognises (``server.*`` of a configured MCP server)."""
        return entry in self._tools or entry in self.names() or any(s.accepts(entry) for s in self.sources)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def find(self, name: str | None) -> ContainedTool | None:
        """The tool called ``name`` behind ContainedTool, or None if there is none."""
        tool = self._find(name) if name is not None else None
        return ContainedTool(tool) if tool is not None else None

    def get(self, name: str) -> Tool:
        """The tool called ``name``, behind ContainedTool; ToolError if there is none."""
        tool = self._find(name)
        if tool is None:
            raise ToolError(f"there is no tool named {name!r}; the tools are: {', '.join(self.names())}", tool=name)
        return ContainedTool(tool)

    def select(self, allowed: list[str] | None) -> list[Tool]:
        """The tools a goal may use: the defaults when ``allowed`` is None, else
        those named (plus ``finish``). Unknown names raise ToolError."""
        if allowed is None:
            return [t for t in self._tools.values() if t.default]
        extra = [n for n in ALWAYS_ALLOWED if n in self._tools]
        out: dict[str, Tool] = {}
        for entry in dict.fromkeys([*allowed, *extra]):
            expanded = None
            if entry not in self._tools:
                for source in self.sources:
                    expanded = source.expand(entry)
                    if expanded is not None:
                        break
            for tool in expanded if expanded is not None else [self.get(entry).tool]:
                out.setdefault(tool.name, tool)
        return list(out.values())

    def _schema(self, name: str) -> dict[str, Any]:
        schema = self._schemas.get(name)
        if schema is None:
            schema = next((s for s in (src.schema(name) for src in self.sources) if s is not None), None)
        return copy.deepcopy(schema if schema is not None else {"type": "object", "properties": {}})

    def specs(self, allowed: list[str] | None = None) -> list[ToolSpec]:
        return [
            ToolSpec(name=t.name, description=t.description, parameters=self._schema(t.name), **effects(t))
            for t in self.select(allowed)
        ]

    def decode_args(self, name: str, raw_json: str) -> Any:
        """The params for ``raw_json`` (a struct; a checked dict for a source's
        tool); ToolError saying what is wrong otherwise."""
        self.get(name)
        text = raw_json.strip() if isinstance(raw_json, str) else raw_json
        if not text:
            text = "{}"
        if name not in self._decoders:
            for source in self.sources:
                args = source.decode(name, text)
                if args is not None:
                    return args
            raise ToolError(f"{name} is not available now; try again later", tool=name)
        try:
            return self._decoders[name].decode(text)
        except msgspec.ValidationError as exc:
            cleaned = _without_schema_words(text, self._schemas[name])
            if cleaned is not None:
                return self.decode_args(name, cleaned)
            raise ToolError(f"invalid arguments for {name}: {exc}; {param_list(self._schemas[name])}",
                            tool=name, field=_field_path(str(exc))) from None
        except msgspec.DecodeError as exc:
            raise ToolError(f"the arguments for {name} are not valid JSON ({exc}); send one JSON object", tool=name) from None

    def infos(self, config: ToolsConfig) -> list[ToolInfo]:
        """Every tool as ``tool.list`` reports it."""
        out = [ToolInfo(name=t.name, description=t.description, parameters=copy.deepcopy(self._schemas[t.name]),
                        timeout_s=self.timeout_for(t.name, config), default=t.default, side_effect=t.side_effect,
                        **effects(t))
               for t in self._tools.values()]
        for source in self.sources:
            out += source.infos(lambda n: self.timeout_for(n, config))
        return out

    def timeout_for(self, name: str, config: ToolsConfig) -> float:
        tool = self.get(name)
        return float(config.timeouts.get(name, tool.timeout_s))


def param_list(schema: dict[str, Any]) -> str:
    """The parameters a tool takes, for an error the model must fix: small
    models rename them ("data" for "payload") and fix the call once told."""
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    if not props:
        return "it takes no parameters"
    return "its parameters are " + ", ".join(f"{p} (required)" if p in required else p for p in props)


def effects(tool: Any) -> dict[str, bool]:
    """read_only, idempotent, external of ``tool`` (the worst case for what it does not say)."""
    return {k: bool(getattr(tool, k, default)) for k, default in EFFECT_DEFAULTS.items()}


# JSON Schema's own words: small models copy them from the tool's schema into a
# call ({"summary": "...", "additionalProperties": false}) and then repeat the same
# call however the error is worded. Dropped when the tool has no such parameter.
SCHEMA_WORDS = frozenset({"additionalProperties", "properties", "required", "type", "$schema"})


def _without_schema_words(text: str, schema: dict[str, Any]) -> str | None:
    """``text`` (a JSON object) without the schema words the tool does not take
    as parameters, or None when there are none to drop."""
    try:
        args = json.loads(text)
    except ValueError:
        return None
    if not isinstance(args, dict):
        return None
    noise = [k for k in args if k in SCHEMA_WORDS and k not in schema.get("properties", {})]
    if not noise:
        return None
    return json.dumps({k: v for k, v in args.items() if k not in noise})


def _field_path(message: str) -> str:
    marker = " - at `"
    if marker in message:
        return message.rsplit(marker, 1)[1].rstrip("`")
    return "$"


def default_registry() -> ToolRegistry:
    from .email import SendEmail
    from .fetch_page import FetchPage
    from .files import ReadFile, WriteFile
    from .finish import Finish
    from .memory_tools import Recall, Remember
    from .read_feed import ReadFeed
    from .web_search import WebSearch
    from .webhook import SendWebhook

    return ToolRegistry([
        WebSearch(), FetchPage(), ReadFeed(), ReadFile(), WriteFile(), SendWebhook(), SendEmail(),
        Remember(), Recall(), Finish(),
    ])
