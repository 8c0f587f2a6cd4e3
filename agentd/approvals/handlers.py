"""The approvals' RPC methods: ``approval.list``, ``run.approve``, ``run.deny``.

Thin: resolve the ids, call ``Approvals``; every check and message is there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..protocol import methods as m
from ..store.ids import resolve

if TYPE_CHECKING:
    from ..store import Store
    from .service import Approvals


class ApprovalHandlers:
    def __init__(self, store: "Store", approvals: "Approvals") -> None:
        self.store, self.approvals = store, approvals

    def table(self) -> dict[str, Any]:
        return {"approval.list": self.approval_list, "run.approve": self.run_approve, "run.deny": self.run_deny}

    async def approval_list(self, p: m.ApprovalList, conn) -> m.ApprovalListResult:
        store = self.store
        run_id = store.read(resolve, "run", p.run_id) if p.run_id else None
        goal_id = store.read(resolve, "goal", p.goal_id) if p.goal_id else None
        return m.ApprovalListResult(approvals=self.approvals.waiting(run_id=run_id, goal_id=goal_id))

    async def run_approve(self, p: m.RunApprove, conn) -> m.ApprovalDecision:
        rid = self.store.read(resolve, "run", p.id)
        return await self.approvals.decide(rid, approve=True, call=p.call, digest=p.digest,
                                               by=p.by or "rpc client", note=None)

    async def run_deny(self, p: m.RunDeny, conn) -> m.ApprovalDecision:
        rid = self.store.read(resolve, "run", p.id)
        return await self.approvals.decide(rid, approve=False, call=p.call, digest=None,
                                               by=p.by or "rpc client", note=p.reason)
