"""``agentctl init``: write config.toml (0600) for a provider.

Non-interactive: ``--provider`` is required. On a terminal without
``--provider``, it asks for the provider, model and key (``agentctl.repl.prompts``),
writes the file, runs the tool-calling check if agentd is running, and offers
to install the systemd user unit (``agentctl server install``).
"""

from __future__ import annotations

import os
import sys

from agentd.shared.config import API_KEY_VARS

from .. import tomlfile
from ..context import Context, Failure, UsageError
from .config import _validate, config_path


def init_data(provider: str, model: str | None, api_key: str | None, base_url: str | None) -> dict:
    """The config file's tables for these choices."""
    data: dict = {"provider": {"name": provider}}
    if model:
        data["provider"]["model"] = model
    section = {k: v for k, v in (("api_key", api_key), ("base_url", base_url)) if v}
    if section:
        data[provider] = section
    return data


def cmd_init(ctx: Context) -> int | None:
    a = ctx.args
    path = config_path(ctx)
    if os.path.exists(path) and not a.force:
        raise Failure(f"{path} already exists; use --force to overwrite it "
                      "or `agentctl config set` to change one value.")
    if not a.provider:
        if sys.stdin.isatty() and ctx.stdout.isatty() and not ctx.json:
            return _interactive(ctx, path)
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
    env = API_KEY_VARS.get(a.provider)
    if env and not api_key and not os.environ.get(env):
        ctx.warn(f"no API key: set {env} or run `agentctl config set {a.provider}.api_key -`.")
    if not a.model:
        ctx.warn("no model chosen: set one with `agentctl config set provider.model NAME`.")
    ctx.info(next_steps())


def next_steps() -> str:
    """What to run after init: start agentd (with the systemd user unit when
    a user manager runs, else directly), then create a goal."""
    from .. import units

    start = ("`agentctl server install --now` (a systemd user unit: agentd starts with your session) "
             "or `agentctl server start`" if units.manager_state() is not None else "`agentctl server start`")
    return f"Next: {start}, then `agentctl goal create \"…\"`."


def _interactive(ctx: Context, path: str) -> int:
    from ..repl.prompts import Abandoned, init_form

    try:
        answers = init_form()
    except Abandoned:
        ctx.info("Nothing written.")
        return 130
    data = init_data(answers["provider"], answers["model"], answers["api_key"], answers["base_url"])
    _validate(data, path)
    tomlfile.write_private(path, tomlfile.dumps(data))
    ctx.info(f"Wrote {path} (mode 0600).")
    code = _check(ctx)
    try:
        _offer_unit(ctx)
    except Abandoned:
        pass
    return code


def _check(ctx: Context) -> int:
    """The tool-calling check, if agentd runs (after it re-read the file)."""
    from ..client import ClientError, DaemonNotReachable
    from .provider import CHECK_TIMEOUT_S

    try:
        ctx.call("daemon.reload", {})
        ctx.info("Checking that the model can call tools…")
        st = ctx.call("provider.check", {}, timeout=max(ctx.timeout, CHECK_TIMEOUT_S))
    except DaemonNotReachable:
        ctx.info("agentd is not running, so the tool-calling check waits: it runs when agentd starts "
                 "(see `agentctl server status`), or run `agentctl provider check` once it is up.")
        return 0
    except ClientError as exc:
        ctx.warn(f"the check could not run: {exc}")
        return 1
    if st.get("ok"):
        ctx.info(f"OK: {st.get('provider')}/{st.get('model')} can call tools.")
        return 0
    ctx.warn(f"{st.get('provider')}/{st.get('model')}: {st.get('message') or st.get('state')}")
    return 1


def _offer_unit(ctx: Context) -> None:
    from ..cli import run
    from ..repl.prompts import confirm

    if confirm("Install the systemd user unit (agentd starts with your session)?", default=True):
        run(["server", "install"])
    else:
        ctx.info(next_steps())
