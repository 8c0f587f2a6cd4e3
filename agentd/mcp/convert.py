"""What passes between an MCP tool and the model.

- ``model_name``: the name the model sees, ``server__tool`` (OpenAI-style APIs
  accept only letters, digits, ``_`` and ``-`` in a tool name, at most 64);
  users may also write ``server.tool`` in a goal's tools.
- ``check_arguments``: the model's JSON checked against the tool's input
  schema before anything is sent; a ToolError names the field path, what is
  wrong and the tool's parameters, as for a built-in tool (the model's
  mistake, reported back to it).
- ``result_text``: a call result as observation text. Text content as is;
  structured content as JSON when there is no text; an embedded text resource
  with its URI; images, audio and binary resources are described, not passed
  on (the model here reads text). A result flagged ``isError`` raises ToolError.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..protocol.errors import ToolError
from ..shared.mcp import SEPARATOR
from ..tools.registry import param_list

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def model_name(server: str, tool: str) -> str:
    name = f"{server}{SEPARATOR}{_UNSAFE.sub('_', tool)}"
    if len(name) > 64 or _UNSAFE.search(tool):  # keep distinct tools distinct after the substitution
        digest = hashlib.sha256(tool.encode()).hexdigest()[:6]
        name = f"{name[:57]}_{digest}"
    return name


def spelled(entry: str) -> tuple[str, str] | None:
    """(server, tool) of ``server.tool``, ``server.*`` or ``server__tool``; None otherwise."""
    for sep in (".", SEPARATOR):
        server, found, tool = entry.partition(sep)
        if found and server and tool:
            return server, tool
    return None


def input_schema(raw: dict[str, Any] | None) -> dict[str, Any]:
    """The schema the model gets: an object schema, whatever the server sent."""
    schema = dict(raw or {})
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    schema.pop("title", None)
    return schema


def validator(schema: dict[str, Any]):
    """A jsonschema validator of the schema's own draft; a schema that is not
    valid itself gets a validator that accepts any object (the server checks)."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError:
        return None
    return cls(schema)


def check_arguments(name: str, raw: str, validate) -> dict[str, Any]:
    text = raw.strip() if isinstance(raw, str) else raw
    try:
        args = json.loads(text or "{}")
    except (json.JSONDecodeError, TypeError) as exc:
        raise ToolError(f"the arguments for {name} are not valid JSON ({exc}); send one JSON object",
                        tool=name) from None
    if not isinstance(args, dict):
        raise ToolError(f"the arguments for {name} must be a JSON object, not {type(args).__name__}", tool=name)
    if validate is not None:
        errors = sorted(validate.iter_errors(args), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.absolute_path)
            more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
            raise ToolError(f"invalid arguments for {name}: {first.message} - at `{path}`{more}; "
                            f"{param_list(validate.schema)}", tool=name, field=path)
    return args


def result_text(name: str, result: Any) -> str:
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} ({block.mime_type}) not shown: this model reads text only]")
        elif kind == "resource":
            res = block.resource
            if getattr(res, "text", None) is not None:
                parts.append(f"[resource {res.uri}]\n{res.text}")
            else:
                parts.append(f"[binary resource {res.uri} ({res.mime_type or 'unknown type'}) not shown]")
        elif kind == "resource_link":
            parts.append(f"[resource link: {block.uri}" + (f" ({block.name})" if block.name else "") + "]")
        else:
            parts.append(f"[{kind or 'unknown'} content not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, indent=2))
    text = "\n\n".join(parts)
    if result.is_error:
        raise ToolError(f"{name} failed: {text or 'the server reported an error without a message'}", tool=name)
    return text or "(the tool returned nothing)"
