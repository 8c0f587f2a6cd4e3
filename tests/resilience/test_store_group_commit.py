"""Group commit: concurrent writes share a transaction, each in its own
savepoint; a failing write fails alone; cancellation never loses others' writes."""

from __future__ import annotations

import pytest
import trio

from agentd.protocol.errors import NotFound
from agentd.store import Store


def make(tmp_path) -> Store:
    store = Store(tmp_path / "g.db")
    store.write_sync(lambda c: c.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"))
    return store


def rows(store) -> list[tuple]:
    return [tuple(r) for r in store.read(lambda c: c.execute("SELECT k, v FROM t ORDER BY k").fetchall())]


def test_concurrent_writes_batch_and_one_failure_stays_alone(tmp_path):
    store = make(tmp_path)
    batches: list[int] = []
    orig = store._run_batch

    def spy(batch):
        batches.append(len(batch))
        return orig(batch)

    store._run_batch = spy

    def insert(conn, k):
        conn.execute("INSERT INTO t VALUES (?, ?)", (k, f"v{k}"))
        return k

    def bad(conn):
        conn.execute("INSERT INTO t VALUES (1000, 'x')")
        raise NotFound("no such thing")  # after a write: that write must be rolled back

    results: dict[int, object] = {}

    async def main():
        async def one(k):
            results[k] = await store.write(insert, k)

        async def failing():
            with pytest.raises(NotFound):
                await store.write(bad)
            results["bad"] = "raised"

        async with trio.open_nursery() as n:
            for k in range(50):
                n.start_soon(one, k)
            n.start_soon(failing)
            for k in range(50, 100):
                n.start_soon(one, k)

    trio.run(main)
    assert results["bad"] == "raised"
    assert [r[0] for r in rows(store)] == list(range(100))  # 1000 rolled back, everyone else committed
    assert all(results[k] == k for k in range(100))
    assert len(batches) < 20, batches  # they were grouped, not 101 transactions
    assert sum(batches) == 101
    store.close()


def test_a_cancelled_waiting_write_is_never_run_and_a_cancelled_leader_finishes_the_batch(tmp_path):
    import threading

    store = make(tmp_path)
    started, gate = threading.Event(), threading.Event()

    def insert(conn, k):
        conn.execute("INSERT INTO t VALUES (?, ?)", (k, "x"))

    def held(conn):  # the leader's write: holds its batch in the worker thread until released
        started.set()
        assert gate.wait(10)
        insert(conn, 1)

    async def until(cond):
        with trio.fail_after(10):
            while not cond():
                await trio.sleep(0)

    async def main():
        leader_scope, waiter_scope = trio.CancelScope(), trio.CancelScope()

        async def leader():
            with leader_scope:
                await store.write(held)

        async def waiter():
            with waiter_scope:
                await store.write(insert, 2)

        async with trio.open_nursery() as n:
            n.start_soon(leader)
            await trio.to_thread.run_sync(started.wait)  # the leader's batch is running
            n.start_soon(waiter)
            n.start_soon(store.write, insert, 3)
            await until(lambda: len(store._queue) == 2)  # both queued behind it
            waiter_scope.cancel()
            await until(lambda: len(store._queue) == 1)  # the cancelled one left the queue
            leader_scope.cancel()  # leading: it must finish its batch and hand over the lead
            gate.set()
        assert store._flushing is False and store._queue == []

    trio.run(main)
    assert [r[0] for r in rows(store)] == [1, 3]
    store.close()


def test_durable_write_in_a_batch_makes_the_batch_full(tmp_path):
    store = make(tmp_path)
    seen = []

    def level(conn):
        seen.append(conn.execute("PRAGMA synchronous").fetchone()[0])

    async def main():
        async with trio.open_nursery() as n:
            n.start_soon(store.write, level)
            n.start_soon(lambda: store.write(level, durable=True))

    trio.run(main)
    assert 2 in seen  # FULL while the durable write was in the batch
    assert store.write_sync(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 1
    store.close()
