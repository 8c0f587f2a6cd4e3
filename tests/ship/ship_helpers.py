"""Helpers for the ship tests: running agentd by hand with a NOTIFY_SOCKET we
read, and the agentctl of this interpreter."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class Notify:
    """A NOTIFY_SOCKET: an AF_UNIX datagram socket, messages with arrival times."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list[tuple[float, list[str]]] = []

    def recv(self, timeout: float) -> list[str] | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        lines = data.decode().split("\n")
        self.messages.append((time.monotonic(), lines))
        return lines

    def wait_for(self, line: str, timeout: float, proc: subprocess.Popen | None = None) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.recv(min(0.5, max(0.01, deadline - time.monotonic())))
            if msg is not None and (line in msg or any(m.startswith(line) for m in msg)):
                return msg
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"agentd exited with {proc.returncode}")
        raise AssertionError(f"no {line!r} within {timeout}s; got {self.messages}")

    def close(self) -> None:
        self.sock.close()


def ctl(env: dict, *args: str, input: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentctl", *args], env=env, capture_output=True, text=True,
                          input=input, timeout=timeout)
