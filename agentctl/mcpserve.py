"""``agentctl mcp serve``: agentd as an MCP server on stdio.

An MCP client (a desktop assistant, an IDE, another agent) starts this
command; it answers over stdin/stdout with the ``mcp`` SDK and does each
thing through the daemon's socket like any other agentctl command — it holds
no state and needs no trio (the SDK runs on asyncio here).

Tools: ``list_goals``, ``create_goal``, ``run_goal``, ``pause_goal``,
``resume_goal``, ``list_runs``, ``show_run`` (status, error, summary,
outputs), ``list_approvals`` (calls waiting for a person's decision, with
their exact arguments and digest), ``approve_call`` (needs the digest that
list_approvals showed: the approval applies to exactly those arguments) and
``deny_call``. Resources: ``agentd://runs/{run_id}/summary`` (a run's summary in
markdown) and ``agentd://goals/{goal_id}/artifacts/{path}`` (a text file the
goal's runs wrote, confined to that goal's artifacts directory).

An error of the daemon (not found, invalid, not running) becomes the tool's
error result with the daemon's message; the server itself goes on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .context import Context
from .render import run_status

MAX_ARTIFACT_BYTES = 1024 * 1024


class DaemonError(Exception):
    """The daemon refused or could not be reached; the message says why."""


def build(ctx: Context):
    """The MCPServer, every call going through ``ctx``'s connection."""
    import anyio
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceError, ToolError
    from mcp_types import ToolAnnotations

    from agentd import __version__
    from .client import ClientError

    server = MCPServer("agentd", version=__version__,
                       instructions="agentd runs background LLM agents (goals) on this machine. List goals, "
                                    "create or run one, then read its runs' summaries.")
    lock = anyio.Lock()  # one request at a time on the one connection

    async def call(method: str, params: dict | None = None) -> Any:
        async with lock:
            try:
                return await anyio.to_thread.run_sync(lambda: ctx.call(method, params))
            except ClientError as exc:
                ctx.close()  # a broken connection is opened again by the next call
                raise ToolError(f"agentd: {exc}") from None  # the SDK passes its message on

    read = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=read)
    async def list_goals(status: str | None = None) -> str:
        """The goals: id, name, status, objective, schedules and last run."""
        res = await call("goal.list", {"status": status} if status else {})
        return _dump([_goal(g) for g in res["goals"]])

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, idempotent_hint=False, open_world_hint=False))
    async def create_goal(objective: str, name: str | None = None, cron: str | None = None,
                          timezone: str = "UTC", tools: list[str] | None = None) -> str:
        """Create a goal: what the agent should do; optionally a cron schedule in a time zone and the
        tools it may use (e.g. ["fetch_page", "write_file"]). Returns the new goal."""
        params: dict[str, Any] = {"objective": objective}
        if name:
            params["name"] = name
        if cron:
            params["schedules"] = [{"cron": cron, "timezone": timezone}]
        if tools is not None:
            params["params"] = {"allowed_tools": tools}
        return _dump(_goal(await call("goal.create", params)))

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, idempotent_hint=False, open_world_hint=False))
    async def run_goal(goal: str) -> str:
        """Start a run of a goal now (by id, id prefix or name). Returns the run; read it with show_run."""
        return _dump(_run(await call("goal.run", {"id": goal})))

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, idempotent_hint=True, open_world_hint=False))
    async def pause_goal(goal: str) -> str:
        """Pause a goal: its schedules stop firing."""
        return _dump(_goal(await call("goal.pause", {"id": goal})))

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, idempotent_hint=True, open_world_hint=False))
    async def resume_goal(goal: str) -> str:
        """Resume a paused goal."""
        return _dump(_goal(await call("goal.resume", {"id": goal})))

    @server.tool(annotations=read)
    async def list_runs(goal: str | None = None, limit: int = 20) -> str:
        """Recent runs, newest first, of one goal or of all."""
        params: dict[str, Any] = {"limit": max(1, min(limit, 200))}
        if goal:
            params["goal_id"] = (await call("goal.get", {"id": goal}))["id"]
        res = await call("run.list", params)
        return _dump([_run(r) for r in res["runs"]])

    @server.tool(annotations=read)
    async def show_run(run: str) -> str:
        """One run: status, error, summary (markdown) and outputs."""
        r = await call("run.get", {"id": run})
        return _dump({**_run(r), "outputs": r.get("outputs", [])})

    @server.tool(annotations=read)
    async def list_approvals(goal: str | None = None) -> str:
        """Tool calls waiting for a person's decision: run, tool, exact arguments, why it was asked, when it
        expires, and the digest to pass to approve_call."""
        params = {"goal_id": (await call("goal.get", {"id": goal}))["id"]} if goal else {}
        res = await call("approval.list", params)
        return _dump([_approval(x) for x in res["approvals"]])

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, idempotent_hint=False, open_world_hint=True))
    async def approve_call(run: str, call_id: str, digest: str) -> str:
        """Approve one waiting call (ids and digest from list_approvals). It applies only to the exact arguments
        the digest names; the run resumes and the call is made once."""
        res = await call("run.approve", {"id": run, "call": call_id, "digest": digest, "by": _BY})
        return _dump({"run_id": res["run_id"], "resumed": res["resumed"],
                      "decided": [_approval(x) for x in res["decided"]]})

    @server.tool(annotations=ToolAnnotations(read_only_hint=False, idempotent_hint=True, open_world_hint=False))
    async def deny_call(run: str, call_id: str | None = None, reason: str | None = None) -> str:
        """Deny one waiting call of a run (or all of them without call_id); the reason is told to the agent."""
        params = {"id": run, "by": _BY, **({"call": call_id} if call_id else {}), **({"reason": reason} if reason else {})}
        res = await call("run.deny", params)
        return _dump({"run_id": res["run_id"], "resumed": res["resumed"],
                      "decided": [_approval(x) for x in res["decided"]]})

    @server.resource("agentd://runs/{run_id}/summary", mime_type="text/markdown")
    async def run_summary(run_id: str) -> str:
        """A run's summary in markdown."""
        r = await call("run.get", {"id": run_id})
        return r.get("summary") or f"(run {r['id']} is {run_status(r)} and has no summary yet)"

    @server.resource("agentd://goals/{goal_id}/artifacts/{path}", mime_type="text/plain")
    async def artifact(goal_id: str, path: str) -> str:
        """A text file in a goal's artifacts directory (as its runs wrote it)."""
        gid = (await call("goal.get", {"id": goal_id}))["id"]
        root = Path((await call("daemon.status"))["paths"]["artifacts_dir"]) / gid
        try:
            return await anyio.to_thread.run_sync(lambda: read_artifact(root, path))
        except DaemonError as exc:
            raise ResourceError(str(exc)) from None

    return server


