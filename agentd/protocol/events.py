"""Run events: a msgspec tagged union (``type`` is the tag).

Every event of a run has a per-run sequence number (1, 2, 3, ... with no gaps)
and is journaled in the store, so ``run.watch {since}`` can replay exactly what
a client missed. ``text_delta`` events (streamed model text) are the exception:
they are sent only live, to watchers that asked for ``deltas``, with the seq
of the last journaled event, and never replayed.

Notification ``run.event`` params: ``{subscription, seq, run_id, goal_id, at, event}``.
"""

from __future__ import annotations

from typing import Any

import msgspec


class _E(msgspec.Struct, frozen=True, tag_field="type", omit_defaults=True):
    pass


class RunStarted(_E, tag="run_started"):
    goal_id: str
    trigger: str
    step_budget: int
    resumed: bool = False


class StepStarted(_E, tag="step_started"):
    step_no: int
    turn: int


class ModelResponded(_E, tag="model_responded"):
    turn: int
    tokens_in: int
    tokens_out: int
    tool_calls: int
    text: str = ""  # the model's thought, shortened
    duration_ms: float = 0.0


class ToolCalled(_E, tag="tool_called"):
    step_no: int
    tool: str
    input: str  # shortened JSON
    tool_call_id: str = ""


class ToolReturned(_E, tag="tool_returned"):
    step_no: int
    tool: str
    ok: bool
    output: str  # shortened observation or error
    duration_ms: float


class MemoryUpdated(_E, tag="memory_updated"):
    keys: list[str]


class NotificationSent(_E, tag="notification_sent"):
    kind: str  # webhook | email
    target: str
    attempts: int


class NotificationFailed(_E, tag="notification_failed"):
    kind: str
    target: str
    error: str
    attempts: int


class RunFinished(_E, tag="run_finished"):
    status: str
    summary: str | None = None
    error: str | None = None
    steps: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    budget_exhausted: bool = False


class Note(_E, tag="note"):
    """Something the user should know that is none of the above (e.g. the run
    waits for a degraded provider, or resumed after a crash)."""

    message: str


class TextDelta(_E, tag="text_delta"):
    text: str


Event = (RunStarted | StepStarted | ModelResponded | ToolCalled | ToolReturned | MemoryUpdated
         | NotificationSent | NotificationFailed | RunFinished | Note | TextDelta)

EVENT_TYPES = [RunStarted, StepStarted, ModelResponded, ToolCalled, ToolReturned, MemoryUpdated,
               NotificationSent, NotificationFailed, RunFinished, Note, TextDelta]

# Events sent to goal-wide and daemon-wide subscriptions without ``detail``.
LIFECYCLE = ("run_started", "run_finished")


class EventEnvelope(msgspec.Struct, frozen=True):
    subscription: str
    seq: int
    run_id: str
    goal_id: str
    at: str
    event: Event


def short(text: Any, limit: int = 160) -> str:
    s = text if isinstance(text, str) else msgspec.json.encode(text).decode()
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 1] + "…"
