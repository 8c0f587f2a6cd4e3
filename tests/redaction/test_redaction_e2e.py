"""Secrets agentd holds never come back out of it through text it did not
write itself, end to end through the real daemon, agentctl and loopback
servers that echo what they were sent.

The model server echoes the ``Authorization`` header it receives: into a tool
call's arguments (the model "leaks" the key into a URL), into its final
answer, and into the body of a 401 (as some servers and proxies do). The web
page echoes the request it got and quotes the other secrets agentd holds (the
SMTP password, the goal's webhook URL token and signing secret). The
completion webhook receiver echoes the request. Then every place agentd
writes, shows or sends is searched for every secret: the log, every text
column of every table, the artifacts, the RPC replies and event
notifications, agentctl's output, the completion webhooks and emails, and
what reached the web page and the model server."""

from __future__ import annotations

import json
import secrets as pysecrets
import sqlite3
import urllib.parse
from pathlib import Path

import pytest

from agentd.testing.loopback import serve_responder, stop
from e2e_servers import Request, SmtpSink, WebhookReceiver, _HttpBase

pytestmark = pytest.mark.timeout(90)

KEY = "sk-echo-" + pysecrets.token_hex(16)
SMTP_PASSWORD = "smtp-Pass-" + pysecrets.token_hex(6)
HOOK_TOKEN = "hooktok" + pysecrets.token_hex(10)
FAIL_WORD = "PLEASE-FAIL"


