"""A streamable HTTP MCP server (written with the SDK) on loopback, and
mcp-server-git (from PyPI) against a temporary repository."""

from __future__ import annotations

import json
import subprocess

import pytest

from agentd.testing.fakellm import finish_call, tool_call
from mcp_support import start_http_notes_server, stdio_server, step_rows


@pytest.fixture
def http_notes(tmp_path):
    notes = tmp_path / "notes.txt"
    proc, url = start_http_notes_server(notes)
    yield notes, url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def test_a_streamable_http_servers_tool_with_a_header_end_to_end(make_daemon, fake_llm, http_notes):
    notes, url = http_notes
    d = make_daemon(config=f'[[mcp.servers]]\nname = "web"\nurl = {json.dumps(url)}\n'
                           'headers = { Authorization = "Bearer not-a-real-token-42" }\n')
    state = d.call("mcp.check", {"name": "web"})
    assert state["state"] == "ready" and state["transport"] == "http", state
    assert "not-a-real-token-42" not in json.dumps(d.call("mcp.list"))
    add = next(t for t in d.call("tool.list")["tools"] if t["name"] == "web__add_note")
    assert (add["read_only"], add["idempotent"], add["side_effect"], add["external"]) == (False, False, True, False)
    goal = d.call("goal.create", {"objective": "note", "params": {"allowed_tools": ["web.add_note"]}})
    fake_llm.add(tool_call("web__add_note", {"text": "over http"}), finish_call("noted"))
    run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
    assert run["status"] == "completed", run
    assert step_rows(d, run["id"])[0]["observation"] == "noted: over http"
    assert notes.read_text() == "call: over http\n"


def test_mcp_server_git_reads_a_temporary_repository(make_daemon, fake_llm, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "README.md").write_text("hello\n")
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first commit of the test"], check=True)
    d = make_daemon(config=stdio_server("git", "-m", "mcp_server_git", "--repository", str(repo)))
    state = d.call("mcp.check", {"name": "git"})
    assert state["state"] == "ready" and "git__git_log" in state["tools"], state
    goal = d.call("goal.create", {"objective": "what happened in the repo", "params": {"allowed_tools": ["git.*"]}})
    fake_llm.add(tool_call("git__git_log", {"repo_path": str(repo)}), finish_call("read the log"))
    run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
    step = step_rows(d, run["id"])[0]
    assert step["status"] == "ok" and "first commit of the test" in step["observation"], step
    sent = {t["function"]["name"] for t in fake_llm.requests[0]["tools"]}
    assert {"git__git_log", "git__git_status", "finish"} <= sent
