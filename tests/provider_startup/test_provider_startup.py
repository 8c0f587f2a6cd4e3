"""The daemon and its provider at start-up: refuse, start degraded, recover."""

from __future__ import annotations

import socket

from agentd.testing.fakellm import FakeLLM, ModelInfo, text


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
    d = make_daemon(env={"OPENAI_MODEL": "text-davinci-003"}, start=False)
    d.start(expect_ready=False)
    assert d.wait(20) == 3
    assert "text-davinci-003" in d.log()


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
        llm.add(text("all done"))
        g = d.call("goal.create", {"objective": "after recovery"})
        run = d.call("goal.run", {"id": g["id"]})
        assert d.wait_run(run["id"])["status"] == "completed"
