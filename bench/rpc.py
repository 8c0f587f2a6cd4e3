"""rpc: ``goal.get`` round trips on one connection, one request at a time
(send, wait for the reply, send the next): rate and p50/p99 latency, with the
daemon idle and while N runs are active (fake LLM at ``--latency``, runs long
enough to outlast the measurement). The default is the load of one person's
daemon (20 runs at 1 s); ``--active 200 --latency 0.1`` is the scale check.

The client is a raw socket with the request bytes prebuilt (the id changes);
each reply is decoded with json.loads and its id checked.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ._common import (Daemon, FakeProc, Profiler, Stat, base_parser, emit_json, goal_params, header, line, pct,
                      run_and_wait, tempdir)


def round_trip_client(path: Path, goal_id: str) -> Callable[[], float]:
    """A connection to the daemon at ``path``; each call of the function it
    returns sends one ``goal.get`` of ``goal_id``, waits for the reply, checks
    it and returns the round trip in ms."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(str(path))
    tmpl = b'{"jsonrpc":"2.0","id":%d,"method":"goal.get","params":{"id":"' + goal_id.encode() + b'"}}\n'
    state = {"buf": b"", "n": 0}
    perf = time.perf_counter

    def call() -> float:
        state["n"] = n = state["n"] + 1
        buf = state["buf"]
        t0 = perf()
        s.sendall(tmpl % n)
        while True:
            i = buf.find(b"\n")
            if i >= 0:
                ln, buf = buf[:i], buf[i + 1:]
                break
            data = s.recv(1 << 20)
            if not data:
                raise RuntimeError("the daemon closed the connection")
            buf += data
        t1 = perf()
        state["buf"] = buf
        reply = json.loads(ln)
        if reply.get("id") != n or "result" not in reply:
            raise RuntimeError(f"bad reply: {ln[:300]!r}")
        return (t1 - t0) * 1000

    call.close = s.close  # type: ignore[attr-defined]
    return call


def round_trips(path: Path, goal_id: str, seconds: float) -> tuple[float, list[float]]:
    """(round trips per second, latencies in ms) over ``seconds``."""
    call = round_trip_client(path, goal_id)
    lat: list[float] = []
    t_start = time.perf_counter()
    end = t_start + seconds
    while time.perf_counter() < end or not lat:
        lat.append(call())
    el = time.perf_counter() - t_start
    call.close()  # type: ignore[attr-defined]
    return len(lat) / el, lat


def measure(d, goal_id: str, a, name: str) -> tuple[list[float], list[float], list[float]]:
    """``a.repeats`` measurements of ``a.seconds``: rates, p50s, p99s."""
    rates, p50, p99 = [], [], []
    with Profiler(a.profile, name, d.pid):
        for _ in range(a.repeats):
            r, lat = round_trips(d.socket, goal_id, a.seconds)
            rates.append(r)
            p50.append(pct(lat, 50))
            p99.append(pct(lat, 99))
    return rates, p50, p99


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__)
    p.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--active", type=int, default=20, help="runs active during the busy measurement")
    p.add_argument("--latency", type=float, default=1.0, help="model latency of the active runs, seconds")
    a = p.parse_args(argv)
    if a.smoke:
        a.seconds, a.repeats, a.active, a.latency = 0.3, 1, 5, 0.1
    header(f"rpc: goal.get round trips on one connection, idle and with {a.active} runs active "
           f"({a.latency * 1000:.0f} ms model latency)")
    res: dict = {"active": a.active, "latency": a.latency}
    with FakeProc(latency=a.latency) as fake, tempdir("rpc") as td:
        d = Daemon(Path(td), fake.base_url, config=f"[daemon]\nmax_concurrent_runs = {a.active}\n").start()
        try:
            rpc = d.rpc()
            # a goal with some history: one finished run, so goal.get has a last_run
            g = rpc.call("goal.create", goal_params(2))
            watch = d.rpc()
            watch.call("run.watch", {"goal_id": g["id"]})
            run_and_wait(rpc, g["id"], watch)
            watch.close()
            round_trips(d.socket, g["id"], 0.3)  # warm-up
            idle_rate, idle_p50, idle_p99 = measure(d, g["id"], a, "rpc_idle")
            # busy: long runs (K large enough to last the whole measurement)
            k = int((a.seconds * a.repeats + 5) / a.latency) + 20
            busy_goal = rpc.call("goal.create", goal_params(k))
            started = d.rpc()
            started.call("run.watch", {"goal_id": busy_goal["id"]})  # wait on the runs' own run_started events
            for _ in range(a.active):
                rpc.call("goal.run", {"id": busy_goal["id"]})
            n_started = 0
            while n_started < a.active:
                note = started.next_note().get("params") or {}
                n_started += note.get("event", {}).get("type") == "run_started"
            started.close()
            running0 = len(rpc.call("daemon.status")["running"])
            busy_rate, busy_p50, busy_p99 = measure(d, g["id"], a, "rpc_busy")
            running1 = len(rpc.call("daemon.status")["running"])
            rpc.close()
        finally:
            d.stop(timeout=60)
    res["idle"] = {"rate": Stat(idle_rate), "p50_ms": Stat(idle_p50), "p99_ms": Stat(idle_p99)}
    res["busy"] = {"rate": Stat(busy_rate), "p50_ms": Stat(busy_p50), "p99_ms": Stat(busy_p99),
                   "running_before": running0, "running_after": running1}
    line("idle: round trips/s", res["idle"]["rate"].fmt("/s", 0))
    line("idle: latency p50", res["idle"]["p50_ms"].fmt(" ms", 3))
    line("idle: latency p99", res["idle"]["p99_ms"].fmt(" ms", 3))
    line(f"{a.active} runs active ({running0} running at start, {running1} at end): round trips/s",
         res["busy"]["rate"].fmt("/s", 0))
    line("busy: latency p50", res["busy"]["p50_ms"].fmt(" ms", 3))
    line("busy: latency p99", res["busy"]["p99_ms"].fmt(" ms", 3), "<= 5 ms")
    emit_json("rpc", res)
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
