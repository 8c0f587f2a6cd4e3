"""``python -m bench.run_all [--smoke] [--only a,b] [--profile DIR]`` (``make bench``):
every benchmark, one after another, each in its own process (so one's
threads, caches and garbage do not weigh on the next), then a summary table
of the figures against their targets (the budgets in bench/README.md)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from ._common import ROOT, header

ORDER = ["per_step", "concurrent", "rpc", "cli", "scheduler", "extract", "startup"]
PROFILED = {"per_step", "concurrent", "rpc", "scheduler", "startup"}  # those that take --profile (a daemon's)


def run(name: str, extra: list[str]) -> dict | None:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", f"bench.{name}", *extra], cwd=str(ROOT), stdout=subprocess.PIPE,
                            text=True)
    result = None
    assert proc.stdout is not None
    for ln in proc.stdout:
        if ln.startswith("BENCH-JSON "):
            result = json.loads(ln[len("BENCH-JSON "):])
        else:
            print(ln, end="", flush=True)
    rc = proc.wait()
    print(f"   ({name}: {time.perf_counter() - t0:.0f} s, exit {rc})\n", flush=True)
    return result if rc == 0 else None


def _m(d: dict, *path: str) -> float | None:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d if isinstance(d, (int, float)) else None


def summary(results: dict[str, dict | None]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []

    def add(measure: str, value: float | None, fmt: str, target: str, ok: bool | None) -> None:
        v = "n/a" if value is None else fmt.format(value)
        rows.append((measure, v, target, "-" if ok is None or value is None else ("met" if ok else "MISSED")))

    ps = results.get("per_step") or {}
    k50 = _m(ps, "k50", "wall", "median")
    add("per-step wall, K=50", k50, "{:.2f} ms", "<= 2 ms", None if k50 is None else k50 <= 2)
    add("per-step wall, K=10", _m(ps, "k10", "wall", "median"), "{:.2f} ms", "-", None)
    add("per-step daemon CPU, K=50", _m(ps, "k50", "cpu", "median"), "{:.2f} ms", "-", None)
    add("raw hand loop per-step wall, K=50", _m(ps, "k50", "hand_wall", "median"), "{:.2f} ms", "-", None)
    fl = _m(ps, "flatness", "median")
    add("K=50 / K=10 per-step wall", fl, "{:.2f}x", "<= 1.2x", None if fl is None else fl <= 1.2)
    c = results.get("concurrent") or {}
    n, k, lat = c.get("n", "N"), c.get("k", "K"), c.get("latency")
    size = f"{n}x{k} @{lat:g} s" if isinstance(lat, (int, float)) else f"{n}x{k}"
    add(f"{size}: agentd wall", _m(c, "agentd", "wall", "median"), "{:.2f} s", "-", None)
    wi = _m(c, "wall_vs_ideal", "median")
    add(f"{size}: wall / ideal", wi, "{:.3f}x", "<= 1.05x", None if wi is None else wi <= 1.05)
    rss = _m(c, "agentd", "rss_mb", "median")
    add(f"{size}: daemon peak RSS", rss, "{:.1f} MB", "<= 60 MB", None if rss is None else rss <= 60)
    gp99 = _m(c, "agentd", "get_p99", "median")
    add(f"goal.get p99 while the {n} runs are active", gp99, "{:.2f} ms", "<= 5 ms",
        None if gp99 is None else gp99 <= 5)
    r = results.get("rpc") or {}
    add("goal.get round trips/s (idle)", _m(r, "idle", "rate", "median"), "{:,.0f}/s", "-", None)
    add(f"goal.get round trips/s ({r.get('active', 'N')} runs active)", _m(r, "busy", "rate", "median"),
        "{:,.0f}/s", "-", None)
    p99 = _m(r, "busy", "p99_ms", "median")
    add(f"goal.get back to back, p99 ({r.get('active', 'N')} runs active)", p99, "{:.2f} ms", "<= 5 ms",
        None if p99 is None else p99 <= 5)
    cl = results.get("cli") or {}
    for cmd in ("agentctl goal list --json", "agentctl --version"):
        v = _m(cl, f"{cmd} ratio", "median")
        add(f"{cmd} / python -c pass", v, "{:.2f}x", "<= 3x", None if v is None else v <= 3)
    s = results.get("scheduler") or {}
    lp99 = _m(s, "lateness_ms", "p99")
    add("10,000 schedules: fire lateness p99", lp99, "{:.0f} ms", "<= 1 s", None if lp99 is None else lp99 <= 1000)
    add("10,000 schedules: idle CPU", _m(s, "idle_cpu_pct"), "{:.2f}% of a core", "near zero",
        None if _m(s, "idle_cpu_pct") is None else _m(s, "idle_cpu_pct") <= 1.0)
    e = results.get("extract") or {}
    mb = _m(e, "1000000", "ms", "median")
    add("1 MB page -> markdown", mb, "{:.1f} ms", "<= 50 ms", None if mb is None else mb <= 50)
    add("100 KB page -> markdown", _m(e, "100000", "ms", "median"), "{:.1f} ms", "-", None)
    st = results.get("startup") or {}
    big = _m(st, "big_ms", "median")
    add("start-up, 100k runs / 1M steps", big, "{:.0f} ms", "<= 1 s", None if big is None else big <= 1000)
    add("start-up, empty store", _m(st, "empty_ms", "median"), "{:.0f} ms", "-", None)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--only", help="comma-separated subset of: " + ", ".join(ORDER))
    p.add_argument("--profile", metavar="DIR")
    p.add_argument("--json", metavar="FILE", help="also write every result here")
    a = p.parse_args()
    names = a.only.split(",") if a.only else ORDER
    smoke = ["--smoke"] if a.smoke else []
    header("agentd benchmarks" + (" (smoke sizes)" if a.smoke else ""))
    print()
    results = {n: run(n, smoke + (["--profile", a.profile] if a.profile and n in PROFILED else [])) for n in names}
    print("== summary (medians; ratios taken side by side in the same run)")
    rows = summary(results)
    width = max(len(r[0]) for r in rows)
    for measure, value, target, verdict in rows:
        print(f"   {measure:<{width}}  {value:>18}  {target:>14}  {verdict}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    failed = [n for n, r in results.items() if r is None]
    if failed:
        print(f"   failed to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
