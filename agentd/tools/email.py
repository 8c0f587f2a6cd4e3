"""send_email and ``deliver_email``: plain-text mail through the configured SMTP server.

smtplib runs in a worker thread (each socket operation bounded by
``[smtp] timeout_s``). Recipients must be among the goal's ``email_to``. The
Message-ID is derived from the idempotency key, and the same ledger
discipline as webhooks applies: intent before the first attempt, outcome
after (SMTP not configured: ``refused``), never sent twice for one key. Temporary failures (connection errors,
4xx replies) are retried with doubling backoff; 5xx replies are final.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Annotated, Any, ClassVar

import msgspec
import trio

from ..shared.config import SmtpConfig, ToolsConfig
from ..protocol.errors import ToolError, ToolRefused
from .base import SideEffects, ToolContext
from .delivery import Delivery, DeliveryFailed, OnDeliveryRetry, deliver_effect

MAX_BODY_CHARS = 200_000


def message_id(key: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@agentd.local>"


def check_configured(smtp: SmtpConfig) -> str:
    """The sender address; ToolError naming the keys to set if SMTP is not configured."""
    missing = [k for k in ("host",) if not getattr(smtp, k)]
    sender = smtp.sender or smtp.username
    if not sender or "@" not in sender:
        missing.append("sender")
    if missing:
        keys = ", ".join(f"[smtp] {k}" for k in missing)
        raise ToolError(f"email is not configured: set {keys} in config.toml (or SMTP_HOST / SMTP_FROM), e.g. "
                        "`agentctl config set smtp.host mail.example.com` and `agentctl config set smtp.sender "
                        "agent@example.com`, then `agentctl server reload`")
    return sender  # type: ignore[return-value]


def build_message(sender: str, to: list[str], subject: str, body: str, key: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = " ".join(subject.split())
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(key)
    msg.set_content(body)
    return msg


def _send_sync(smtp: SmtpConfig, msg: EmailMessage, to: list[str]) -> None:
    """Blocking send; raises smtplib/OSError exceptions."""
    context = ssl.create_default_context()
    assert smtp.host is not None
    if smtp.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s, context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
    with client:
        client.ehlo()
        if smtp.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if smtp.username and smtp.password:
            client.login(smtp.username, smtp.password)
        client.send_message(msg, to_addrs=to)


def _classify(exc: Exception) -> tuple[bool, str]:
    """(retryable, detail) for an SMTP failure. Never includes credentials."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return False, f"SMTP login refused ({exc.smtp_code}); check [smtp] username and password"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return False, f"recipients refused: {', '.join(exc.recipients)}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500, f"SMTP error {exc.smtp_code}: {exc.smtp_error.decode(errors='replace')[:200]}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return False, f"the SMTP server does not support this ({exc}); check [smtp] security"
    if isinstance(exc, (smtplib.SMTPException, OSError)):
        return True, f"{type(exc).__name__}: {exc}"
    raise exc


async def deliver_email(
    to: list[str],
    subject: str,
    body: str,
    *,
    key: str,
    smtp: SmtpConfig,
    tools: ToolsConfig,
    effects: SideEffects,
    source: str = "tool",
    on_retry: OnDeliveryRetry | None = None,
) -> Delivery:
    """Send one email per idempotency ``key``. Every outcome is returned and
    recorded, none raised: SMTP not configured is ``refused`` (its detail names
    the keys to set), delivery failures ``failed``."""
    sender = smtp.sender or smtp.username or ""
    msg = build_message(sender, to, subject, body, key)

    async def once() -> str:
        try:
            # Abandoned on cancel: a server that drips its answers must not hold up the run's cancel.
            await trio.to_thread.run_sync(_send_sync, smtp, msg, to, abandon_on_cancel=True)
        except Exception as exc:  # noqa: BLE001 - classified; unknown kinds re-raised
            retryable, detail = _classify(exc)
            raise DeliveryFailed(detail, retryable=retryable) from None
        return f"accepted by {smtp.host}"

    return await deliver_effect(
        once, effects=effects, kind="email", target=", ".join(to), key=key,
        summary=f"email {subject[:80]!r} to {len(to)} recipient(s)", source=source,
        message_id=msg["Message-ID"], tools=tools, on_retry=on_retry, check=lambda: check_configured(smtp))


class SendEmailParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    to: Annotated[list[Annotated[str, msgspec.Meta(min_length=3, max_length=254)]], msgspec.Meta(
        min_length=1, max_length=20, description="Recipients; each must be one of the goal's configured addresses.",
    )]
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="Subject line.")]
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_BODY_CHARS, description="Plain-text (markdown) body.")]


class SendEmail:
    name: ClassVar[str] = "send_email"
    description: ClassVar[str] = "Send a plain-text email to the goal's configured recipients. Each call is sent at most once."
    Params: ClassVar[type[msgspec.Struct]] = SendEmailParams
    timeout_s: ClassVar[float] = 120.0
    side_effect: ClassVar[bool] = True
    working_memory: ClassVar[tuple[str, str] | None] = ("emails_sent", "subject")
    ledger: ClassVar[bool] = True
    read_only: ClassVar[bool] = False
    idempotent: ClassVar[bool] = False
    external: ClassVar[bool] = True
    default: ClassVar[bool] = True

    @staticmethod
    def output(args: dict[str, Any]) -> tuple[str, str] | None:
        return ("email", msgspec.json.encode({"to": args.get("to"), "subject": args.get("subject")}).decode())

    async def run(self, params: SendEmailParams, ctx: ToolContext) -> str:
        allowed = {a.strip().lower() for a in ctx.goal.email_to}
        if not allowed:
            raise ToolRefused("this goal has no email recipients configured (email_to), so email cannot be sent")
        refused = [a for a in params.to if a.strip().lower() not in allowed]
        if refused:
            raise ToolRefused(
                f"not allowed to email {', '.join(refused)}; allowed recipients: {', '.join(ctx.goal.email_to)}"
            )
        if any(ch in params.subject for ch in "\r\n"):
            raise ToolError("the subject must be one line")
        outcome = await deliver_email(
            [a.strip() for a in params.to], params.subject, params.body,
            key=ctx.effect_key, smtp=ctx.smtp, tools=ctx.tools, effects=ctx.effects, on_retry=ctx.on_retry,
        )
        if outcome.status == "refused":
            raise ToolError(f"the email was not sent: {outcome.detail}")
        if outcome.status in ("failed", "unknown"):
            raise ToolError(f"the email was not sent after {outcome.attempts} attempt(s): {outcome.detail}")
        if outcome.status == "skipped":
            return f"Not sent: {outcome.detail}."
        return f"Email sent to {', '.join(params.to)} ({outcome.detail})."
