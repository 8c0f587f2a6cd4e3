"""EventHub in-process (trio, virtual clock): publishing never blocks; a
watcher that stops reading is first told it lagged (when it reads again) and,
if it never reads, disconnected after ``send_timeout_s``."""

from __future__ import annotations

import trio
import trio.testing

from agentd.events import EventHub
from agentd.protocol.events import RunFinished, RunStarted, StepStarted


class FakeStream:
    def __init__(self) -> None:
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


class FakeConn:
    """A connection whose socket is full until ``reading`` is set."""

    def __init__(self) -> None:
        self.subscriptions: dict = {}
        self._send_lock = trio.Lock()
        self.stream = FakeStream()
        self.sent: list[tuple[str, object]] = []
        self.reading = trio.Event()

    async def notify(self, method: str, params) -> None:
        async with self._send_lock:
            await self.reading.wait()
            self.sent.append((method, params))

    def drop_subscriptions(self) -> None:
        for cancel in list(self.subscriptions.values()):
            cancel()
        self.subscriptions.clear()


def run_hub(test):
    async def main():
        hub = EventHub(store=None, buffer=8, send_timeout_s=5.0)  # type: ignore[arg-type]
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.serve)
            await test(hub)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_watcher_that_never_reads_is_disconnected_and_never_blocks_the_run():
    async def test(hub: EventHub) -> None:
        conn = FakeConn()
        await hub.watch(conn, run_id=None, goal_id=None, everything=True, since=0, deltas=False, detail=True)
        t0 = trio.current_time()
        hub.publish("r1", "g1", 1, 0, [RunStarted(goal_id="g1", trigger="manual", step_budget=5)])
        for seq in range(2, 50):  # far more than the buffer: publish returns at once every time
            hub.publish("r1", "g1", seq, 0, [StepStarted(step_no=seq, turn=1)])
        assert trio.current_time() == t0
        assert hub.lagged_total == 1
        await trio.sleep(10)  # past send_timeout_s without a read
        assert conn.stream.closed and not conn.subscriptions and hub.subscriber_count == 0

    run_hub(test)


def test_a_slow_watcher_gets_what_fitted_then_run_lagged_with_the_last_seq():
    async def test(hub: EventHub) -> None:
        conn = FakeConn()
        await hub.watch(conn, run_id=None, goal_id="g1", everything=False, since=0, deltas=False, detail=True)
        for seq in range(1, 30):
            hub.publish("r1", "g1", seq, 0, [StepStarted(step_no=seq, turn=1)])
        conn.reading.set()  # it reads again, in time
        await trio.sleep(1)
        methods = [m for m, _ in conn.sent]
        assert methods[-1] == "run.lagged" and set(methods[:-1]) == {"run.event"}
        seqs = [p.seq for m, p in conn.sent if m == "run.event"]
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) < 29
        assert not conn.stream.closed and hub.subscriber_count == 0

    run_hub(test)


def test_a_long_lived_subscription_forgets_finished_runs():
    async def test(hub: EventHub) -> None:
        conn = FakeConn()
        conn.reading.set()
        await hub.watch(conn, run_id=None, goal_id=None, everything=True, since=0, deltas=False, detail=False)
        for i in range(20):
            rid = f"r{i}"
            hub.publish(rid, "g", 1, 0, [RunStarted(goal_id="g", trigger="manual", step_budget=5)])
            hub.publish(rid, "g", 2, 0, [StepStarted(step_no=1, turn=1)])
            hub.publish(rid, "g", 3, 0, [RunFinished(status="completed")])
            await trio.sleep(0.1)
        (sub,) = hub._subs
        assert sub.last_sent == {} and hub._last_seq == {}
        assert [p.event.__struct_config__.tag for _, p in conn.sent] == ["run_started", "run_finished"] * 20

    run_hub(test)
