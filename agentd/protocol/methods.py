"""One Params and one Result struct per JSON-RPC method, and the METHODS table.

Conventions:
- timestamps are ISO-8601 UTC strings with millisecond precision and a ``Z``
  suffix (``2026-11-21T16:00:00.000Z``), or null;
- ``id`` parameters accept a full id or a unique prefix of one;
- new fields always get defaults, so old clients keep working.

The same structs generate docs/rpc-reference.md.
"""

from __future__ import annotations

from typing import Any, Literal

from msgspec import UNSET, Struct, UnsetType

from .loglevels import LogLevel

GoalStatus = Literal["active", "paused", "archived"]
RunStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
RunTrigger = Literal["manual", "schedule", "catchup", "recovery"]
CatchUp = Literal["none", "latest", "all"]
Overlap = Literal["skip", "queue", "cancel"]
OutputKind = Literal["summary", "file", "webhook", "email"]
MemoryType = Literal["note", "fact", "artifact"]
StepStatus = Literal["pending", "awaiting_approval", "ok", "error", "unknown"]
ApprovalPolicy = Literal["allow", "ask", "deny"]
ApprovalStatus = Literal["pending", "approved", "denied", "expired"]
EffectStatus = Literal["intent", "delivered", "failed", "refused", "unknown"]
TickDecision = Literal["fired", "skipped", "missed", "coalesced", "caught_up", "queued"]
NotifyMode = Literal["always", "on_change"]
# What a call the exfiltration guard would block does: refused, or asked of a person (approvals).
GuardMode = Literal["block", "ask"]
AlertVia = Literal["webhook", "email"]

DEFAULT_STEP_BUDGET = 20
DEFAULT_APPROVAL_TIMEOUT_S = 86400


