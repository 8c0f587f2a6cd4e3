"""A run's wall-clock limit, and changing the log level while the daemon runs."""

from __future__ import annotations

import pytest

from agentd.testing.fakellm import stall, text, tool_call
from daemon_harness import RpcError, write_config


def test_a_run_over_its_time_limit_fails_after_a_last_summary_attempt(make_daemon, fake_llm):
    d = make_daemon()
    g = d.call("goal.create", {"objective": "slow", "params": {"time_limit_s": 1.5}})
    fake_llm.add(tool_call("recall", {"query": "anything"}),
                 stall(8),  # the model takes far longer than the run may
                 text("What I managed before the time ran out."))
    run = d.call("goal.run", {"id": g["id"]})
    done = d.wait_run(run["id"], timeout=30)
    assert done["status"] == "failed"
    assert "reached its time limit of 1.5 s" in done["error"], done["error"]
    assert done["summary"] == "What I managed before the time ran out."
    last = fake_llm.requests[-1]
    assert not last.get("tools"), "the summary call must be made without tools"
    outputs = {o["kind"] for o in done["outputs"]}
    assert "summary" in outputs


def test_log_level_changes_at_run_time(make_daemon):
    d = make_daemon()
    with pytest.raises(RpcError):
        d.call("goal.get", {"id": "abc"})
    assert "request failed" not in d.log()  # a debug line; the daemon runs at info
    d.call("daemon.reload", {"log_level": "debug"})
    assert d.call("daemon.status")["log_level"] == "debug"
    with pytest.raises(RpcError):
        d.call("goal.get", {"id": "abc"})
    assert "request failed" in d.log()
    # without a level, reload re-reads the config file ("warn" is the old name of "warning")
    write_config(d.env, '[daemon]\nlog_level = "warn"\n')
    p = d.ctl("server", "reload")
    assert p.returncode == 0, p.stderr
    assert d.call("daemon.status")["log_level"] == "warning"
    with pytest.raises(RpcError) as err:
        d.call("daemon.reload", {"log_level": "loud"})
    assert err.value.code == -32004 and "trace, debug, info, warning or error" in err.value.message
