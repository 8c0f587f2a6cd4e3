"""Runs a claimed run to its end: the turn loop, then finalize.

Finalize, in this order (each part idempotent, so a crash during finalize is
resumed without repeating anything):
1. the summary is written as markdown in the goal's artifacts
   (``runs/<run-id>/summary.md``) and recorded as a ``summary`` output;
2. the goal's webhook gets a signed completion notification (ledger key
   ``<run>:completion-webhook``; retried with the same webhook-id);
3. the goal's email recipients get the summary (ledger key
   ``<run>:completion-email``), when SMTP is configured;
4. the run ends ``completed`` or ``failed`` with its reason.

Before 2 and 3, a successful run's result is fingerprinted
(``agentd.notify.changes``); when the goal's notify mode is ``on_change`` and
the result is the same as the last successful run's, 2 and 3 are skipped and
a note says "unchanged since run X". The run's own send_webhook/send_email
calls are not affected (see docs/notify.md).

A notification that fails is retried, recorded in the ledger and as an event,
and shown by ``run show``; it never turns a completed run into a failed one.
One whose earlier attempt was cut by a crash (ledger ``unknown``) is not sent
again: a note event says so, and ``run show`` lists it with its status.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from .. import log
from ..protocol.errors import AgentdError, ProviderError, RepeatedMistake, StoreError, ToolError
from ..protocol import events as ev
from ..store import goals as goals_q
from ..store import runs as runs_q
from ..notify.goal_notices import send_goal_notices
from ..tools.files import goal_artifacts, write_artifact
from ..approvals.gate import Parked
from .loop import LoopParts, RunLoop, RunOutcome

if TYPE_CHECKING:
    from ..approvals.service import Approvals
    from ..core import Core
    from ..providers.base import Provider
    from ..runs import ActiveRun

Finish = Callable[..., Awaitable[bool]]  # (run_id, goal_id, status, *, error, summary, budget_exhausted)

_log = log.get("agentd.agent")


def loop_parts(core: "Core", provider: "Provider", approvals: "Approvals") -> LoopParts:
    """The parts a run's loop works with, as the daemon holds them now."""
    return LoopParts(store=core.store, journal=core.journal, provider=provider, tools=core.tools, clock=core.now,
                     config=core.config, metrics=core.metrics, provider_ready=core.wait_for_provider,
                     money=core.money, approvals=approvals)


def make_executor(core: "Core", approvals: "Approvals", finish: Finish):
    """Runs a claimed run with the loop, then finalizes it; ``finish`` ends
    the run with its outcome (``App.finish_run``)."""

    async def execute(active: "ActiveRun") -> None:
        provider = active.provider or core.provider  # kept for the whole run, even across a reload
        try:
            unavailable = await _mcp_unavailable(core, active.goal_id)
            outcome = RunOutcome("failed", error=unavailable) if unavailable else \
                await RunLoop(loop_parts(core, provider, approvals), active).run()
        except Parked:
            return  # waits for a person's decision; resumed from its journal once decided
        except ProviderError as exc:
            outcome = RunOutcome("failed", error=f"provider {provider.name}/{provider.model}: {exc.message}")
        except RepeatedMistake as exc:
            outcome = RunOutcome("failed", error=exc.message)
        except StoreError:
            raise  # cannot journal: the manager fails it loudly if it can
        if outcome.status == "interrupted":
            _log.info("run interrupted for shutdown; it resumes at the next start")
            return
        await finalize(core, finish, active.run_id, active.goal_id, outcome)

    return execute


async def _mcp_unavailable(app: "Core", goal_id: str) -> str | None:
    """Wait (bounded) for the MCP servers whose tools the goal names; the
    reason the run cannot go on when one stays unavailable."""
    allowed = app.store.read(goals_q.get_goal, goal_id).params.allowed_tools
    servers = app.mcp.servers_named(allowed)
    if not servers:
        return None
    reason = await app.mcp.wait_for(servers)
    if reason is None:
        try:
            app.tools.select(allowed)  # a tool its server does not list (any more)
        except ToolError as exc:
            return exc.message
    return reason


