"""Configuration: a TOML file, then the environment, then command-line flags.

Precedence: flag > environment > config file > default. The file lives at
``~/.config/agentd/config.toml`` (``--config``/``AGENTD_CONFIG`` override).
Every key is documented in man/agentd.toml.5.

Raises ``ConfigError`` with the offending key's path when the file is not
valid TOML or a value has the wrong type.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from .. import __version__
from ..protocol import loglevels
from ..protocol.errors import ConfigError
from . import paths
from .mcp import McpConfig, check as check_mcp

ProviderName = Literal["openai", "openrouter", "ollama"]

# Ranges of the config values (checked when the file is loaded, and by
# `agentctl config set` before it writes).
Positive = Annotated[float, msgspec.Meta(gt=0)]  # a timeout, in seconds
NonNegative = Annotated[float, msgspec.Meta(ge=0)]  # a delay or a grace period, in seconds
Count = Annotated[int, msgspec.Meta(ge=0)]
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]


# Strings with a shape, and a good value of each (`agentctl config set` shows it).
URL_PATTERN = r"^https?://[^\s/]+"
SECRET_PATTERN = r"^whsec_[A-Za-z0-9+/]+={0,2}$"
EMAIL_PATTERN = r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$"
PATTERN_EXAMPLES = {URL_PATTERN: "https://hooks.example.com/agentd", SECRET_PATTERN: "whsec_c2VjcmV0LWtleQ==",
                    EMAIL_PATTERN: "me@example.com"}


class _C(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class DaemonConfig(_C):
    socket: str | None = None
    db: str | None = None
    artifacts_dir: str | None = None
    log_level: loglevels.LogLevel = "info"
    max_concurrent_runs: AtLeastOne = 4
    shutdown_grace_s: NonNegative = 10.0
    synchronous: Literal["normal", "full"] = "normal"
    client_idle_timeout_s: Positive = 300.0
    partial_line_timeout_s: Positive = 10.0
    max_connections: AtLeastOne = 256


class ProviderSection(_C):
    api_key: str | None = None
    model: str | None = None
    base_url: str | None = None


class ProviderConfig(_C):
    name: ProviderName | None = None
    model: str | None = None
    timeout_s: Positive = 120.0
    max_retries: Count = 4
    retry_max_delay_s: NonNegative = 30.0
    check_on_start: bool = True
    # How long a run waits for a degraded provider before failing.
    wait_for_provider_s: NonNegative = 300.0
    # First retry delay; later ones grow x2 up to retry_max_delay_s (full jitter).
    retry_base_delay_s: NonNegative = 1.0
    # An OpenAI-compatible server's model that is not on the known tool-calling
    # list is probed with a sample tool call at start-up, unless this is true.
    assume_tools: bool = False
    # The largest answer (decoded) read from the provider; larger ones fail.
    max_answer_bytes: int = 32 * 1024 * 1024
    # OpenRouter's optional attribution headers (HTTP-Referer, X-Title).
    http_referer: str | None = None
    app_title: str | None = "agentd"
    # The cap on each answer's length, sent with every model call (max_tokens, or
    # max_completion_tokens for OpenAI's o-series and gpt-5; Ollama's num_predict).
    # It is also the completion side of a call's worst-case cost (budgets).
    max_tokens: AtLeastOne = 4096


class ToolsConfig(_C):
    timeout_s: Positive = 60.0
    timeouts: dict[str, Positive] = {}
    allow_private_networks: bool = False
    max_fetch_bytes: AtLeastOne = 10 * 1024 * 1024
    fetch_timeout_s: Positive = 30.0
    max_redirects: Count = 5
    search_backend: Literal["duckduckgo", "searxng"] = "duckduckgo"
    duckduckgo_url: str = "https://html.duckduckgo.com/html/"
    searxng_url: str | None = None
    file_quota_bytes: AtLeastOne = 100 * 1024 * 1024
    observation_limit: AtLeastOne = 12000
    user_agent: str = f"agentd/{__version__}"
    # Hosts the HTTP tools may reach even though they resolve to non-global
    # addresses (for a LAN webhook receiver, say). "host" or "host:port".
    private_hosts_allowed: list[str] = []
    # Webhook/email delivery: attempts per send and the first backoff (doubles).
    delivery_attempts: AtLeastOne = 3
    delivery_backoff_s: NonNegative = 1.0


class SmtpConfig(_C):
    host: str | None = None
    port: Port = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    sender: str | None = None
    timeout_s: Positive = 30.0


class RunsConfig(_C):
    time_limit_s: Positive | None = 3600.0
    max_recoveries: Count = 3
    max_repeated_mistakes: Count = 3


USD = Annotated[float, msgspec.Meta(ge=0)]  # an amount of money, in US dollars


class ModelPrice(_C):
    """A model's price in USD per million tokens (``[prices."MODEL"]``). Both
    ``input`` and ``output`` must be given: a free local model says
    ``input = 0`` and ``output = 0``; nothing is assumed."""

    input: USD
    output: USD
    cached_input: USD | None = None  # prompt tokens served from the provider's cache; default: input


class BudgetsConfig(_C):
    """Money budgets in USD (unset: no budget). The goal ones are defaults for
    goals that set none of their own (``goal create --max-cost-per-day``...)."""

    run_usd: USD | None = None
    goal_per_day_usd: USD | None = None
    goal_per_month_usd: USD | None = None
    daemon_per_day_usd: USD | None = None


class NotifyConfig(_C):
    # The notify mode of goals that set none: "always" or "on_change" (the
    # completion webhook and email only when the result changed).
    default: Literal["always", "on_change"] = "always"


class AlertsConfig(_C):
    # A scheduled goal with no successful run for this many of its periods
    # is alerted on once (0: never).
    quiet_periods: Count = 2
    # ... or one whose last this-many runs all failed (0: never).
    failed_runs: Count = 3
    # Daemon-wide destinations of every goal's alerts and recovery notices.
    webhook_url: Annotated[str, msgspec.Meta(pattern=URL_PATTERN)] | None = None
    # "whsec_<base64>": signs the alert webhooks (Standard Webhooks).
    webhook_secret: Annotated[str, msgspec.Meta(pattern=SECRET_PATTERN)] | None = None
    email_to: list[Annotated[str, msgspec.Meta(pattern=EMAIL_PATTERN)]] = []


class Config(_C):
    daemon: DaemonConfig = msgspec.field(default_factory=DaemonConfig)
    provider: ProviderConfig = msgspec.field(default_factory=ProviderConfig)
    openai: ProviderSection = msgspec.field(default_factory=ProviderSection)
    openrouter: ProviderSection = msgspec.field(default_factory=ProviderSection)
    ollama: ProviderSection = msgspec.field(default_factory=ProviderSection)
    tools: ToolsConfig = msgspec.field(default_factory=ToolsConfig)
    smtp: SmtpConfig = msgspec.field(default_factory=SmtpConfig)
    runs: RunsConfig = msgspec.field(default_factory=RunsConfig)
    budgets: BudgetsConfig = msgspec.field(default_factory=BudgetsConfig)
    prices: dict[str, ModelPrice] = {}
    mcp: McpConfig = msgspec.field(default_factory=McpConfig)  # [[mcp.servers]]: agentd/shared/mcp.py
    notify: NotifyConfig = msgspec.field(default_factory=NotifyConfig)
    alerts: AlertsConfig = msgspec.field(default_factory=AlertsConfig)
    # Filled in by load(), not read from the file:
    config_file: str = ""

    # ---- resolved paths
    @property
    def socket_path(self) -> Path:
        return Path(self.daemon.socket) if self.daemon.socket else paths.runtime_dir() / "agentd.sock"

    @property
    def db_path(self) -> Path:
        return Path(self.daemon.db) if self.daemon.db else paths.data_dir() / "agentd.db"

    @property
    def artifacts_root(self) -> Path:
        if self.daemon.artifacts_dir:
            return Path(self.daemon.artifacts_dir)
        return self.db_path.parent / "artifacts"

    @property
    def state_dir(self) -> Path:
        return paths.state_dir()

    # ---- resolved provider settings
    def resolved_provider(self) -> "ResolvedProvider | None":
        name = self.provider.name
        if name is None:
            return None
        section: ProviderSection = getattr(self, name)
        model = section.model or self.provider.model
        if name == "openrouter":
            base_url = section.base_url or "https://openrouter.ai/api/v1"
        elif name == "ollama":
            base_url = section.base_url or "http://localhost:11434"
        else:
            base_url = section.base_url
        return ResolvedProvider(name=name, model=model, api_key=section.api_key, base_url=base_url)


class ResolvedProvider(msgspec.Struct, frozen=True):
    name: ProviderName
    model: str | None
    api_key: str | None
    base_url: str | None

    def __repr__(self) -> str:  # never show the key
        return f"ResolvedProvider(name={self.name!r}, model={self.model!r}, base_url={self.base_url!r})"


# Environment variables: name -> (section, key). Documented in agentd.toml(5).
ENV_VARS: dict[str, tuple[str, str]] = {
    "LLM_PROVIDER": ("provider", "name"),
    "LLM_MODEL": ("provider", "model"),
    "OPENAI_API_KEY": ("openai", "api_key"),
    "OPENAI_MODEL": ("openai", "model"),
    "OPENAI_BASE_URL": ("openai", "base_url"),
    "OPENROUTER_API_KEY": ("openrouter", "api_key"),
    "OPENROUTER_MODEL": ("openrouter", "model"),
    "OPENROUTER_BASE_URL": ("openrouter", "base_url"),
    "OLLAMA_BASE_URL": ("ollama", "base_url"),
    "OLLAMA_MODEL": ("ollama", "model"),
    "LLM_ASSUME_TOOLS": ("provider", "assume_tools"),
    "LLM_CHECK_ON_START": ("provider", "check_on_start"),
    "AGENTD_SOCKET": ("daemon", "socket"),
    "AGENTD_DB": ("daemon", "db"),
    "AGENTD_LOG_LEVEL": ("daemon", "log_level"),
    "AGENTD_MAX_CONCURRENT_RUNS": ("daemon", "max_concurrent_runs"),
    "SMTP_HOST": ("smtp", "host"),
    "SMTP_PORT": ("smtp", "port"),
    "SMTP_USERNAME": ("smtp", "username"),
    "SMTP_PASSWORD": ("smtp", "password"),
    "SMTP_FROM": ("smtp", "sender"),
    "SMTP_SECURITY": ("smtp", "security"),
}

SECRET_KEYS = {"api_key", "password", "webhook_secret"}
# The variable that holds each provider's API key (``agentctl init`` names it).
API_KEY_VARS = {section: var for var, (section, key) in ENV_VARS.items() if key == "api_key"}


def read_file(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", path=str(path)) from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", path=str(path)) from exc


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
BOOL_VARS = frozenset({"LLM_ASSUME_TOOLS", "LLM_CHECK_ON_START"})


def _coerce(raw: str) -> object:
    low = raw.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return raw


def load(
    config_file: Path | None = None,
    *,
    environ: os._Environ | dict | None = None,
    overrides: dict[str, dict[str, object]] | None = None,
) -> Config:
    """Build the Config: file, then environment, then ``overrides`` (flags)."""
    env = os.environ if environ is None else environ
    path = config_file or paths.default_config_file()
    data = read_file(path)
    for var, (section, key) in ENV_VARS.items():
        value = env.get(var)
        if value in (None, ""):
            continue
        if var in BOOL_VARS:
            low = value.strip().lower()
            if low not in _TRUE + _FALSE:
                raise ConfigError(f"{var}={value!r}: expected true or false (also 1/0, yes/no, on/off)",
                                  key=f"{section}.{key}")
            data.setdefault(section, {})[key] = low in _TRUE
        else:
            data.setdefault(section, {})[key] = _coerce(value) if key not in ("api_key", "password", "model", "name", "base_url", "socket", "db") else value
    for section, values in (overrides or {}).items():
        for key, value in values.items():
            if value is not None:
                data.setdefault(section, {})[key] = value
    try:
        cfg = from_data(data)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"configuration {path}: {exc}", path=str(path)) from exc
    cfg.config_file = str(path)
    return cfg


def from_data(data: dict) -> Config:
    """The Config of ``data`` (the file's tables, with the environment and
    flags merged in), as load() builds it; an old name of a log level is
    replaced by the current one in ``data``. Raises msgspec.ValidationError
    naming the path of a wrong value, ConfigError naming an MCP server table
    that cannot work."""
    _canonical_log_level(data)
    cfg = msgspec.convert(data, Config)
    check_mcp(cfg.mcp)
    return cfg


def _canonical_log_level(data: dict) -> None:
    """``warn`` (and any case) names a level as well: store the canonical name,
    so that the schema lists one vocabulary and old files keep working."""
    daemon = data.get("daemon")
    if isinstance(daemon, dict) and isinstance(daemon.get("log_level"), str):
        daemon["log_level"] = loglevels.canonical(daemon["log_level"]) or daemon["log_level"]


def redacted(cfg: Config) -> dict:
    """The config as a plain dict with secrets replaced by ``"***"``: the
    secret keys, and the values of MCP servers' ``env`` and ``headers``."""
    out = msgspec.to_builtins(cfg)
    for section in out.values():
        if isinstance(section, dict):
            for key in list(section):
                if key in SECRET_KEYS and section[key]:
                    section[key] = "***"
    for server in out.get("mcp", {}).get("servers", []):
        for table in ("env", "headers"):
            server[table] = {k: "***" for k in server.get(table) or {}}
    return out
