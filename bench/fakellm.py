"""The benchmarks' fake LLM: agentd's test fake (agentd.testing.fakellm) in
Loop mode, run as its own process so that its CPU is counted neither against
the daemon nor against the client loops.

``python -m bench.fakellm --latency 0.1 --tool recall --arguments '{"query":"x"}'``
prints ``PORT <n>`` and serves until its stdin closes.

K per conversation: the system or first user message may carry a ``#k=N`` marker (the
benchmarks put it in the goal's objective), so one fake serves K=10 and K=50
side by side; otherwise ``--k``. Stateless, like Loop mode: a request holding
n tool messages gets tool call n+1 while n < K, then the final answer.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from agentd.testing.fakellm import Call, FakeLLM, Loop, TextTurn, ToolTurn

_K = re.compile(r"#k=(\d+)")


class BenchLLM(FakeLLM):
    def _loop_turn(self, body: dict[str, Any]) -> Any:
        spec = self.loop
        assert spec is not None
        k = spec.k
        done = 0
        for m in body.get("messages") or ():
            role = m.get("role")
            if role == "tool":
                done += 1
            elif role in ("system", "user") and k == spec.k:
                found = _K.search(str(m.get("content") or ""))
                if found:
                    k = int(found.group(1))
        if done < k:
            return ToolTurn((Call(spec.tool, spec.arguments, f"call_{done + 1}"),))
        return TextTurn(spec.final)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--tool", default="recall")
    p.add_argument("--arguments", default='{"query": "bench"}')
    p.add_argument("--k", type=int, default=10)
    a = p.parse_args()
    fake = BenchLLM(loop=Loop(a.k, tool=a.tool, arguments=a.arguments, final="Benchmark done."),
                    latency=a.latency, record=False)
    fake.paths = _Sink()  # the test fake records every path; a benchmark must not grow a list forever
    with fake:
        print(f"PORT {fake.port}", flush=True)
        sys.stdin.read()  # until the parent closes our stdin (or dies)


class _Sink(list):
    def append(self, _item: object) -> None:
        pass


if __name__ == "__main__":
    main()
