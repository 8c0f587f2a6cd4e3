"""The real daemon with a ``* * * * *`` schedule: the run happens at the next
minute boundary. The only scheduler test that waits for real time (<= ~75 s)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from agentd.testing.fakellm import finish_call


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_sched_service_real_daemon_fires_at_the_minute_boundary(make_daemon, fake_llm):
    fake_llm.add(finish_call("scheduled run done"))
    d = make_daemon()
    goal = d.call("goal.create", {"objective": "say hello every minute", "schedules": [{"cron": "* * * * *"}]})
    created = time.time()
    boundary_ms = (int(created) // 60 + 1) * 60_000
    with d.client(timeout=80) as c:
        c.call("run.watch", {"goal_id": goal["id"]})
        deadline = time.monotonic() + 75
        finished = None
        while finished is None:
            c.sock.settimeout(max(0.1, deadline - time.monotonic()))
            msg = c.read_message()
            if msg.get("method") == "run.event" and msg["params"]["event"]["type"] == "run_finished":
                finished = msg["params"]
    run = d.call("run.get", {"id": finished["run_id"]})
    assert run["status"] == "completed" and run["trigger"] == "schedule"
    assert _ms(run["scheduled_for"]) == boundary_ms
    late = _ms(run["started_at"]) - boundary_ms
    assert 0 <= late < 1000, late  # started at the boundary, not a poll interval later
    ticks = d.call("goal.get", {"id": goal["id"]})["recent_ticks"]
    assert [(t["decision"], t["run_id"]) for t in ticks] == [("fired", run["id"])]
    assert _ms(ticks[0]["due_at"]) == boundary_ms
