"""``daemon.reload``: re-read the configuration and apply what can change
while the daemon runs.

Applied at once: the provider and model (and every provider setting: keys,
base URLs, timeouts, retries), the tool settings, SMTP, the run limits
(``runs.*``), ``daemon.max_concurrent_runs``, ``daemon.shutdown_grace_s`` and
the log level. Runs in flight keep what they started with: the config
snapshot, the tool registry and the provider object they hold; a provider
replaced by a reload is closed when the last run holding it ends.

Needs a restart (reported, not applied; the daemon keeps the old value):
:data:`RESTART_KEYS` — the socket, the database, the artifacts directory and
the settings the RPC server was built with.

All or nothing: the file is parsed and validated (the log level too), the
new provider built and (when ``provider.check_on_start``) checked before
anything changes. An invalid file (an unknown log level among them), a
provider that cannot be built or a model that cannot call tools raises
ConfigError and leaves the daemon as it was (``log_level`` given: an unknown
one raises ValidationFailed). A provider
that cannot be reached is applied anyway, degraded, as at start-up: the
status says why and the re-check with backoff goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from . import log
from .shared.config import SECRET_KEYS, Config
from .protocol.errors import ConfigError
from .protocol import methods as m
from . import provider_life

if TYPE_CHECKING:
    from .app import App
    from .providers.base import CheckResult, Provider

_log = log.get("agentd")

RESTART_KEYS = frozenset({
    "daemon.socket", "daemon.db", "daemon.artifacts_dir", "daemon.synchronous", "daemon.client_idle_timeout_s",
    "daemon.partial_line_timeout_s", "daemon.max_connections",
})
PROVIDER_SECTIONS = ("provider.", "openai.", "openrouter.", "ollama.")


def flatten(cfg: Config) -> dict[str, Any]:
    """``{"section.key": value}`` of every setting (``config_file`` left out)."""
    out: dict[str, Any] = {}
    for section, values in msgspec.to_builtins(cfg).items():
        if isinstance(values, dict):
            for key, value in values.items():
                out[f"{section}.{key}"] = value
    return out


def _shown(key: str, value: Any) -> Any:
    if key == "mcp.servers":  # their env and headers hold secrets: the names say enough
        return [s.get("name") for s in value or []]
    return "***" if key.rsplit(".", 1)[-1] in SECRET_KEYS and value else value


def diff(old: Config, new: Config) -> list[m.ConfigChange]:
    a, b = flatten(old), flatten(new)
    return [m.ConfigChange(key=k, old=_shown(k, a.get(k)), new=_shown(k, b.get(k)),
                           restart=k in RESTART_KEYS)
            for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


def _keep_restart_keys(old: Config, new: Config) -> Config:
    """``new`` with the settings that need a restart at their running values."""
    daemon = msgspec.structs.replace(new.daemon, **{k.split(".", 1)[1]: getattr(old.daemon, k.split(".", 1)[1])
                                                    for k in RESTART_KEYS})
    applied = msgspec.structs.replace(new, daemon=daemon)
    applied.config_file = new.config_file
    return applied


async def reload(app: "App", *, log_level: str | None) -> m.ReloadResult:
    """Re-read the configuration with ``app.load_config`` and apply it (see the
    module docstring). ``log_level`` given: only the log level changes, the
    file is not read. One reload at a time: each diffs against what the last
    one applied."""
    async with app.reload_lock:
        return await _reload(app, log_level)


async def _reload(app: "App", log_level: str | None) -> m.ReloadResult:
    if log_level is not None:
        before = log.get_level()
        log.set_level(log_level)  # ValidationFailed names the levels
        changes = [m.ConfigChange(key="daemon.log_level", old=before, new=log.get_level())] \
            if before != log.get_level() else []
        _log.info("reloaded", log_level=log.get_level())
        return m.ReloadResult(config=app.config.config_file, changed=changes, log_level=log.get_level())
    try:
        fresh = app.load_config()
    except ConfigError as exc:
        raise ConfigError(f"nothing was reloaded: {exc.message}", **exc.data) from None
    old = app.config
    changes = diff(old, fresh)
    app.redactor.add_config(fresh)  # a new key never reaches a log line or a run's record
    applied = _keep_restart_keys(old, fresh)
    provider = None
    if any(c.key.startswith(PROVIDER_SECTIONS) or c.key == "daemon.max_concurrent_runs" for c in changes):
        provider = await _new_provider(app, applied)
    # Nothing can fail from here on.
    app.config = applied
    app.stop_deadline_s = applied.daemon.shutdown_grace_s
    log.set_level(applied.daemon.log_level)
    if any(c.key.startswith("tools.") for c in changes):
        app.tools = app.make_tools(applied)  # runs in flight keep the registry they hold
    if any(c.key.startswith("mcp.") for c in changes):
        app.mcp.reconfigure(applied.mcp)
    if app.runs.max_concurrent != max(1, applied.daemon.max_concurrent_runs):
        app.runs.max_concurrent = max(1, applied.daemon.max_concurrent_runs)
        app.runs.request_fill()
    held = 0
    if provider is not None:
        new, result = provider
        held = await provider_life.replace(app, new, result, app.runs.holding)
    applied_now = [c for c in changes if not c.restart]
    later = [c for c in changes if c.restart]
    _log.info("reloaded", changed=[c.key for c in applied_now], restart_needed=[c.key for c in later],
              log_level=log.get_level())
    return m.ReloadResult(config=applied.config_file, changed=applied_now, restart_needed=later,
                          log_level=log.get_level(), provider_replaced=provider is not None,
                          runs_on_old_provider=held)


async def _new_provider(app: "App", cfg: Config) -> tuple["Provider", CheckResult | None]:
    """The provider ``cfg`` describes, built and (unless check_on_start is
    off) checked. Raises ConfigError when it cannot be built or the model
    cannot call tools; nothing is left open then."""
    try:
        provider = provider_life.build(app, cfg, cfg.resolved_provider())
    except ConfigError as exc:
        raise ConfigError(f"nothing was reloaded: {exc.message}", **exc.data) from None
    if not cfg.provider.check_on_start:
        return provider, None
    try:
        result = await provider.check()
    except BaseException:
        await provider_life.close(provider)
        raise
    if result.state == "incompatible":
        await provider_life.close(provider)
        raise ConfigError(f"nothing was reloaded: {result.provider}/{result.model}: {result.message}",
                          key="provider.model")
    return provider, result
