"""``agentctl server reload`` against the real daemon: the provider, model and
limits change at once, runs in flight keep what they started with, settings
that need a restart are named, and an invalid configuration changes nothing."""

from __future__ import annotations

import json

import pytest

from agentd.testing.fakellm import finish_call, tool_call
from daemon_harness import RpcError, write_config
from watch_support import WAIT, fake_llm  # noqa: F401  (a fixture, used by name)

# The model comes from the file (not OPENAI_MODEL, which would win over it).
NO_ENV_MODEL = {"OPENAI_MODEL": ""}


def config(model: str = "gpt-4o", extra: str = "") -> str:
    return f'[provider]\nmodel = "{model}"\n{extra}'


def models_asked(fake_llm) -> list[str]:
    return [r.get("model") for r in fake_llm.requests]


def test_a_new_model_applies_to_new_runs_while_a_running_run_keeps_its_own(make_daemon, fake_llm):
    d = make_daemon(config=config(), env=NO_ENV_MODEL)
    goal = d.call("goal.create", {"objective": "x", "name": "news"})
    fake_llm.add(tool_call("recall", {"query": "a"}))
    gate = fake_llm.gate(tool_call("recall", {"query": "b"}))
    fake_llm.add(finish_call("old model done"))
    first = d.call("goal.run", {"id": goal["id"]})
    gate.wait_reached()  # the run is in flight, its second model call held

    write_config(d.env, config("gpt-4o-mini"))
    p = d.ctl("server", "reload")
    assert p.returncode == 0, p.stderr
    assert 'provider.model: "gpt-4o" -> "gpt-4o-mini"' in p.stdout, p.stdout
    assert "1 running run(s) finish with the one they started with" in p.stdout
    assert "Needs a restart" not in p.stdout
    st = d.ctl("server", "status")
    assert "openai gpt-4o-mini" in st.stdout, st.stdout
    assert d.call("daemon.status")["provider"]["model"] == "gpt-4o-mini"

    gate.open()
    assert d.wait_run(first["id"], timeout=WAIT)["status"] == "completed"
    fake_llm.add(finish_call("new model done"))
    second = d.call("goal.run", {"id": "news"})
    assert d.wait_run(second["id"], timeout=WAIT)["summary"] == "new model done"
    assert models_asked(fake_llm)[:3] == ["gpt-4o"] * 3  # the first run, before and after the reload
    assert models_asked(fake_llm)[3:] == ["gpt-4o-mini"]
    # The replaced provider was closed when the run holding it ended, not at shutdown.
    assert d.stop() == 0
    msgs = [(r["msg"], r.get("model")) for r in d.log_records()]
    assert msgs.index(("replaced provider closed", "gpt-4o")) < msgs.index(("agentd stopping", None))


def test_an_invalid_configuration_changes_nothing_and_says_why(make_daemon):
    d = make_daemon(config=config(), env=NO_ENV_MODEL)
    write_config(d.env, config("gpt-4o-mini", '[daemon]\nmax_concurrent_runs = "many"\n'))
    p = d.ctl("server", "reload")
    assert p.returncode == 1 and p.stdout == ""
    assert "nothing was reloaded" in p.stderr and "max_concurrent_runs" in p.stderr, p.stderr
    assert d.call("daemon.status")["provider"]["model"] == "gpt-4o"
    # A model that cannot call tools is refused like at start-up: nothing changes.
    write_config(d.env, config("gemma:2b", '[daemon]\nlog_level = "debug"\n'))  # the fake's model without tools
    with pytest.raises(RpcError) as err:
        d.call("daemon.reload")
    assert "nothing was reloaded" in err.value.message and "gemma:2b" in err.value.message
    st = d.call("daemon.status")
    assert st["provider"]["model"] == "gpt-4o" and st["log_level"] == "info"
    # An unknown log level in the file: refused, with the levels named.
    write_config(d.env, config("gpt-4o-mini", '[daemon]\nlog_level = "loud"\n'))
    p = d.ctl("server", "reload")
    assert p.returncode == 1 and "nothing was reloaded" in p.stderr and "daemon.log_level" in p.stderr
    assert d.call("daemon.status")["provider"]["model"] == "gpt-4o"


def test_what_needs_a_restart_is_named_and_kept(make_daemon):
    d = make_daemon(config=config(), env=NO_ENV_MODEL)
    write_config(d.env, config("gpt-4o", '[daemon]\nmax_connections = 10\nlog_level = "debug"\n'
                                         '[tools]\ntimeouts = { fetch_page = 5.0 }\n[smtp]\nhost = "127.0.0.1"\npassword = "s3cret"\n'))
    p = d.ctl("--json", "server", "reload")
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert "s3cret" not in p.stdout
    changed = {c["key"]: (c["old"], c["new"]) for c in res["changed"]}
    assert changed == {"daemon.log_level": ("info", "debug"), "tools.timeouts": ({}, {"fetch_page": 5.0}),
                       "smtp.host": (None, "127.0.0.1"), "smtp.password": (None, "***")}
    assert [(c["key"], c["new"], c["restart"]) for c in res["restart_needed"]] == [("daemon.max_connections", 10, True)]
    assert res["provider_replaced"] is False and res["log_level"] == "debug"
    assert d.call("daemon.status")["log_level"] == "debug"
    assert {t["name"]: t["timeout_s"] for t in d.call("tool.list")["tools"]}["fetch_page"] == 5.0
    p = d.ctl("server", "reload")  # the same file again: nothing new, the restart still pending
    assert p.returncode == 0, p.stderr
    assert "Applied now" not in p.stdout and "daemon.max_connections: 256 -> 10" in p.stdout, p.stdout


def test_a_higher_run_limit_starts_waiting_runs_at_once(make_daemon, fake_llm):
    d = make_daemon(config=config(extra='[daemon]\nmax_concurrent_runs = 1\n'), env=NO_ENV_MODEL)
    goal = d.call("goal.create", {"objective": "x"})
    gate = fake_llm.gate(finish_call("first done"))
    first = d.call("goal.run", {"id": goal["id"]})
    gate.wait_reached()
    second = d.call("goal.run", {"id": goal["id"]})
    assert second["status"] == "pending"
    fake_llm.add(finish_call("second done"))
    write_config(d.env, config(extra='[daemon]\nmax_concurrent_runs = 2\n'))
    assert d.ctl("server", "reload").returncode == 0
    # The second run starts and ends while the first is still held.
    assert d.wait_run(second["id"], timeout=WAIT)["summary"] == "second done"
    assert d.call("run.get", {"id": first["id"]})["status"] == "running"
    gate.open()
    assert d.wait_run(first["id"], timeout=WAIT)["status"] == "completed"


def test_a_key_given_by_a_reload_is_redacted_like_one_given_at_start(make_daemon, fake_llm):
    d = make_daemon(config=config(extra='[openai]\napi_key = "sk-first-secret-0123456789"\n'),
                    env={**NO_ENV_MODEL, "OPENAI_API_KEY": ""})  # the keys come from the file
    key = "sk-reloaded-secret-0123456789"
    write_config(d.env, config(extra=f'[openai]\napi_key = "{key}"\n'))
    p = d.ctl("server", "reload")
    assert p.returncode == 0 and "openai.api_key" in p.stdout and key not in p.stdout
    fake_llm.add(finish_call(f"done; by the way the key is {key}"))  # a model that echoes it
    goal = d.call("goal.create", {"objective": "x"})
    run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"], timeout=WAIT)
    assert run["status"] == "completed" and key not in run["summary"] and "done; by the way" in run["summary"]
    assert key not in d.log()
