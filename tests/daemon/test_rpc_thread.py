"""The RPC front end on its own thread (agentd/rpc/thread.py): read-only
handlers answer while the main loop is stuck, the others are forwarded to the
main loop with their outcome (result, error, log ids) coming back, run events
published on the main loop reach watchers on the RPC thread in order, and
shutdown ends the thread. Real Unix sockets, a real store; the main loop is
"busy" by blocking it outright (time.sleep), which is what a long scheduling
pass looks like to a request."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest
import trio

from agentd import log
from agentd.errors import NotFound
from agentd.events import EventHub
from agentd.protocol.events import Note, RunFinished
from agentd.rpc.dispatch import Dispatcher
from agentd.rpc.server import RpcServer
from agentd.rpc.thread import RpcThread
from agentd.store import Store


@pytest.fixture
def sock_dir():
    d = tempfile.mkdtemp(prefix="art")  # short: AF_UNIX paths are limited to ~107 bytes
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def _listen(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(16)
    return s


class Client:
    def __init__(self, path: Path) -> None:
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(20)
        self.s.connect(str(path))
        self.buf = b""
        self.n = 0

    def send(self, method: str, params: dict | None = None) -> int:
        self.n += 1
        self.s.sendall(json.dumps({"jsonrpc": "2.0", "id": self.n, "method": method,
                                   "params": params or {}}).encode() + b"\n")
        return self.n

    def read(self) -> dict | None:
        while b"\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, method: str, params: dict | None = None) -> dict:
        self.send(method, params)
        return self.read()

    def close(self) -> None:
        self.s.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve(store: Store, sock: socket.socket, handlers: dict, local: frozenset[str], body, *, hub=None):
    """Run ``body(rpc, hub)`` (async, on the main loop) with an RpcThread serving ``sock``."""
    hub = hub or EventHub(store)
    dispatcher = Dispatcher({})
    rpc = RpcThread(RpcServer(dispatcher), store=store, hub=hub)
    dispatcher.set_handlers(rpc.forwarding(handlers, local))

    async def main():
        async with trio.open_nursery() as nursery:
            await nursery.start(rpc.run, sock)
            try:
                await body(rpc, hub)
            finally:
                rpc.stop_accepting()
                await rpc.close()
            nursery.cancel_scope.cancel()

    trio.run(main)


def test_local_requests_are_answered_while_the_main_loop_is_blocked(tmp_path, sock_dir):
    store = Store(tmp_path / "a.db")
    ran_on: dict[str, str] = {}
    blocked = threading.Event()
    result: dict = {}

    async def goal_get(p, conn):
        ran_on["goal.get"] = threading.current_thread().name
        return {"id": p.id, "read": store.read(lambda c: c.execute("SELECT 41 + 1").fetchone()[0])}

    async def daemon_status(p, conn):
        ran_on["daemon.status"] = threading.current_thread().name
        return {"pid": conn.pid}

    def client():
        with Client(sock_dir / "s") as a, Client(sock_dir / "s") as b:
            blocked.wait(10)
            t0 = time.monotonic()
            b.send("daemon.status")  # forwarded: waits for the main loop
            result["get"] = a.call("goal.get", {"id": "g1"})
            result["get_s"] = time.monotonic() - t0
            result["status"] = b.read()
            result["status_s"] = time.monotonic() - t0

    async def body(rpc, hub):
        t = threading.Thread(target=client)
        t.start()
        blocked.set()
        time.sleep(1.5)  # the main loop is stuck; the RPC thread is not
        await trio.to_thread.run_sync(t.join)

    try:
        _serve(store, _listen(sock_dir / "s"), {"goal.get": goal_get, "daemon.status": daemon_status},
               frozenset({"goal.get"}), body)
    finally:
        store.close()
    assert result["get"]["result"] == {"id": "g1", "read": 42}
    assert result["get_s"] < 1.0, result  # answered during the 1.5 s block
    assert result["status"]["result"] == {"pid": os.getpid()}
    assert result["status_s"] >= 1.2, result  # only once the main loop ran again
    assert ran_on == {"goal.get": "agentd-rpc", "daemon.status": "MainThread"}


def test_forwarded_outcomes_and_log_ids_come_back(tmp_path, sock_dir):
    store = Store(tmp_path / "b.db")
    seen: dict = {}

    async def goal_delete(p, conn):
        raise NotFound(f"no goal {p.id}", id=p.id)

    async def run_cancel(p, conn):
        raise RuntimeError("a bug in a handler")

    async def daemon_reload(p, conn):
        seen["log"] = dict(log.current())
        seen["thread"] = threading.current_thread().name
        await trio.sleep(0.01)  # a real await on the main loop
        return {"reloaded": p.log_level}

    out: dict = {}

    async def body(rpc, hub):
        def client():
            with Client(sock_dir / "s") as c:
                out["delete"] = c.call("goal.delete", {"id": "nope"})
                out["cancel"] = c.call("run.cancel", {"id": "r1"})
                out["reload"] = c.call("daemon.reload", {"log_level": "debug"})

        await trio.to_thread.run_sync(client)
        out["forwarded"] = rpc.forwarded

    try:
        _serve(store, _listen(sock_dir / "s"),
               {"goal.delete": goal_delete, "run.cancel": run_cancel, "daemon.reload": daemon_reload},
               frozenset(), body)
    finally:
        store.close()
    err = out["delete"]["error"]
    assert err["code"] == NotFound.code and err["data"]["kind"] == "not_found" and "no goal nope" in err["message"]
    assert out["cancel"]["error"]["code"] == -32603 and "a bug in a handler" in out["cancel"]["error"]["message"]
    assert out["reload"]["result"] == {"reloaded": "debug"}
    assert seen["thread"] == "MainThread"
    assert seen["log"]["method"] == "daemon.reload" and seen["log"]["request_id"].endswith(".3")
    assert out["forwarded"] == 3


def test_events_published_on_the_main_loop_reach_watchers_in_order(tmp_path, sock_dir):
    """Five runs publish 200 events each in bursts from the main loop; a
    daemon-wide detail watcher gets all 1,000 in per-run seq order, a goal
    watcher only its goal's lifecycle events."""
    store = Store(tmp_path / "c.db")
    got: dict = {"all": [], "goal": []}

    async def run_watch(p, conn):
        hub = conn_hub[0]
        return await hub.watch(conn, run_id=None, goal_id=p.goal_id, everything=p.all, since=0, deltas=False,
                               detail=p.detail)

    conn_hub: list[EventHub] = []
    subscribed = threading.Event()
    total = 5 * 200

    def client():
        with Client(sock_dir / "s") as a, Client(sock_dir / "s") as g:
            assert "result" in a.call("run.watch", {"all": True, "detail": True})
            assert "result" in g.call("run.watch", {"goal_id": "g2"})
            subscribed.set()
            while len(got["all"]) < total:
                note = a.read()
                got["all"].append((note["params"]["run_id"], note["params"]["seq"], note["params"]["event"]["type"]))
            while len(got["goal"]) < 1:
                note = g.read()
                got["goal"].append((note["params"]["run_id"], note["params"]["event"]["type"]))

    async def body(rpc, hub):
        t = threading.Thread(target=client)
        t.start()
        await trio.to_thread.run_sync(subscribed.wait, 10)
        seq = {f"r{i}": 0 for i in range(5)}
        for burst in range(40):
            for i in range(5):
                run = f"r{i}"
                events = [Note(message=f"{run}-{burst}-{k}") for k in range(5)]
                if burst == 39:
                    events[-1] = RunFinished(status="completed")
                hub.publish(run, f"g{i}", seq[run] + 1, 0, events)
                seq[run] += len(events)
            await trio.sleep(0)
        await trio.to_thread.run_sync(t.join, 20)

    hub = EventHub(store)
    conn_hub.append(hub)
    try:
        _serve(store, _listen(sock_dir / "s"), {"run.watch": run_watch}, frozenset({"run.watch"}), body, hub=hub)
    finally:
        store.close()
    assert len(got["all"]) == total
    for i in range(5):
        seqs = [s for r, s, _ in got["all"] if r == f"r{i}"]
        assert seqs == list(range(1, 201)), f"r{i}: {seqs[:10]}..."
    assert got["goal"] == [("r2", "run_finished")]  # lifecycle only, and only g2's run


