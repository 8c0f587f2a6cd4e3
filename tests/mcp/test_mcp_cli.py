"""``agentctl mcp add|list|check|remove`` and ``tool list`` against the real daemon."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path


def test_add_check_list_and_remove_a_server_while_the_daemon_runs(daemon):
    d = daemon
    p = d.ctl("mcp", "add", "clock", "--env", "TZ_TOKEN=abcdefgh12345678", "--", sys.executable, "-m",
              "mcp_server_time", "--local-timezone", "UTC")
    assert p.returncode == 0, p.stderr
    cfg_file = Path(d.env["XDG_CONFIG_HOME"]) / "agentd" / "config.toml"
    assert oct(cfg_file.stat().st_mode & 0o777) == "0o600"
    server = tomllib.loads(cfg_file.read_text())["mcp"]["servers"][0]
    assert server["name"] == "clock" and server["args"][-2:] == ["--local-timezone", "UTC"]
    p = d.ctl("mcp", "check", "clock")
    assert p.returncode == 0 and "clock: ready" in p.stdout and "clock__get_current_time" in p.stdout, p
    p = d.ctl("mcp", "list")
    assert p.returncode == 0 and "clock" in p.stdout and "ready" in p.stdout and "abcdefgh" not in p.stdout, p
    p = d.ctl("tool", "list")
    row = next(line for line in p.stdout.splitlines() if line.startswith("clock__convert_time"))
    assert "opt-in" in row and "read-only" in row, row
    p = d.ctl("mcp", "add", "clock", "--url", "http://127.0.0.1:9/mcp")
    assert p.returncode == 1 and "configured already" in p.stderr
    p = d.ctl("mcp", "add", "bad.name", "--url", "http://127.0.0.1:9/mcp")
    assert p.returncode == 2 and "name 'bad.name'" in p.stderr, p.stderr
    p = d.ctl("mcp", "remove", "clock")
    assert p.returncode == 0, p.stderr
    assert d.call("mcp.list")["servers"] == []
    assert not any(t["name"].startswith("clock__") for t in d.call("tool.list")["tools"])
    p = d.ctl("mcp", "check", "clock")
    assert p.returncode == 1 and "no MCP server named 'clock'" in p.stderr, p


def test_a_goal_may_name_a_configured_servers_tools_but_not_an_unknown_server(daemon):
    p = daemon.ctl("goal", "create", "x", "--tools", "nosuch.*")
    assert p.returncode != 0 and "unknown tool 'nosuch.*'" in p.stderr, p.stderr


def test_config_show_hides_the_values_of_a_servers_env_and_headers(tmp_path):
    import json
    import subprocess

    from daemon_harness import base_env, write_config

    env = base_env(tmp_path, None)
    write_config(env, '[[mcp.servers]]\nname = "n"\ncommand = "x"\nenv = { TOKEN = "tok-visible-if-leaked" }\n'
                      '[[mcp.servers]]\nname = "h"\nurl = "http://127.0.0.1:9/mcp"\n'
                      'headers = { Authorization = "Bearer hdr-visible-if-leaked" }\n')
    r = subprocess.run([sys.executable, "-m", "agentctl", "config", "show", "--json"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "visible-if-leaked" not in r.stdout
    servers = {s["name"]: s for s in json.loads(r.stdout)["values"]["mcp"]["servers"]}
    assert servers["n"]["env"] == {"TOKEN": "***"} and servers["h"]["headers"] == {"Authorization": "***"}