def summary_markdown(goal, run_id: str, outcome: RunOutcome, now_ms: int) -> str:
    title = goal.name or (goal.objective.strip().splitlines()[0][:80] if goal.objective.strip() else goal.id)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now_ms / 1000))
    lines = [f"# {title}", "", f"Run `{run_id}` of goal `{goal.id}` — **{outcome.status}** — {when}", ""]
    if outcome.error:
        lines += [f"> {outcome.error}", ""]
    lines.append(outcome.summary or "_No summary was produced._")
    return "\n".join(lines) + "\n"


async def finalize(app: "Core", finish: Finish, run_id: str, goal_id: str, outcome: RunOutcome) -> None:
    outcome = app.redactor.redact_value(outcome)  # provider errors quote foreign text: summary, webhook, email
    goal = app.store.read(goals_q.get_goal, goal_id, secrets=True)
    text = summary_markdown(goal, run_id, outcome, app.now())
    rel = f"runs/{run_id}/summary.md"
    artifacts = goal_artifacts(app.config.artifacts_root, goal_id)
    try:
        await trio.to_thread.run_sync(lambda: write_artifact(artifacts, rel, text))
        if not any(o.kind == "summary" for o in app.store.read(runs_q.outputs_of, run_id)):
            await app.store.write(runs_q.insert_output, app.now(), run_id, "summary", rel)
    except (ToolError, OSError) as exc:
        _log.warning("could not write the summary artifact", error=str(exc))
    run = app.store.read(runs_q.get_run, run_id, detail=True)  # with the summary output
    if await unchanged_since(app, goal, run, outcome, text) is None:
        await _notify(app, goal, run, outcome, text, rel)
    await finish(run_id, goal_id, outcome.status, error=outcome.error, summary=outcome.summary,
                         budget_exhausted=outcome.budget_exhausted)


async def unchanged_since(app: "Core", goal, run, outcome: RunOutcome, text: str) -> str | None:
    """For a goal notified on_change, the run this successful run's result is
    unchanged since (its completion deliveries are then skipped, with a note
    saying so), else None. Every successful run is fingerprinted whatever the
    mode; a comparison that fails is logged and counts as changed."""
    from ..notify import changes

    if outcome.status != "completed" or run.steps_executed == 0:
        return None
    try:
        since = await changes.check(app, goal.id, run.id, text)
    except (OSError, AgentdError) as exc:
        _log.warning("could not compare the run's result with the last one; notifying", error=str(exc))
        return None
    if since is None or (goal.params.notify or app.config.notify.default) != "on_change":
        return None
    kinds = " and ".join(k for k, on in (("webhook", goal.webhook_url), ("email", goal.params.email_to)) if on)
    await app.emit(run.id, goal.id, ev.Note(
        message=f"unchanged since run {since}: the result is the same as that run's"
                + (f", so the completion {kinds} {'was' if ' and ' not in kinds else 'were'} not sent"
                   if kinds else "") + " (notify: on_change)"))
    return since


async def _notify(app: "Core", goal, run, outcome: RunOutcome, text: str, rel: str) -> None:
    payload = {"type": f"run.{outcome.status}", "run_id": run.id, "goal_id": goal.id, "goal_name": goal.name,
               "objective": goal.objective, "status": outcome.status, "summary": outcome.summary,
               "error": outcome.error, "summary_path": rel, "steps": run.steps_executed,
               "outputs": [{"kind": o.kind, "path_or_payload": o.path_or_payload} for o in run.outputs],
               "budget_exhausted": outcome.budget_exhausted}
    # SMTP not configured: the email is recorded as refused, with the keys to set
    await send_goal_notices(app, run.id, goal, source="completion", key=f"{run.id}:completion", payload=payload,
                            subject=f"[agentd] {goal.name or goal.objective[:60]} — run {outcome.status}", body=text)