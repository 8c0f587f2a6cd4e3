"""The concurrent baseline, in its own process so that its CPU and peak RSS are
its own: N raw httpx+json conversations of K tool calls at once, under trio,
one shared httpx.AsyncClient with a pool as large as N (what the issue's
"raw httpx+json loop" measured), or with ``--per-conversation`` one client
each (no shared pool: httpcore's pool rescans every connection for every
request, which is quadratic with 200 of them). Prints one JSON line: wall_s, cpu_s, maxrss_kb, steps.

``python -m bench.handloop_concurrent --url http://127.0.0.1:PORT/v1 --n 200 --k 10``
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import httpx
import trio

from .handloop import aconversation, tools_payload


async def amain(url: str, n: int, k: int, per_conversation: bool = False) -> dict:
    tools = tools_payload()
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    steps: list[int] = []
    import ssl

    ssl_ctx = ssl.create_default_context()  # shared: building one per client costs ~1 MB and ~10 ms
    async with httpx.AsyncClient(headers={"Authorization": "Bearer sk-bench"}, timeout=120, limits=limits) as client:
        t0 = time.perf_counter()
        c0 = time.process_time()

        async def one() -> None:
            if per_conversation:  # a client (and pool) of its own: no shared pool to scan
                async with httpx.AsyncClient(headers={"Authorization": "Bearer sk-bench"}, timeout=120,
                                             verify=ssl_ctx) as own:
                    steps.append(await aconversation(own, url + "/chat/completions", k, tools))
            else:
                steps.append(await aconversation(client, url + "/chat/completions", k, tools))

        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(one)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
    return {"wall_s": wall, "cpu_s": cpu, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "steps": sum(steps), "conversations": len(steps)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--per-conversation", action="store_true", help="one httpx client per conversation")
    a = p.parse_args()
    print(json.dumps(trio.run(amain, a.url, a.n, a.k, a.per_conversation)))


if __name__ == "__main__":
    main()
