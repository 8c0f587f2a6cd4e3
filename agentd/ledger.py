"""The store-backed implementations of the tool contract's ledger and memories."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from .store import effects as effects_q
from .store import memories as memories_q
from .tools.base import EffectRecord, MemoryRecord

if TYPE_CHECKING:
    from .metrics import Metrics
    from .store import Store


class LedgerEffects:
    """``SideEffects`` bound to one run. An intent that already existed is
    never handed back as fresh: it comes back ``unknown`` (a crash cut the
    earlier attempt) or with its recorded outcome, so nothing is sent twice.
    ``redact`` hides secrets in an outcome's detail (it may quote a server)."""

    def __init__(self, store: "Store", clock: Callable[[], int], redact: Callable[[str], str],
                 metrics: "Metrics | None", run_id: str, goal_id: str) -> None:
        self.store, self.clock, self.redact, self.metrics = store, clock, redact, metrics
        self.run_id, self.goal_id = run_id, goal_id

    async def begin(self, *, kind: str, target: str, key: str, summary: str, source: str = "tool") -> EffectRecord:
        def tx(conn, now):
            row, created = effects_q.begin(conn, now, run_id=self.run_id, goal_id=self.goal_id, kind=kind,
                                           target=target, key=key, summary=summary, source=source)
            if not created and row["status"] == "intent":
                effects_q.mark_one_unknown(conn, now, row["id"])
                row = effects_q.by_id(conn, row["id"])
            return row, created

        # The intent must outlive even a power loss: the send that follows
        # cannot be taken back (see Store.write_sync).
        row, created = await self.store.write(tx, self.clock(), durable=True)
        return EffectRecord(id=row["id"], idempotency_key=row["idempotency_key"], status=row["status"],
                            attempts=row["attempts"] if not created else 0, detail=row["detail"])

    def lookup(self, key: str) -> Any:
        """The ledger row for ``key`` (status, detail, attempts, ...), or None."""
        return self.store.read(effects_q.by_key, key)

    async def finish(self, effect_id: str, *, status: Literal["delivered", "failed"], detail: str,
                     attempts: int) -> None:
        await self.store.write(effects_q.finish, self.clock(), effect_id, status=status,
                               detail=self.redact(detail), attempts=attempts)
        if self.metrics is not None:
            row = self.store.read(effects_q.by_id, effect_id)
            if row is not None:
                self.metrics.notification(row["kind"], status == "delivered")


class GoalMemories:
    def __init__(self, store: "Store", clock: Callable[[], int], goal_id: str) -> None:
        self.store, self.clock, self.goal_id = store, clock, goal_id

    async def remember(self, *, type: str, content: str, metadata: dict[str, Any] | None = None) -> str:
        return await self.store.write(memories_q.insert, self.clock(), self.goal_id, type, content, metadata)

    async def recall(self, *, query: str, limit: int = 5) -> list[MemoryRecord]:
        found = self.store.read(memories_q.search, self.goal_id, query, limit)
        return [MemoryRecord(id=x.id, type=x.type, content=x.content, created_at=x.created_at) for x in found]
