"""``python -m bench.clockd [agentd flags]``: agentd exactly as ``agentd``
runs it (agentd.cli.main), with the daemon's clock shifted by
``BENCH_CLOCK_OFFSET_MS`` (an int, may be negative).

The scheduler benchmark uses it to put a minute boundary a few seconds after
start-up instead of waiting up to a minute for one. Every time the scheduler
reads (now, due times, recorded_at) comes from the shifted clock, and its
sleeps are relative (trio), so lateness is measured exactly as with the real
clock.
"""

from __future__ import annotations

import os
import sys
import time


def main() -> int:
    offset = int(os.environ.get("BENCH_CLOCK_OFFSET_MS", "0"))
    import agentd.daemon as daemon

    real_serve = daemon.serve

    async def serve(config, *, clock=None, **kw):  # the CLI's other arguments (task_status, load_config) as given
        shifted = lambda: time.time_ns() // 1_000_000 + offset  # noqa: E731
        return await real_serve(config, clock=shifted, **kw)

    daemon.serve = serve
    from agentd.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
