"""The systems under test: agentd (the real daemon on private XDG dirs,
driven over its socket) and each agent framework (one process per goal in
the frameworks' cached venv). Each one runs a goal in its own world, through
its own counting proxy, and returns a result record; the harness judges the
world afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .._common import Daemon, Rpc, cpu_seconds
from .goals import ME, Goal
from .proxy import MeterProxy
from .server import cache_dir
from .world import World

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements-frameworks.txt"
FRAMEWORKS = ["pydantic-ai", "openai-agents", "smolagents-toolcalling", "smolagents-code", "langgraph"]
ALL_SYSTEMS = ["agentd", *FRAMEWORKS]
CANCEL_GRACE_S = 30.0  # agentd: seconds past the goal timeout before its run is cancelled


def tool_specs(names: list[str]) -> list[dict[str, Any]]:
    """agentd's own tool specs (name, description, JSON Schema), in the goal's order."""
    from agentd.tools.registry import default_registry

    return [{"name": s.name, "description": s.description, "parameters": s.parameters}
            for s in default_registry().specs(names) if s.name != "finish"]


class Result(dict):
    """One (system, goal) record; a dict so it goes to JSON as it is."""


class AgentdSystem:
    """agentd as users run it: the daemon on an environment-only provider setup
    (LLM_PROVIDER=openai, OPENAI_BASE_URL, OPENAI_MODEL, a dummy key), its
    tools reaching loopback fixtures by config, one goal per suite goal."""

    name = "agentd"

    def __init__(self, world: World, proxy: MeterProxy, model: str, *, step_cap: int, goal_timeout: float,
                 workdir: Path) -> None:
        self.world, self.proxy, self.model = world, proxy, model
        self.step_cap, self.goal_timeout = step_cap, goal_timeout
        self.workdir = workdir
        self.daemon: Daemon | None = None
        self.artifacts: Path | None = None

    def __enter__(self) -> "AgentdSystem":
        base = self.base = Path(tempfile.mkdtemp(prefix="agentd-rm-", dir="/tmp"))  # short: a socket path
        w = self.world
        config = (f'[daemon]\nclient_idle_timeout_s = 7200\n\n[tools]\nprivate_hosts_allowed = ["127.0.0.1"]\nduckduckgo_url = "{w.search_url}"\n'
                  f"delivery_backoff_s = 0.2\n\n[provider]\ntimeout_s = 600\n\n"
                  f'[smtp]\nhost = "127.0.0.1"\nport = {w.smtp_port}\nsecurity = "none"\nsender = "agentd@example.com"\n')
        self.daemon = Daemon(base, self.proxy.base_url, config=config, args=["--no-provider-check"],
                             env={"OPENAI_MODEL": self.model, "OPENAI_API_KEY": "sk-bench-dummy"})
        self.daemon.start()
        self.artifacts = Path(self.daemon.env["XDG_DATA_HOME"]) / "agentd" / "artifacts"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            (self.workdir / "agentd.log").write_text(self.daemon.log())
            if self.artifacts is not None and self.artifacts.exists():
                shutil.copytree(self.artifacts, self.workdir / "artifacts", dirs_exist_ok=True)
            shutil.rmtree(self.base, ignore_errors=True)

    def run(self, goal: Goal) -> tuple[Result, Path]:
        d = self.daemon
        assert d is not None and self.artifacts is not None
        params: dict[str, Any] = {"step_budget": self.step_cap, "allowed_tools": goal.tools,
                                  "time_limit_s": self.goal_timeout}
        if goal.outputs:
            params["expect"] = goal.outputs  # what a user of agentd declares: the files the goal must leave
        if goal.sends:
            params["expect_sent"] = goal.sends  # and the deliveries it must make
        if goal.email:
            params["email_to"] = [ME]
        if goal.webhook:
            params["allowed_domains"] = ["127.0.0.1"]
        # One connection per call: the daemon closes a connection idle for client_idle_timeout_s.
        g = d.call("goal.create", {"objective": goal.text(self.world), "name": goal.id, "params": params})
        sandbox = self.artifacts / g["id"]
        for rel, text in goal.files.items():
            (sandbox / rel).parent.mkdir(parents=True, exist_ok=True)
            (sandbox / rel).write_text(text)
        watch = Rpc(d.socket, timeout=60)
        try:
            watch.call("run.watch", {"goal_id": g["id"]})
            cpu0, t0 = d.cpu(), time.monotonic()
            run = d.call("goal.run", {"id": g["id"]})
            # The run's own time limit ends it at goal_timeout, but its closing summary call is one
            # more model call: past a grace period it is cancelled, as a framework is killed.
            deadline, cancelled = t0 + self.goal_timeout + CANCEL_GRACE_S, False
            while True:
                watch.sock.settimeout(max(1.0, deadline - time.monotonic()) if not cancelled else 120)
                try:
                    note = watch.next_note()
                except TimeoutError:
                    if cancelled:
                        raise
                    d.call("run.cancel", {"id": run["id"], "reason": "benchmark goal timeout"})
                    cancelled = True
                    continue
                p = note.get("params") or {}
                if (p.get("event") or {}).get("type") == "run_finished" and p.get("run_id") == run["id"]:
                    break
            wall = time.monotonic() - t0
            cpu = d.cpu() - cpu0
        finally:
            watch.close()
        run = d.call("run.get", {"id": run["id"]})
        steps = d.call("run.steps", {"id": run["id"]})["steps"]
        tool_steps = [s for s in steps if s.get("tool_name") and s["tool_name"] != "finish"]
        return Result(status=run["status"], error=run.get("error"), answer=(run.get("summary") or "")[:2000],
                      tool_calls=len(tool_steps), tool_errors=sum(1 for s in tool_steps if s.get("error")),
                      tools_used=[s["tool_name"] for s in tool_steps], wall_s=wall, own_cpu_s=cpu,
                      own_share=cpu / wall if wall > 0 else 0.0, run_id=run["id"],
                      run_tokens={"prompt": run["usage"].get("prompt_tokens"),
                                  "completion": run["usage"].get("completion_tokens")}), sandbox


def frameworks_python() -> Path:
    """The frameworks' venv python, made from requirements-frameworks.txt on
    first use and cached under $XDG_CACHE_HOME/agentd-realmodel (one venv per
    requirements content)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    venv = cache_dir() / f"frameworks-{digest}"
    py = venv / "bin" / "python"
    stamp = venv / ".installed"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(REQUIREMENTS.read_text())
    return py


