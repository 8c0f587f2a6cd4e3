"""``python tests/notify/clockd.py [agentd flags]``: agentd exactly as
``agentd`` runs it (agentd.cli.main), on a wall clock a test can move.

The daemon's clock is the real time plus an offset in milliseconds read from
the file named by ``AGENTD_TEST_CLOCK_FILE`` (missing or empty: 0), so a
test moves the scheduler's clock by writing the file. The scheduler re-checks
the wall clock every 0.2 s instead of every minute (its ``max_sleep_s``), so a
move is noticed at once, as a clock jump or a resume from suspend would be
within a minute. Like bench/clockd.py, it replaces nothing else.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def main() -> int:
    path = Path(os.environ["AGENTD_TEST_CLOCK_FILE"])

    def clock() -> int:
        try:
            offset = int(path.read_text().strip() or 0)
        except FileNotFoundError:
            offset = 0
        return time.time_ns() // 1_000_000 + offset

    import agentd.app as app_mod
    import agentd.daemon as daemon
    import agentd.scheduler as scheduler

    real_serve = daemon.serve

    async def serve(config, **kw):  # the CLI's other arguments (load_config) as given
        return await real_serve(config, **{**kw, "clock": clock})

    class QuickScheduler(scheduler.Scheduler):
        def __init__(self, *parts, stopping, max_sleep_s: float = 60.0) -> None:
            super().__init__(*parts, stopping=stopping, max_sleep_s=0.2)

    daemon.serve = serve
    app_mod.Scheduler = QuickScheduler
    from agentd.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
