"""Run events: a msgspec tagged union (``type`` is the tag).

Every event of a run has a per-run sequence number (1, 2, 3, ... with no gaps)
and is journaled in the store, so ``run.watch {since}`` can replay exactly what
a client missed. Three kinds of event describe a model call while it is in
flight and are the exception (:data:`LIVE`): ``model_call_started``,
``model_retry`` and ``text_delta`` (streamed model text, only to watchers
that asked for ``deltas``). They are sent live, never journaled, with the seq
of the last journaled event (so several share a seq); a watcher that attaches
while the call is in flight gets the call's live events so far right after
the replay (its streamed text so far as one ``text_delta``).

Notification ``run.event`` params: ``{subscription, seq, run_id, goal_id, at, event}``
(:class:`EventEnvelope`). A run's events, in order::

    run_started
    ( model_responded  (step_started tool_called (approval_requested approval_decided)? tool_returned)*
      memory_updated? )*
    notification_sent | notification_failed ...
    run_finished

with ``note`` anywhere, and before each ``model_responded`` the live events
of its call: ``model_call_started``, then ``model_retry`` and ``text_delta``
as they happen. ``run.lagged {subscription, run_id, last_seq}`` tells a watcher it
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


class ModelCost(_E, tag="model_cost"):
    """What the model call of turn ``turn`` cost: its tokens (``cached_in``
    of ``tokens_in`` from the prompt cache, ``reasoning`` of ``tokens_out``)
    and ``cost_usd`` (None: no price known for ``model``); ``run_cost_usd``
    is the run's total so far. ``estimated``: the server reported no usage,
    so the call was charged its worst case."""

    turn: int
    model: str
    tokens_in: int = 0
    cached_in: int = 0
    tokens_out: int = 0
    reasoning: int = 0
    cost_usd: float | None = None
    run_cost_usd: float | None = None
    estimated: bool = False


class ToolCalled(_E, tag="tool_called"):
    """A tool is about to run with ``input`` (its JSON arguments, shortened)."""

    step_no: int
    tool: str
    input: str  # shortened JSON
    tool_call_id: str = ""
    recovered: bool = False  # the model wrote the call as text; agentd recovered it


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
    reason); totals of steps, tokens and cost; ``budget_exhausted`` when the
    step, token or money budget ended the run. A ``run_id`` subscription ends after it."""

    status: str
    summary: str | None = None
    error: str | None = None
    steps: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    budget_exhausted: bool = False
    cost_usd: float | None = None  # the run's total (None: a call had no known price)


class Note(_E, tag="note"):
    """Something the user should know that is none of the above (e.g. the run
    waits for a degraded provider, or resumed after a crash)."""

    message: str


class ApprovalRequested(_E, tag="approval_requested"):
    """A tool call needs a person's decision: the run is parked (it holds no
    slot) until ``run.approve``/``run.deny`` or ``expires_at``. ``arguments``
    are the call's exact arguments."""

    approval_id: str
    step_no: int
    tool: str
    arguments: str
    digest: str
    expires_at: str
    reason: str = ""


class ApprovalDecided(_E, tag="approval_decided"):
    """A waiting call was decided: ``approved``, ``denied`` or ``expired``
    (nobody decided in time), by whom and why."""

    approval_id: str
    step_no: int
    tool: str
    decision: str
    by: str
    note: str | None = None


class TextDelta(_E, tag="text_delta"):
    """A piece of the model's text as the provider streams it. Only for
    watchers that asked (``run.watch {deltas: true}``); live only, never
    journaled; its envelope ``seq`` is that of the last journaled event, so a
    client orders it after that event. ``pieces``: how many streamed pieces
    this text holds (more than 1 when a watcher that attached mid-call gets
    the text so far at once); servers stream about one token per piece, so
    the sum of ``pieces`` is a running estimate of the answer's tokens until
    ``model_responded`` brings the real usage."""

    text: str
    pieces: int = 1


class ModelCallStarted(_E, tag="model_call_started"):
    """A model call of turn ``turn`` began (the envelope's ``at`` is when):
    ``model`` is asked; ``streamed`` says whether its text will arrive as
    ``text_delta`` events (the daemon streams only while some watcher asked
    for deltas when the call began). Live only: see the module notes."""

    turn: int
    model: str = ""
    streamed: bool = False


class ModelRetry(_E, tag="model_retry"):
    """Attempt ``attempt`` of the model call of turn ``turn`` failed with a
    transient error (``reason``: what the provider said, e.g. HTTP 503);
    the next attempt follows in ``delay_s`` seconds. Live only."""

    turn: int
    attempt: int
    delay_s: float
    reason: str


Event = (RunStarted | StepStarted | ModelResponded | ModelCost | ToolCalled | ToolReturned | MemoryUpdated
         | NotificationSent | NotificationFailed | RunFinished | Note | TextDelta | ModelCallStarted
         | ModelRetry | ApprovalRequested | ApprovalDecided)

EVENT_TYPES = [RunStarted, StepStarted, ModelResponded, ModelCost, ToolCalled, ToolReturned, MemoryUpdated,
               NotificationSent, NotificationFailed, RunFinished, Note, ModelCallStarted, ModelRetry, TextDelta,
               ApprovalRequested, ApprovalDecided]

# Events sent to goal-wide and daemon-wide subscriptions without ``detail``.
LIFECYCLE = ("run_started", "run_finished", "approval_requested", "approval_decided")
# Events of a model call in flight: sent live, never journaled (see the module notes).
LIVE = ("model_call_started", "model_retry", "text_delta")


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
