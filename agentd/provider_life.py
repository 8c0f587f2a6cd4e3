"""The provider's life in the daemon: validated at start, re-validated with
backoff while degraded, checked on demand (``provider.check``).

- incompatible (the model cannot call tools, a key is missing): the daemon
  refuses to start (``ProviderIncompatible`` escapes ``startup``);
- degraded (the provider cannot be reached): the daemon starts, status says
  degraded and why, ``revalidate`` retries with backoff; runs wait for it a
  bounded time (``provider.wait_for_provider_s``) and then fail with the reason.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from . import log
from .protocol.errors import ConfigError, ProviderError, ProviderIncompatible, ProviderUnavailable
from .protocol import methods as m
from .providers.base import CheckResult
from .retry import RetryPolicy
from .timeutil import iso

if TYPE_CHECKING:
    from .core import Core
    from .providers.base import Provider
    from .shared.config import Config

_log = log.get("agentd.provider")
PING_EVERY_S = 5.0
PING_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 2.0


def make(app: "Core") -> None:
    resolved = app.config.resolved_provider()
    if resolved is None:
        raise ConfigError(
            "no LLM provider is configured: set LLM_PROVIDER (openai, openrouter or ollama) and the model "
            "(e.g. OPENAI_MODEL=gpt-4o with OPENAI_API_KEY), or run `agentctl init`")
    app.provider = build(app, app.config, resolved)
    # Import the HTTP stack now rather than in the first run (it costs CPU).
    importlib.import_module("ollama" if resolved.name == "ollama" else "httpx")


def build(app: "Core", cfg: "Config", resolved) -> "Provider":
    """The provider ``resolved`` (from ``cfg``) names, its retries counted in
    the metrics, behind the app's circuit breaker when there is one. Raises
    ConfigError when it cannot be built. Used at start and by reload."""
    from .breaker import GuardedProvider
    from .providers.factory import make_provider

    provider = make_provider(resolved, cfg.provider,
                             on_retry=lambda attempt, delay, exc: app.metrics.provider_retry(type(exc).__name__),
                             concurrency=cfg.daemon.max_concurrent_runs)
    return GuardedProvider(provider, app.breakers.get(f"provider:{resolved.name}:{resolved.base_url or 'default'}"))


def _record(app: "Core", result) -> m.ProviderStatus:
    resolved = app.config.resolved_provider()
    status = m.ProviderStatus(provider=result.provider, model=result.model, ok=result.state == "ok",
                              checked_at=iso(app.now()), message=result.message,
                              base_url=resolved.base_url if resolved else None, state=result.state)
    app.provider_status = status
    if status.ok:
        app.provider_ready.set()
    elif app.provider_ready.is_set():
        app.provider_ready = trio.Event()
    return status


async def check_now(app: "Core") -> m.ProviderStatus:
    result = await app.provider.check()
    status = _record(app, result)
    _log.info("provider checked", provider=status.provider, model=status.model, state=status.state,
              detail=status.message)
    return status


async def still_reachable(app: "Core") -> None:
    """Before ``daemon.status``: while the provider counts as ok after a real
    check, ask the server whether it still answers (``ping``, at most every
    ``PING_EVERY_S``, bounded by ``PING_TIMEOUT_S``), so status never says ok
    for a server that went away. When it does not answer, the status becomes
    degraded with the reason, runs wait for it, and ``revalidate`` checks
    again with backoff. Does nothing when the check is off or already failing."""
    st = app.provider_status
    if st is None or st.state != "ok" or st.checked_at is None:
        return
    now = time.monotonic()
    if now - app.provider_pinged < PING_EVERY_S:
        return
    app.provider_pinged = now
    error: str | None = None
    try:
        with trio.fail_after(PING_TIMEOUT_S):
            await app.provider.ping()
    except trio.TooSlowError:
        error = f"no answer within {PING_TIMEOUT_S:g} s"
    except ProviderUnavailable as exc:
        error = exc.message
    except ProviderError:
        return  # it answered, even if with a refusal: reachable
    if error is None or app.provider_status is not st:
        return
    result = CheckResult(state="degraded", message=f"unreachable: {error}", provider=st.provider, model=st.model)
    _record(app, result)
    _log.warning("provider unreachable", provider=st.provider, model=st.model, detail=error)


async def startup(app: "Core") -> None:
    if not app.config.provider.check_on_start:
        app.provider_status = m.ProviderStatus(provider=app.provider.name, model=app.provider.model, ok=True,
                                               message="not checked (provider.check_on_start = false)")
        app.provider_ready.set()
        return
    status = await check_now(app)
    if status.state == "incompatible":
        raise ProviderIncompatible(status.message, provider=status.provider, model=status.model)


async def revalidate(app: "Core", *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """While degraded, re-check with exponential backoff (capped at 5 minutes)."""
    task_status.started()
    import random

    policy = RetryPolicy(max_attempts=1_000_000, base_delay=2.0, max_delay=300.0)
    rng = random.Random()
    attempt = 0
    while True:
        if app.provider_ready.is_set():
            attempt = 0
            await trio.sleep(60)
            continue
        attempt += 1
        await trio.sleep(policy.delay(attempt, rng))
        try:
            await check_now(app)
        except Exception as exc:  # keep trying; the status says why
            _log.warning("provider re-check failed", error=str(exc))


async def replace(app: "Core", new: "Provider", result: CheckResult | None,
                  held_by: Callable[["Provider"], int]) -> int:
    """Serve new runs with ``new`` (its check ``result``, None when not
    checked). The replaced provider is closed now if no run holds it, else
    when the last run holding it ends (``release``). Returns how many runs
    still hold it (``held_by``: how many runs hold a provider)."""
    old, app.provider = app.provider, new
    if result is None:
        app.provider_status = m.ProviderStatus(provider=new.name, model=new.model, ok=True,
                                               message="not checked (provider.check_on_start = false)")
        app.provider_ready.set()
    else:
        _record(app, result)
    _log.info("provider replaced", provider=new.name, model=new.model,
              provider_state=app.provider_status.state if app.provider_status else "unchecked")
    if old is None or old is new:
        return 0
    held = held_by(old)
    if held:
        app.retired_providers.append(old)
    else:
        await close(old)
    return held


async def release(app: "Core", provider: "Provider | None", held_by: Callable[["Provider"], int]) -> None:
    """A run holding ``provider`` ended: close it if a reload replaced it
    and no other run holds it."""
    if provider is None or provider is app.provider or provider not in app.retired_providers:
        return
    if held_by(provider):
        return
    app.retired_providers.remove(provider)
    await close(provider)


async def close(provider: "Provider") -> None:
    """Close a provider no run uses any more; bounded, never raises."""
    with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT_S):
        try:
            await provider.aclose()
        except Exception as exc:  # closing is tidying up: log it, go on
            _log.warning("could not close a replaced provider", error=str(exc))
            return
    _log.info("replaced provider closed", provider=provider.name, model=provider.model)
