"""Writes through ``Store.write``: one at a time in a worker thread; a
failing write fails alone; ``after`` callbacks run in commit order;
cancellation never runs half a write nor loses a started one."""

from __future__ import annotations

import threading

import pytest
import trio

from agentd.protocol.errors import NotFound
from agentd.store import Store

pytestmark = pytest.mark.timeout(60)


def make(tmp_path) -> Store:
    store = Store(tmp_path / "g.db")
    store.write_sync(lambda c: c.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"))
    return store


def rows(store) -> list[tuple]:
    return [tuple(r) for r in store.read(lambda c: c.execute("SELECT k, v FROM t ORDER BY k").fetchall())]


def insert(conn, k):
    conn.execute("INSERT INTO t VALUES (?, ?)", (k, f"v{k}"))
    return k


async def until(cond) -> None:
    with trio.fail_after(10):
        while not cond():
            await trio.sleep(0)


def test_concurrent_writes_all_commit_one_failure_stays_alone_and_after_follows_commit_order(tmp_path):
    store = make(tmp_path)
    committed: list[int] = []  # in the worker thread, in commit order
    published: list[int] = []  # by ``after``, on the trio thread

    def tracked(conn, k):
        insert(conn, k)
        committed.append(k)
        return k

    def bad(conn):
        conn.execute("INSERT INTO t VALUES (1000, 'x')")
        raise NotFound("no such thing")  # after a write: that write must be rolled back

    results: dict[object, object] = {}

    async def main():
        async def one(k):
            results[k] = await store.write(tracked, k, after=published.append)

        async def failing():
            with pytest.raises(NotFound):
                await store.write(bad, after=published.append)
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
    assert published == committed  # no after for the failed write; the others in commit order
    store.close()


def test_a_cancelled_waiting_write_is_never_run_and_a_cancelled_running_one_finishes(tmp_path):
    store = make(tmp_path)
    started, gate = threading.Event(), threading.Event()
    after_first: list[int] = []

    def held(conn):  # holds the writer in the worker thread until released
        started.set()
        assert gate.wait(10)
        return insert(conn, 1)

    async def main():
        first_scope, waiter_scope = trio.CancelScope(), trio.CancelScope()

        async def first():
            with first_scope:
                await store.write(held, after=after_first.append)

        async def waiter():
            with waiter_scope:
                await store.write(insert, 2)

        async with trio.open_nursery() as n:
            n.start_soon(first)
            await trio.to_thread.run_sync(started.wait)  # the first write is running
            n.start_soon(waiter)
            n.start_soon(store.write, insert, 3)
            await until(lambda: store._turn.statistics().tasks_waiting == 2)  # both wait for their turn
            waiter_scope.cancel()
            first_scope.cancel()  # running: it must finish, with its after
            gate.set()

    trio.run(main)
    assert [r[0] for r in rows(store)] == [1, 3]
    assert after_first == [1]
    store.close()


def test_a_durable_write_commits_with_synchronous_full(tmp_path):
    store = make(tmp_path)
    seen = []

    def level(conn):
        seen.append(conn.execute("PRAGMA synchronous").fetchone()[0])

    async def main():
        await store.write(level)
        await store.write(level, durable=True)

    trio.run(main)
    assert seen == [1, 2]  # NORMAL, then FULL for the durable one
    assert store.write_sync(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 1
    store.close()
