"""Shared plumbing for the benchmarks: machine description, statistics, the
fake LLM in its own process, and the real daemon as a subprocess.

Only the project's dependencies and the stdlib are used here.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterable

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- reporting


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()} "
            f"({platform.python_implementation()}), {platform.system()} {platform.release()}")


def revision() -> str:
    """The commit under test (with ``+dirty`` when the tree has changes)."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "agentd", "agentctl"],
                               cwd=ROOT, capture_output=True, text=True, timeout=5).stdout.strip()
        return (rev or "unknown") + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def header(title: str) -> None:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"== {title}")
    print(f"   machine: {machine()}")
    print(f"   date:    {now}, agentd {revision()}")
    sys.stdout.flush()


class Stat:
    """Median with min-max of a list of samples."""

    def __init__(self, samples: Iterable[float]) -> None:
        self.samples = [float(s) for s in samples]
        if not self.samples:
            raise ValueError("no samples")
        self.median = statistics.median(self.samples)
        self.min = min(self.samples)
        self.max = max(self.samples)

    def fmt(self, unit: str = "", digits: int = 2) -> str:
        f = f"{{:.{digits}f}}"
        return f"{f.format(self.median)}{unit} ({f.format(self.min)}-{f.format(self.max)}, n={len(self.samples)})"

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.min, "max": self.max, "n": len(self.samples)}


