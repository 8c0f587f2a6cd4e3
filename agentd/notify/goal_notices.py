"""Notifications about a goal's runs, on the goal's own channels: its webhook
(signed) and its email recipients. Used for a run's completion
(agent.executor) and for a call that waits for a person (approvals.notify).
Each message goes at most once (the effects ledger, by key) and how it went is
journaled; a notification never changes a run's outcome."""

from __future__ import annotations

from typing import Any

from ..ledger import LedgerEffects
from ..tools import email as email_tool
from ..tools import webhook
from ..tools.delivery import deliver_notice
from ..tools.net import NetPolicy


async def send_goal_notices(app: Any, run_id: str, goal: Any, *, source: str, key: str, payload: dict[str, Any],
                            subject: str, body: str, email: bool = True) -> None:
    """A notification about one of the goal's runs (``source``: completion,
    approval) to the goal's webhook (``payload``, signed) and, if ``email``,
    its email recipients, each at most once (ledger keys ``<key>-webhook``,
    ``<key>-email``) and journaled by ``tools.delivery.deliver_notice``."""
    effects = LedgerEffects(app.store, app.now, app.redactor.redact, app.metrics, run_id, goal.id)
    on_retry = app.metrics.delivery_retry
    if goal.webhook_url:
        await deliver_notice(app, run_id, goal.id, "webhook", goal.webhook_url, lambda: webhook.deliver_webhook(
            goal.webhook_url, payload, secret=goal.webhook_secret, key=f"{key}-webhook",
            policy=NetPolicy(app.config.tools, ()), effects=effects, source=source, on_retry=on_retry), what=source)
    to = list(goal.params.email_to)
    if to and email:
        await deliver_notice(app, run_id, goal.id, "email", ", ".join(to), lambda: email_tool.deliver_email(
            to, subject, body, key=f"{key}-email", smtp=app.config.smtp, tools=app.config.tools, effects=effects,
            source=source, on_retry=on_retry), what=source)