def read_artifact(root: Path, rel: str) -> str:
    """``rel`` under ``root``, as text; DaemonError when it leaves the
    directory, is missing, too large or not text."""
    from urllib.parse import unquote

    rel = unquote(rel)
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()):
        raise DaemonError(f"{rel!r} is outside the goal's artifacts")
    try:
        if target.stat().st_size > MAX_ARTIFACT_BYTES:
            raise DaemonError(f"{rel} is larger than {MAX_ARTIFACT_BYTES} bytes")
        return target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DaemonError(f"the goal has no artifact {rel!r}") from None
    except UnicodeDecodeError:
        raise DaemonError(f"{rel} is not a text file") from None


def _goal(g: dict) -> dict:
    last = g.get("last_run") or {}
    return {"id": g["id"], "name": g.get("name"), "status": g["status"], "objective": g["objective"],
            "schedules": [f"{s['cron']} ({s['timezone']})" for s in g.get("schedules", [])],
            "tools": (g.get("params") or {}).get("allowed_tools"),
            "last_run": {"id": last["id"], "status": run_status(last)} if last else None}


_BY = "an MCP client (agentctl mcp serve)"


def _approval(x: dict) -> dict:
    return {k: x.get(k) for k in ("id", "run_id", "goal_id", "goal_name", "tool", "arguments", "digest", "reason",
                                  "status", "requested_at", "expires_at", "decided_by", "note", "executed")}


def _run(r: dict) -> dict:
    """A run for the client; one parked for a person's decision says so and
    names the waiting calls (the daemon's status is still ``pending``)."""
    view = {"id": r["id"], "goal_id": r["goal_id"], "status": run_status(r), "trigger": r["trigger"],
            "created_at": r["created_at"], "ended_at": r.get("ended_at"), "error": r.get("error"),
            "summary": r.get("summary")}
    if r.get("awaiting_approval"):
        view["awaiting_approval"] = list(r["awaiting_approval"])  # call ids: see list_approvals
    return view


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


def serve(ctx: Context) -> int:
    """Serve on stdio until the client closes stdin."""
    try:
        build(ctx).run()
    finally:
        ctx.close()
    return 0