class EchoModel:
    """An OpenAI-compatible server that echoes the Authorization header it
    gets. A conversation without tool results: a fetch_page call whose URL
    carries the header; with one: a final answer quoting the header and the
    page. An objective with FAIL_WORD: a 401 whose message quotes the header."""

    def __init__(self, page_url: str) -> None:
        self.page_url = page_url
        self.bodies: list[bytes] = []

    def __enter__(self) -> "EchoModel":
        def respond(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
            if method == "GET":
                status, doc = 200, {"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]}
            else:
                self.bodies.append(body)
                status, doc = self.answer(json.loads(body), headers.get("authorization", ""))
            return status, {"Content-Type": "application/json"}, json.dumps(doc).encode()

        self._server = serve_responder(respond)
        return self

    def __exit__(self, *exc: object) -> None:
        stop(self._server)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def answer(self, body: dict, auth: str) -> tuple[int, dict]:
        assert not body.get("stream"), "this echo server answers plain requests only"
        text = json.dumps(body["messages"])
        if FAIL_WORD in text:
            return 401, {"error": {"message": f"Incorrect API key provided: {auth}", "type": "invalid_request_error",
                                   "code": "invalid_api_key"}}
        tool_results = [m for m in body["messages"] if m.get("role") == "tool"]
        if not tool_results:
            url = self.page_url + "?seen=" + urllib.parse.quote(auth)
            message = {"role": "assistant", "content": f"Fetching with {auth}", "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "fetch_page", "arguments": json.dumps({"url": url})}}]}
            finish = "tool_calls"
        else:
            page = tool_results[-1]["content"] or ""
            message = {"role": "assistant", "content": f"Done. I was called with {auth}. The page said: {page}"}
            finish = "stop"
        return 200, {"id": "chatcmpl-echo", "object": "chat.completion", "created": 0, "model": "gpt-4o",
                     "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                     "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


class EchoPage(_HttpBase):
    """A web page that echoes the request it got, and quotes ``quoted``."""

    def __init__(self) -> None:
        super().__init__()
        self.quoted = ""

    def handle(self, req: Request) -> tuple[int, dict[str, str], bytes]:
        seen = "\n".join(f"<li>{k}: {v}</li>" for k, v in req.headers.items())
        page = (f"<html><body><h1>Echo</h1><p>You asked for {req.path}</p><ul>{seen}</ul>"
                f"<p>Also seen on the internet: {self.quoted}</p></body></html>")
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()


class EchoReceiver(WebhookReceiver):
    """The completion webhook's receiver; it answers with the request it got."""

    def handle(self, req: Request) -> tuple[int, dict[str, str], bytes]:
        super().handle(req)
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"path": req.path, "headers": req.headers, "body": req.body.decode()}).encode()


@pytest.fixture
def servers():
    with EchoPage() as page, EchoReceiver() as receiver, SmtpSink() as smtp:
        with EchoModel(page.base + "/echo") as model:
            yield page, receiver, smtp, model


def _forms(secret: str) -> list[str]:
    """The secret and the spellings it takes when echoed."""
    return sorted({secret, urllib.parse.quote(secret, safe=""), json.dumps(secret)[1:-1]})


def _leaks(where: str, text: str, secrets: dict[str, str]) -> list[str]:
    return [f"{name} in {where}" for name, s in secrets.items() for form in _forms(s) if form in text]


def _db_text(db: Path) -> list[tuple[str, str]]:
    """(table.column, value) of every text value in the database, except the
    two columns that hold a goal's configuration as the person set it."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    out = []
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            for row in conn.execute(f"SELECT * FROM {table}"):
                for col, value in zip(cols, row):
                    if table == "goals" and col in ("webhook_secret", "webhook_url"):
                        continue
                    if isinstance(value, (str, bytes)):
                        out.append((f"{table}.{col}", value if isinstance(value, str) else value.decode("latin-1")))
    finally:
        conn.close()
    return out


def _raw_call(d, method: str, params: dict) -> str:
    with d.client() as c:
        c.send_raw(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode() + b"\n")
        return c.read_line().decode()


def _raw_watch(d, run_id: str) -> str:
    """Every line run.watch sends for a finished run (reply and replayed events), as sent."""
    lines = []
    with d.client() as c:
        c.send_raw(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "run.watch",
                               "params": {"run_id": run_id, "since": 0}}).encode() + b"\n")
        while True:
            line = c.read_line().decode()
            lines.append(line)
            if '"run_finished"' in line:
                return "\n".join(lines)


def test_no_secret_echoed_by_a_server_comes_back_out(make_daemon, servers):
    page, receiver, smtp, model = servers
    config = (f'[daemon]\nlog_level = "debug"\n[tools]\nprivate_hosts_allowed = ["127.0.0.1"]\n'
              f'delivery_backoff_s = 0.05\n[provider]\nretry_base_delay_s = 0.05\nmax_retries = 0\n'
              f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\nsender = "agentd@example.com"\n'
              f'password = "{SMTP_PASSWORD}"\n')
    d = make_daemon(config=config, llm=model, env={"OPENAI_API_KEY": KEY})
    hook_url = receiver.url + "?token=" + HOOK_TOKEN

    def goal(objective: str) -> dict:
        r = d.ctl("--json", "goal", "create", objective, "--tools", "fetch_page", "--webhook", hook_url,
                  "--email", "me@example.com")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    ok_goal, fail_goal = goal("Read the echo page"), goal(f"Read it again {FAIL_WORD}")
    webhook_secret = d.call("goal.get", {"id": ok_goal["id"], "secrets": True})["webhook_secret"]
    fail_secret = d.call("goal.get", {"id": fail_goal["id"], "secrets": True})["webhook_secret"]
    secrets = {"api key": KEY, "smtp password": SMTP_PASSWORD, "webhook URL token": HOOK_TOKEN,
               "webhook secret": webhook_secret, "webhook secret (base64)": webhook_secret.removeprefix("whsec_"),
               "other goal's webhook secret": fail_secret}
    page.quoted = f"{SMTP_PASSWORD} and {hook_url} and {webhook_secret} and {fail_secret}"

    runs = []
    for g in (ok_goal, fail_goal):
        run = d.call("goal.run", {"id": g["id"]})
        runs.append(d.wait_run(run["id"]))
    assert [r["status"] for r in runs] == ["completed", "failed"], runs
    assert "Incorrect API key provided" in runs[1]["error"], runs[1]["error"]
    assert "[redacted openai.api_key]" in runs[1]["error"], runs[1]["error"]
    assert "[redacted" in runs[0]["summary"], runs[0]["summary"]  # the echoes are there, without the secrets

    hooks = receiver.wait_hooks(2)
    mails = smtp.wait_messages(2)
    leaks: list[str] = []

    # What was sent to third parties: the web page, the model server, the webhook receiver, the mail server.
    leaks += _leaks("a request to the web page", json.dumps([(r.path, r.headers) for r in page.requests]),
                    {"api key": KEY})
    leaks += _leaks("a request body to the model", "\n".join(b.decode() for b in model.bodies), secrets)
    for h in hooks:
        leaks += _leaks("a completion webhook body", h.request.body.decode(), secrets)
    for m in mails:
        leaks += _leaks("a completion email", m.subject + "\n" + m.body, secrets)

    # What the daemon shows: RPC replies and events, agentctl.
    for r in runs:
        rid = r["id"]
        for method, params in (("run.get", {"id": rid}), ("run.steps", {"id": rid}), ("run.outputs", {"id": rid}),
                               ("run.list", {}), ("goal.get", {"id": r["goal_id"]}), ("daemon.status", {})):
            shown = secrets if method != "goal.get" else {  # the goal as configured: its own webhook URL
                k: v for k, v in secrets.items() if k != "webhook URL token"}
            leaks += _leaks(f"the {method} reply", _raw_call(d, method, params), shown)
        leaks += _leaks("run.watch events", _raw_watch(d, rid), secrets)
        for args in (("run", "show", rid), ("--json", "run", "show", rid), ("run", "logs", rid),
                     ("--json", "run", "logs", rid), ("run", "list")):
            out = d.ctl(*args)
            assert out.returncode == 0, (args, out.stderr)
            leaks += _leaks(f"agentctl {' '.join(args)}", out.stdout + out.stderr, secrets)

    # What the daemon stores: every text column of every table, every artifact, the log.
    d.stop()
    for column, value in _db_text(d.db):
        leaks += _leaks(f"the database ({column})", value, secrets)
    artifacts = Path(d.env["XDG_DATA_HOME"]) / "agentd" / "artifacts"
    files = [p for p in artifacts.rglob("*") if p.is_file()]
    assert any(p.name == "summary.md" for p in files), files
    for p in files:
        leaks += _leaks(f"the artifact {p.relative_to(artifacts)}", p.read_text(errors="replace"), secrets)
    log_text = d.log()
    assert "Incorrect API key provided" in log_text  # the echo was logged, without the key
    leaks += _leaks("the daemon's log", log_text, secrets)

    assert not leaks, "\n".join(sorted(set(leaks)))
