"""Telling a person that a call waits for their decision.

Three channels, each independent of the others: the goal's webhook (a signed
``approval.requested`` event, ledger key ``<run>:approval-<id>-webhook``),
email to the goal's recipients when SMTP is configured (ledger key
``<run>:approval-<id>-email``), and a desktop notification when a session bus
is there (skipped quietly otherwise). Every message says what is asked (the
tool, its exact arguments, why) and how to answer. The request is marked
notified after the attempts, whatever their outcome: a failed channel is
recorded (ledger, ``notification_failed`` event, log) and never fails the run;
a crash before the mark sends again at the next start, where the ledger keeps
each webhook and email to at most one delivery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import log
from ..protocol.errors import AgentdError
from ..protocol import events as ev
from ..protocol import methods as m
from ..store import approvals as approvals_q
from ..store import goals as goals_q
from ..notify.goal_notices import send_goal_notices
from . import desktop

if TYPE_CHECKING:
    from ..core import Core

_log = log.get("agentd.approvals")


def how_to_answer(a: m.Approval) -> tuple[str, str]:
    return (f"agentctl run approve {a.run_id} --call {a.id}",
            f"agentctl run deny {a.run_id} --call {a.id} --reason '...'")


def message(a: m.Approval, goal_name: str) -> str:
    approve, deny = how_to_answer(a)
    return "\n".join([
        f"The goal {goal_name!r} (run {a.run_id}) waits for your decision on a tool call.",
        "",
        f"Tool:      {a.tool}",
        f"Arguments: {a.arguments}",
        f"Why asked: {a.reason}",
        f"Expires:   {a.expires_at} (then it is denied and the agent is told)",
        "",
        f"Approve:   {approve}",
        f"Deny:      {deny}",
        "(or `agentctl approvals` to see every waiting call)",
    ])


async def notify_request(app: "Core", a: m.Approval) -> None:
    goal = app.store.read(goals_q.get_goal, a.goal_id, secrets=True)
    name = goal.name or goal.objective.strip()[:60]
    approve, deny = how_to_answer(a)
    payload = {"type": "approval.requested", "approval_id": a.id, "run_id": a.run_id, "goal_id": a.goal_id,
               "goal_name": goal.name, "tool": a.tool, "arguments": a.arguments, "digest": a.digest,
               "reason": a.reason, "requested_at": a.requested_at, "expires_at": a.expires_at,
               "approve": approve, "deny": deny}
    await send_goal_notices(app, a.run_id, goal, source="approval", key=f"{a.run_id}:approval-{a.id}",
                            payload=payload, subject=f"[agentd] approval needed: {a.tool} for {name}",
                            body=message(a, name), email=bool(app.config.smtp.host))
    try:
        shown = await desktop.notify(f"agentd: {name} waits for approval",
                                     f"{a.tool} {a.arguments[:300]}\n{approve}")
    except Exception as exc:  # noqa: BLE001 - a desktop that misbehaves must not touch the run
        _log.warning("desktop notification failed", error=f"{type(exc).__name__}: {exc}")
        shown = False
    if shown:
        await app.emit(a.run_id, a.goal_id, ev.NotificationSent(kind="desktop", target="session bus", attempts=1))
    try:
        await app.store.write(approvals_q.mark_notified, app.now(), a.id)
    except AgentdError as exc:
        _log.warning("could not record that an approval request was notified", error=exc.message)
