"""Readiness and loop lag, in-process on the real App, Store and Scheduler."""

from __future__ import annotations

import time

import trio
import trio.testing

from agentd.shared import config as config_mod
from agentd.app import App
from agentd.daemon import _lag_monitor
from agentd.store import Store


def make_app(tmp_path) -> App:
    cfg = config_mod.load(tmp_path / "none.toml", environ={})
    store = Store(tmp_path / "a.db")
    return App(cfg, store)


def test_readiness_turns_false_when_the_scheduler_task_dies(tmp_path):
    app = make_app(tmp_path)

    async def main():
        async with trio.open_nursery() as n:
            sched_scope = trio.CancelScope()
            sched_exited = trio.Event()

            async def run_scheduler(task_status=trio.TASK_STATUS_IGNORED):
                try:
                    with sched_scope:
                        await app.scheduler.serve(task_status=task_status)
                finally:
                    sched_exited.set()

            await n.start(run_scheduler)
            st = app.status()
            assert st.ready and st.scheduler_alive and st.state == "ok"
            sched_scope.cancel()
            with trio.fail_after(5):
                await sched_exited.wait()
            st = app.status()
            assert not st.scheduler_alive
            assert not st.ready
            assert any("scheduler" in r for r in st.reasons)

    trio.run(main)
    app.store.close()


def test_readiness_turns_false_when_the_store_cannot_be_written(tmp_path):
    app = make_app(tmp_path)
    app.store.writable = False
    app.store.last_write_error = "database or disk is full"
    st = app.status()
    assert not st.ready and not st.store_writable
    assert any("disk is full" in r for r in st.reasons)
    app.store.close()


def test_loop_lag_shows_when_the_loop_is_blocked(tmp_path):
    app = make_app(tmp_path)

    async def main():
        async with trio.open_nursery() as n:
            n.start_soon(_lag_monitor, app, 0.05)
            await trio.sleep(0.2)
            assert app.metrics.lag_ms < 100
            time.sleep(0.3)  # block the loop on purpose
            await trio.sleep(0.2)
            assert app.metrics.lag_max_ms >= 200, app.metrics.lag_max_ms
            assert app.status().loop_lag_max_ms >= 200
            n.cancel_scope.cancel()

    trio.run(main)
    app.store.close()
