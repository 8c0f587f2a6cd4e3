"""Smoke test of the benchmark suite (bench/): every benchmark runs with tiny
sizes so that it does not rot. Benchmarks are not timed tests: nothing here
asserts how fast anything is, only that each benchmark ran and produced its
numbers (the BENCH-JSON line every benchmark prints last)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run_bench(name: str, *args: str, timeout: float = 60) -> dict:
    proc = subprocess.run([sys.executable, "-m", f"bench.{name}", "--smoke", *args], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"bench.{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-JSON ")]
    assert lines, f"bench.{name} printed no BENCH-JSON line:\n{proc.stdout[-3000:]}"
    assert "machine:" in proc.stdout and "date:" in proc.stdout
    result = json.loads(lines[-1][len("BENCH-JSON "):])
    assert result["bench"] == name
    return result


def number(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x >= 0


def stat(d) -> bool:
    return isinstance(d, dict) and all(number(d[k]) for k in ("median", "min", "max")) and d["n"] >= 1


def test_per_step():
    r = run_bench("per_step")
    assert number(r["fake"]["rate"]) and r["fake"]["rate"] > 0
    for k in r["ks"]:
        for key in ("wall", "wall_client", "cpu", "hand_wall", "hand_cpu", "ratio_vs_hand"):
            assert stat(r[f"k{k}"][key]), (k, key)
    assert stat(r["flatness"])


def test_concurrent():
    r = run_bench("concurrent", "--hand")
    for key in ("wall", "cpu", "rss_mb", "get_p50", "get_p99", "get_max", "gets"):
        assert stat(r["agentd"][key]), key
    for key in ("wall", "cpu", "rss_mb"):
        assert stat(r["hand_per_conversation"][key]), key
    assert stat(r["wall_vs_ideal"]) and stat(r["wall_ratio_per_conversation"])


def test_rpc():
    r = run_bench("rpc")
    for phase in ("idle", "busy"):
        for key in ("rate", "p50_ms", "p99_ms"):
            assert stat(r[phase][key]), (phase, key)


def test_cli():
    r = run_bench("cli")
    for key in ("python -c pass", "agentctl --version", "agentctl goal list --json",
                "agentctl --version ratio", "agentctl goal list --json ratio"):
        assert stat(r[key]), key


def test_scheduler():
    r = run_bench("scheduler")
    assert r["lateness_ms"]["fired"] == r["schedules"]
    for key in ("p50", "p99", "max"):
        assert number(r["lateness_ms"][key])
    assert number(r["idle_cpu_s"]) and number(r["idle_cpu_pct"])


def test_extract():
    r = run_bench("extract")
    (size,) = [v for k, v in r.items() if k != "bench"]
    assert stat(size["ms"]) and size["markdown_chars"] > 1000 and number(size["markdownify_ms"])


def test_startup():
    r = run_bench("startup")
    assert stat(r["empty_ms"]) and stat(r["big_ms"]) and stat(r["ratio"])


def test_run_all_summary():
    from bench.run_all import summary

    def row(results: dict, measure: str) -> tuple[str, str, str]:
        (found,) = [r[1:] for r in summary(results) if r[0] == measure]
        return found

    k50 = "per-step wall, K=50"
    assert row({"per_step": None}, k50) == ("n/a", "<= 2 ms", "-")  # a benchmark that failed to run
    assert row({"per_step": {"k50": {"wall": {"median": 1.5}}}}, k50) == ("1.50 ms", "<= 2 ms", "met")
    assert row({"per_step": {"k50": {"wall": {"median": 4.0}}}}, k50) == ("4.00 ms", "<= 2 ms", "MISSED")
    conc = {"n": 20, "k": 10, "latency": 1.0, "agentd": {"get_p99": {"median": 6.0}}}
    assert row({"concurrent": conc}, "goal.get p99 while the 20 runs are active") == ("6.00 ms", "<= 5 ms", "MISSED")
    assert all(len(r) == 4 for r in summary({}))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
