"""The agent loop's approval hook: what happens to each tool call before it is made.

``ApprovalGate.screen(goal, calls)`` gives each call a verdict:
- absent: make the call (policy ``allow``, or a decision ``approved`` for
  exactly these arguments: the approval is marked executed and the step goes
  back to ``pending`` in one transaction before the call is handed over);
- ``str``: do not make it; the text is the error the model reads (policy
  ``deny``, a person denied it, nobody decided in time);
- ``Wait``: it needs a decision nobody has made yet.
``ApprovalGate.park(goal, waiting)`` then parks the run (``Approvals.park``:
one transaction) and raises ``Parked``: the run's task ends without finishing
the run; it is resumed from its journal once every waiting call is decided.

Other parts of the loop can make a call need approval (the exfiltration
guard routes a call it would block here): ``ask_when(check)`` adds a
function ``(step_no, tool_name, arguments) -> reason | None`` for this run; a
reason asks a person, with that reason shown, exactly like the ``ask``
policy. ``approved(step_no)`` then tells whether a person approved that call
(so the part that asked does not refuse it again when it is made).
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..protocol.errors import ToolError
from ..protocol import methods as m
from ..store import approvals as approvals_q
from ..timeutil import iso
from .policy import policy_for

if TYPE_CHECKING:
    from ..journal import Journal
    from ..store import Store
    from ..tools.registry import ToolRegistry
    from .service import Approvals


class Parked(Exception):
    """The run waits for a person's decision; its task ends here (not an error)."""


@dataclass(frozen=True)
class Wait:
    reason: str
    asked: bool  # an approval row exists already (a resumed run): no new request


def denied_by_policy(name: str) -> str:
    return (f"the goal's approval policy denies {name}: the call was not made. Do not call {name} again; "
            f"finish the task another way or report that it needs {name}.")


def denied_by_person(r) -> str:
    why = r["note"] or "no reason given"
    return (f"a person denied this call ({r['decided_by']}, {iso(r['decided_at'])}): {why}. It was not made. "
            f"Do not repeat it; go on without it or report what you could not do.")


def expired(r) -> str:
    """The model's answer for a request nobody decided: its own wait (the
    goal's timeout may have been changed since it was asked)."""
    waited = (r["expires_at"] - r["requested_at"]) // 1000
    return (f"nobody approved this call within {_duration(waited)}, so it was denied and not made. "
            f"Do not repeat it; go on without it or report what you could not do.")


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


class ApprovalGate:
    def __init__(self, store: "Store", journal: "Journal", tools: "ToolRegistry | None", clock: Callable[[], int],
                 service: "Approvals | None", run_id: str, goal_id: str) -> None:
        self.store, self.journal, self.tools, self.now = store, journal, tools, clock
        self.service = service  # None: nobody can be asked (a loop built without it); such calls are refused
        self.run_id = run_id
        self.goal_id = goal_id
        self._checks: list[Callable[[int, str, str], str | None]] = []

    def ask_when(self, check: Callable[[int, str, str], str | None]) -> None:
        """Ask a person about every call of this run for which ``check(step_no,
        tool_name, arguments)`` returns a reason (shown with the request)."""
        self._checks.append(check)

    def approved(self, step_no: int) -> bool:
        """Whether a person approved the call of ``step_no`` (exactly as journaled)."""
        r = self.store.read(approvals_q.of_step, self.run_id, step_no)
        return r is not None and r["status"] == "approved"

    def reason(self, goal: m.Goal, step_no: int, name: str, arguments: str) -> str | None:
        """Why this call needs a person's decision, or None."""
        tools = self.tools
        if tools is None or name not in tools:
            return None  # the loop answers an unknown tool itself
        try:
            tools.decode_args(name, arguments)
        except ToolError:
            return None  # malformed: the loop gives the model the error; nobody is asked about it
        if policy_for(goal.params, name) == "ask":
            return f"the goal's policy asks before every {name} call"
        for check in self._checks:
            why = check(step_no, name, arguments)
            if why:
                return why
        return None

    def holds(self, goal: m.Goal, step_no: int, name: str, arguments: str) -> bool:
        """A call left in flight by a crash that was never handed to its tool:
        it needs approval and no approved decision was executed (so it was
        not made, and is screened again instead of being closed ``unknown``)."""
        if self.reason(goal, step_no, name, arguments) is None:
            return False
        r = self.store.read(approvals_q.of_step, self.run_id, step_no)
        return r is None or r["executed_at"] is None

    async def screen(self, goal: m.Goal, calls: list[Any]) -> dict[int, str | Wait]:
        verdicts: dict[int, str | Wait] = {}
        for c in calls:
            name, args = c.call.name, c.call.arguments or ""
            if self.tools is not None and name in self.tools and policy_for(goal.params, name) == "deny":
                verdicts[c.step_no] = denied_by_policy(name)
                continue
            why = self.reason(goal, c.step_no, name, args)
            if why is None:
                continue
            if self.service is None:  # a loop built without the approvals part (tests): fail closed
                verdicts[c.step_no] = f"{name} needs a person's approval ({why}), and no one can be asked here"
                continue
            verdict = await self._decided(goal, c.step_no, name, args, why)
            if verdict is not None:
                verdicts[c.step_no] = verdict
        return verdicts

    async def _decided(self, goal: m.Goal, step_no: int, name: str, args: str, why: str) -> str | Wait | None:
        r = self.store.read(approvals_q.of_step, self.run_id, step_no)
        if r is None:
            return Wait(why, asked=False)
        if r["tool_name"] != name or r["arguments"] != args:  # the journal says otherwise: never run it
            return (f"this call differs from the one a person was asked about ({r['tool_name']} "
                    f"{r['arguments'][:200]}); it was not made")
        status = r["status"]
        if status == "pending":
            if r["expires_at"] <= self.now():
                await self.service.expire(r)
                return expired(r)
            return Wait(r["reason"] or why, asked=True)
        if status == "denied":
            return denied_by_person(r)
        if status == "expired":
            return expired(r)
        if r["executed_at"] is None:
            await self._hand_over(r)
        return None

    async def _hand_over(self, r) -> None:
        """Approved: mark it executed and the step in flight, in one transaction,
        before the tool gets it (a crash from here on closes the step like any
        call in flight: the ledger decides, it is never made twice)."""
        await self.journal.record(self.run_id, self.goal_id, approvals_q.hand_over, self.now(), r["id"])

    async def park(self, goal: m.Goal, waiting: list[tuple[Any, Wait]]) -> None:
        """Park the run on ``waiting`` and raise ``Parked``."""
        await self.service.park(self.run_id, self.goal_id, goal, [
            (c.step_no, c.call.id, c.call.name, c.call.arguments or "", w.reason) for c, w in waiting if not w.asked],
            [c.step_no for c, _ in waiting])
        raise Parked(self.run_id)


__all__ = ["ApprovalGate", "Parked", "Wait"]
