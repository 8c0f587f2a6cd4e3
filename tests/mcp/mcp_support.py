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


NOTES_SERVER = str(HERE / "servers" / "notes_server.py")


def notes_server(name: str, notes: Path, signal: Path | None = None, extra: str = "") -> str:
    env = {"NOTES_FILE": str(notes)}
    if signal is not None:
        env["NOTES_SIGNAL"] = str(signal)
    return stdio_server(name, NOTES_SERVER, env=env, extra=extra)


class Signal:
    """A Unix socket the notes server reports to (its pid) when a call blocks."""

    def __init__(self, path: Path) -> None:
        import socket

        self.path = path
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(4)

    def wait_pid(self, timeout: float = 30.0) -> int:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(timeout)
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(64)
                if not chunk:
                    break
                data += chunk
        return int(data)

    def close(self) -> None:
        self.sock.close()


def start_http_notes_server(notes: Path):
    """The notes server on streamable HTTP at 127.0.0.1 (a subprocess); (process, url)."""
    import os
    import selectors
    import subprocess

    proc = subprocess.Popen([sys.executable, NOTES_SERVER, "--http"], stdout=subprocess.PIPE,
                            env={**os.environ, "NOTES_FILE": str(notes)})
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout=30):
        proc.kill()
        raise TimeoutError("the HTTP notes server did not print its port")
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}/mcp"
