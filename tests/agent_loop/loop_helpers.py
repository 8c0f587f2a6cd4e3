"""Helpers for the agent-loop tests: goals and runs through the real agentctl."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from watch_support import read_until


def config(runs: str = "") -> str:
    """Fast provider retries; ``runs`` lines go into the [runs] table."""
    out = "[provider]\nretry_base_delay_s = 0.05\n"
    return out + ("\n[runs]\n" + runs + "\n" if runs else "")


def ctl_json(d, *args: str) -> Any:
    r = d.ctl("--json", *args)
    assert r.returncode == 0, f"agentctl {' '.join(args)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return json.loads(r.stdout)


def run_goal(d, fake_llm, script, *goal_opts: str, objective: str = "Write facts.md with three facts about Mars"):
    """Create a goal with agentctl, script the model, run it, wait for the end.
    Returns (goal, run as ``run show --json``)."""
    goal = ctl_json(d, "goal", "create", objective, *goal_opts)
    fake_llm.add(*script)
    rid = ctl_json(d, "goal", "run", goal["id"])["id"]
    d.wait_run(rid)
    return goal, ctl_json(d, "run", "show", rid)


def steps_of(d, run_id: str) -> list[dict]:
    return d.call("run.steps", {"id": run_id})["steps"]


def artifacts(d, goal_id: str) -> Path:
    return Path(d.env["XDG_DATA_HOME"]) / "agentd" / "artifacts" / goal_id


def events_of(d, run_id: str, timeout: float = 15.0) -> list[dict]:
    """Every event of a finished run, replayed by ``run.watch`` from seq 0."""
    with d.client(timeout=timeout) as c:
        c.call("run.watch", {"run_id": run_id, "since": 0})
        msgs = read_until(c, lambda m: m.get("method") == "run.event"
                          and m["params"]["event"]["type"] == "run_finished", timeout)
    return [m["params"]["event"] for m in msgs if m.get("method") == "run.event"]


def last_message(request: dict) -> dict:
    return request["messages"][-1]
