"""send_webhook and ``deliver_webhook``: signed POSTs per Standard Webhooks.

Headers: ``webhook-id`` (the same on every retry), ``webhook-timestamp`` (unix
seconds of the attempt) and ``webhook-signature: v1,<base64 HMAC-SHA256>`` over
``f"{id}.{timestamp}.{body}"`` keyed with the base64 part of ``whsec_…``.

Ledger discipline: the intent is committed with the idempotency key before
the first attempt; a key that already has a record is never sent again (its
earlier outcome is reported instead); every record ends delivered, failed,
refused or unknown (agentd.tools.delivery). Redirects are not followed (a
3xx, whatever its Location, is a failed delivery); 5xx, 408, 429, timeouts
and connection errors are retried with doubling backoff.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import httpx
import msgspec
import trio

from ..protocol.errors import ToolError, ToolRefused
from ..retry import retry_after_from_headers
from .base import SideEffects, ToolContext
from .delivery import Delivery, DeliveryFailed, OnDeliveryRetry, deliver_effect
from .net import NetPolicy, PinnedClient, allow_private_hint, host_allowed, parse_url, url_for_display

MAX_BODY = 256 * 1024
RETRY_STATUS = frozenset((408, 425, 429, 500, 502, 503, 504))


# ---------------------------------------------------------------- signing

def generate_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise ToolError("the webhook secret is not 'whsec_' followed by base64") from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes, *, tolerance_s: int = 300) -> bool:
    """Check a Standard Webhooks signature (any of the space-separated ``v1,`` values)."""
    h = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id, ts = h["webhook-id"], int(h["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - ts) > tolerance_s:
        return False
    expected = sign(secret, msg_id, ts, body).split(",", 1)[1]
    for part in h.get("webhook-signature", "").split():
        version, _, value = part.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


def message_id(key: str) -> str:
    """The webhook-id for an idempotency key: stable across retries and restarts."""
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:24]


# ---------------------------------------------------------------- delivery

async def deliver_webhook(
    url: str,
    payload: Any,
    *,
    secret: str | None,
    key: str,
    policy: NetPolicy | ToolContext,
    effects: SideEffects,
    source: str = "tool",
    on_retry: OnDeliveryRetry | None = None,
) -> Delivery:
    """POST ``payload`` as signed JSON to ``url`` once per idempotency ``key``.

    ``policy`` decides which hosts are reachable (pass ``NetPolicy(tools, ())``
    for a URL the user configured). Raises ToolRefused for a refused URL
    (before anything is recorded); delivery failures are returned, not raised.
    """
    policy = NetPolicy.of(policy)
    body = msgspec.json.encode(payload)
    if len(body) > MAX_BODY:
        raise ToolError(f"the payload is {len(body)} bytes; the limit is {MAX_BODY}")
    parse_url(url)
    msg_id = message_id(key)
    return await deliver_effect(
        lambda: _attempt(url, body, secret, msg_id, policy), effects=effects, kind="webhook",
        target=url_for_display(url), key=key, summary=f"POST {len(body)} bytes to {url_for_display(url)}",
        source=source, message_id=msg_id, tools=policy.tools, on_retry=on_retry)


async def _attempt(url: str, body: bytes, secret: str | None, msg_id: str, policy: NetPolicy) -> str:
    """One POST: the success detail, or DeliveryFailed. Every attempt carries the
    same webhook-id (receivers de-duplicate on it) and a fresh timestamp and
    signature."""
    ts = int(time.time())
    headers = {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(ts)}
    if secret:
        headers["webhook-signature"] = sign(secret, msg_id, ts, body)
    try:
        with trio.fail_after(policy.tools.fetch_timeout_s):
            async with PinnedClient(policy) as pc:
                target = await pc.check(url)
                response = await pc.send("POST", target, content=body, headers=headers)
                await response.aclose()  # the status is the answer; the body is not read
    except trio.TooSlowError:
        raise DeliveryFailed("timed out", retryable=True) from None
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"connection failed: {exc}", retryable=True) from None
    except ToolRefused as exc:  # refused before sending: say how to allow a trusted private receiver
        hostport = exc.data.get("private_host")
        if hostport:
            raise ToolRefused(f"{exc.message}; {allow_private_hint(hostport)}", **exc.data) from None
        raise
    except ToolError as exc:  # DNS failure: worth another try
        raise DeliveryFailed(exc.message, retryable=True) from None
    status = response.status_code
    if 200 <= status < 300:
        return f"HTTP {status}"
    if 300 <= status < 400:
        raise DeliveryFailed(f"HTTP {status} redirect (redirects are not followed)", retryable=False)
    raise DeliveryFailed(f"HTTP {status}", retryable=status in RETRY_STATUS,
                         retry_after=retry_after_from_headers(response.headers))


# ---------------------------------------------------------------- the tool

class SendWebhookParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(
        min_length=1, max_length=4096,
        description="The goal's webhook URL, or a URL on one of the goal's allowed domains.",
    )]
    payload: Annotated[dict[str, Any], msgspec.Meta(description="JSON object to POST (signed).")]


class SendWebhook:
    name: ClassVar[str] = "send_webhook"
    description: ClassVar[str] = (
        "POST a JSON object, signed (Standard Webhooks), to the goal's webhook URL. "
        "Each call is delivered at most once."
    )
    Params: ClassVar[type[msgspec.Struct]] = SendWebhookParams
    timeout_s: ClassVar[float] = 120.0
    side_effect: ClassVar[bool] = True
    working_memory: ClassVar[tuple[str, str] | None] = ("webhooks_sent", "url")
    ledger: ClassVar[bool] = True
    read_only: ClassVar[bool] = False
    idempotent: ClassVar[bool] = False
    external: ClassVar[bool] = True
    default: ClassVar[bool] = True

    @staticmethod
    def output(args: dict[str, Any]) -> tuple[str, str] | None:
        return ("webhook", msgspec.json.encode({"url": args.get("url")}).decode())

    async def run(self, params: SendWebhookParams, ctx: ToolContext) -> str:
        goal = ctx.goal
        if goal.webhook_url and params.url == goal.webhook_url:
            policy = NetPolicy(ctx.tools, ())  # the user chose this URL
        else:
            host = parse_url(params.url).host
            if not goal.allowed_domains or not host_allowed(host, goal.allowed_domains):
                allowed = goal.webhook_url or "none configured"
                raise ToolRefused(f"webhooks may only go to the goal's webhook URL ({allowed}) or its allowed domains")
            policy = NetPolicy.of(ctx)
        outcome = await deliver_webhook(
            params.url, params.payload, secret=goal.webhook_secret,
            key=ctx.effect_key, policy=policy, effects=ctx.effects, on_retry=ctx.on_retry,
        )
        if outcome.status == "refused":
            raise ToolRefused(f"the webhook was not sent: {outcome.detail}")
        if outcome.status in ("failed", "unknown"):
            raise ToolError(f"the webhook was not delivered after {outcome.attempts} attempt(s): {outcome.detail}")
        if outcome.status == "skipped":
            return f"Not sent: {outcome.detail}."
        return f"Webhook delivered ({outcome.detail}, webhook-id {outcome.message_id})."
