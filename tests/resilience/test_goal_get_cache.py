"""goal.get is cached while nothing is written: every write shows at once."""

from __future__ import annotations

import pytest

from agentd.testing.fakellm import finish_call
from daemon_harness import RpcError


def test_every_kind_of_write_is_seen_by_the_next_goal_get(make_daemon, fake_llm):
    d = make_daemon()
    g = d.call("goal.create", {"objective": "watch the cache", "schedules": [{"cron": "0 9 * * *"}]})
    with d.client() as c:
        first = c.call("goal.get", {"id": g["id"]})
        assert c.call("goal.get", {"id": g["id"]}) == first  # served again, unchanged
        c.call("goal.update", {"id": g["id"], "name": "renamed"})
        assert c.call("goal.get", {"id": g["id"]})["name"] == "renamed"
        c.call("goal.pause", {"id": g["id"]})
        assert c.call("goal.get", {"id": g["id"]})["status"] == "paused"
        c.call("goal.update", {"id": g["id"], "schedules": [{"cron": "30 7 * * 1"}]})
        assert [s["cron"] for s in c.call("goal.get", {"id": g["id"]})["schedules"]] == ["30 7 * * 1"]
        assert c.call("goal.get", {"id": g["id"]})["last_run"] is None
    fake_llm.add(finish_call("done"))
    run = d.call("goal.run", {"id": g["id"]})
    d.wait_run(run["id"])
    got = d.call("goal.get", {"id": g["id"]})
    assert got["last_run"]["id"] == run["id"] and got["last_run"]["status"] == "completed"
    secret = d.call("goal.get", {"id": g["id"], "secrets": True})["webhook_secret"]
    assert secret and d.call("goal.get", {"id": g["id"]})["webhook_secret"] is None  # keyed per request shape
    d.call("goal.delete", {"id": g["id"]})
    with pytest.raises(RpcError, match="no goal"):  # not served from the cache
        d.call("goal.get", {"id": g["id"]})
