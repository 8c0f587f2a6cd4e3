"""The baseline: a raw httpx + json agent loop against the same fake server,
doing the same K tool calls (encode the messages, POST, parse, append the tool
result). Sync for one conversation, trio for many concurrent ones."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

SYSTEM = ("You are an autonomous agent working in the background for the user. Use the tools to reach the "
          "objective, then answer with a short summary. ") * 4
TOOL_RESULT = "No memories match 'bench'."


def agentd_specs(allowed: list[str]) -> list[dict]:
    """The same tool schemas the daemon sends (the goal's tools plus finish)."""
    from agentd.tools.registry import default_registry

    return [{"name": s.name, "description": s.description, "parameters": s.parameters}
            for s in default_registry().specs(allowed)]


def tools_payload(specs: list[dict] | None = None) -> list[dict]:
    if specs:
        return [{"type": "function", "function": {"name": s["name"], "description": s["description"],
                                                  "parameters": s["parameters"]}} for s in specs]
    return [{"type": "function", "function": {"name": "recall", "description": "Search memories.",
                                              "parameters": {"type": "object", "properties": {
                                                  "query": {"type": "string"}}, "required": ["query"]}}}]


def _first(k: int) -> list[dict[str, Any]]:
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Benchmark objective #k={k}: call recall {k} times, then answer."}]


def _step(messages: list[dict], data: dict) -> bool:
    msg = data["choices"][0]["message"]
    calls = msg.get("tool_calls") or []
    messages.append({"role": "assistant", "content": msg.get("content"), "tool_calls": calls} if calls
                    else {"role": "assistant", "content": msg.get("content")})
    for c in calls:
        json.loads(c["function"]["arguments"])  # a real loop decodes the arguments
        messages.append({"role": "tool", "tool_call_id": c["id"], "content": TOOL_RESULT})
    return bool(calls)


def conversation(client: httpx.Client, url: str, k: int, tools: list[dict]) -> int:
    """One agent run; returns the number of tool steps."""
    messages = _first(k)
    steps = 0
    while True:
        body = json.dumps({"model": "gpt-4o", "messages": messages, "tools": tools}).encode()
        r = client.post(url, content=body, headers={"Content-Type": "application/json"})
        r.raise_for_status()
        if not _step(messages, json.loads(r.content)):
            return steps
        steps += 1


async def aconversation(client: httpx.AsyncClient, url: str, k: int, tools: list[dict]) -> int:
    messages = _first(k)
    steps = 0
    while True:
        body = json.dumps({"model": "gpt-4o", "messages": messages, "tools": tools}).encode()
        r = await client.post(url, content=body, headers={"Content-Type": "application/json"})
        r.raise_for_status()
        if not _step(messages, json.loads(r.content)):
            return steps
        steps += 1


def sync_client() -> httpx.Client:
    return httpx.Client(headers={"Authorization": "Bearer sk-bench"}, timeout=60)


def timed_conversation(client: httpx.Client, url: str, k: int, tools: list[dict]) -> tuple[float, float, int]:
    """(wall s, this thread's CPU s, steps)."""
    c0, t0 = time.thread_time(), time.perf_counter()
    steps = conversation(client, url, k, tools)
    return time.perf_counter() - t0, time.thread_time() - c0, steps
