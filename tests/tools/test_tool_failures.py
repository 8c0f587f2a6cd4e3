"""A tool's failure is the model's observation, never an internal error.

Through the real daemon (tests/tools/failing_tools_daemon.py makes every
registered tool raise a different exception type per call) and the scripted
fake LLM: every call of every tool raises, each comes back to the model as a
classified tool error, the traceback is logged, and the run goes on to
complete.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agentd.testing.fakellm import tool_call, tool_calls
from agentd.testing.ready import spawn_ready
from agentd.tools.registry import default_registry

pytestmark = pytest.mark.timeout(90)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from failing_tools_daemon import INJECTED  # noqa: E402

ARGS = {
    "web_search": {"query": "anything"},
    "fetch_page": {"url": "https://example.com/"},
    "read_feed": {"url": "https://example.com/feed.xml"},
    "read_file": {"path": "notes.txt"},
    "write_file": {"path": "notes.txt", "content": "x"},
    "send_webhook": {"url": "https://example.com/hook", "payload": {"a": 1}},
    "send_email": {"to": ["me@example.com"], "subject": "s", "body": "b"},
    "remember": {"content": "a fact"},
    "recall": {"query": "fact"},
    "finish": {"summary": "done"},
}


def test_every_exception_of_every_tool_is_an_observation_and_the_run_goes_on(make_daemon, fake_llm):
    names = default_registry().names()
    assert sorted(names) == sorted(ARGS), "a tool was added: give it arguments here"
    for _ in INJECTED:
        fake_llm.add(tool_calls(*[(n, ARGS[n]) for n in names]))
    fake_llm.add(tool_call("finish", {"summary": "All tools failed; here is what I know anyway."}))

    d = make_daemon(start=False, config="[runs]\nmax_repeated_mistakes = 3\n")
    d.proc, _ = spawn_ready([sys.executable, str(HERE / "failing_tools_daemon.py")], env=d.env, cwd=d.base,
                            log_path=d.log_path, timeout=20)
    goal = d.call("goal.create", {"objective": "use every tool",
                                  "params": {"allowed_tools": names, "step_budget": 200}})
    run = d.call("goal.run", {"id": goal["id"]})
    done = d.wait_run(run["id"], timeout=60)
    assert done["status"] == "completed", done
    fake_llm.assert_complete()

    steps = d.call("run.steps", {"id": run["id"]})["steps"]
    tool_steps = [s for s in steps if s.get("tool_name")][:-1]  # the last: the real finish
    assert len(tool_steps) == len(names) * len(INJECTED)
    by_tool: dict[str, list[str]] = {}
    for s in sorted(tool_steps, key=lambda s: s["step_no"]):
        assert s["status"] == "error", s
        by_tool.setdefault(s["tool_name"], []).append(s["error"])
    for name in names:
        errors = by_tool[name]
        for exc, error in zip(INJECTED, errors):
            assert error.startswith(f"{name} failed: "), error
            assert type(exc).__name__ in error, (exc, error)
            assert "not a mistake in your arguments" in error

    logged = [r for r in d.log_records() if r.get("msg") == "tool failed unexpectedly"]
    assert len(logged) == len(names) * len(INJECTED)
    assert steps[-1]["tool_name"] == "finish" and steps[-1]["status"] == "ok"
    assert all("Traceback" in r.get("exc", "") for r in logged)
