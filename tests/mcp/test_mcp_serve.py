"""``agentctl mcp serve`` driven by the SDK's own client over stdio, against
the real daemon."""

from __future__ import annotations

import json
import sys

import trio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from agentd.testing.fakellm import finish_call, tool_call


async def _session(d, body):
    params = StdioServerParameters(command=sys.executable, args=["-m", "agentctl", "mcp", "serve"],
                                   env=dict(d.env), cwd=str(d.base))
    with trio.fail_after(60):
        async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
            await s.initialize()
            return await body(s)


def _text(result) -> str:
    assert not result.is_error, result
    return result.content[0].text


def test_an_mcp_client_creates_runs_and_reads_a_goal_through_agentctl_mcp_serve(daemon, fake_llm):
    fake_llm.add(tool_call("write_file", {"path": "report.md", "content": "# Report\nall good\n"}),
                 finish_call("wrote the report"))

    async def body(s):
        names = {t.name: t for t in (await s.list_tools()).tools}
        assert {"list_goals", "create_goal", "run_goal", "pause_goal", "resume_goal", "list_runs",
                "show_run"} <= set(names)
        assert names["list_goals"].annotations.read_only_hint is True
        goal = json.loads(_text(await s.call_tool("create_goal", {"objective": "write a report", "name": "rep",
                                                                   "tools": ["write_file"]})))
        run = json.loads(_text(await s.call_tool("run_goal", {"goal": "rep"})))
        await trio.to_thread.run_sync(daemon.wait_run, run["id"])
        shown = json.loads(_text(await s.call_tool("show_run", {"run": run["id"]})))
        summary = await s.read_resource(f"agentd://runs/{run['id']}/summary")
        report = await s.read_resource(f"agentd://goals/{goal['id']}/artifacts/report.md")
        escape = await s.call_tool("show_run", {"run": "nope"})
        listed = json.loads(_text(await s.call_tool("list_goals", {})))
        return goal, shown, summary, report, escape, listed

    goal, shown, summary, report, escape, listed = trio.run(_session, daemon, body)
    assert goal["name"] == "rep" and goal["tools"] == ["write_file"]
    assert shown["status"] == "completed" and shown["summary"] == "wrote the report"
    assert summary.contents[0].text == "wrote the report"
    assert report.contents[0].text == "# Report\nall good\n"
    assert escape.is_error and "nope" in escape.content[0].text
    assert [g["name"] for g in listed] == ["rep"] and listed[0]["last_run"]["status"] == "completed"


def test_an_artifact_outside_the_goals_directory_is_refused(tmp_path):
    from agentctl.mcpserve import DaemonError, read_artifact

    root = tmp_path / "g"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("no")
    try:
        read_artifact(root, "..%2Fsecret.txt")
    except DaemonError as exc:
        assert "outside" in str(exc)
    else:
        raise AssertionError("read outside the artifacts")


def test_an_mcp_client_sees_a_waiting_call_and_approves_exactly_it(make_daemon, fake_llm):
    """approve_call needs the digest list_approvals showed; a wrong one is
    refused; the approved call is made once and the decision names the client."""
    from e2e_servers import WebhookReceiver

    with WebhookReceiver() as hook:
        d = make_daemon(config='[tools]\nprivate_hosts_allowed = ["127.0.0.1"]\n')
        fake_llm.add(tool_call("send_webhook", {"url": hook.url, "payload": {"report": 1}}), finish_call("sent"))
        r = d.ctl("--json", "goal", "create", "send the report", "--name", "reporter", "--webhook", hook.url,
                  "--ask", "send_webhook")
        assert r.returncode == 0, r.stderr
        run = d.call("goal.run", {"id": json.loads(r.stdout)["id"]})

        async def body(s):
            names = {t.name: t for t in (await s.list_tools()).tools}
            assert names["list_approvals"].annotations.read_only_hint is True
            with trio.fail_after(30):
                while not (waiting := json.loads(_text(await s.call_tool("list_approvals", {})))):
                    await trio.sleep(0.05)
            (x,) = waiting
            shown = json.loads(_text(await s.call_tool("show_run", {"run": x["run_id"]})))
            listed = json.loads(_text(await s.call_tool("list_runs", {})))
            assert shown["status"] == "awaiting approval" and shown["awaiting_approval"] == [x["id"]], shown
            assert [r["status"] for r in listed if r["id"] == x["run_id"]] == ["awaiting approval"], listed
            wrong = await s.call_tool("approve_call", {"run": x["run_id"], "call_id": x["id"], "digest": "0" * 64})
            ok = json.loads(_text(await s.call_tool("approve_call", {"run": x["run_id"], "call_id": x["id"],
                                                                     "digest": x["digest"]})))
            return x, wrong, ok

        x, wrong, ok = trio.run(_session, d, body)
        assert x["tool"] == "send_webhook" and json.loads(x["arguments"])["payload"] == {"report": 1}
        assert wrong.is_error and "not the call that was shown" in wrong.content[0].text, wrong
        assert ok["resumed"] is True and ok["decided"][0]["decided_by"] == "an MCP client (agentctl mcp serve)"
        done = d.wait_run(run["id"])
        assert done["status"] == "completed", done
        assert [h.payload for h in hook.hooks if "type" not in h.payload] == [{"report": 1}]


def test_an_mcp_client_denies_a_waiting_call_with_a_reason(make_daemon, fake_llm):
    from e2e_servers import WebhookReceiver

    with WebhookReceiver() as hook:
        d = make_daemon(config='[tools]\nprivate_hosts_allowed = ["127.0.0.1"]\n')
        fake_llm.add(tool_call("send_webhook", {"url": hook.url, "payload": {"report": 1}}), finish_call("not sent"))
        r = d.ctl("--json", "goal", "create", "send the report", "--webhook", hook.url, "--ask", "send_webhook")
        run = d.call("goal.run", {"id": json.loads(r.stdout)["id"]})

        async def body(s):
            with trio.fail_after(30):
                while not json.loads(_text(await s.call_tool("list_approvals", {}))):
                    await trio.sleep(0.05)
            return json.loads(_text(await s.call_tool("deny_call", {"run": run["id"], "reason": "not today"})))

        res = trio.run(_session, d, body)
        assert res["decided"][0]["status"] == "denied" and res["decided"][0]["note"] == "not today", res
        assert d.wait_run(run["id"])["status"] == "completed"
        assert [h.payload for h in hook.hooks if "type" not in h.payload] == []