def test_close_ends_the_thread_and_connections(tmp_path, sock_dir):
    store = Store(tmp_path / "d.db")
    out: dict = {}

    async def goal_get(p, conn):
        return {"id": p.id}

    c_holder: list[Client] = []

    async def body(rpc, hub):
        c = await trio.to_thread.run_sync(Client, sock_dir / "s")
        c_holder.append(c)
        out["first"] = await trio.to_thread.run_sync(c.call, "goal.get", {"id": "x"})
        rpc.stop_accepting()
        await rpc.close()
        out["after_close"] = await trio.to_thread.run_sync(c.read)  # the server closed it: EOF

    try:
        _serve(store, _listen(sock_dir / "s"), {"goal.get": goal_get}, frozenset({"goal.get"}), body)
    finally:
        for c in c_holder:
            c.close()
        store.close()
    assert out["first"]["result"] == {"id": "x"}
    assert out["after_close"] is None
    assert not any(_serving(t) for t in threading.enumerate())


def _serving(t: threading.Thread) -> bool:
    """Whether ``t`` is still inside RpcThread._serve (trio keeps a finished
    worker thread parked in its cache, under its old name, serving nothing)."""
    import sys

    frame = sys._current_frames().get(t.ident)
    while frame is not None:
        if frame.f_code.co_name == "_serve":
            return True
        frame = frame.f_back
    return False


