"""In-process fan-out of run events to watchers.

Events are journaled by the run (in the same transaction as the step they
describe) and *then* published here, so a watcher never sees an event that a
crash could take back. Each subscription has a bounded buffer and its own
sender task: a slow watcher never slows a run. A watcher that falls behind by
more than the buffer is dropped with a ``run.lagged`` notification carrying the
last seq it got; it resumes with ``run.watch {since}``. A watcher that does not
read its socket at all for ``send_timeout_s`` (its socket buffer stays full) is
disconnected: the daemon never holds memory for a client that went away
without closing.

Replay and live events meet without gaps or duplicates: the subscription is
registered before the replay is read, and the sender skips any seq it has
already sent. The watch reply goes out before the first notification: the
handler's reply takes the connection's send lock before the sender task first
runs, and the sender waits for that lock.

Kinds of subscription (``run.watch`` params):

- ``run_id``: every event of that run (replayed after ``since``, then live)
  until its ``run_finished``; then the subscription ends.
- ``goal_id``: every run of that goal, live only, until ``run.unwatch`` or
  the connection closes; ``run_started``/``run_finished`` only unless
  ``detail``.
- ``all``: the same for every run of the daemon (dashboards, the REPL).

Live events (``model_call_started``, ``model_retry``, ``text_delta``:
a model call in flight) are published with :meth:`EventHub.publish_live`,
never journaled, stamped with the run's last journaled seq. The hub keeps the
live events of each call in flight until its ``model_responded`` (or the
run's end), so a watcher that attaches mid-call gets them right after its
replay, in their place (after the journaled event whose seq they carry), the
streamed text so far as one ``text_delta``; then the rest as it comes. Each
live event reaches a subscription once: subscribing takes that snapshot and
registers the subscription without a checkpoint in between.

``deltas`` adds ``text_delta`` events (streamed model text) to any kind of
subscription, whatever its other options: while any subscription wants them,
the agent loop asks the provider to stream (:meth:`EventHub.wants_deltas`).
A call that began while nobody wanted deltas is not streamed, so a watcher
that asks for them mid-call gets text from the next call on.

Everything here runs on the daemon's one trio loop: runs publish right
after their commit, and the hub offers each event to the subscriptions'
channels at once (``send_nowait``), without a checkpoint in between, so
events reach every watcher in commit order.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from . import log
from .protocol import methods as m
from .protocol.events import (LIFECYCLE, LIVE, Event, EventEnvelope, ModelCallStarted, ModelResponded, RunFinished,
                              RunStarted, TextDelta)
from .store import events as events_q
from .store import runs as runs_q
from .timeutil import iso

if TYPE_CHECKING:
    from .store import Store

_log = log.get("agentd.events")
_ids = itertools.count(1)

Item = tuple[str, str, int, int, Event]  # run_id, goal_id, seq, at_ms, event


# The journaled events that end a model call in flight (its answer, the
# run's end, or a resumed run that starts over).
_CALL_ENDS = (ModelResponded, RunFinished, RunStarted)


@dataclass(eq=False)
class Subscription:
    id: str
    conn: Any
    run_id: str | None
    goal_id: str | None
    everything: bool
    deltas: bool
    detail: bool
    send: trio.MemorySendChannel
    recv: trio.MemoryReceiveChannel
    last_sent: dict[str, int] = field(default_factory=dict)
    lagged: bool = False

    def wants(self, run_id: str, goal_id: str, event: Event) -> bool:
        if self.run_id is not None:
            if run_id != self.run_id:
                return False
        elif self.goal_id is not None and goal_id != self.goal_id:
            return False
        if isinstance(event, TextDelta):
            return self.deltas  # asked for streamed text: gets it, whatever else it set
        return self.run_id is not None or self.detail or type(event).__struct_config__.tag in LIFECYCLE


@dataclass
class _Call:
    """A model call in flight: its live events so far, for watchers that
    attach before it is answered (the streamed text kept as one piece)."""

    goal_id: str
    items: list[Item]
    text: list[str] = field(default_factory=list)
    pieces: int = 0
    text_seq: int = 0
    text_at: int = 0

    def snapshot(self, run_id: str) -> list[Item]:
        out = list(self.items)
        if self.text:
            out.append((run_id, self.goal_id, self.text_seq, self.text_at,
                        TextDelta(text="".join(self.text), pieces=self.pieces)))
        return out


class EventHub:
    def __init__(self, store: "Store", *, buffer: int = 1024, send_timeout_s: float = 60.0) -> None:
        self.store = store
        self.buffer = buffer
        self.send_timeout_s = send_timeout_s
        self._subs: set[Subscription] = set()
        # The last journaled seq of each active run seen here: live events
        # carry it (they belong *after* that event).
        self._last_seq: dict[str, int] = {}
        # Model calls in flight, by run: what a watcher attaching now missed.
        self._calls: dict[str, _Call] = {}
        self._nursery: trio.Nursery | None = None
        self.lagged_total = 0

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Owns the sender tasks. Runs until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    # -- publishing (called on the loop right after the journal commit; never blocks)
    def publish(self, run_id: str, goal_id: str, first_seq: int, at_ms: int, events: list[Event]) -> None:
        if not events or first_seq <= 0:
            return
        if isinstance(events[-1], RunFinished):
            self._last_seq.pop(run_id, None)
        else:
            self._last_seq[run_id] = first_seq + len(events) - 1
        if run_id in self._calls and any(isinstance(e, _CALL_ENDS) for e in events):
            del self._calls[run_id]
        for i, ev in enumerate(events):
            self._offer((run_id, goal_id, first_seq + i, at_ms, ev))

    def publish_live(self, run_id: str, goal_id: str, at_ms: int, event: Event) -> None:
        """A live event of the run's model call in flight (``model_call_started``,
        ``model_retry``, ``text_delta``): never journaled; stamped with the
        run's last journaled seq and kept with the call until it is answered."""
        if isinstance(event, TextDelta) and not event.text:
            return
        seq = self._last_seq.get(run_id, 0)
        item = (run_id, goal_id, seq, at_ms, event)
        call = self._calls.get(run_id)
        if isinstance(event, ModelCallStarted) or call is None:
            call = self._calls[run_id] = _Call(goal_id, [])
        if isinstance(event, TextDelta):
            if not call.text:
                call.text_seq, call.text_at = seq, at_ms
            call.text.append(event.text)
            call.pieces += event.pieces
        else:
            call.items.append(item)
        self._offer(item)

    def publish_delta(self, run_id: str, goal_id: str, seq: int, at_ms: int, text: str) -> None:
        """Streamed model text of the run's call in flight (see :meth:`publish_live`;
        ``seq`` is ignored: the hub stamps the run's last journaled seq)."""
        self.publish_live(run_id, goal_id, at_ms, TextDelta(text=text))

    def _offer(self, item: Item) -> None:
        """Queue ``item`` for every subscription that wants it (never blocks:
        one whose buffer is full is marked lagged and its channel closed)."""
        for sub in tuple(self._subs):
            if sub.lagged or not sub.wants(item[0], item[1], item[4]):
                continue
            try:
                sub.send.send_nowait(item)
            except trio.WouldBlock:
                sub.lagged = True
                self.lagged_total += 1
                sub.send.close()
            except trio.ClosedResourceError:
                self._subs.discard(sub)

    def wants_deltas(self, run_id: str, goal_id: str) -> bool:
        return any(s.deltas and not s.lagged and (s.run_id == run_id or s.goal_id == goal_id or s.everything)
                   for s in tuple(self._subs))

    # -- subscribing
    async def watch(self, conn: Any, *, run_id: str | None, goal_id: str | None, everything: bool,
                    since: int, deltas: bool, detail: bool) -> m.RunWatchResult:
        assert self._nursery is not None, "EventHub.serve is not running"
        send, recv = trio.open_memory_channel(self.buffer)
        sub = Subscription(id=f"s{next(_ids)}", conn=conn, run_id=run_id, goal_id=goal_id, everything=everything,
                           deltas=deltas, detail=detail, send=send, recv=recv)
        # No checkpoint between the snapshot and the registration: each live
        # event reaches the new subscription once, in the snapshot or through
        # its channel.
        self._subs.add(sub)
        inflight = [it for rid, call in self._calls.items() for it in call.snapshot(rid)
                    if sub.wants(it[0], it[1], it[4])]
        conn.subscriptions[sub.id] = lambda: self._drop(sub)
        status, last = None, 0
        if run_id is not None:
            row = self.store.read(runs_q.run_row, run_id)
            status, last = row["status"], row["last_seq"]
        # The reply must reach the client before the first notification: the
        # sender waits for this handler's reply to be written.
        self._nursery.start_soon(self._sender, sub, since, status, inflight)
        return m.RunWatchResult(subscription=sub.id, run_status=status, last_seq=last)

    def _drop(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        sub.send.close()

    async def _sender(self, sub: Subscription, since: int, status: str | None, inflight: list[Item]) -> None:
        conn = sub.conn
        try:
            await trio.sleep(0)  # let the watch reply go out first (same connection, sent in order)
            async with conn._send_lock:
                pass
            if sub.run_id is not None:
                sub.last_sent[sub.run_id] = since
                replay = [(sub.run_id, "", seq, at, ev) for seq, at, ev in self.store.read(events_q.after, sub.run_id, since)]
                # The call in flight goes after the journaled event whose seq it carries.
                for _, _, seq, at, ev in heapq.merge(replay, inflight, key=lambda it: (it[2], _is_live(it[4]))):
                    await self._send(sub, sub.run_id, self._goal_of(sub.run_id), seq, at, ev)
                    if isinstance(ev, RunFinished):
                        return
                if status in runs_q.FINISHED:
                    return
            else:
                for run_id, goal_id, seq, at, ev in inflight:
                    await self._send(sub, run_id, goal_id, seq, at, ev)
            async for run_id, goal_id, seq, at, ev in sub.recv:
                if not _is_live(ev) and seq <= sub.last_sent.get(run_id, 0):
                    continue
                await self._send(sub, run_id, goal_id, seq, at, ev)
                if isinstance(ev, RunFinished):
                    if sub.run_id is not None:
                        return
                    sub.last_sent.pop(run_id, None)  # a long-lived subscription forgets finished runs
            if sub.lagged:
                with trio.fail_after(self.send_timeout_s):
                    await conn.notify("run.lagged", {"subscription": sub.id, "run_id": sub.run_id,
                                                     "last_seq": sub.last_sent.get(sub.run_id or "", 0)})
        except trio.TooSlowError:
            # The client has not read its socket for send_timeout_s: a partial
            # line may be on the wire, so the connection cannot be used again.
            _log.warning("closing the connection of a watcher that stopped reading", subscription=sub.id,
                         run_id=sub.run_id)
            conn.drop_subscriptions()
            with trio.CancelScope(shield=True):
                with trio.move_on_after(1):
                    await conn.stream.aclose()
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
            pass
        finally:
            self._subs.discard(sub)
            conn.subscriptions.pop(sub.id, None)
            sub.send.close()

    def _goal_of(self, run_id: str) -> str:
        return self.store.read(runs_q.run_row, run_id)["goal_id"]

    async def _send(self, sub: Subscription, run_id: str, goal_id: str, seq: int, at: int, ev: Event) -> None:
        if sub.run_id is not None and isinstance(ev, RunFinished):
            # The subscription is over once this is on its way: a client that
            # reads run_finished and calls run.unwatch gets not_found.
            self._subs.discard(sub)
            sub.conn.subscriptions.pop(sub.id, None)
        with trio.fail_after(self.send_timeout_s):
            await sub.conn.notify("run.event", EventEnvelope(subscription=sub.id, seq=seq, run_id=run_id,
                                                             goal_id=goal_id, at=iso(at), event=ev))
        if not _is_live(ev):
            sub.last_sent[run_id] = seq

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)


def _is_live(ev: Event) -> bool:
    return type(ev).__struct_config__.tag in LIVE
