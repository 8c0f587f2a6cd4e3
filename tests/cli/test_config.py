"""init, config set/show/unset/path (no daemon needed), the TOML writer, and
the client's fast path lookup agreeing with agentd.paths."""

from __future__ import annotations

import json
import os
import stat
import tomllib

import pytest
from cli_support import run_ctl

from agentctl import _paths, tomlfile


def cfg_file(xdg) -> str:
    return os.path.join(xdg["XDG_CONFIG_HOME"], "agentd", "config.toml")


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_init_writes_a_private_config_and_refuses_to_overwrite(xdg):
    r = run_ctl("init", "--provider", "openai", "--model", "gpt-4o-mini", "--api-key", "sk-secret")
    assert r.returncode == 0, r.stderr
    path = cfg_file(xdg)
    assert mode(path) == 0o600
    assert tomllib.load(open(path, "rb")) == {"provider": {"name": "openai", "model": "gpt-4o-mini"},
                                              "openai": {"api_key": "sk-secret"}}
    r = run_ctl("init", "--provider", "ollama")
    assert r.returncode == 1 and "--force" in r.stderr
    r = run_ctl("init", "--provider", "ollama", "--model", "llama3.1", "--base-url", "http://127.0.0.1:11434",
                "--force")
    assert r.returncode == 0
    assert tomllib.load(open(path, "rb"))["ollama"] == {"base_url": "http://127.0.0.1:11434"}


def test_init_reads_the_key_from_stdin(xdg):
    r = run_ctl("init", "--provider", "openrouter", "--api-key", "-", input="sk-from-stdin\n")
    assert r.returncode == 0
    assert tomllib.load(open(cfg_file(xdg), "rb"))["openrouter"]["api_key"] == "sk-from-stdin"
    assert "sk-from-stdin" not in r.stderr + r.stdout


def test_init_without_provider_is_a_usage_error(xdg):
    assert run_ctl("init").returncode == 2
    assert not os.path.exists(cfg_file(xdg))


def test_config_set_show_round_trip(xdg):
    path = cfg_file(xdg)
    for key, value in (("provider.name", "openai"), ("openai.api_key", "sk-abc"),
                       ("daemon.max_concurrent_runs", "8"), ("tools.allow_private_networks", "yes"),
                       ("tools.private_hosts_allowed", "lan.local:8080, nas"),
                       ("tools.timeouts", "fetch_page=12.5,web_search=5"), ("runs.time_limit_s", "90")):
        r = run_ctl("config", "set", key, value)
        assert r.returncode == 0, (key, r.stderr)
    assert mode(path) == 0o600
    data = tomllib.load(open(path, "rb"))
    assert data["daemon"] == {"max_concurrent_runs": 8}
    assert data["tools"] == {"allow_private_networks": True, "private_hosts_allowed": ["lan.local:8080", "nas"],
                             "timeouts": {"fetch_page": 12.5, "web_search": 5.0}}
    assert data["runs"] == {"time_limit_s": 90.0}

    r = run_ctl("config", "show", "--json", env={"OPENAI_MODEL": "gpt-4.1"})
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["file"] == path
    assert shown["values"]["openai"]["api_key"] == "***"
    assert shown["values"]["daemon"]["max_concurrent_runs"] == 8
    assert shown["sources"]["daemon.max_concurrent_runs"] == "file"
    assert shown["sources"]["openai.model"] == "env OPENAI_MODEL"
    assert shown["sources"]["daemon.log_level"] == "default"
    r = run_ctl("config", "show", "--secrets", "--json")
    assert json.loads(r.stdout)["values"]["openai"]["api_key"] == "sk-abc"
    r = run_ctl("config", "show")
    assert r.returncode == 0 and "sk-abc" not in r.stdout and "daemon.max_concurrent_runs" in r.stdout

    assert run_ctl("config", "unset", "daemon.max_concurrent_runs").returncode == 0
    assert "daemon" not in tomllib.load(open(path, "rb"))


def test_config_set_keeps_other_keys(xdg):
    path = cfg_file(xdg)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        f.write('[provider]\nname = "ollama"\n\n[smtp]\nhost = "mail.example.org"\nport = 465\n')
    assert run_ctl("config", "set", "smtp.security", "ssl").returncode == 0
    assert tomllib.load(open(path, "rb")) == {"provider": {"name": "ollama"},
                                              "smtp": {"host": "mail.example.org", "port": 465, "security": "ssl"}}


@pytest.mark.parametrize("key,value,needle", [
    ("nope.key", "1", "unknown section"),
    ("daemon.nope", "1", "unknown key"),
    ("daemon", "1", "section.key"),
    ("daemon.max_concurrent_runs", "many", "integer"),
    ("provider.name", "anthropic", "one of"),
    ("tools.allow_private_networks", "maybe", "true or false"),
])
def test_config_set_rejects_unknown_keys_and_bad_values(xdg, key, value, needle):
    r = run_ctl("config", "set", key, value)
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert not os.path.exists(cfg_file(xdg))


def test_config_path(xdg):
    r = run_ctl("config", "path")
    assert r.returncode == 0 and r.stdout.strip() == cfg_file(xdg)
    r = run_ctl("--config", "/tmp/elsewhere.toml", "config", "path")
    assert r.stdout.strip() == "/tmp/elsewhere.toml"


def test_config_show_reports_a_broken_file(xdg):
    path = cfg_file(xdg)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        f.write("[daemon\n")
    r = run_ctl("config", "show")
    assert r.returncode == 1 and "not valid TOML" in r.stderr


def test_toml_writer_round_trips():
    data = {"a": {"s": 'quote " back\\slash\nnew\x7f', "i": -3, "f": 1.5, "inf": float("inf"), "b": False,
                  "l": ["x", "y"], "e": [], "sub": {"k": 1.0, "weird key": "v"}},
            "b": {"empty": {}}}
    assert tomllib.loads(tomlfile.dumps(data)) == data


# ---------------------------------------------------------------- paths


@pytest.mark.parametrize("env", [
    {},
    {"XDG_RUNTIME_DIR": "/tmp/rt"},
    {"XDG_CONFIG_HOME": "/tmp/cfg", "XDG_STATE_HOME": "/tmp/st"},
    {"XDG_CONFIG_HOME": "relative/ignored", "XDG_STATE_HOME": "relative"},
    {"AGENTD_SOCKET": "/tmp/x.sock", "AGENTD_CONFIG": "/tmp/c.toml"},
])
def test_fast_paths_agree_with_agentd_paths(monkeypatch, env):
    from agentd import paths

    for var in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "AGENTD_SOCKET", "AGENTD_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert _paths.config_file() == str(paths.default_config_file())
    monkeypatch.setattr(_paths, "socket_from_config", lambda path: None)
    assert _paths.socket_path() == str(paths.default_socket())


def test_socket_from_the_config_file(xdg, monkeypatch, tmp_path):
    path = cfg_file(xdg)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        f.write('[daemon]\nsocket = "/tmp/configured.sock"\n')
    assert _paths.socket_path() == "/tmp/configured.sock"
    monkeypatch.setenv("AGENTD_SOCKET", "/tmp/env.sock")
    assert _paths.socket_path() == "/tmp/env.sock"
    assert _paths.socket_path("/tmp/flag.sock") == "/tmp/flag.sock"