def pct(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not samples:
        return float("nan")
    s = sorted(samples)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def line(label: str, value: str, target: str = "") -> None:
    print(f"   {label:<58} {value}" + (f"   [target {target}]" if target else ""))
    sys.stdout.flush()


def emit_json(name: str, results: dict[str, Any]) -> None:
    """One machine-readable line per benchmark (run_all and the smoke test read it)."""
    print("BENCH-JSON " + json.dumps({"bench": name, **results}, default=_jsonable))
    sys.stdout.flush()


def _jsonable(o: Any) -> Any:
    if isinstance(o, Stat):
        return o.as_dict()
    raise TypeError(type(o))


def base_parser(doc: str | None, *, profile: bool = True) -> argparse.ArgumentParser:
    """--smoke, and --profile for a benchmark that profiles its daemon (see
    run_all.PROFILED)."""
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for CI: checks that it runs, not how fast")
    if profile:
        p.add_argument("--profile", metavar="DIR",
                       help="record a profile of the daemon into DIR (py-spy; startup: pyinstrument)")
    return p


# ---------------------------------------------------------------- /proc


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process (all its threads, dead ones included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kb(pid: int, key: str) -> int:
    for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
        if ln.startswith(key + ":"):
            return int(ln.split()[1])
    return 0


# ---------------------------------------------------------------- the fake LLM (own process)


class FakeProc:
    """``bench.fakellm`` in a child process, so its CPU is not the daemon's
    nor the client's. ``k`` is read per conversation from a ``#k=N`` marker in
    the request (see bench/fakellm.py), so one fake serves every K."""

    def __init__(self, *, latency: float = 0.0, tool: str = "recall", arguments: str = '{"query": "bench"}',
                 default_k: int = 10) -> None:
        self.args = [sys.executable, "-m", "bench.fakellm", "--latency", str(latency), "--tool", tool,
                     "--arguments", arguments, "--k", str(default_k)]
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> "FakeProc":
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(ROOT),
                                     text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().split()
        if len(first) != 2 or first[0] != "PORT":
            raise RuntimeError(f"fake LLM did not start: {first}")
        self.port = int(first[1])
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def sample_request(k: int, done: int, tools: list[dict] | None = None) -> dict:
    """A chat request like the daemon's after ``done`` tool results."""
    msgs: list[dict] = [{"role": "system", "content": "You are a benchmark agent. " * 20},
                        {"role": "user", "content": f"Benchmark objective #k={k}"}]
    for i in range(done):
        msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{i + 1}", "type": "function", "function": {"name": "recall", "arguments": '{"query": "bench"}'}}]})
        msgs.append({"role": "tool", "tool_call_id": f"call_{i + 1}", "content": "No memories match 'bench'."})
    return {"model": "gpt-4o", "messages": msgs, "tools": tools or []}


def fake_max_rate(port: int, seconds: float = 1.0, done: int = 5) -> tuple[float, float]:
    """(requests/s, us/request) of the fake with a tight keep-alive client loop
    on one connection (stdlib http.client, bodies prebuilt)."""
    import http.client

    body = json.dumps(sample_request(10 ** 6, done)).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    n = 0
    t0 = time.perf_counter()
    while True:
        conn.request("POST", "/v1/chat/completions", body, headers)
        r = conn.getresponse()
        r.read()
        n += 1
        el = time.perf_counter() - t0
        if el >= seconds and n >= 20:
            break
    conn.close()
    return n / el, el / n * 1e6


# ---------------------------------------------------------------- the daemon (subprocess)


class RpcError(Exception):
    pass


class Rpc:
    """A minimal blocking JSON-RPC client on the daemon's socket."""

    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        self.next_id = 0
        self.notes: list[dict] = []

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                ln, self.buf = self.buf[:i], self.buf[i + 1:]
                return ln
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("daemon closed the connection")
            self.buf += chunk

    def message(self) -> dict:
        return json.loads(self._line())

    def call(self, method: str, params: dict | None = None) -> Any:
        self.next_id += 1
        rid = self.next_id
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.sock.sendall(json.dumps(msg, separators=(",", ":")).encode() + b"\n")
        while True:
            reply = self.message()
            if "id" not in reply:
                self.notes.append(reply)
                continue
            if reply["id"] != rid:
                raise RpcError(f"unexpected reply {reply}")
            if "error" in reply:
                raise RpcError(f"{method}: {reply['error']}")
            return reply["result"]

    def next_note(self) -> dict:
        if self.notes:
            return self.notes.pop(0)
        return self.message()

    def close(self) -> None:
        self.sock.close()


class Daemon:
    """agentd as a subprocess on private XDG dirs; ready on its own READY=1."""

    def __init__(self, base: Path, llm_url: str | None, *, config: str = "", args: list[str] | None = None,
                 python: list[str] | None = None, env: dict[str, str] | None = None, module: str = "agentd") -> None:
        self.base = base
        from agentd.testing.env import daemon_env, write_config

        self.env = daemon_env(base, llm_url, api_key="sk-bench", **(env or {}))
        if config:
            write_config(self.env, config)
        self.args = args or []
        self.module = module
        if module != "agentd":  # a bench wrapper: the daemon runs in base/, make bench importable
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), self.env.get("PYTHONPATH")]))
        self.python = python or [sys.executable]
        self.socket = Path(self.env["XDG_RUNTIME_DIR"]) / "agentd" / "agentd.sock"
        self.db = Path(self.env["XDG_DATA_HOME"]) / "agentd" / "agentd.db"
        self.log_path = base / "agentd.log"
        self.proc: subprocess.Popen | None = None
        self.ready_s = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> "Daemon":
        from agentd.testing.ready import spawn_ready

        self.proc, self.ready_s = spawn_ready([*self.python, "-m", self.module, *self.args], env=self.env,
                                              cwd=self.base, log_path=self.log_path, timeout=timeout)
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def rpc(self, timeout: float = 60.0) -> Rpc:
        return Rpc(self.socket, timeout)

    def call(self, method: str, params: dict | None = None) -> Any:
        c = self.rpc()
        try:
            return c.call(method, params)
        finally:
            c.close()

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> "Daemon":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Profiler:
    """``py-spy record`` (raw collapsed stacks, for bench.profsummary) attached
    to a pid while the ``with`` block runs (a no-op without ``--profile``).
    py-spy is a profiling aid, not a dependency."""

    def __init__(self, out_dir: str | None, name: str, pid: int) -> None:
        self.out_dir, self.name, self.pid = out_dir, name, pid
        # --gil: only samples holding the GIL, i.e. where the daemon's Python CPU goes
        # (waits in epoll or on a worker's lock are left out). PYSPY_EXTRA overrides.
        self.extra = tuple(os.environ.get("PYSPY_EXTRA", "--gil").split())
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Profiler":
        if not self.out_dir:
            return self
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        Path(self.out_dir).mkdir(parents=True, exist_ok=True)
        out = Path(self.out_dir) / f"{self.name}.txt"
        self.proc = subprocess.Popen([exe, "record", "--pid", str(self.pid), "--rate", "250", "--format", "raw",
                                      "--threads", *self.extra, "-o", str(out)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        # Sampling has begun once py-spy says so (its first line), not after a guessed delay.
        first = self.proc.stdout.readline()
        if not first.startswith("py-spy> Sampling"):
            self.proc.kill()
            rest = self.proc.communicate(timeout=10)[0]
            raise RuntimeError(f"py-spy did not attach to {self.pid}: {first}{rest}".strip())
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # the rest, so it never blocks
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def tempdir(prefix: str) -> tempfile.TemporaryDirectory:
    # Short paths: a Unix socket path must fit in 108 bytes.
    return tempfile.TemporaryDirectory(prefix=f"agentd-bench-{prefix}-", dir="/tmp")


def goal_params(k: int, tool: str = "recall") -> dict:
    return {"objective": f"Benchmark objective #k={k}: call {tool} {k} times, then answer.",
            "name": f"bench-k{k}", "params": {"step_budget": k + 5, "allowed_tools": [tool]}}


def run_and_wait(rpc: Rpc, goal_id: str, watcher: Rpc) -> dict:
    """goal.run, then wait for its run_finished on ``watcher`` (subscribed to
    the goal), then run.get."""
    run = rpc.call("goal.run", {"id": goal_id})
    rid = run["id"]
    while True:
        note = watcher.next_note()
        p = note.get("params") or {}
        ev = p.get("event") or {}
        if ev.get("type") == "run_finished" and p.get("run_id") == rid:
            break
    return rpc.call("run.get", {"id": rid})


def iso_ms(s: str) -> float:
    return _dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000
