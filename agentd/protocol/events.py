"""Run events: a msgspec tagged union (``type`` is the tag).

Every event of a run has a per-run sequence number (1, 2, 3, ... with no gaps)
and is journaled in the store, so ``run.watch {since}`` can replay exactly what
a client missed. ``text_delta`` events (streamed model text) are the exception:
they are sent only live, to watchers that asked for ``deltas``, with the seq
of the last journaled event, and never replayed.

Notification ``run.event`` params: ``{subscription, seq, run_id, goal_id, at, event}``
(:class:`EventEnvelope`). A run's events, in order::

    run_started
    ( model_responded  (step_started tool_called tool_returned)*  memory_updated? )*
    notification_sent | notification_failed ...
    run_finished

with ``note`` anywhere and ``text_delta`` before the ``model_responded`` it
belongs to. ``run.lagged {subscription, run_id, last_seq}`` tells a watcher it
fell behind and its subscription ended: watch again with ``since=last_seq``.
"""

from __future__ import annotations

from typing import Any

import msgspec


class _E(msgspec.Struct, frozen=True, tag_field="type", omit_defaults=True):
    pass


class RunStarted(_E, tag="run_started"):
    """The run was claimed and its loop began (``resumed``: after a daemon
    restart, continuing from its last committed step). ``trigger`` is manual,
    schedule or catchup."""

    goal_id: str
    trigger: str
    step_budget: int
    resumed: bool = False


class StepStarted(_E, tag="step_started"):
    """A tool step began: step ``step_no`` of model turn ``turn`` (steps are
    numbered from 1 across the run; one turn may start several steps)."""

    step_no: int
    turn: int


class ModelResponded(_E, tag="model_responded"):
    """The model answered turn ``turn``: token usage of that call, how many
    tool calls it asked for (0: a plain answer), its thought shortened to
    160 characters, and how long the call took."""

    turn: int
    tokens_in: int
    tokens_out: int
    tool_calls: int
    text: str = ""  # the model's thought, shortened
    duration_ms: float = 0.0


class ToolCalled(_E, tag="tool_called"):
    """A tool is about to run with ``input`` (its JSON arguments, shortened)."""

    step_no: int
    tool: str
    input: str  # shortened JSON
    tool_call_id: str = ""


class ToolReturned(_E, tag="tool_returned"):
    """A tool finished: ``ok`` false means ``output`` is the error that went back
    to the model; otherwise the observation, shortened."""

    step_no: int
    tool: str
    ok: bool
    output: str  # shortened observation or error
    duration_ms: float


class MemoryUpdated(_E, tag="memory_updated"):
    """The run's working memory (or the goal's long-term memories) changed; ``keys``
    names what changed."""

    keys: list[str]


class NotificationSent(_E, tag="notification_sent"):
    """A completion notification (``webhook`` or ``email``) was delivered to
    ``target`` after ``attempts`` tries."""

    kind: str  # webhook | email
    target: str
    attempts: int


class NotificationFailed(_E, tag="notification_failed"):
    """A completion notification could not be delivered; ``error`` says why.
    The run's own status is not changed by this."""

    kind: str
    target: str
    error: str
    attempts: int


class RunFinished(_E, tag="run_finished"):
    """The last event of every run. ``status`` is completed, failed or
    cancelled; ``summary`` (completed) or ``error`` (failed, cancelled: the
    reason); totals of steps and tokens; ``budget_exhausted`` when the step or
    token budget ended the run. A ``run_id`` subscription ends after it."""

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
    """A piece of the model's text as the provider streams it. Only for
    watchers that asked (``run.watch {deltas: true}``); live only, never
    journaled or replayed; its envelope ``seq`` is that of the last journaled
    event, so a client orders it after that event."""

    text: str


Event = (RunStarted | StepStarted | ModelResponded | ToolCalled | ToolReturned | MemoryUpdated
         | NotificationSent | NotificationFailed | RunFinished | Note | TextDelta)

EVENT_TYPES = [RunStarted, StepStarted, ModelResponded, ToolCalled, ToolReturned, MemoryUpdated,
               NotificationSent, NotificationFailed, RunFinished, Note, TextDelta]

# Events sent to goal-wide and daemon-wide subscriptions without ``detail``.
LIFECYCLE = ("run_started", "run_finished")


class EventEnvelope(msgspec.Struct, frozen=True):
    """``run.event`` notification params: the subscription it belongs to, the
    event's per-run ``seq`` (1, 2, 3, … without gaps), the run and goal, when
    it happened (ISO-8601 UTC) and the event itself (tagged by ``type``)."""

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
