"""The smoke version (``--smoke``): the harness on the scripted fake LLM
instead of a real model, so worlds, proxy, daemon, checks and report run in
CI without weights. The fake answers each goal the way a model that gets it
right would (one tool call per answer, then a final answer), rendered in the
form each system reads: for agentd, calls written as text in the forms small
models use (fenced JSON, bare JSON, ``<tool_call>``, ...) and ``finish``; a plain
final answer for pydantic-ai, openai-agents and LangGraph, a ``final_answer``
call for smolagents' ToolCallingAgent, ``<code>`` blocks for its CodeAgent.
One goal is scripted wrong on purpose (``SMOKE_WRONG``): its world check
must fail and, since the system says it completed, count as a false
completion.

Only agentd runs in ``make test``; the frameworks run here too when named
with ``--systems`` (their venv must exist), which checks their adapters.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from agentd.testing.fakellm import TEXT_FORMS, FakeLLM, Turn, text, text_call, tool_call

from .goals import ATOM, HEADLINES, NUMBERS, Goal
from .world import World

Plan = Callable[[Goal, World], list[tuple[str, dict[str, Any]]]]

SMOKE_GOALS: dict[str, Plan] = {
    "headlines": lambda g, w: [("fetch_page", {"url": f"{w.base}/news"}),
                               ("write_file", {"path": "headlines.txt", "content": "\n".join(HEADLINES) + "\n"})],
    # Wrong on purpose: a total that is off by one.
    "sum_numbers": lambda g, w: [("read_file", {"path": "numbers.txt"}),
                                 ("write_file", {"path": "total.txt", "content": f"{sum(NUMBERS) + 1}\n"})],
    "webhook_count": lambda g, w: [("read_feed", {"url": f"{w.base}/space.atom"}),
                                   ("send_webhook", {"url": w.hook_url(g.id), "payload": {"count": len(ATOM)}})],
}
SMOKE_WRONG = {"sum_numbers"}
FINAL = "Done: the task is carried out."


def render(system: str, steps: list[tuple[str, dict[str, Any]]]) -> list[Turn]:
    """The fake's answers for ``steps`` in the form ``system`` reads."""
    if system == "smolagents-code":
        code = [text(f"Thought: next step.\n<code>\nprint({name}({', '.join(f'{k}={json.dumps(v)}' for k, v in args.items())}))\n</code>")
                for name, args in steps]
        return code + [text(f"Thought: finished.\n<code>\nfinal_answer({json.dumps(FINAL)})\n</code>")]
    if system == "agentd":
        # As the small real models answer: every call written as text, in one form after another.
        calls = [*steps, ("finish", {"summary": FINAL})]
        return [text_call(name, args, form=TEXT_FORMS[i % len(TEXT_FORMS)]) for i, (name, args) in enumerate(calls)]
    turns: list[Turn] = [tool_call(name, args, id=f"call_{i}") for i, (name, args) in enumerate(steps, 1)]
    last = f"call_{len(steps) + 1}"
    if system == "smolagents-toolcalling":
        return turns + [tool_call("final_answer", {"answer": FINAL}, id=last)]
    return turns + [text(FINAL)]


def start_fake(fakes: list[FakeLLM]) -> Callable[[str, Goal, World], str]:
    """The function that starts a fake scripted for one goal of one system
    just before it runs (the world's addresses are known only then) and
    returns its URL; a goal that ends early cannot leave turns to the next.
    The fakes are appended to ``fakes`` for the caller to close."""

    def script(system: str, goal: Goal, world: World) -> str:
        fake = FakeLLM(script=render(system, SMOKE_GOALS[goal.id](goal, world))).__enter__()
        fakes.append(fake)
        return fake.base_url

    return script
