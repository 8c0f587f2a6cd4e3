"""A private environment for a daemon under test or benchmark: its own XDG
directories (0700) and HOME under ``base``, nothing from the caller's
provider, systemd or agentd settings, and the fake LLM as the provider."""

from __future__ import annotations

import os
from pathlib import Path

# Variables of the caller that must not reach the daemon (its provider, its
# systemd hand-over, its own agentd settings).
_DROP = ("LLM_", "OPENAI_", "OPENROUTER_", "OLLAMA_", "AGENTD_", "SMTP_", "NOTIFY_", "LISTEN_", "JOURNAL_",
         "WATCHDOG_", "DBUS_SESSION_BUS_ADDRESS")  # a test daemon never reaches the person's desktop


def daemon_env(base: Path, llm_url: str | None, *, api_key: str = "sk-test-key-123", **extra: str) -> dict[str, str]:
    """os.environ without the provider/systemd/agentd variables, XDG dirs and
    HOME under ``base``, NO_COLOR, the OpenAI-compatible fake at ``llm_url``
    (None: no provider), then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
    for var, name in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state"),
                      ("XDG_RUNTIME_DIR", "run")):
        d = base / name
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(d, 0o700)
        env[var] = str(d)
    env["HOME"] = str(base / "home")
    (base / "home").mkdir(exist_ok=True)
    env["NO_COLOR"] = "1"
    if llm_url:
        env.update(LLM_PROVIDER="openai", OPENAI_API_KEY=api_key, OPENAI_BASE_URL=llm_url, OPENAI_MODEL="gpt-4o")
    env.update(extra)
    return env


def write_config(env: dict[str, str], text: str) -> Path:
    """``text`` as the daemon's config.toml (0600) in ``env``'s XDG config dir."""
    path = Path(env["XDG_CONFIG_HOME"]) / "agentd" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, 0o600)
    return path
