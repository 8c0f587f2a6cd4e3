"""A small MCP server written with the SDK, for the tests: notes in a file.

Tools: ``add_note`` (a side effect: neither read-only nor idempotent),
``count_notes`` (read-only), ``hang`` (read-only, never answers),
``add_shout_tool`` (adds ``shout`` and sends tools/list_changed).
Environment: ``NOTES_FILE`` (where notes go); ``NOTES_SIGNAL`` (a Unix socket
path): a call whose text starts with "block" (or ``count_notes(block=true)``
the first time) sends this process's pid there and then never returns, so a
test can kill the server, or the daemon, in the middle of the call.

``python notes_server.py`` serves on stdio; ``--http`` on streamable HTTP at
127.0.0.1 on a free port, printed as the first line of stdout.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import ToolAnnotations

server = MCPServer("notes", version="1.0")
NOTES = Path(os.environ.get("NOTES_FILE", "notes.txt"))


async def _block_here() -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(os.environ["NOTES_SIGNAL"])
        s.sendall(f"{os.getpid()}\n".encode())
    await anyio.sleep_forever()


@server.tool(annotations=ToolAnnotations(read_only_hint=False, idempotent_hint=False, open_world_hint=False))
async def add_note(text: str) -> str:
    """Append a note to the notes file."""
    with NOTES.open("a") as f:
        f.write(f"call: {text}\n")
    if text.startswith("block"):
        await _block_here()
    return f"noted: {text}"


@server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
async def count_notes(block: bool = False) -> str:
    """How many notes there are."""
    lines = NOTES.read_text().splitlines() if NOTES.exists() else []
    marker = NOTES.with_suffix(".blocked")
    if block and not marker.exists():
        marker.write_text("once")
        await _block_here()
    return f"{len(lines)} notes"


@server.tool(annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False))
async def pid() -> str:
    """This server's process id."""
    return str(os.getpid())


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def hang() -> str:
    """Never answers."""
    await anyio.sleep_forever()
    return ""


@server.tool(annotations=ToolAnnotations(read_only_hint=False, idempotent_hint=True, open_world_hint=False))
async def add_shout_tool(ctx: Context) -> str:
    """Add the tool ``shout`` and tell the client its tool list changed."""

    def shout(text: str) -> str:
        """The text in capitals."""
        return text.upper()

    server.add_tool(shout, annotations=ToolAnnotations(read_only_hint=True))
    await ctx.session.send_tool_list_changed()
    return "added shout"


def _serve_http() -> None:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(server.streamable_http_app(), log_level="warning", lifespan="on")
    anyio.run(uvicorn.Server(config).serve, [sock])


if __name__ == "__main__":
    if "--http" in sys.argv:
        _serve_http()
    else:
        print("notes server starting", file=sys.stderr, flush=True)
        server.run()
