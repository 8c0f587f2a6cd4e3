"""Delivering a side effect (a webhook POST, an email) with retries.

Every retry goes through ``agentd.retry`` with one policy built from the
config (``tools.delivery_attempts``, ``tools.delivery_backoff_s``):
exponential backoff with full jitter, honouring a receiver's ``Retry-After``.
Each retry is reported to ``on_retry(kind)`` so the metrics count it.

Every ledger record ``deliver_effect`` opens is closed with what happened:

    delivered  the receiver accepted it (detail: its answer)
    failed     every attempt failed; detail says why (nothing was accepted)
    refused    not sent at all: the destination or the configuration does not
               allow it; detail says why and how to allow it
    unknown    an attempt ended in a way that does not tell whether the
               receiver got it (an unexpected error mid-attempt); not re-sent

Only cancellation (and a store that cannot be written) leaves an ``intent``
behind; the run manager marks those ``unknown`` when the run ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec

from .. import log
from ..shared.config import ToolsConfig
from ..protocol import events as ev
from ..protocol.errors import AgentdError, ToolError, ToolRefused
from ..retry import RetryPolicy, retry
from .base import EffectRecord, SideEffects

OnDeliveryRetry = Callable[[str], None]
Outcome = Literal["delivered", "failed", "refused", "unknown"]

_log = log.get("agentd.delivery")


class Delivery(msgspec.Struct, frozen=True):
    """What happened to one side effect."""

    status: Literal["delivered", "failed", "refused", "unknown", "skipped"]
    detail: str
    attempts: int = 0
    message_id: str = ""


EARLIER_UNKNOWN = "an earlier attempt's outcome is unknown (it may have been delivered); not sent again"


def earlier_outcome(record: EffectRecord) -> Delivery | None:
    """None if ``record`` is a fresh intent; else what to report instead of sending."""
    if record.status == "intent" and record.attempts == 0:
        return None
    if record.status == "delivered":
        return Delivery("skipped", f"already delivered earlier ({record.detail or 'no detail'}); not sent again", record.attempts)
    if record.status == "failed":
        return Delivery("skipped", f"an earlier attempt failed ({record.detail or 'no detail'}); not sent again", record.attempts)
    if record.status == "refused":
        return Delivery("skipped", f"it was refused earlier ({record.detail or 'no detail'}); not sent again", record.attempts)
    return Delivery("skipped", EARLIER_UNKNOWN, record.attempts)


class DeliveryFailed(Exception):
    """One attempt failed. ``retryable``: worth another attempt."""

    def __init__(self, detail: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after


def delivery_policy(tools: ToolsConfig) -> RetryPolicy:
    base = max(tools.delivery_backoff_s, 0.0)
    return RetryPolicy(max_attempts=max(1, tools.delivery_attempts), base_delay=base,
                       max_delay=max(base * 8, 30.0))


async def deliver(once: Callable[[], Awaitable[str]], tools: ToolsConfig, *, kind: str,
                  on_retry: OnDeliveryRetry | None = None) -> tuple[Outcome, str, int]:
    """Call ``once()`` (it returns the success detail or raises DeliveryFailed)
    under the delivery policy. Returns ``(status, detail, attempts)``; never
    raises except for cancellation.

    ``once`` raising ToolRefused means the destination was refused before
    anything was sent (``refused``); any other exception ends the delivery
    as ``unknown`` (logged with its traceback): the request may have gone out.
    """
    attempts = 0

    async def attempt() -> str:
        nonlocal attempts
        attempts += 1
        return await once()

    def transient(exc: BaseException) -> float | bool | None:
        if isinstance(exc, DeliveryFailed) and exc.retryable:
            return exc.retry_after if exc.retry_after is not None else True
        return None

    def counted(attempt_no: int, delay: float, exc: BaseException) -> None:
        if on_retry is not None:
            on_retry(kind)

    try:
        detail = await retry(attempt, policy=delivery_policy(tools), is_transient=transient, on_retry=counted)
    except DeliveryFailed as exc:
        return "failed", exc.detail, attempts
    except ToolRefused as exc:
        return "refused", exc.message, attempts - 1  # refused before it was sent
    except Exception as exc:  # noqa: BLE001 - a surprise mid-attempt: say so, never lose the record
        _log.error("delivery attempt ended unexpectedly", exc_info=exc, kind=kind, attempt=attempts)
        return "unknown", (f"attempt {attempts} ended with an unexpected error ({type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:200]}); the receiver may or may not have it; not re-sent"), attempts
    return "delivered", detail, attempts


async def deliver_effect(once: Callable[[], Awaitable[str]], *, effects: SideEffects, kind: str, target: str,
                         key: str, summary: str, source: str, message_id: str, tools: ToolsConfig,
                         on_retry: OnDeliveryRetry | None = None,
                         check: Callable[[], object] | None = None) -> Delivery:
    """One side effect per idempotency ``key``: commit the intent, report an
    earlier outcome instead of sending again, else ``deliver`` and commit the
    outcome (one of the four the module lists).

    ``check()`` runs after the intent is committed: a ToolError from it
    (the configuration does not allow this delivery) closes the record as
    ``refused`` with its message, and nothing is sent."""
    record = await effects.begin(kind=kind, target=target, key=key, summary=summary, source=source)
    skipped = earlier_outcome(record)
    if skipped is not None:
        return skipped
    try:
        if check is not None:
            check()
    except ToolError as exc:
        status, detail, attempts = "refused", exc.message, 0
    else:
        status, detail, attempts = await deliver(once, tools, kind=kind, on_retry=on_retry)
    await effects.finish(record.id, status=status, detail=detail, attempts=attempts)
    return Delivery(status, detail, attempts, message_id)


async def deliver_notice(app: Any, run_id: str, goal_id: str, kind: str, target: str, send, *,
                         what: str = "completion") -> None:
    """Send one notification of a run (``what``: completion, approval) and
    journal how it went; whatever happens, the run's own outcome stands (a
    notification never fails a run)."""
    try:
        delivery = await send()
    except Exception as exc:  # noqa: BLE001 - refused before recording (bad URL), or a bug of ours
        if not isinstance(exc, AgentdError):
            _log.error(f"{what} notification failed unexpectedly", exc_info=exc, kind=kind)
        error = exc.message if isinstance(exc, AgentdError) else f"{type(exc).__name__}: {exc}"
        await app.emit(run_id, goal_id, ev.NotificationFailed(kind=kind, target=target, error=error, attempts=0))
        if app.metrics is not None:
            app.metrics.notification(kind, False)
        return
    if delivery.status == "delivered":
        await app.emit(run_id, goal_id, ev.NotificationSent(kind=kind, target=target, attempts=delivery.attempts))
    elif delivery.status in ("failed", "refused", "unknown"):
        await app.emit(run_id, goal_id, ev.NotificationFailed(kind=kind, target=target, error=delivery.detail,
                                                              attempts=delivery.attempts))
    elif delivery.detail == EARLIER_UNKNOWN:  # skipped: an attempt before a crash may or may not have arrived
        await app.emit(run_id, goal_id, ev.Note(message=f"{what} {kind} to {target}: {delivery.detail}"))
