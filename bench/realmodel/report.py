"""Markdown tables of a realmodel run, for bench/README.md.

    python -m bench.realmodel.report results.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def markdown(record: dict[str, Any]) -> str:
    summary, results = record["summary"], record["results"]
    systems = list(summary)
    goals = list(dict.fromkeys(r["goal"] for r in results))
    out = [f"Run of {record['date']} on {record['machine']}, agentd {record['revision']}; model "
           f"{record['model']} (sha256 `{record['sha256']}`); {record['step_cap']} model calls + final answer, "
           f"{record['max_tokens']} tokens per answer, {record['goal_timeout_s']:.0f} s per goal, "
           f"{record['parallel']} goal runs at a time; "
           + (f"whole run {record['total_s'] / 60:.0f} min." if record.get("complete", True) else
              f"INCOMPLETE: the record as of {record['total_s'] / 60:.0f} min into the run."), "",
           "| system | success | false completions | model calls (median) | tool calls (median) | prompt tokens "
           "| completion tokens | prompt tokens per success | wall per goal, median (min-max) | own CPU / wall |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for s in systems:
        r = summary[s]
        pps = f"{r['prompt_tokens_per_success']:,.0f}" if r.get("prompt_tokens_per_success") else "n/a"
        share = f"{100 * r['own_share']:.2f} %" if r.get("own_share") is not None else ""
        out.append(f"| {s} | {r['success']}/{r['goals']} | {r['false_completions']} | {r['model_calls_median']:g} "
                   f"| {r['tool_calls_median']:g} | {r['prompt_tokens']:,} | {r['completion_tokens']:,} | {pps} "
                   f"| {r['wall_s_median']:.0f} s ({r['wall_s_min']:.0f}-{r['wall_s_max']:.0f}) | {share} |")
    out += ["", "| goal | " + " | ".join(systems) + " |", "|---|" + "---|" * len(systems)]
    for g in goals:
        cells = []
        for s in systems:
            r = next((x for x in results if x["system"] == s and x["goal"] == g), None)
            cells.append("" if r is None else "ok" if r["success"] else "FALSE" if r["false_completion"]
                         else f"- ({r['status']})")
        out.append(f"| {g} | " + " | ".join(cells) + " |")
    if record.get("skipped"):
        out += ["", "Skipped (after --max-minutes): " + ", ".join(f"{x['system']}:{x['goal']}" for x in record["skipped"])]
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
