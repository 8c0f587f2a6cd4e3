"""The tool contract.

A tool is an object with a name, a description, a msgspec params struct (whose
JSON Schema goes to the model), a timeout, and an async ``run``. It returns the
observation text for the model.

Failures: a tool raises ``ToolError`` (or ``ToolRefused`` for safety refusals:
SSRF, path escape, quota, allowlist) with a message the model can act on; that
message becomes the step's observation. Any other exception (a bug of ours, a
library's surprise) is turned into a ToolError by the registry's
ContainedTool and logged with its traceback: the run goes on.

Side effects (webhooks, email) go through ``ctx.effects``: the intent is
committed with an idempotency key before the attempt and the outcome after;
a key whose intent already exists is never attempted again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any, ClassVar, Literal, Protocol

import msgspec

from ..shared.config import SmtpConfig, ToolsConfig


class EffectRecord(msgspec.Struct, frozen=True):
    id: str
    idempotency_key: str
    status: Literal["intent", "delivered", "failed", "refused", "unknown"]
    attempts: int
    detail: str = ""


class SideEffects(Protocol):
    """The side-effect ledger, bound to one run."""

    async def begin(self, *, kind: str, target: str, key: str, summary: str, source: str = "tool") -> EffectRecord:
        """Commit the intent. If ``key`` already has a record, return it unchanged
        (the caller must not attempt again unless it is ``failed`` before any
        delivery attempt reached the wire)."""
        ...

    async def finish(self, effect_id: str, *, status: Literal["delivered", "failed", "refused", "unknown"],
                     detail: str, attempts: int) -> None:
        """Commit the outcome."""
        ...


class MemoryRecord(msgspec.Struct, frozen=True):
    id: str
    type: str
    content: str
    created_at: str


class Memories(Protocol):
    """A goal's long-term memories."""

    async def remember(self, *, type: str, content: str, metadata: dict[str, Any] | None = None) -> str: ...

    async def recall(self, *, query: str, limit: int = 5) -> list[MemoryRecord]: ...


@dataclass
class GoalView:
    """What tools may know of the goal."""

    id: str
    objective: str
    allowed_domains: list[str] = field(default_factory=list)
    webhook_url: str | None = None
    webhook_secret: str | None = None  # "whsec_<base64>"
    email_to: list[str] = field(default_factory=list)


@dataclass
class ToolContext:
    goal: GoalView
    run_id: str
    tool_call_id: str  # the model's id for the call (not unique across turns with some servers)
    artifacts: Path  # the goal's artifacts directory (exists)
    tools: ToolsConfig
    smtp: SmtpConfig
    effects: SideEffects
    memories: Memories
    step_no: int = 0
    on_retry: Callable[[str], None] | None = None  # a delivery retry of this kind happened (metrics)
    # The exfiltration guard's check of a redirect hop (from URL, to URL): raises ToolRefused to stop it.
    redirect_check: Callable[[str, str], None] | None = None

    @property
    def effect_key(self) -> str:
        return effect_key(self.run_id, self.step_no)


def effect_key(run_id: str, step_no: int) -> str:
    """The idempotency key of a side effect made by a run's tool call: the run
    and the step number, unique within the run and the same after a restart."""
    return f"{run_id}:step-{step_no}"


TOOL_ATTRS = ("name", "description", "Params", "timeout_s", "side_effect", "default")  # a wrapper shows these
# A tool that does not say what it does to the world is taken at the worst:
# it changes things, a repeat may change them again, and it reaches outside.
EFFECT_DEFAULTS: dict[str, bool] = {"read_only": False, "idempotent": False, "external": True}


class Tool(Protocol):
    name: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[msgspec.Struct]]
    # default timeout; ToolsConfig.timeouts[name] overrides
    timeout_s: ClassVar[float]
    # True: repeating a call after a crash could repeat an effect in the world
    side_effect: ClassVar[bool]
    # False: only when a goal lists it in allowed_tools
    default: ClassVar[bool]
    # What the tool does to the world, for approvals, the exfiltration guard and
    # crash recovery (MCP tools take them from the server's annotations):
    # read_only: changes nothing outside the run (reading, searching, finishing);
    # idempotent: a repeat with the same arguments has no further effect;
    # external: reaches beyond this machine, so its output is untrusted content
    # and what it sends leaves the machine.
    read_only: ClassVar[bool]
    idempotent: ClassVar[bool]
    external: ClassVar[bool]

    async def run(self, params: Any, ctx: ToolContext) -> str: ...


class LoopHooks(Protocol):
    """What the agent loop asks of a tool beyond running it. Optional: the
    registry's ContainedTool supplies the defaults (``OPTIONAL_HOOKS``) for a
    tool that does not define them; a wrapper copies them (``copy_attributes``)."""

    # True: a successful call ends the run, its observation being the summary
    ends_run: ClassVar[bool]
    # True: its effect goes through ``ctx.effects`` under ``ctx.effect_key``, intent
    # first, so after a crash the ledger (never a blind re-run) says what happened
    ledger: ClassVar[bool]
    # (bucket, argument): the run's working memory lists this argument of each successful call
    working_memory: ClassVar[tuple[str, str] | None]
    # The tool that reads what this one only points to (web_search's results are
    # snippets: "fetch_page"); the loop says so when outputs are still to be written
    read_next: ClassVar[str | None]

    def output(self, args: dict[str, Any]) -> tuple[str, str] | None:
        """The run output (kind, path or payload) a successful call with ``args`` records, or None."""
        ...


def _no_output(args: dict[str, Any]) -> None:
    return None


OPTIONAL_HOOKS: dict[str, Any] = {"ends_run": False, "ledger": False, "working_memory": None, "read_next": None,
                                  "output": _no_output}


def copy_attributes(wrapper: Any, tool: Any) -> None:
    """Give ``wrapper`` (a tool wrapping ``tool``) the tool's attributes and
    loop hooks, with the defaults of ``OPTIONAL_HOOKS`` for hooks it lacks."""
    for attr in TOOL_ATTRS:
        setattr(wrapper, attr, getattr(tool, attr))
    for attr, default in {**EFFECT_DEFAULTS, **OPTIONAL_HOOKS}.items():
        setattr(wrapper, attr, getattr(tool, attr, default))
