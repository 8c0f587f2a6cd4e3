"""send_webhook / send_email: signatures, retries, idempotency; registry; memory tools."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from email import message_from_bytes

import pytest

from agentd.shared.config import SmtpConfig, ToolsConfig
from agentd.protocol.errors import ToolError, ToolRefused
from agentd.tools.email import SendEmail, SendEmailParams
from agentd.tools.finish import Finish, FinishParams
from agentd.tools.memory_tools import Recall, RecallParams, Remember, RememberParams
from agentd.tools.registry import default_registry
from agentd.tools.webhook import SendWebhook, SendWebhookParams, generate_secret, verify_signature
from tool_helpers import run

pytestmark = pytest.mark.timeout(30)


def independent_verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = headers["webhook-id"].encode() + b"." + headers["webhook-timestamp"].encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(sig == "v1," + expected for sig in headers["webhook-signature"].split(" "))


def hook_ctx(make_ctx, served, **kw):
    tools = ToolsConfig(private_hosts_allowed=[served.hostport], delivery_backoff_s=0.01, **kw)
    return make_ctx(tools=tools, webhook_url=served.base + "/hook", webhook_secret=generate_secret())


def test_webhook_signed_and_verified_independently(serve, make_ctx):
    s = serve(lambda m, p, h, b: (204, {}, b""))
    ctx = hook_ctx(make_ctx, s)
    out = run(SendWebhook().run, SendWebhookParams(ctx.goal.webhook_url, {"stars": 42, "name": "ä"}), ctx)
    assert "delivered" in out
    method, path, headers, body = s.requests[0]
    assert method == "POST" and path == "/hook" and json.loads(body) == {"stars": 42, "name": "ä"}
    assert headers["content-type"] == "application/json"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert independent_verify(ctx.goal.webhook_secret, headers, body)
    assert verify_signature(ctx.goal.webhook_secret, headers, body)
    assert not verify_signature(generate_secret(), headers, body)
    assert not independent_verify(ctx.goal.webhook_secret, headers, body + b" ")
    assert ctx.goal.webhook_secret not in out
    rec = ctx.effects.records["run1:step-1"]
    assert rec.status == "delivered" and rec.attempts == 1


def test_webhook_retries_500_with_same_id(serve, make_ctx):
    calls = []

    def flaky(m, p, h, b):
        calls.append(h["webhook-id"])
        return (500, {}, b"oops") if len(calls) < 3 else (200, {}, b"ok")

    s = serve(flaky)
    ctx = hook_ctx(make_ctx, s)
    out = run(SendWebhook().run, SendWebhookParams(ctx.goal.webhook_url, {"a": 1}), ctx)
    assert "delivered" in out and len(calls) == 3 and len(set(calls)) == 1
    assert all(independent_verify(ctx.goal.webhook_secret, h, b) for _, _, h, b in s.requests)
    assert ctx.effects.records["run1:step-1"].attempts == 3


def test_webhook_gives_up_and_4xx_not_retried(serve, make_ctx):
    s = serve(lambda m, p, h, b: (503, {}, b""))
    ctx = hook_ctx(make_ctx, s)
    with pytest.raises(ToolError, match="after 3 attempt"):
        run(SendWebhook().run, SendWebhookParams(ctx.goal.webhook_url, {}), ctx)
    assert ctx.effects.records["run1:step-1"].status == "failed"
    s2 = serve(lambda m, p, h, b: (400, {}, b""))
    ctx2 = hook_ctx(make_ctx, s2)
    with pytest.raises(ToolError, match="HTTP 400"):
        run(SendWebhook().run, SendWebhookParams(ctx2.goal.webhook_url, {}), ctx2)
    assert len(s2.requests) == 1


def test_webhook_same_key_not_sent_twice(serve, make_ctx):
    s = serve(lambda m, p, h, b: (200, {}, b""))
    ctx = hook_ctx(make_ctx, s)
    run(SendWebhook().run, SendWebhookParams(ctx.goal.webhook_url, {"n": 1}), ctx)
    out = run(SendWebhook().run, SendWebhookParams(ctx.goal.webhook_url, {"n": 1}), ctx)
    assert out.startswith("Not sent") and "already delivered" in out and len(s.requests) == 1


def test_webhook_earlier_intent_is_unknown_not_resent(serve, make_ctx):
    s = serve(lambda m, p, h, b: (200, {}, b""))
    ctx = hook_ctx(make_ctx, s)
    from agentd.tools.base import EffectRecord
    ctx.effects.records["run1:step-1"] = EffectRecord("e0", "run1:step-1", "intent", 1)
    out = run(SendWebhook().run, SendWebhookParams(ctx.goal.webhook_url, {}), ctx)
    assert "unknown" in out and s.requests == []


def test_webhook_redirect_not_followed_and_other_hosts_refused(serve, make_ctx):
    target = serve(lambda m, p, h, b: (200, {}, b""))
    s = serve(lambda m, p, h, b: (307, {"location": target.base + "/"}, b""))
    ctx = hook_ctx(make_ctx, s)
    with pytest.raises(ToolError, match="redirect"):
        run(SendWebhook().run, SendWebhookParams(ctx.goal.webhook_url, {}), ctx)
    assert target.requests == []
    with pytest.raises(ToolRefused, match="webhook URL"):
        run(SendWebhook().run, SendWebhookParams("https://attacker.example/x", {}), ctx)


class Inbox:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_send_email_received(smtp_server, make_ctx):
    inbox, port = smtp_server
    smtp = SmtpConfig(host="127.0.0.1", port=port, security="none", sender="agentd@example.com", timeout_s=5)
    ctx = make_ctx(smtp=smtp, email_to=["me@example.com", "team@example.com"])
    out = run(SendEmail().run, SendEmailParams(["me@example.com"], "Weekly AI news", "Hello ✓"), ctx)
    assert "Email sent" in out
    (env,) = inbox.envelopes
    assert env.rcpt_tos == ["me@example.com"] and env.mail_from == "agentd@example.com"
    msg = message_from_bytes(env.original_content)
    assert msg["Subject"] == "Weekly AI news" and msg["Message-ID"].endswith("@agentd.local>")
    assert "Hello ✓" in msg.get_payload(decode=True).decode()
    again = run(SendEmail().run, SendEmailParams(["me@example.com"], "Weekly AI news", "Hello"), ctx)
    assert again.startswith("Not sent") and len(inbox.envelopes) == 1


def test_email_recipient_and_config_checks(make_ctx):
    ctx = make_ctx(smtp=SmtpConfig(host="127.0.0.1", sender="a@b.c"), email_to=["me@example.com"])
    with pytest.raises(ToolRefused, match="me@example.com"):
        run(SendEmail().run, SendEmailParams(["other@example.com"], "s", "b"), ctx)
    ctx = make_ctx(email_to=["me@example.com"])
    with pytest.raises(ToolError, match=r"\[smtp\] host"):
        run(SendEmail().run, SendEmailParams(["me@example.com"], "s", "b"), ctx)
    (record,) = ctx.effects.records.values()  # nothing sent, and the ledger says why
    assert record.status == "refused" and record.attempts == 0
    assert "agentctl config set smtp.host" in record.detail


def test_registry_specs_have_no_refs_and_decode_errors():
    reg = default_registry()
    specs = reg.specs(None)
    assert {s.name for s in specs} >= {"web_search", "fetch_page", "read_file", "write_file", "send_webhook",
                                       "send_email", "remember", "recall", "finish", "read_feed"}
    for spec in specs:
        text = json.dumps(spec.parameters)
        assert "$ref" not in text and "$defs" not in text
        assert spec.parameters["type"] == "object" and spec.description
    assert [s.name for s in reg.specs(["web_search"])] == ["web_search", "finish"]
    with pytest.raises(ToolError, match="web_search, fetch_page"):
        reg.get("nope")
    with pytest.raises(ToolError, match="not valid JSON"):
        reg.decode_args("web_search", "{query:")
    with pytest.raises(ToolError, match=r"\$.limit") as info:
        reg.decode_args("web_search", '{"query": "x", "limit": 99}')
    assert info.value.data["field"] == "$.limit"
    with pytest.raises(ToolError, match="unknown field `bogus`; its parameters are query \\(required\\), limit$"):
        reg.decode_args("web_search", '{"query": "x", "bogus": 1}')  # the model is told what the tool takes
    assert reg.decode_args("web_search", '{"query": "x"}').limit == 5
    # JSON Schema's own words copied into a call (a 1.5B model repeated such a finish until
    # its run failed): dropped; any other unknown field is still the model's mistake
    assert reg.decode_args("finish", '{"summary": "Wrote trio.md.", "additionalProperties": false}').summary == \
        "Wrote trio.md."
    assert reg.decode_args("web_search", '{"query": "x", "type": "object", "required": ["query"]}').query == "x"
    with pytest.raises(ToolError, match="unknown field `bogus`"):
        reg.decode_args("web_search", '{"query": "x", "additionalProperties": false, "bogus": 1}')
    assert reg.timeout_for("web_search", ToolsConfig(timeouts={"web_search": 7})) == 7
    assert reg.timeout_for("fetch_page", ToolsConfig()) == 45.0
    for tool in (reg.get(n) for n in reg.names()):
        assert tool.Params.__struct_config__.frozen and tool.Params.__struct_config__.forbid_unknown_fields


def test_memory_tools_and_finish(make_ctx):
    ctx = make_ctx()
    assert "Remembered (fact" in run(Remember().run, RememberParams("Repo X has 1200 stars", "fact"), ctx)
    out = run(Recall().run, RecallParams("stars"), ctx)
    assert "1. [fact," in out and "1200 stars" in out
    assert "No memories" in run(Recall().run, RecallParams("weather"), ctx)
    assert run(Finish().run, FinishParams("all done"), ctx) == "all done"
