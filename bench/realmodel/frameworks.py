"""One goal through one agent framework, in the frameworks' venv.

    python bench/realmodel/frameworks.py SPEC.json

SPEC holds the framework's name, the objective, the tools (agentd's own
names, descriptions and JSON Schemas), the sandbox directory, the fixture
addresses, the model server and the caps. The tools are ``toolkit.Toolkit``'s
(stdlib only). The last line printed is ``RESULT {json}``: what the framework
said (completed, or failed with its error), its answer and the tool calls.

Each framework is used the way its documentation shows for an
OpenAI-compatible server, with the same instructions, the same step cap
(model calls) and the same answer cap (max_tokens, temperature 0).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toolkit import Toolkit  # noqa: E402  (this file runs as a script, outside the package)

INSTRUCTIONS = ("Carry out the user's task with the tools you are given. File paths are relative to the task's "
                "working directory. When the task is done, reply with a short summary of what you did.")


def _py_type(schema: dict[str, Any]) -> str:
    t = schema.get("type")
    if t is None and "anyOf" in schema:
        t = next((s.get("type") for s in schema["anyOf"] if s.get("type") != "null"), "string")
    return {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
            "object": "object", "array": "array"}.get(t, "any")


# ---------------------------------------------------------------- adapters


def run_pydantic_ai(spec: dict, kit: Toolkit) -> tuple[str, str]:
    from pydantic_ai import Agent, Tool
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider
    from pydantic_ai.usage import UsageLimits

    def make(t: dict) -> Tool:
        return Tool.from_schema(lambda **kw: kit.call(t["name"], kw), name=t["name"], description=t["description"],
                                json_schema=t["parameters"])

    model = OpenAIChatModel(spec["model"], provider=OpenAIProvider(base_url=spec["base_url"], api_key="sk-bench"))
    agent = Agent(model, instructions=INSTRUCTIONS, tools=[make(t) for t in spec["tools"]],
                  model_settings={"max_tokens": spec["max_tokens"], "temperature": 0.0})
    result = agent.run_sync(spec["objective"], usage_limits=UsageLimits(request_limit=spec["max_steps"]))
    return "completed", str(result.output)


def run_openai_agents(spec: dict, kit: Toolkit) -> tuple[str, str]:
    from agents import (Agent, FunctionTool, ModelSettings, OpenAIChatCompletionsModel, Runner,
                        set_tracing_disabled)
    from openai import AsyncOpenAI

    set_tracing_disabled(True)

    def make(t: dict) -> FunctionTool:
        async def invoke(ctx: Any, args: str, name: str = t["name"]) -> str:
            try:
                kw = json.loads(args or "{}")
            except ValueError as exc:
                return f"Error: the arguments are not valid JSON: {exc}"
            return kit.call(name, kw if isinstance(kw, dict) else {})
        return FunctionTool(name=t["name"], description=t["description"], params_json_schema=t["parameters"],
                            on_invoke_tool=invoke, strict_json_schema=False)

    client = AsyncOpenAI(base_url=spec["base_url"], api_key="sk-bench")
    agent = Agent(name="agent", instructions=INSTRUCTIONS, tools=[make(t) for t in spec["tools"]],
                  model=OpenAIChatCompletionsModel(model=spec["model"], openai_client=client),
                  model_settings=ModelSettings(max_tokens=spec["max_tokens"], temperature=0.0))
    result = Runner.run_sync(agent, spec["objective"], max_turns=spec["max_steps"])
    return "completed", str(result.final_output)


def _smol_tools(spec: dict, kit: Toolkit) -> list:
    from smolagents import Tool

    tools = []
    for t in spec["tools"]:
        props, required = t["parameters"]["properties"], set(t["parameters"].get("required", []))
        inputs = {k: {"type": _py_type(v), "description": v.get("description", k),
                      **({} if k in required else {"nullable": True})} for k, v in props.items()}

        def forward(self, _name: str = t["name"], **kw: Any) -> str:
            return kit.call(_name, {k: v for k, v in kw.items() if v is not None})

        cls = type(f"T_{t['name']}", (Tool,), {
            "name": t["name"], "description": t["description"], "inputs": inputs, "output_type": "string",
            "skip_forward_signature_validation": True, "forward": forward})
        tools.append(cls())
    return tools


def _smol(spec: dict, kit: Toolkit, kind: str) -> tuple[str, str]:
    from smolagents import CodeAgent, OpenAIServerModel, ToolCallingAgent

    model = OpenAIServerModel(model_id=spec["model"], api_base=spec["base_url"], api_key="sk-bench",
                              max_tokens=spec["max_tokens"], temperature=0.0)
    cls = CodeAgent if kind == "code" else ToolCallingAgent
    agent = cls(tools=_smol_tools(spec, kit), model=model, max_steps=spec["max_steps"], instructions=INSTRUCTIONS,
                verbosity_level=0)
    result = agent.run(spec["objective"], return_full_result=True)
    state = getattr(result, "state", "success")
    if state != "success":
        return "failed", f"{state}: {result.output}"
    return "completed", str(result.output)


def run_smolagents_toolcalling(spec: dict, kit: Toolkit) -> tuple[str, str]:
    return _smol(spec, kit, "toolcalling")


def run_smolagents_code(spec: dict, kit: Toolkit) -> tuple[str, str]:
    return _smol(spec, kit, "code")


def run_langgraph(spec: dict, kit: Toolkit) -> tuple[str, str]:
    from langchain_core.tools import StructuredTool
    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import create_react_agent

    def make(t: dict) -> StructuredTool:
        return StructuredTool.from_function(func=lambda **kw: kit.call(t["name"], kw), name=t["name"],
                                            description=t["description"], args_schema=t["parameters"])

    llm = ChatOpenAI(model=spec["model"], base_url=spec["base_url"], api_key="sk-bench",
                     max_tokens=spec["max_tokens"], temperature=0.0)
    agent = create_react_agent(llm, [make(t) for t in spec["tools"]], prompt=INSTRUCTIONS)
    # One model call and one tool step per turn: 2 graph steps each, plus the last answer.
    state = agent.invoke({"messages": [("user", spec["objective"])]},
                         config={"recursion_limit": 2 * spec["max_steps"] + 1})
    return "completed", str(state["messages"][-1].content)


ADAPTERS = {
    "pydantic-ai": run_pydantic_ai,
    "openai-agents": run_openai_agents,
    "smolagents-toolcalling": run_smolagents_toolcalling,
    "smolagents-code": run_smolagents_code,
    "langgraph": run_langgraph,
}


# Imported before the clock starts: a framework's import time is not its agent's run time.
MODULES = {
    "pydantic-ai": ["pydantic_ai", "pydantic_ai.models.openai", "pydantic_ai.providers.openai", "pydantic_ai.usage"],
    "openai-agents": ["agents", "openai"],
    "smolagents-toolcalling": ["smolagents"],
    "smolagents-code": ["smolagents"],
    "langgraph": ["langchain_core.tools", "langchain_openai", "langgraph.prebuilt"],
}


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    kit = Toolkit(Path(spec["sandbox"]), spec["search_url"], tuple(spec["smtp"]))
    for mod in MODULES[spec["framework"]]:
        importlib.import_module(mod)
    t0 = time.monotonic()
    try:
        status, answer = ADAPTERS[spec["framework"]](spec, kit)
        error = None
    except Exception as exc:  # noqa: BLE001 - any framework error is this run's outcome
        status, answer, error = "failed", "", f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    run_s = time.monotonic() - t0  # the agent's run, without the framework's import time
    print("RESULT " + json.dumps({"status": status, "answer": answer[:4000], "error": error and error[:2000],
                                  "tool_calls": kit.calls, "run_s": run_s}, default=str), flush=True)


if __name__ == "__main__":
    main()