class FrameworkSystem:
    """One framework: each goal in a fresh process of the frameworks' venv."""

    def __init__(self, name: str, world: World, proxy: MeterProxy, model: str, *, step_cap: int,
                 max_tokens: int, goal_timeout: float, workdir: Path, python: Path) -> None:
        self.name, self.world, self.proxy, self.model = name, world, proxy, model
        self.step_cap, self.max_tokens, self.goal_timeout = step_cap, max_tokens, goal_timeout
        self.workdir, self.python = workdir, python

    def __enter__(self) -> "FrameworkSystem":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def run(self, goal: Goal) -> tuple[Result, Path]:
        sandbox = self.workdir / "sandbox" / goal.id
        sandbox.mkdir(parents=True, exist_ok=True)
        for rel, text in goal.files.items():
            (sandbox / rel).parent.mkdir(parents=True, exist_ok=True)
            (sandbox / rel).write_text(text)
        spec = {"framework": self.name, "objective": goal.text(self.world), "tools": tool_specs(goal.tools),
                "sandbox": str(sandbox), "search_url": self.world.search_url,
                "smtp": ["127.0.0.1", self.world.smtp_port, "bench@example.com"], "base_url": self.proxy.base_url,
                "model": self.model, "max_steps": self.step_cap, "max_tokens": self.max_tokens}
        spec_path = self.workdir / f"{goal.id}.spec.json"
        spec_path.write_text(json.dumps(spec, indent=1))
        log_path = self.workdir / f"{goal.id}.log"
        t0 = time.monotonic()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
        env.update(OPENAI_API_KEY="sk-bench-dummy", PYTHONUNBUFFERED="1", ANONYMIZED_TELEMETRY="false",
                   LANGCHAIN_TRACING_V2="false", OTEL_SDK_DISABLED="true")
        with open(log_path, "w") as log:
            proc = subprocess.Popen([str(self.python), str(HERE / "frameworks.py"), str(spec_path)],
                                    stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=str(sandbox))
            try:
                out, _ = proc.communicate(timeout=self.goal_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate(timeout=30)
                out += "\nRESULT " + json.dumps({"status": "timeout", "answer": "", "tool_calls": [],
                                                  "error": f"no answer within {self.goal_timeout:.0f} s"})
        wall = time.monotonic() - t0
        with open(log_path, "a") as log:
            log.write(out)
        lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        if not lines:
            data = {"status": "failed", "answer": "", "tool_calls": [],
                    "error": f"the framework process exited with {proc.returncode} without a result; see {log_path}"}
        else:
            data = json.loads(lines[-1][len("RESULT "):])
        calls = data.get("tool_calls") or []
        return Result(status=data["status"], error=data.get("error"), answer=data.get("answer", ""),
                      tool_calls=len(calls), tool_errors=sum(1 for c in calls if not c.get("ok")),
                      tools_used=[c["tool"] for c in calls], wall_s=data.get("run_s", wall), process_s=wall), sandbox
