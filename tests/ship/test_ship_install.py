"""`agentctl server install|uninstall|start|stop|status|metrics` and the one
version string."""

from __future__ import annotations

import json
import os
import sys

import agentd
from daemon_harness import base_env
from ship_helpers import BIN, ctl

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> "{log}"
case "$*" in
  *is-system-running*) echo "{state}" ;;
  *is-active*) echo active ;;
esac
exit 0
"""


def _fake(tmp_path, state="running"):
    log = tmp_path / "systemctl.log"
    script = tmp_path / "systemctl"
    script.write_text(FAKE_SYSTEMCTL.format(log=log, state=state))
    script.chmod(0o755)
    return script, log


def test_install_into_unit_dir_and_uninstall(tmp_path):
    env = base_env(tmp_path, None)
    d = tmp_path / "units"
    r = ctl(env, "--json", "server", "install", "--socket-activation", "--unit-dir", str(d))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["systemctl"] is False and sorted(os.listdir(d)) == ["agentd.service", "agentd.socket"]
    service = (d / "agentd.service").read_text()
    exec_line = next(l for l in service.splitlines() if l.startswith("ExecStart="))
    assert exec_line == f"ExecStart={BIN / 'agentd'}"  # this venv's console script, not resolved
    assert "Type=notify" in service and f"agentd {agentd.__version__}" in service
    r = ctl(env, "server", "install", "--unit-dir", str(d))
    assert r.returncode == 0 and "systemctl was not run" in r.stderr
    assert os.listdir(d) == ["agentd.service"]  # no --socket-activation: the socket unit goes
    r = ctl(env, "server", "uninstall", "--unit-dir", str(d))
    assert r.returncode == 0 and os.listdir(d) == []


def test_install_with_a_user_manager_runs_systemctl(tmp_path):
    fake, log = _fake(tmp_path)
    env = base_env(tmp_path, None, AGENTCTL_SYSTEMCTL=str(fake))
    r = ctl(env, "server", "install", "--socket-activation", "--now")
    assert r.returncode == 0, r.stderr
    unit_dir = os.path.join(env["XDG_CONFIG_HOME"], "systemd", "user")
    assert sorted(os.listdir(unit_dir)) == ["agentd.service", "agentd.socket"]
    calls = log.read_text().splitlines()
    assert "--user daemon-reload" in calls
    assert "--user enable agentd.socket agentd.service" in calls
    assert "--user start agentd.socket" in calls
    assert "enable-linger" in r.stderr
    # start/stop/status now go through systemctl
    log.write_text("")
    r = ctl(env, "server", "stop")
    assert r.returncode == 0, r.stderr
    assert "--user stop agentd.service" in log.read_text().splitlines()
    r = ctl(env, "server", "status")
    assert r.returncode == 3 and "agentd.service is active" in r.stderr
    log.write_text("")
    r = ctl(env, "server", "uninstall")
    assert r.returncode == 0, r.stderr
    calls = log.read_text().splitlines()
    assert "--user disable --now agentd.socket agentd.service" in calls and "--user daemon-reload" in calls
    assert os.listdir(unit_dir) == []


def test_install_without_a_user_manager_only_writes(tmp_path):
    fake, log = _fake(tmp_path, state="offline")
    env = base_env(tmp_path, None, AGENTCTL_SYSTEMCTL=str(fake))
    r = ctl(env, "server", "install")
    assert r.returncode == 0, r.stderr
    assert "no systemd user manager is running" in r.stderr
    assert log.read_text().splitlines() == ["--user is-system-running"]


def test_versions_agree_and_metrics(daemon):
    v = agentd.__version__
    assert ctl(daemon.env, "--version").stdout.strip() == f"agentctl {v}"
    import subprocess

    out = subprocess.run([sys.executable, "-m", "agentd", "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == f"agentd {v}"
    assert daemon.call("daemon.status")["version"] == v
    r = ctl(daemon.env, "server", "metrics")
    assert r.returncode == 0 and "agentd_" in r.stdout, r.stderr
    r = ctl(daemon.env, "server", "metrics", "--format", "json")
    assert r.returncode == 0 and "counters" in json.loads(r.stdout)
