"""`agentctl run logs ID --daemon-log` finds the daemon's log lines about a run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agentd.testing.fakellm import finish_call


def test_run_logs_daemon_log_reads_the_server_log(make_daemon, fake_llm, tmp_path):
    d = make_daemon(start=False)
    # as `agentctl server start` does: the daemon's log in the state dir
    r = subprocess.run([sys.executable, "-m", "agentctl", "server", "start"], env=d.env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        g = d.call("goal.create", {"objective": "say hi"})
        fake_llm.add(finish_call("hi"))
        run = d.call("goal.run", {"id": g["id"]})
        d.wait_run(run["id"])
        p = d.ctl("run", "logs", run["id"][:6], "--daemon-log")
        assert p.returncode == 0, p.stderr
        assert "run finished" in p.stdout and "status=completed" in p.stdout
        show = d.ctl("run", "show", run["id"])
        assert f"agentctl run logs {run['id']} --daemon-log" in show.stdout
        log_file = Path(d.env["XDG_STATE_HOME"]) / "agentd" / "agentd.log"
        assert run["id"] in log_file.read_text()
    finally:
        subprocess.run([sys.executable, "-m", "agentctl", "server", "stop"], env=d.env, capture_output=True,
                       timeout=60)
