"""init, config set/show/unset/path (no daemon needed), the TOML writer, and
the client's fast path lookup agreeing with agentd.shared.paths."""

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
                       ("daemon.max_concurrent_runs", "8"), ("tools.allow_private_networks", "true"),
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
        f.write('[provider]\nname = "ollama"\n\n[smtp]\nhost = "mail.example.org"\nport = 465\n\n'
                '[daemon]\nlog_level = "warn"\n')  # the old name of warning: still valid, rewritten
    r = run_ctl("config", "set", "smtp.security", "ssl")
    assert r.returncode == 0, r.stderr
    assert tomllib.load(open(path, "rb")) == {"provider": {"name": "ollama"}, "daemon": {"log_level": "warning"},
                                              "smtp": {"host": "mail.example.org", "port": 465, "security": "ssl"}}


@pytest.mark.parametrize("key,value,needle", [
    ("nope.key", "1", "unknown section"),
    ("daemon.nope", "1", "unknown key"),
    ("daemon", "1", "section.key"),
    ("daemon.max_concurrent_runs", "many", "integer"),
    ("provider.name", "anthropic", "one of"),
    ("tools.allow_private_networks", "maybe", "true or false"),
    ("tools.allow_private_networks", "yes", "true or false"),
])
def test_config_set_rejects_unknown_keys_and_bad_values(xdg, key, value, needle):
    r = run_ctl("config", "set", key, value)
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert not os.path.exists(cfg_file(xdg))


def test_config_set_reads_toml_of_the_keys_type(xdg):
    path = cfg_file(xdg)
    r = run_ctl("config", "set", "tools.private_hosts_allowed", '["127.0.0.1:8799"]')
    assert r.returncode == 0, r.stderr
    assert 'tools.private_hosts_allowed = ["127.0.0.1:8799"]' in r.stderr  # echoed as TOML
    r = run_ctl("config", "set", "provider.assume_tools", "true")
    assert r.returncode == 0 and "provider.assume_tools = true in" in r.stderr, r.stderr
    r = run_ctl("config", "set", "provider.model", "qwen2.5-coder-1.5b-instruct")  # a string needs no quotes
    assert 'provider.model = "qwen2.5-coder-1.5b-instruct"' in r.stderr
    r = run_ctl("config", "set", "openai.base_url", '"http://127.0.0.1:8766/v1"')  # or is TOML
    assert r.returncode == 0, r.stderr
    r = run_ctl("config", "set", "daemon.log_level", "warn")  # the old name of warning
    assert r.returncode == 0 and 'daemon.log_level = "warning"' in r.stderr
    r = run_ctl("config", "set", "provider.timeout_s", "45")  # an integer for a number
    assert "provider.timeout_s = 45.0" in r.stderr
    r = run_ctl("config", "set", "tools.timeouts", "{ fetch_page = 45, web_search = 5 }")
    assert r.returncode == 0, r.stderr
    r = run_ctl("config", "set", "openai.api_key", "sk-secret")
    assert 'openai.api_key = "***"' in r.stderr and "sk-secret" not in r.stderr
    r = run_ctl("--json", "config", "set", "smtp.port", "465")
    assert json.loads(r.stdout) == {"file": path, "key": "smtp.port", "value": 465}
    assert mode(path) == 0o600
    assert tomllib.load(open(path, "rb")) == {
        "tools": {"private_hosts_allowed": ["127.0.0.1:8799"], "timeouts": {"fetch_page": 45.0, "web_search": 5.0}},
        "provider": {"assume_tools": True, "model": "qwen2.5-coder-1.5b-instruct", "timeout_s": 45.0},
        "openai": {"base_url": "http://127.0.0.1:8766/v1", "api_key": "sk-secret"},
        "daemon": {"log_level": "warning"}, "smtp": {"port": 465}}
    # the daemon reads what config set wrote
    from pathlib import Path

    from agentd.shared import config as cfgmod

    cfg = cfgmod.load(Path(path), environ={})
    assert cfg.tools.private_hosts_allowed == ["127.0.0.1:8799"] and cfg.provider.assume_tools is True
    # none empties a key whose default is empty
    r = run_ctl("config", "set", "provider.model", "none")
    assert r.returncode == 0 and "model" not in tomllib.load(open(path, "rb"))["provider"]


@pytest.mark.parametrize("key,value,expected", [
    ("provider.assume_tools", "True", "a boolean (true or false)"),
    ("tools.private_hosts_allowed", "[127.0.0.1:8799]", "a list of strings"),
    ("tools.private_hosts_allowed", '["a", 3]', "[1]: Expected `str`, got `int`"),
    ("daemon.max_concurrent_runs", "0", "an integer >= 1"),
    ("daemon.max_concurrent_runs", "2.5", "an integer >= 1"),
    ("smtp.port", "70000", "an integer >= 1 and <= 65535"),
    ("tools.timeouts", "{ fetch_page = -1 }", "a table of numbers > 0"),
    ("tools.timeouts", "fetch_page", "a table of numbers > 0"),
    ("daemon.log_level", "loud", "one of trace, debug, info, warning, error"),
    ("provider.name", "anthropic", "one of openai, openrouter, ollama"),
    ("runs.time_limit_s", "-5", "a number > 0"),
    ("runs.time_limit_s", "none", "config unset runs.time_limit_s"),
])
def test_config_set_refuses_a_wrong_value_naming_the_type(xdg, key, value, expected):
    path = cfg_file(xdg)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        f.write('[provider]\nname = "ollama"\n')
    before = open(path).read()
    r = run_ctl("config", "set", key, value)
    assert r.returncode == 2 and expected in r.stderr, r.stderr
    if "unset" not in expected:
        assert f"{key} takes " in r.stderr and f"for example: agentctl config set {key} " in r.stderr
    assert open(path).read() == before


def test_every_keys_example_is_a_good_value():
    """The example each refusal gives works, for every key of the schema."""
    import shlex

    from agentctl import configvalue
    from scripts.docgen import config_keys

    for section, key, full, _ in config_keys():
        k = configvalue.find(section, key)
        value = shlex.split(configvalue.example(k))[-1]
        configvalue.parse(k, value)  # raises BadValue if the example were wrong


def test_agentd_refuses_a_value_out_of_range(tmp_path):
    import subprocess
    import sys

    from daemon_harness import base_env, write_config

    env = base_env(tmp_path, None)
    write_config(env, "[smtp]\nport = 70000\n")
    r = subprocess.run([sys.executable, "-m", "agentd"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 3 and "smtp.port" in r.stderr and "65535" in r.stderr, r.stderr


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
    from agentd.shared import paths

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
