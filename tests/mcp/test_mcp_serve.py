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
