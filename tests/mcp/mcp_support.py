"""Configuration snippets for MCP servers in the tests' daemons."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def stdio_server(name: str, *args: str, env: dict[str, str] | None = None, extra: str = "") -> str:
    """A ``[[mcp.servers]]`` table running ``python args...`` (this venv's python)."""
    lines = ["[[mcp.servers]]", f"name = {json.dumps(name)}", f"command = {json.dumps(sys.executable)}",
             f"args = {json.dumps(list(args))}"]
    if env:
        lines.append("env = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in env.items()) + " }")
    return "\n".join(lines) + "\n" + extra + "\n"


def time_server(name: str = "time", extra: str = "") -> str:
    return stdio_server(name, "-m", "mcp_server_time", "--local-timezone", "UTC", extra=extra)


def step_rows(d, run_id: str) -> list[dict]:
    return d.call("run.steps", {"id": run_id})["steps"]
