"""``agentctl init``: write config.toml (0600) for a provider.

Non-interactive: ``--provider`` is required. (The interactive prompt, for
``agentctl init`` alone on a terminal, comes with the REPL work.)
"""

from __future__ import annotations

import os
import sys

from .. import tomlfile
from ..context import Context, Failure, UsageError
from .config import _validate, config_path

KEY_ENV = {"openai": "OPENAI_API_KEY", "openrouter": "OPENROUTER_API_KEY"}


def init_data(provider: str, model: str | None, api_key: str | None, base_url: str | None) -> dict:
    """The config file's tables for these choices."""
    data: dict = {"provider": {"name": provider}}
    if model:
        data["provider"]["model"] = model
    section = {k: v for k, v in (("api_key", api_key), ("base_url", base_url)) if v}
    if section:
        data[provider] = section
    return data


def cmd_init(ctx: Context) -> None:
    a = ctx.args
    path = config_path(ctx)
    if os.path.exists(path) and not a.force:
        raise Failure(f"{path} already exists; use --force to overwrite it "
                      "or `agentctl config set` to change one value.")
    if not a.provider:
        raise UsageError("--provider is required (openai, openrouter or ollama)")
    api_key = a.api_key
    if api_key == "-":
        api_key = sys.stdin.readline().strip()
    if api_key and a.provider == "ollama":
        raise UsageError("ollama takes no API key")
    data = init_data(a.provider, a.model, api_key, a.base_url)
    _validate(data, path)
    tomlfile.write_private(path, tomlfile.dumps(data))
    if ctx.json:
        return ctx.emit_json({"file": path, "provider": a.provider, "model": a.model})
    ctx.info(f"Wrote {path} (mode 0600).")
    env = KEY_ENV.get(a.provider)
    if env and not api_key and not os.environ.get(env):
        ctx.warn(f"no API key: set {env} or run `agentctl config set {a.provider}.api_key -`.")
    if not a.model:
        ctx.warn("no model chosen: set one with `agentctl config set provider.model NAME`.")
    ctx.info("Next: `systemctl --user enable --now agentd` or `agentctl server start`, "
             "then `agentctl goal create \"…\"`.")
