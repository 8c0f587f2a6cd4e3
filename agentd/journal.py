"""How a run records anything.

``record(run_id, goal_id, fn, *args, events=[...])`` commits ``fn(conn,
*args)`` and the events in ONE transaction, then publishes the events to
watchers. A crash can lose the whole transaction, never half of it, and a
watcher never sees an event that was not committed. The transaction's
connection redacts every string it writes (``agentd.redact``): secrets echoed
by a model server or a web page never reach the journal, whichever code
recorded them. A store that refuses the write raises its StoreError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .protocol.events import Event
from .store import events as events_q
from .store.redacting import RedactingConnection

if TYPE_CHECKING:
    from .events import EventHub
    from .redact import Redactor
    from .store import Store

T = TypeVar("T")


class Journal:
    def __init__(self, store: "Store", hub: "EventHub", redactor: "Redactor", clock: Callable[[], int]) -> None:
        self.store, self.hub, self.redactor, self.clock = store, hub, redactor, clock

    async def record(self, run_id: str, goal_id: str, fn: Callable[..., T] | None, *args: Any,
                     events: list[Event] = ()) -> T | None:
        now = self.clock()
        redactor = self.redactor
        events = [redactor.redact_value(e) for e in events]

        def tx(conn):
            conn = RedactingConnection(conn, redactor.redact)  # every string the run records, without the secrets
            result = fn(conn, *args) if fn is not None else None
            first = events_q.append(conn, now, run_id, events) if events else 0
            return result, first

        def publish(done) -> None:  # right after the commit, in commit (= seq) order
            if events:
                self.hub.publish(run_id, goal_id, done[1], now, events)

        result, _ = await self.store.write(tx, after=publish)
        return result

    async def emit(self, run_id: str, goal_id: str, *events: Event) -> None:
        await self.record(run_id, goal_id, None, events=list(events))

    def live(self, run_id: str, goal_id: str, event: Event) -> None:
        """Show watchers ``event`` of the model call in flight (never journaled)."""
        self.hub.publish_live(run_id, goal_id, self.clock(), event)

    def wants_deltas(self, run_id: str, goal_id: str) -> bool:
        return self.hub.wants_deltas(run_id, goal_id)
