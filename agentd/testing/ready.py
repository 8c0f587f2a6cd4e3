"""Start agentd and wait for its ``READY=1`` (systemd's sd_notify protocol):
readiness comes from the daemon itself, never from a sleep. Used by the test
harness and the benchmarks."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def spawn_ready(argv: Sequence[str], *, env: dict[str, str], cwd: Path, log_path: Path, timeout: float,
                wait: bool = True) -> tuple[subprocess.Popen, float]:
    """Run ``argv`` with NOTIFY_SOCKET pointing at a datagram socket in
    ``cwd``, its output appended to ``log_path``. Returns the process and the
    seconds it took to send READY=1 (0.0 with ``wait=False``).

    Raises RuntimeError with the log's tail if the process exits first or is
    not ready within ``timeout`` seconds (the process is left running then)."""
    notify_path = Path(cwd) / f"notify-{time.monotonic_ns()}.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    t0 = time.perf_counter()
    try:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(list(argv), env=dict(env, NOTIFY_SOCKET=str(notify_path)), stdout=log,
                                    stderr=log, cwd=str(cwd))
        if not wait:
            return proc, 0.0
        deadline = time.monotonic() + timeout
        while True:
            notify.settimeout(max(0.01, min(0.25, deadline - time.monotonic())))
            try:
                data = notify.recv(4096).decode()
            except socket.timeout:
                if proc.poll() is not None:
                    raise RuntimeError(f"agentd exited with {proc.returncode}:\n{_tail(log_path)}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"agentd not ready after {timeout}s:\n{_tail(log_path)}") from None
                continue
            if "READY=1" in data.split("\n"):
                return proc, time.perf_counter() - t0
    finally:
        notify.close()
        notify_path.unlink(missing_ok=True)


def _tail(path: Path, size: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except FileNotFoundError:
        return ""
