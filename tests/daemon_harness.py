"""Start the real agentd as a subprocess on private XDG directories and talk
to it through its real socket.

Readiness is the daemon's own ``READY=1`` on a NOTIFY_SOCKET we bind (the
systemd protocol), so nothing here sleeps to wait for it.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agentd.testing.env import daemon_env, write_config  # noqa: F401 - write_config: for the suites
from agentd.testing.ready import spawn_ready

ROOT = Path(__file__).resolve().parent.parent


def base_env(base: Path, llm_url: str | None, **extra: str) -> dict[str, str]:
    return daemon_env(base, llm_url, **{"PYTHONDONTWRITEBYTECODE": "1", **extra})


class RpcError(Exception):
    def __init__(self, error: dict) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.message = error.get("message")
        self.data = error.get("data")


class RawClient:
    """A minimal JSON-RPC client on a raw socket (independent of agentctl)."""

    def __init__(self, path: str | Path, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        self.next_id = 0
        self.notifications: list[dict] = []

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_line(self) -> bytes:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the daemon")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def read_message(self) -> Any:
        return json.loads(self.read_line())

    def call(self, method: str, params: dict | None = None) -> Any:
        self.next_id += 1
        rid = self.next_id
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send_raw(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self.read_message()
            if isinstance(reply, dict) and "method" in reply and "id" not in reply:
                self.notifications.append(reply)
                continue
            assert reply.get("id") == rid, reply
            if "error" in reply:
                raise RpcError(reply["error"])
            return reply["result"]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Daemon:
    def __init__(self, base: Path, env: dict[str, str], args: list[str] | None = None) -> None:
        self.base = base
        self.env = env
        self.args = args or []
        self.socket = Path(env["XDG_RUNTIME_DIR"]) / "agentd" / "agentd.sock"
        self.db = Path(env["XDG_DATA_HOME"]) / "agentd" / "agentd.db"
        self.log_path = base / "agentd.log"
        self.proc: subprocess.Popen | None = None

    # -- life
    def start(self, timeout: float = 20.0, expect_ready: bool = True) -> "Daemon":
        self.proc, _ = spawn_ready([sys.executable, "-m", "agentd", *self.args], env=self.env, cwd=self.base,
                                   log_path=self.log_path, timeout=timeout, wait=expect_ready)
        return self

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def wait(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_records(self) -> list[dict]:
        out = []
        for line in self.log().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    # -- talking
    def client(self, timeout: float = 10.0) -> RawClient:
        return RawClient(self.socket, timeout)

    def call(self, method: str, params: dict | None = None) -> Any:
        with self.client() as c:
            return c.call(method, params)

    def ctl(self, *args: str, input: str | None = None, timeout: float = 30.0,
            env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "agentctl", *args], env=env or self.env, input=input,
                              capture_output=True, text=True, timeout=timeout, cwd=str(self.base))

    def wait_run(self, run_id: str, timeout: float = 30.0) -> dict:
        """Block until the run ends, by watching its events (run.watch), not by
        sleeping: every run that ends journals a run_finished event, which the
        watch replays if the run ended before. Returns the run (run.get)."""
        deadline = time.monotonic() + timeout
        with self.client(timeout=timeout) as c:
            c.call("run.watch", {"run_id": run_id})
            # The event may already have come in with the watch's reply.
            while not any(is_finished(msg) for msg in c.notifications):
                c.sock.settimeout(max(0.001, deadline - time.monotonic()))
                try:
                    c.notifications.append(c.read_message())
                except TimeoutError:
                    raise TimeoutError(f"run {run_id} not finished after {timeout}s") from None
            return c.call("run.get", {"id": run_id})


def is_finished(msg: dict) -> bool:
    """A ``run.event`` notification carrying run_finished."""
    return msg.get("method") == "run.event" and msg["params"]["event"]["type"] == "run_finished"
