"""Helpers for the end-to-end tests: config text, agentctl with --json, events."""

from __future__ import annotations

import json
from typing import Any

from e2e_servers import SmtpSink, WebServer
from watch_support import read_until


def config_text(web: WebServer | None = None, smtp: SmtpSink | None = None, *, tools: str = "", runs: str = "",
                provider: str = "") -> str:
    """A config.toml: search on the local web server, loopback allowed only for
    127.0.0.1 (so the metadata address etc. stay refused), fast retries."""
    out = "[tools]\nprivate_hosts_allowed = [\"127.0.0.1\"]\ndelivery_backoff_s = 0.05\n"
    if web is not None:
        out += f'duckduckgo_url = "{web.search_url}"\n'
    out += tools
    out += "\n[provider]\nretry_base_delay_s = 0.05\n" + provider
    if runs:
        out += "\n[runs]\n" + runs
    if smtp is not None:
        out += "\n" + smtp.config()
    return out


def ctl_json(d, *args: str) -> Any:
    """``agentctl --json ARGS`` through the real client; the parsed stdout."""
    r = d.ctl("--json", *args)
    assert r.returncode == 0, f"agentctl {' '.join(args)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    return json.loads(r.stdout)


def create_goal(d, objective: str, *opts: str) -> dict:
    return ctl_json(d, "goal", "create", objective, *opts)


def start_run(d, goal_id: str) -> str:
    run = ctl_json(d, "goal", "run", goal_id)
    return run["id"]


def secret_of(d, goal_id: str) -> str:
    secret = ctl_json(d, "goal", "show", goal_id, "--secrets")["webhook_secret"]
    assert secret and secret.startswith("whsec_"), secret
    return secret


def steps_of(d, run_id: str) -> list[dict]:
    return d.call("run.steps", {"id": run_id})["steps"]


def events_of(d, run_id: str, timeout: float = 15.0) -> list[dict]:
    """Every event of a finished run, replayed by ``run.watch`` from seq 0."""
    with d.client(timeout=timeout) as c:
        res = c.call("run.watch", {"run_id": run_id, "since": 0})
        msgs = read_until(c, lambda m: m.get("method") == "run.event"
                          and m["params"]["event"]["type"] == "run_finished", timeout)
    assert res["subscription"]
    out = [m["params"]["event"] | {"seq": m["params"]["seq"]} for m in msgs if m.get("method") == "run.event"]
    assert out[-1]["type"] == "run_finished"
    assert [e["seq"] for e in out] == list(range(out[0]["seq"], out[0]["seq"] + len(out))), "gap in event seqs"
    return out


def tool_messages(request: dict) -> list[dict]:
    return [m for m in request["messages"] if m.get("role") == "tool"]


def system_prompt(request: dict) -> str:
    return next(m["content"] for m in request["messages"] if m.get("role") == "system")
