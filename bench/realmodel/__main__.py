"""realmodel: agentd and the agent frameworks people would pick instead, on the
same real model server, the same goals and the same fixtures, judged by the
world.

    python -m bench.realmodel                        # the full run: own server, 6 systems x 10 goals
    python -m bench.realmodel --systems agentd,langgraph --goals headlines,sum_numbers
    python -m bench.realmodel --base-url http://127.0.0.1:8766/v1   # an already running server
    python -m bench.realmodel --smoke                # agentd on the scripted fake LLM (no weights)

Each system gets its own world (web pages, feeds, search, a webhook receiver,
an SMTP server on 127.0.0.1) and its own counting proxy to the model server
(bench/realmodel/proxy.py), so model calls and tokens are counted alike for
all and the same caps apply to all. ``--parallel`` systems run at once (the
model server has that many slots); the goals of one system run one after
another. Results: a table per goal and a summary per system on stdout, the
whole record with ``--json FILE``, transcripts and logs under ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import signal
import statistics
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from .._common import emit_json, header, machine, revision
from .goals import GOALS, GOALS_BY_ID, judge, make_world
from .proxy import MeterProxy
from .server import DEFAULT_MODEL, MODELS, ModelServer, ServerError, cache_dir, models_ready
from .systems import ALL_SYSTEMS, FRAMEWORKS, AgentdSystem, FrameworkSystem, Result, frameworks_python

_print_lock = threading.Lock()


def say(msg: str) -> None:
    with _print_lock:
        print(msg, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.realmodel", description=__doc__.split("\n\n")[0])
    p.add_argument("--systems", default=",".join(ALL_SYSTEMS), help=f"comma-separated subset of {','.join(ALL_SYSTEMS)}")
    p.add_argument("--goals", default="all", help=f"comma-separated subset of {','.join(GOALS_BY_ID)}")
    p.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS))
    p.add_argument("--port", type=int, default=8767, help="port of the model server this run starts (default 8767)")
    p.add_argument("--base-url", help="use this running OpenAI-compatible server instead of starting one")
    p.add_argument("--step-cap", type=int, default=8, help="model calls per goal for every system (default 8)")
    p.add_argument("--max-tokens", type=int, default=512, help="answer cap per model call (default 512)")
    p.add_argument("--goal-timeout", type=float, default=300.0, help="seconds per goal run (default 300)")
    p.add_argument("--parallel", type=int, default=2, help="systems running at once (default 2, the server's slots)")
    p.add_argument("--max-minutes", type=float, default=55.0,
                   help="start no goal after this many minutes; the rest are reported as skipped (default 55, so that a run ends within ~60 min)")
    p.add_argument("--json", metavar="FILE", help="write the whole record as JSON here")
    p.add_argument("--out", metavar="DIR", help="transcripts and logs (default: a new dir under the cache)")
    p.add_argument("--smoke", action="store_true", help="agentd on the scripted fake LLM, 3 goals: checks the harness")
    a = p.parse_args(argv)
    systems_chosen = a.systems != ",".join(ALL_SYSTEMS)
    a.systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    bad = [s for s in a.systems if s not in ALL_SYSTEMS]
    if bad:
        p.error(f"unknown system(s) {bad}; choose from {ALL_SYSTEMS}")
    chosen = a.goals != "all"
    a.goals = list(GOALS_BY_ID) if not chosen else [g.strip() for g in a.goals.split(",") if g.strip()]
    bad = [g for g in a.goals if g not in GOALS_BY_ID]
    if bad:
        p.error(f"unknown goal(s) {bad}; choose from {list(GOALS_BY_ID)}")
    if a.smoke:
        from .smoke import SMOKE_GOALS

        a.systems = a.systems if systems_chosen else ["agentd"]
        a.goals = [g for g in a.goals if g in SMOKE_GOALS] if chosen else list(SMOKE_GOALS)
    return a


# ---------------------------------------------------------------- systems and the schedule


class Lane:
    """One system under test with its world and its counting proxy."""

    def __init__(self, name: str, a: argparse.Namespace, upstream: str, out: Path, fw_python: Path | None,
                 stack: contextlib.ExitStack) -> None:
        self.name, self.a = name, a
        workdir = out / name
        workdir.mkdir(parents=True, exist_ok=True)
        self.world = stack.enter_context(make_world())
        # Hard ceiling: the system's own cap plus its final answer call and a little slack.
        self.proxy = stack.enter_context(MeterProxy(upstream, max_tokens=a.max_tokens, hard_cap=a.step_cap + 4,
                                                    transcript=workdir / "transcript.jsonl"))
        if name == "agentd":
            system: Any = AgentdSystem(self.world, self.proxy, a.model, step_cap=a.step_cap,
                                       goal_timeout=a.goal_timeout, workdir=workdir)
        else:
            assert fw_python is not None
            system = FrameworkSystem(name, self.world, self.proxy, a.model, step_cap=a.step_cap,
                                     max_tokens=a.max_tokens, goal_timeout=a.goal_timeout, workdir=workdir,
                                     python=fw_python)
        self.system = stack.enter_context(system)

    def run(self, gid: str, scripter: Any) -> Result:
        """Goal ``gid`` through this system, judged by its world."""
        goal = GOALS_BY_ID[gid]
        if scripter is not None:
            self.proxy.set_upstream(scripter(self.name, goal, self.world))
        meter = self.proxy.begin(gid)
        mark = self.world.mark()
        try:
            res, sandbox = self.system.run(goal)
            problems = judge(goal, self.world, mark, sandbox)
        except Exception as exc:  # noqa: BLE001 - the harness failed on this goal: record it, go on
            res = Result(status="harness-error", error=f"{type(exc).__name__}: {exc}", wall_s=0.0,
                         tool_calls=0, tool_errors=0, tools_used=[], answer="")
            problems = [f"the harness failed: {type(exc).__name__}: {exc}"]
            say(f"   {self.name} {gid}: the harness failed:\n{traceback.format_exc()}")
        res.update(system=self.name, goal=gid, problems=problems,
                   success=not problems and res["status"] == "completed",
                   false_completion=bool(problems) and res["status"] == "completed",
                   model_calls=meter.calls, prompt_tokens=meter.prompt_tokens,
                   completion_tokens=meter.completion_tokens, native_tool_calls=meter.native_tool_calls,
                   finish_reasons=meter.finish_reasons, refused_calls=meter.refused, model_errors=meter.errors)
        mark_s = "ok  " if res["success"] else ("FALSE" if res["false_completion"] else "no  ")
        say(f"   {self.name:<24} {gid:<16} {mark_s} {res['status']:<10} calls {meter.calls:>2} tools "
            f"{res['tool_calls']:>2} tok {meter.prompt_tokens:>6}/{meter.completion_tokens:<5} "
            f"{res['wall_s']:6.1f} s  {'; '.join(problems)[:110]}")
        return res


def schedule(a: argparse.Namespace, lanes: dict[str, Lane], scripter: Any,
             on_result: Any = None) -> tuple[list[Result], list[tuple[str, str]]]:
    """Run every (goal, system) pair, ``a.parallel`` at a time, goal by goal
    (the systems' order rotating per goal), never two goals of one system at
    once. Load that comes and goes on the machine then falls on every system
    alike, and a run cut by ``--max-minutes`` leaves the same last goals
    undone for all. Returns the results and the pairs that were skipped."""
    names = list(lanes)
    pending = [(g, names[(i + k) % len(names)]) for i, g in enumerate(a.goals) for k in range(len(names))]
    busy: set[str] = set()
    results: list[Result] = []
    skipped: list[tuple[str, str]] = []
    cond = threading.Condition()
    deadline = time.monotonic() + a.max_minutes * 60

    def worker() -> None:
        while True:
            with cond:
                while True:
                    if time.monotonic() > deadline:
                        skipped.extend(pending)
                        pending.clear()
                    if not pending:
                        return
                    pick = next((p for p in pending if p[1] not in busy), None)
                    if pick is not None:
                        break
                    cond.wait(5)
                pending.remove(pick)
                busy.add(pick[1])
            try:
                res = lanes[pick[1]].run(pick[0], scripter)
            finally:
                with cond:
                    busy.discard(pick[1])
                    cond.notify_all()
            with cond:
                results.append(res)
                if on_result is not None:
                    on_result(list(results))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, a.parallel))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, skipped


# ---------------------------------------------------------------- report


def summarize(results: list[Result], systems: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for s in systems:
        rs = [r for r in results if r["system"] == s]
        if not rs:
            continue
        ok = [r for r in rs if r["success"]]
        prompt = sum(r["prompt_tokens"] for r in rs)
        row: dict[str, Any] = {
            "goals": len(rs), "success": len(ok), "success_rate": len(ok) / len(rs),
            "false_completions": sum(r["false_completion"] for r in rs),
            "model_calls_median": statistics.median(r["model_calls"] for r in rs),
            "tool_calls_median": statistics.median(r["tool_calls"] for r in rs),
            "prompt_tokens": prompt, "completion_tokens": sum(r["completion_tokens"] for r in rs),
            "prompt_tokens_per_success": prompt / len(ok) if ok else None,
            "wall_s_median": statistics.median(r["wall_s"] for r in rs),
            "wall_s_min": min(r["wall_s"] for r in rs), "wall_s_max": max(r["wall_s"] for r in rs),
            "wall_s_total": sum(r["wall_s"] for r in rs),
        }
        if s == "agentd":
            wall = sum(r["wall_s"] for r in rs if "own_cpu_s" in r)
            cpu = sum(r["own_cpu_s"] for r in rs if "own_cpu_s" in r)
            row["own_cpu_s"] = cpu
            row["own_share"] = cpu / wall if wall else None
        out[s] = row
    return out


def print_tables(results: list[Result], summary: dict[str, dict[str, Any]], systems: list[str],
                 goals: list[str]) -> None:
    shown = [s for s in systems if s in summary]
    print("\n   per goal (ok = the world check passed and the system said completed; "
          "FALSE = said completed, check failed; - = not completed, check failed)")
    print("   " + f"{'goal':<16}" + "".join(f"{s[:14]:>15}" for s in shown))
    for g in goals:
        cells = []
        for s in shown:
            r = next((r for r in results if r["system"] == s and r["goal"] == g), None)
            cells.append("" if r is None else "ok" if r["success"] else "FALSE" if r["false_completion"] else "-")
        print("   " + f"{g:<16}" + "".join(f"{c:>15}" for c in cells))
    print("\n   " + f"{'system':<24}{'success':>9}{'false':>7}{'calls':>7}{'tools':>7}{'prompt tok':>12}"
          f"{'compl tok':>11}{'prompt/success':>16}{'wall med (min-max)':>22}{'own CPU':>9}")
    for s in shown:
        r = summary[s]
        pps = f"{r['prompt_tokens_per_success']:.0f}" if r["prompt_tokens_per_success"] else "n/a"
        share = f"{100 * r['own_share']:.2f} %" if r.get("own_share") is not None else ""
        wall = f"{r['wall_s_median']:.0f} s ({r['wall_s_min']:.0f}-{r['wall_s_max']:.0f})"
        print(f"   {s:<24}{r['success']:>4}/{r['goals']:<4}{r['false_completions']:>7}{r['model_calls_median']:>7}"
              f"{r['tool_calls_median']:>7}{r['prompt_tokens']:>12}{r['completion_tokens']:>11}{pps:>16}"
              f"{wall:>22}{share:>9}")
    sys.stdout.flush()


# ---------------------------------------------------------------- main


def save(a: argparse.Namespace, stamp: str, model: Any, server: ModelServer | None, t0: float,
         results: list[Result], skipped: list[tuple[str, str]], *, complete: bool) -> dict[str, Any]:
    """The run's record; written to ``--json`` (after every goal run too, with
    ``complete: false``, so that an interrupted run keeps what it measured)."""
    record = {"date": stamp, "machine": machine(), "revision": revision(), "model": model.name,
              "sha256": model.sha256, "smoke": a.smoke, "step_cap": a.step_cap, "max_tokens": a.max_tokens,
              "goal_timeout_s": a.goal_timeout, "parallel": a.parallel, "server": "own" if server else a.base_url,
              "total_s": time.monotonic() - t0, "complete": complete, "summary": summarize(results, a.systems),
              "results": results, "skipped": [{"goal": g, "system": s} for g, s in skipped]}
    if a.json:
        tmp = Path(a.json + ".tmp")
        tmp.write_text(json.dumps(record, indent=1, default=str))
        tmp.replace(a.json)
    return record


def main(argv: list[str] | None = None) -> dict[str, Any]:
    a = parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        # kill/pkill: unwind like Ctrl-C, so the daemons, fixtures and the model server it started are stopped
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = Path(a.out) if a.out else cache_dir() / "runs" / stamp
    out.mkdir(parents=True, exist_ok=True)
    model = MODELS[a.model]
    header(f"realmodel: {len(a.systems)} system(s) x {len(a.goals)} goal(s), "
           f"{'scripted fake LLM' if a.smoke else model.name}")
    print(f"   model:   {model.name} sha256 {model.sha256} ({model.source})" if not a.smoke else
          "   model:   agentd.testing.fakellm (scripted)")
    print(f"   caps:    {a.step_cap} model calls (+ the final answer), {a.max_tokens} tokens per answer, "
          f"{a.goal_timeout:.0f} s per goal, {a.parallel} system(s) at once; logs in {out}", flush=True)

    server: ModelServer | None = None
    fakes: list = []
    scripter = None
    t0 = time.monotonic()
    try:
        if a.smoke:
            from .smoke import start_fake

            scripter = start_fake(fakes)
            upstream = "http://127.0.0.1:9/v1"  # each goal gets a fake of its own (see smoke.py)
        elif a.base_url:
            if models_ready(a.base_url) is None:
                sys.exit(f"realmodel: nothing answers GET {a.base_url.rstrip('/')}/models")
            upstream = a.base_url
            print(f"   server:  {upstream} (already running; its other clients share its CPU)", flush=True)
        else:
            server = ModelServer(a.model, port=a.port, n_predict=a.max_tokens, parallel=a.parallel,
                                 log_path=out / "server.log")
            t_srv = time.monotonic()
            server.start()
            upstream = server.base_url
            print(f"   server:  {upstream} started in {time.monotonic() - t_srv:.0f} s (pid {server.pid()})", flush=True)
        fw_python = frameworks_python() if any(s in FRAMEWORKS for s in a.systems) else None

        with contextlib.ExitStack() as stack:
            lanes = {s: Lane(s, a, upstream, out, fw_python, stack) for s in a.systems}
            results, skipped = schedule(
                a, lanes, scripter, lambda rs: save(a, stamp, model, server, t0, rs, [], complete=False))
    except ServerError as exc:
        sys.exit(f"realmodel: {exc}")
    finally:
        if server is not None:
            server.stop()
        for fake in fakes:
            fake.close()
    total = time.monotonic() - t0
    record = save(a, stamp, model, server, t0, results, skipped, complete=True)
    summary = record["summary"]
    print_tables(results, summary, a.systems, a.goals)
    if skipped:
        print(f"\n   skipped after --max-minutes {a.max_minutes:g}: {len(skipped)} goal run(s): "
              + ", ".join(f"{s}:{g}" for g, s in skipped))
    print(f"\n   whole run: {total / 60:.1f} min", flush=True)
    if a.json:
        print(f"   JSON: {a.json}")
    emit_json("realmodel", {"summary": summary, "goals": a.goals, "systems": a.systems})
    return record


if __name__ == "__main__":
    main()
