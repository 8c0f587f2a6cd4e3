"""What a model call costs: the model's price, from the configuration or from
the genai-prices database, applied to the call's real token usage.

Where a price comes from, first match wins:
1. ``[prices."MODEL"]`` in config.toml (USD per million tokens: ``input``,
   ``output``, optionally ``cached_input``). The only source for local and
   custom models; a free one says ``input = 0`` and ``output = 0``.
2. genai-prices (a maintained price database, bundled with its package: it is
   read from disk, never fetched) for OpenAI (at its own URL), OpenRouter, and
   OpenAI-compatible services that the database knows by their URL (Groq,
   DeepSeek, Together...). It knows prices that changed over time and tiers
   (a long prompt priced higher), so each call is priced at its own time.
3. Otherwise the price is unknown: ``lookup`` returns None. An OpenAI-compatible
   server at an address the database does not know (llama.cpp, vLLM, LM Studio)
   and every Ollama model are unknown until the configuration prices them: a
   local server is typically free, but that has to be said, not assumed.

Costs are integer nano-dollars, rounded up (a budget never loses to rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_CEILING, Decimal
from typing import Any, Callable

from . import log
from .shared.config import Config, ModelPrice

_log = log.get("agentd.pricing")
NANO = Decimal(1_000_000_000)
MILLION = Decimal(1_000_000)


def price_key(model: str) -> str:
    """The config key that sets ``model``'s price, as a person writes it in config.toml."""
    return f'[prices."{model}"]'


def price_hint(model: str) -> str:
    """How to set a price, for an error message."""
    return (f"set its price in config.toml: {price_key(model)} with input = ... and output = ... (USD per "
            f"million tokens; input = 0 and output = 0 for a free local model)")


def _nanos(usd: Decimal) -> int:
    return int((usd * NANO).to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True)
class Pricing:
    """One model's price. ``cost(tokens_in, cached_in, tokens_out, at_ms)``
    is the call's cost in nano-dollars; ``tokens_in`` counts the whole
    prompt, ``cached_in`` the part of it read from the provider's cache."""

    model: str
    source: str  # where the price comes from, for a person
    _calc: Callable[[int, int, int, int], Decimal]

    def cost(self, tokens_in: int, cached_in: int, tokens_out: int, at_ms: int) -> int:
        tokens_in, tokens_out = max(0, tokens_in), max(0, tokens_out)
        return _nanos(self._calc(tokens_in, min(max(0, cached_in), tokens_in), tokens_out, at_ms))

    def per_million(self, at_ms: int) -> tuple[float, float]:
        """(input, output) USD per million tokens, for display."""
        return (float(self._calc(1_000_000, 0, 0, at_ms)), float(self._calc(0, 0, 1_000_000, at_ms)))


def from_config(model: str, p: ModelPrice) -> Pricing:
    inp, out = Decimal(str(p.input)), Decimal(str(p.output))
    cached = Decimal(str(p.cached_input)) if p.cached_input is not None else inp

    def calc(tin: int, cin: int, tout: int, at_ms: int) -> Decimal:
        return ((tin - cin) * inp + cin * cached + tout * out) / MILLION

    return Pricing(model, f"config {price_key(model)}", calc)


def _local(url: str) -> bool:
    """A server on this machine or the local network: no price database knows it."""
    import ipaddress
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost") or "." not in host:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local


def _database_where(provider: Any) -> dict[str, str] | None:
    """How genai-prices should find ``provider``'s models, or None when it cannot
    (a local server, Ollama: the database is not even loaded then)."""
    name = getattr(provider, "name", "")
    if name == "openrouter":
        return {"provider_id": "openrouter"}
    if name == "openai":
        if not getattr(provider, "custom_base_url", False):
            return {"provider_id": "openai"}
        base = getattr(provider, "base_url", None)
        return {"provider_api_url": base} if base and not _local(base) else None
    return None  # ollama: local models


def from_database(provider: Any) -> Pricing | None:
    """``provider.model``'s price in genai-prices, or None (not known there)."""
    where = _database_where(provider)
    if where is None:
        return None
    import genai_prices
    from genai_prices import Usage, calc_price

    model = provider.model
    try:
        probe = calc_price(Usage(input_tokens=1, output_tokens=1), model, **where)
    except LookupError:
        return None

    def calc(tin: int, cin: int, tout: int, at_ms: int) -> Decimal:
        when = datetime.fromtimestamp(at_ms / 1000, tz=timezone.utc)
        usage = Usage(input_tokens=tin, cache_read_tokens=cin, output_tokens=tout)
        return calc_price(usage, model, genai_request_timestamp=when, **where).total_price

    found = f"{probe.provider.id} {probe.model.id}"
    return Pricing(model, f"genai-prices {genai_prices.__version__} ({found})", calc)


def lookup(config: Config, provider: Any) -> Pricing | None:
    """The price of ``provider.model``: the configuration's, else the
    database's, else None. Loading the database takes a moment the first
    time (call it from a worker thread in the daemon)."""
    model = provider.model
    own = config.prices.get(model)
    if own is not None:
        return from_config(model, own)
    try:
        return from_database(provider)
    except Exception as exc:  # noqa: BLE001 - a defect of the database is "unknown", never a guess
        _log.warning("price database lookup failed", model=model, error=f"{type(exc).__name__}: {exc}")
        return None


class PriceBook:
    """``lookup`` remembered per (configuration, provider, model): a
    reload's new configuration or provider gets a fresh lookup."""

    def __init__(self) -> None:
        # The config is kept with its entry: its id stays its own while cached.
        self._cache: dict[tuple, tuple[Config, Pricing | None]] = {}

    async def get(self, config: Config, provider: Any) -> Pricing | None:
        import trio

        key = (id(config), getattr(provider, "name", ""), getattr(provider, "base_url", None), provider.model)
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = (config, await trio.to_thread.run_sync(lookup, config, provider))
        return self._cache[key][1]