@pytest.mark.parametrize("delay", [0, 0.0005, 0.002, 0.01, 0.05])
def test_cancelled_while_starting_it_still_ends(tmp_path, sock_dir, delay):
    """Cancelled before (or while) the thread starts serving: the quit asked
    for must not be lost, and run() returns (it used to wait for ever)."""
    store = Store(tmp_path / "f.db")
    rpc = RpcThread(RpcServer(Dispatcher({})), store=store, hub=EventHub(store))
    sock = _listen(sock_dir / "s")

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(rpc.run, sock)
            await trio.sleep(delay)
            nursery.cancel_scope.cancel()

    # In a thread of its own: a run() that never returns (it waits shielded)
    # fails the test instead of hanging the suite.
    runner = threading.Thread(target=trio.run, args=(main,), daemon=True)
    runner.start()
    runner.join(10)
    hung = runner.is_alive()
    if not hung:
        store.close()
    assert not hung, "RpcThread.run did not return after being cancelled while starting"
    assert not any(_serving(t) for t in threading.enumerate())


def test_a_thread_reader_is_its_own_connection(tmp_path):
    store = Store(tmp_path / "e.db")
    try:
        main_conn = store.read(lambda c: c)
        seen: dict = {}

        def other():
            seen["before"] = store.read(lambda c: c) is main_conn  # not opened: falls back to the shared reader
            store.open_thread_reader()
            conn = store.read(lambda c: c)
            seen["own"] = conn is not main_conn
            seen["works"] = store.read(lambda c: c.execute("SELECT count(*) FROM goals").fetchone()[0])
            store.close_thread_reader()
            seen["after"] = store.read(lambda c: c) is main_conn

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert seen == {"before": True, "own": True, "works": 0, "after": True}
        assert store.read(lambda c: c) is main_conn
    finally:
        store.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="per-thread niceness is read from /proc (Linux)")
def test_runs_run_nicer_than_the_rpc_thread(make_daemon):
    """daemon.runs_nice: the main thread (runs) is nicer; the RPC thread keeps the daemon's niceness."""

    def nice_by_thread(d) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        task = f"/proc/{d.proc.pid}/task"
        for tid in os.listdir(task):
            comm = Path(task, tid, "comm").read_text().strip()
            nice = int(Path(task, tid, "stat").read_text().rsplit(")", 1)[1].split()[16])
            out.setdefault("main" if int(tid) == d.proc.pid else comm, []).append(nice)
        return out

    base = os.getpriority(os.PRIO_PROCESS, 0)
    d = make_daemon(config="[daemon]\nruns_nice = 7\n")
    seen = nice_by_thread(d)
    assert seen["main"] == [min(19, base + 7)]
    assert seen["agentd-rpc"] == [base]
    assert d.call("goal.list", {})["total"] == 0  # served by that thread
    d.stop()
    off = make_daemon(config="[daemon]\nruns_nice = 0\n")
    assert nice_by_thread(off)["main"] == [base]


def test_runs_nice_out_of_range_is_a_config_error(make_daemon):
    d = make_daemon(config="[daemon]\nruns_nice = 25\n", start=False)
    d.start(expect_ready=False)
    assert d.wait() == 3
    assert "runs_nice" in d.log()