class _S(Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """Base for params: unknown fields are an error (a typo must not pass silently)."""


class _R(Struct, frozen=True):
    """Base for results."""


class Empty(_S):
    pass


class Ok(_R):
    ok: bool = True


# ---------------------------------------------------------------- goals


class ScheduleSpec(_S):
    cron: str
    timezone: str = "UTC"


class Schedule(_R):
    id: str
    cron: str
    timezone: str
    active: bool
    created_at: str
    description: str = ""
    next_fire: str | None = None


class GoalParams(Struct, frozen=True, forbid_unknown_fields=True):
    """A goal's run parameters (the seeds' ``params``)."""

    step_budget: int = DEFAULT_STEP_BUDGET
    allowed_tools: list[str] | None = None  # None: every default tool
    constraints: list[str] = []
    allowed_domains: list[str] = []  # empty: any public host
    email_to: list[str] = []
    token_budget: int | None = None
    time_limit_s: float | None = None
    max_concurrent: int | None = None
    expect: list[str] = []  # files (relative to the goal's artifacts) a completed run must have written
    expect_sent: list[str] = []  # deliveries ("webhook", "email") a completed run must have made
    # Money budgets in USD (None: the config's default in [budgets], if any).
    max_cost: float | None = None  # per run
    max_cost_per_day: float | None = None  # all of the goal's runs in a UTC day
    max_cost_per_month: float | None = None  # all of the goal's runs in a UTC month
    approvals: dict[str, ApprovalPolicy] = {}  # tool name -> allow | ask | deny (absent: allow)
    approval_timeout_s: int = DEFAULT_APPROVAL_TIMEOUT_S  # an undecided call is denied after this
    guard: GuardMode = "block"  # a send the exfiltration guard would block: refused, or asked of a person
    # Completion webhook and email: every run (always) or only when the result
    # changed since the last successful run (on_change); None: [notify] default.
    notify: NotifyMode | None = None
    # Alert when a scheduled goal had no success for this many of its periods
    # / when its last this-many runs failed; None: the [alerts] setting; 0: off.
    alert_quiet_periods: int | None = None
    alert_failed_runs: int | None = None
    # Also send the goal's alerts to its own webhook and/or email recipients
    # (besides the daemon-wide [alerts] destinations).
    alert_via: list[AlertVia] = []


class Tick(_R):
    due_at: str
    decision: TickDecision
    reason: str = ""
    run_id: str | None = None
    schedule_id: str | None = None
    recorded_at: str | None = None


class GoalHealth(_R):
    runs_considered: int = 0
    success_rate: float | None = None
    last_success_at: str | None = None
    stale: bool = False
    blocked_calls: int = 0  # calls the exfiltration guard blocked in the runs considered


class GoalSpend(_R):
    """What a goal's model calls cost this UTC day and month, in USD, and
    its budgets in force (the goal's own, else the config's; None: none)."""

    day: str  # YYYY-MM-DD (UTC)
    today_usd: float = 0.0
    month_usd: float = 0.0
    per_run_budget_usd: float | None = None
    per_day_budget_usd: float | None = None
    per_month_budget_usd: float | None = None


class IncidentNotice(_R):
    """One delivery of an incident's alert or recovery notice."""

    notice: Literal["alert", "recovery"]
    kind: str  # webhook | email
    target: str
    status: EffectStatus
    attempts: int = 0
    detail: str = ""


class Incident(_R):
    """A scheduled goal gone quiet (``quiet``: no successful run for several
    of its periods) or failing (``failing``: its last runs all failed). Open
    until a run of the goal succeeds (``closed_at``, ``recovered_by``)."""

    id: str
    goal_id: str
    kind: Literal["quiet", "failing"]
    reason: str
    opened_at: str
    closed_at: str | None = None
    recovered_by: str | None = None
    notices: list[IncidentNotice] = []


class Goal(_R):
    id: str
    objective: str
    status: GoalStatus
    params: GoalParams
    created_at: str
    updated_at: str
    name: str | None = None
    webhook_url: str | None = None
    schedules: list[Schedule] = []
    catchup: CatchUp = "latest"
    catchup_window_s: int = 86400
    overlap: Overlap = "skip"
    last_run: "Run | None" = None
    health: GoalHealth | None = None
    recent_ticks: list[Tick] = []
    incident: Incident | None = None  # goal.get: the open incident, else the latest closed one
    webhook_secret: str | None = None  # only with goal.get {secrets: true}
    # goal.create / goal.update only: settings that cannot work with the daemon's
    # configuration as it is (a private webhook host not allowed, email without
    # SMTP), each with how to fix it. The goal is saved all the same.
    warnings: list[str] = []
    spend: GoalSpend | None = None
    awaiting_approval: int = 0  # goal.get: calls of its runs waiting for a person's decision


class GoalCreate(_S):
    objective: str
    name: str | None = None
    schedules: list[ScheduleSpec] = []
    webhook_url: str | None = None
    params: GoalParams = GoalParams()
    catchup: CatchUp = "latest"
    catchup_window_s: int = 86400
    overlap: Overlap = "skip"
    paused: bool = False


class GoalList(_S):
    status: GoalStatus | None = None
    limit: int = 100
    offset: int = 0


class GoalListResult(_R):
    goals: list[Goal]
    total: int


class GoalRef(_S):
    id: str


class GoalGet(_S):
    id: str
    secrets: bool = False
    ticks: int = 10


class GoalUpdate(_S):
    """Fields left out are unchanged. ``schedules`` replaces the whole set."""

    id: str
    objective: str | UnsetType = UNSET
    name: str | None | UnsetType = UNSET
    schedules: list[ScheduleSpec] | UnsetType = UNSET
    webhook_url: str | None | UnsetType = UNSET
    step_budget: int | UnsetType = UNSET
    allowed_tools: list[str] | None | UnsetType = UNSET
    constraints: list[str] | UnsetType = UNSET
    allowed_domains: list[str] | UnsetType = UNSET
    email_to: list[str] | UnsetType = UNSET
    token_budget: int | None | UnsetType = UNSET
    time_limit_s: float | None | UnsetType = UNSET
    max_concurrent: int | None | UnsetType = UNSET
    expect: list[str] | UnsetType = UNSET
    expect_sent: list[str] | UnsetType = UNSET
    max_cost: float | None | UnsetType = UNSET
    max_cost_per_day: float | None | UnsetType = UNSET
    max_cost_per_month: float | None | UnsetType = UNSET
    approvals: dict[str, ApprovalPolicy] | UnsetType = UNSET
    approval_timeout_s: int | UnsetType = UNSET
    guard: GuardMode | UnsetType = UNSET
    notify: NotifyMode | None | UnsetType = UNSET
    alert_quiet_periods: int | None | UnsetType = UNSET
    alert_failed_runs: int | None | UnsetType = UNSET
    alert_via: list[AlertVia] | UnsetType = UNSET
    catchup: CatchUp | UnsetType = UNSET
    catchup_window_s: int | UnsetType = UNSET
    overlap: Overlap | UnsetType = UNSET


class Deleted(_R):
    id: str
    deleted: bool = True
    runs_cancelled: int = 0


class GoalRun(_S):
    id: str


class GoalNext(_S):
    id: str
    count: int = 5


class FireTime(_R):
    schedule_id: str
    cron: str
    timezone: str
    at: str  # UTC
    local: str  # in the schedule's timezone, with offset
    system_local: str  # in the daemon's local timezone, with offset


class GoalNextResult(_R):
    goal_id: str
    times: list[FireTime]


# ---------------------------------------------------------------- runs


class Usage(_R):
    """A run's token usage and cost. ``cached_in`` is the part of
    ``tokens_in`` served from the provider's prompt cache, ``reasoning`` the
    part of ``tokens_out`` spent on hidden reasoning; ``cost_usd`` is None
    when a call had no known price."""

    tokens_in: int = 0
    tokens_out: int = 0
    cached_in: int = 0
    reasoning: int = 0
    cost_usd: float | None = 0.0


class ModelCall(_R):
    """One model call of a run: its turn, tokens and cost (USD; None: no
    price known). ``estimated``: the server reported no usage, so the call
    was charged its worst case."""

    turn: int
    at: str
    model: str
    tokens_in: int = 0
    cached_in: int = 0
    tokens_out: int = 0
    reasoning: int = 0
    cost_usd: float | None = None
    estimated: bool = False


class Output(_R):
    id: str
    run_id: str
    kind: OutputKind
    path_or_payload: str
    created_at: str


class SideEffect(_R):
    id: str
    run_id: str
    kind: str  # webhook | email
    idempotency_key: str
    target: str
    status: EffectStatus
    attempts: int
    created_at: str
    updated_at: str
    detail: str = ""
    source: str = ""  # tool | completion


class Run(_R):
    id: str
    goal_id: str
    status: RunStatus
    trigger: RunTrigger
    created_at: str
    step_budget: int
    steps_executed: int = 0
    started_at: str | None = None
    ended_at: str | None = None
    scheduled_for: str | None = None
    working_memory: dict[str, Any] = {}
    error: str | None = None
    summary: str | None = None
    usage: Usage = Usage()
    recoveries: int = 0
    outputs: list[Output] = []
    side_effects: list[SideEffect] = []
    budget_exhausted: bool = False
    model_calls: list[ModelCall] = []  # run.get only
    approvals: list["Approval"] = []  # run.get only: the run's calls that needed a person's decision
    # Parked (status pending, holding no slot): the ids of its calls waiting for
    # a person's decision (run.approve / run.deny); empty otherwise.
    awaiting_approval: list[str] = []
    # The exfiltration guard (run.get only): the step whose result first brought
    # untrusted content into the run, and how many calls it blocked.
    tainted_at_step: int | None = None
    blocked_calls: int = 0
    # notify on_change: this run's result is the same as that run's, so its
    # completion webhook and email were not sent.
    unchanged_since: str | None = None


class RunList(_S):
    goal_id: str | None = None
    status: RunStatus | None = None
    limit: int = 50
    offset: int = 0


class RunListResult(_R):
    runs: list[Run]
    total: int


class RunRef(_S):
    id: str


class Approval(_R):
    """A tool call that needed a person's decision. ``arguments`` are the
    call's exact arguments (JSON text as the model wrote them); ``digest``
    identifies them: an approval that names a digest applies only to that call
    with those arguments. ``status``: pending, approved, denied, expired (no
    decision in time: treated as denied). ``executed``: an approved call was
    handed to its tool (at most once)."""

    id: str
    run_id: str
    goal_id: str
    step_no: int
    tool: str
    arguments: str
    digest: str
    status: ApprovalStatus
    requested_at: str
    expires_at: str
    reason: str = ""
    decided_at: str | None = None
    decided_by: str | None = None
    note: str | None = None
    executed: bool = False
    goal_name: str | None = None


class ApprovalList(_S):
    goal_id: str | None = None
    run_id: str | None = None


class ApprovalListResult(_R):
    approvals: list[Approval]


class RunApprove(_S):
    """Approve a run's waiting call: ``call`` (an approval id or unique prefix)
    when the run waits for several; ``digest`` (from approval.list) to make
    sure the approval applies to exactly the call that was shown; ``by``
    names who decided (recorded with the decision)."""

    id: str
    call: str | None = None
    digest: str | None = None
    by: str | None = None


class RunDeny(_S):
    """Deny a run's waiting call(s): ``call`` one of them, else every call the
    run waits for; ``reason`` is recorded and told to the model."""

    id: str
    call: str | None = None
    reason: str | None = None
    by: str | None = None


class ApprovalDecision(_R):
    run_id: str
    decided: list[Approval]
    resumed: bool  # the run waits for nothing more and was queued to resume


class RunCancel(_S):
    id: str
    reason: str = "cancelled by user"


class Step(_R):
    """One step of a run. ``kind``: ``tool`` (a tool call; these count
    against the step budget), ``answer`` (the model's final answer in plain
    text) or ``summary`` (the summary asked for when a budget or the time
    limit ran out)."""

    run_id: str
    step_no: int
    turn: int
    status: StepStatus
    created_at: str
    thought: str | None = None
    tool_name: str | None = None
    tool_input: Any = None
    tool_call_id: str | None = None
    observation: str | None = None
    error: str | None = None
    duration_ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    recovered: bool = False  # the model wrote this call as text; agentd recovered it
    kind: str = "tool"
    cost_usd: float | None = None  # the model call of this step's turn (on the turn's first step, like tokens)
    guard: str | None = None  # tainted: this result brought untrusted content in; blocked: not let out


class RunSteps(_S):
    id: str
    after: int = 0  # step_no
    limit: int = 1000


class RunStepsResult(_R):
    run_id: str
    steps: list[Step]
    run_status: RunStatus
    unchanged_since: str | None = None  # as Run.unchanged_since


class RunOutputsResult(_R):
    run_id: str
    outputs: list[Output]


class RunWatch(_S):
    """Replay the run's events after ``since``, then stream new ones as
    ``run.event`` notifications. With ``goal_id`` or ``all`` instead of
    ``run_id``: every run of that goal / of the daemon (start and finish events
    and, with ``all``, nothing else unless ``detail`` is set)."""

    run_id: str | None = None
    goal_id: str | None = None
    all: bool = False
    since: int = 0
    deltas: bool = False
    detail: bool = False


class RunWatchResult(_R):
    subscription: str
    run_status: RunStatus | None = None
    last_seq: int = 0


class RunUnwatch(_S):
    subscription: str


# ---------------------------------------------------------------- memories


class Memory(_R):
    id: str
    goal_id: str
    type: MemoryType
    content: str
    created_at: str
    metadata: dict[str, Any] | None = None


class MemoryList(_S):
    goal_id: str
    type: MemoryType | None = None
    query: str | None = None
    limit: int = 100


class MemoryListResult(_R):
    memories: list[Memory]


class MemoryAdd(_S):
    goal_id: str
    content: str
    type: MemoryType = "note"
    metadata: dict[str, Any] | None = None


class MemoryRef(_S):
    id: str


# ---------------------------------------------------------------- tools, provider


class ToolInfo(_R):
    """A tool as ``tool.list`` shows it. ``read_only``: changes nothing outside
    the run; ``idempotent``: repeating a call has no further effect;
    ``external``: reaches beyond this machine (its output is untrusted, what it
    sends leaves the machine). An MCP server's tool (``source`` "mcp") takes
    them from the server's annotations and names its ``server``; ``state`` is
    "unavailable" (with ``reason``) while that server is down."""

    name: str
    description: str
    parameters: dict[str, Any]
    timeout_s: float
    default: bool = True
    side_effect: bool = False
    read_only: bool = False
    idempotent: bool = False
    external: bool = False
    source: str = "builtin"
    server: str | None = None
    state: str = "available"
    reason: str | None = None


class ToolListResult(_R):
    tools: list[ToolInfo]


class McpServerState(_R):
    """A configured MCP server: ``state`` is starting, ready, unavailable
    (``reason`` says why; it is restarted with backoff), stopped or disabled.
    ``target`` is the command or URL (never its env or headers); ``tools`` the
    names the model sees; ``starts`` how many times it was started."""

    name: str
    transport: Literal["stdio", "http"]
    target: str
    enabled: bool = True
    state: str = "starting"
    reason: str | None = None
    tools: list[str] = []
    server_info: str = ""
    starts: int = 0


class McpListResult(_R):
    servers: list[McpServerState]


class McpCheck(_S):
    name: str


class ProviderCheck(_S):
    pass


class ProviderStatus(_R):
    provider: str
    model: str
    ok: bool
    checked_at: str | None = None
    message: str = ""
    base_url: str | None = None
    state: Literal["unchecked", "ok", "degraded", "incompatible"] = "unchecked"


# ---------------------------------------------------------------- daemon


class Paths(_R):
    socket: str
    db: str
    config: str
    data_dir: str
    artifacts_dir: str
    state_dir: str


class BreakerState(_R):
    name: str
    state: Literal["closed", "open", "half_open"]
    failures: int = 0
    opened_at: str | None = None


class NextTick(_R):
    goal_id: str
    schedule_id: str
    at: str


class DaemonStatus(_R):
    version: str
    pid: int
    started_at: str
    uptime_s: float
    paths: Paths
    goals: dict[str, int]
    runs: dict[str, int]
    state: Literal["ok", "degraded", "stopping"] = "ok"
    ready: bool = True
    reasons: list[str] = []
    provider: ProviderStatus | None = None
    queue: list[str] = []  # pending run ids in claim order
    running: list[str] = []
    next_ticks: list[NextTick] = []
    loop_lag_ms: float = 0.0
    loop_lag_max_ms: float = 0.0
    store_writable: bool = True
    scheduler_alive: bool = True
    breakers: list[BreakerState] = []
    log_level: LogLevel = "info"
    spend: "DaemonSpend | None" = None
    mcp_servers: list[McpServerState] = []


class DaemonSpend(_R):
    """What every model call of the daemon cost this UTC day and month (USD),
    and the daemon-wide daily budget (None: none)."""

    day: str
    today_usd: float = 0.0
    month_usd: float = 0.0
    per_day_budget_usd: float | None = None


class DaemonStop(_S):
    deadline_s: float = 10.0


class DaemonReload(_S):
    """Without ``log_level``: re-read the configuration file (and the
    environment) and apply what can change while running. With it: change
    only the log level, one of ``trace``, ``debug``, ``info``, ``warning``,
    ``error`` (``warn`` is accepted for ``warning``)."""

    log_level: str | None = None


class ConfigChange(_R):
    """One setting whose value changed (secrets shown as ``***``).
    ``restart``: it takes effect only when agentd restarts."""

    key: str
    old: Any = None
    new: Any = None
    restart: bool = False


class ReloadResult(_R):
    """``changed``: applied now (runs in flight keep the settings and the
    provider they started with); ``restart_needed``: changed in the file but
    kept at the running value until a restart; ``provider_replaced``: a new
    provider object serves the runs started from now on;
    ``runs_on_old_provider``: runs still using the replaced one (it is closed
    when the last of them ends)."""

    config: str
    changed: list[ConfigChange] = []
    restart_needed: list[ConfigChange] = []
    log_level: str = "info"
    provider_replaced: bool = False
    runs_on_old_provider: int = 0


class DaemonMetrics(_S):
    format: Literal["json", "prometheus"] = "json"


class MetricsResult(_R):
    """``counters``: since this daemon started (plus gauges read from the store);
    ``totals``: the counters over the daemon's whole life, persisted in the
    store across restarts; ``text``: the Prometheus exposition (counters from
    ``totals``) when format is prometheus."""

    counters: dict[str, float] = {}
    histograms: dict[str, Any] = {}
    totals: dict[str, float] = {}
    text: str | None = None


class MethodSpec(Struct, frozen=True):
    params: type
    result: type
    doc: str
    errors: tuple[str, ...] = ()


METHODS: dict[str, MethodSpec] = {
    "goal.create": MethodSpec(GoalCreate, Goal, "Create a goal with its schedules.", ("validation_failed",)),
    "goal.list": MethodSpec(GoalList, GoalListResult, "List goals, newest first."),
    "goal.get": MethodSpec(GoalGet, Goal, "One goal, with its last run, health and recent ticks.", ("not_found", "ambiguous_id")),
    "goal.update": MethodSpec(GoalUpdate, Goal, "Change a goal; fields left out stay as they are.", ("not_found", "ambiguous_id", "validation_failed")),
    "goal.delete": MethodSpec(GoalRef, Deleted, "Delete a goal with its schedules, runs, steps, outputs and memories; running runs are cancelled first.", ("not_found", "ambiguous_id")),
    "goal.pause": MethodSpec(GoalRef, Goal, "Pause a goal: its schedules stop firing (ticks are recorded as skipped).", ("not_found", "ambiguous_id", "invalid_state")),
    "goal.resume": MethodSpec(GoalRef, Goal, "Resume a paused goal.", ("not_found", "ambiguous_id", "invalid_state")),
    "goal.run": MethodSpec(GoalRun, Run, "Start a run of the goal now (trigger: manual).", ("not_found", "ambiguous_id", "invalid_state", "shutting_down")),
    "goal.next": MethodSpec(GoalNext, GoalNextResult, "The next fire times of the goal's schedules.", ("not_found", "ambiguous_id")),
    "run.list": MethodSpec(RunList, RunListResult, "List runs, newest first."),
    "run.get": MethodSpec(RunRef, Run, "One run with its outputs and side effects.", ("not_found", "ambiguous_id")),
    "run.steps": MethodSpec(RunSteps, RunStepsResult, "A run's steps after step number ``after``.", ("not_found", "ambiguous_id")),
    "run.outputs": MethodSpec(RunRef, RunOutputsResult, "A run's outputs.", ("not_found", "ambiguous_id")),
    "run.cancel": MethodSpec(RunCancel, Run, "Cancel a pending or running run.", ("not_found", "ambiguous_id", "invalid_state")),
    "run.delete": MethodSpec(RunRef, Deleted, "Delete a finished run with its steps and outputs.", ("not_found", "ambiguous_id", "invalid_state")),
    "run.watch": MethodSpec(RunWatch, RunWatchResult, "Replay and stream run events as run.event notifications.", ("not_found", "ambiguous_id")),
    "approval.list": MethodSpec(ApprovalList, ApprovalListResult, "Tool calls waiting for a person's decision, oldest first (all goals, or one goal or run).", ("not_found", "ambiguous_id")),
    "run.approve": MethodSpec(RunApprove, ApprovalDecision, "Approve a parked run's waiting call (exactly the arguments shown: pass its digest); the run resumes and the call is made once.", ("not_found", "ambiguous_id", "invalid_state", "validation_failed")),
    "run.deny": MethodSpec(RunDeny, ApprovalDecision, "Deny a parked run's waiting call(s); the model is told the reason and the run goes on.", ("not_found", "ambiguous_id", "invalid_state")),
    "run.unwatch": MethodSpec(RunUnwatch, Ok, "Stop a subscription made by run.watch.", ("not_found",)),
    "memory.list": MethodSpec(MemoryList, MemoryListResult, "A goal's long-term memories.", ("not_found", "ambiguous_id")),
    "memory.add": MethodSpec(MemoryAdd, Memory, "Add a long-term memory to a goal.", ("not_found", "ambiguous_id", "validation_failed")),
    "memory.delete": MethodSpec(MemoryRef, Deleted, "Delete a memory.", ("not_found", "ambiguous_id")),
    "tool.list": MethodSpec(Empty, ToolListResult, "The tools agents can use, with their JSON Schemas."),
    "mcp.list": MethodSpec(Empty, McpListResult, "The configured MCP servers with their state and tools."),
    "mcp.check": MethodSpec(McpCheck, McpServerState, "One MCP server's state, after waiting (bounded by its "
                            "start_timeout_s) for its start to finish.", ("not_found",)),
    "provider.check": MethodSpec(ProviderCheck, ProviderStatus, "Check now that the configured model can call tools.", ("provider_error",)),
    "daemon.status": MethodSpec(Empty, DaemonStatus, "Version, paths, counts, health and readiness."),
    "daemon.stop": MethodSpec(DaemonStop, Ok, "Stop the daemon: stop claiming runs, drain within the deadline, exit."),
    "daemon.reload": MethodSpec(DaemonReload, ReloadResult, "Re-read the configuration and apply what can change "
                                "while running (provider, model, tools, SMTP, limits, log level); say what changed "
                                "and what needs a restart. An invalid configuration changes nothing.",
                                ("config_error", "validation_failed")),
    "daemon.metrics": MethodSpec(DaemonMetrics, MetricsResult, "Counters and histograms (JSON or Prometheus text)."),
}

# Notifications the daemon sends.
NOTIFICATIONS = {
    "run.event": "A run event for a subscription: {subscription, seq, run_id, event}.",
    "run.lagged": "A subscription fell behind and was dropped: {subscription, run_id, last_seq}; resume with run.watch since=last_seq.",
}

