"""The daemon and its provider at start-up: refuse, start degraded, recover."""

from __future__ import annotations

import socket

from agentd.testing.fakellm import FakeLLM, ModelInfo, finish_call, text


def dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def test_no_provider_configured_refuses_to_start_with_exit_3(make_daemon):
    d = make_daemon(llm=None, start=False)
    d.start(expect_ready=False)
    assert d.wait(20) == 3
    log = d.log()
    assert "no LLM provider" in log and "LLM_PROVIDER" in log


def test_incompatible_model_refuses_to_start_naming_the_model(make_daemon, fake_llm):
    # the fake's model without tools answers the sample tool call with text
    d = make_daemon(env={"OPENAI_MODEL": "meta-llama/llama-2-13b-chat"}, start=False)
    d.start(expect_ready=False)
    assert d.wait(20) == 3
    assert "meta-llama/llama-2-13b-chat" in d.log() and "without calling the tool" in d.log()


def test_openrouter_model_without_tools_refuses_to_start(make_daemon, fake_llm):
    d = make_daemon(llm=None, env={"LLM_PROVIDER": "openrouter", "OPENROUTER_API_KEY": "sk-or-test",
                                   "OPENROUTER_BASE_URL": fake_llm.base_url,
                                   "OPENROUTER_MODEL": "meta-llama/llama-2-13b-chat"}, start=False)
    d.start(expect_ready=False)
    assert d.wait(20) == 3
    assert "meta-llama/llama-2-13b-chat" in d.log()


def test_unreachable_provider_starts_degraded_and_runs_fail_after_waiting(make_daemon):
    url = f"http://127.0.0.1:{dead_port()}/api/v1"
    d = make_daemon(llm=None, config="[provider]\nwait_for_provider_s = 1.0\n",
                    env={"LLM_PROVIDER": "openrouter", "OPENROUTER_API_KEY": "sk-or-test",
                         "OPENROUTER_BASE_URL": url, "OPENROUTER_MODEL": "openai/gpt-4o-mini"})
    st = d.call("daemon.status")
    assert st["state"] == "degraded"
    assert st["provider"]["state"] == "degraded" and not st["provider"]["ok"]
    assert any("openrouter" in r for r in st["reasons"]), st["reasons"]
    g = d.call("goal.create", {"objective": "anything"})
    run = d.call("goal.run", {"id": g["id"]})
    done = d.wait_run(run["id"], timeout=20)
    assert done["status"] == "failed"
    assert "not available" in done["error"] and "waited" in done["error"], done["error"]
    p = d.ctl("server", "status")
    assert p.returncode == 4, (p.returncode, p.stdout, p.stderr)


def test_provider_check_on_demand_recovers_a_degraded_daemon(make_daemon, tmp_path):
    port = dead_port()
    url = f"http://127.0.0.1:{port}/v1"
    d = make_daemon(llm=None, env={"LLM_PROVIDER": "openrouter", "OPENROUTER_API_KEY": "sk-or-test",
                                   "OPENROUTER_BASE_URL": url, "OPENROUTER_MODEL": "openai/gpt-4o-mini"})
    assert d.call("daemon.status")["state"] == "degraded"
    # The provider comes up later, on the port the daemon was told about.
    with FakeLLM(models={"openai/gpt-4o-mini": ModelInfo(True)}, port=port) as llm:
        res = d.call("provider.check")
        assert res["ok"] and res["state"] == "ok", res
        st = d.call("daemon.status")
        assert st["state"] == "ok" and st["provider"]["ok"]
        llm.add(finish_call("all done"))
        g = d.call("goal.create", {"objective": "after recovery"})
        run = d.call("goal.run", {"id": g["id"]})
        assert d.wait_run(run["id"])["status"] == "completed"


# ---------------------------------------------------------------- a local server, environment only

_FAKE_PROCESS = """
import sys
from agentd.testing.fakellm import FakeLLM, ModelInfo
with FakeLLM(models={"qwen-local": ModelInfo(True), "gpt-4o": ModelInfo(True)}) as fake:
    print(fake.port, flush=True)
    sys.stdin.read()
"""


def test_status_and_check_say_unreachable_once_the_server_stops(make_daemon):
    """The fake in a process of its own: killing it closes its kept connections too, as a real server's end does."""
    import subprocess
    import sys

    fake = subprocess.Popen([sys.executable, "-c", _FAKE_PROCESS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        port = int(fake.stdout.readline())
        d = make_daemon(llm=None, env={"LLM_PROVIDER": "openai", "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
                                       "OPENAI_MODEL": "gpt-4o"})
    finally:
        fake.kill()
        fake.wait(10)
    status = d.ctl("server", "status")
    assert status.returncode == 4, (status.stdout, status.stderr)
    assert "degraded" in status.stdout and "unreachable" in status.stdout and f"127.0.0.1:{port}" in status.stdout
    check = d.ctl("provider", "check")
    assert check.returncode != 0
    out = check.stdout + check.stderr
    assert "degraded" in out and "cannot reach the server" in out and " ok" not in out


def _local_env(fake, **extra):
    return {"LLM_PROVIDER": "openai", "OPENAI_BASE_URL": fake.base_url, "OPENAI_MODEL": "qwen-local", **extra}


def test_an_environment_only_local_server_without_a_key_starts_after_the_sample_call(make_daemon):
    calls_as_text = text('```json\n{"name": "get_current_time", "arguments": {}}\n```')
    with FakeLLM([calls_as_text], models={"qwen-local": ModelInfo(True)}) as fake:
        d = make_daemon(llm=None, env=_local_env(fake))
        st = d.call("daemon.status")
        fake.assert_complete()
    assert st["state"] == "ok" and st["provider"]["state"] == "ok"
    assert "works: tool calls recovered from text" in st["provider"]["message"]
    assert "OPENAI_API_KEY" not in d.env


def test_a_local_model_that_does_not_use_tools_stops_the_daemon_unless_assumed(make_daemon):
    with FakeLLM([text("It is noon.")], models={"qwen-local": ModelInfo(True)}) as fake:
        d = make_daemon(llm=None, env=_local_env(fake), start=False)
        d.start(expect_ready=False)
        assert d.wait(20) == 3
        assert "qwen-local" in d.log() and "without calling the tool" in d.log()
        d = make_daemon(llm=None, env=_local_env(fake, LLM_ASSUME_TOOLS="true"))
        st = d.call("daemon.status")
        assert st["state"] == "ok" and "assumed" in st["provider"]["message"]
        assert fake.paths.count("POST /v1/chat/completions") == 1  # the first daemon's sample call only


def test_a_socks_proxy_without_socks_support_starts_degraded_naming_the_fix(make_daemon):
    import importlib.util

    if importlib.util.find_spec("socksio") is not None:
        import pytest

        pytest.skip("SOCKS support is installed")
    d = make_daemon(env={"ALL_PROXY": "socks5://127.0.0.1:9"})
    st = d.call("daemon.status")
    assert st["state"] == "degraded" and st["provider"]["state"] == "degraded"
    message = st["provider"]["message"]
    assert "ALL_PROXY=socks5://127.0.0.1:9" in message and "pip install 'httpx[socks]'" in message, message
    assert "unset ALL_PROXY" in message
