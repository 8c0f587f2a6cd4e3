"""The ``[[mcp.servers]]`` tables of the configuration file.

Each server has a ``name`` (letters, digits, ``_`` and ``-``: it prefixes its
tools' names) and either a ``command`` (stdio: agentd starts and supervises it)
or a ``url`` (streamable HTTP). ``env`` and ``headers`` often hold secrets:
they are registered with the redactor and never logged.

``check`` raises ConfigError naming the table at fault.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from ..protocol.errors import ConfigError

Seconds = Annotated[float, msgspec.Meta(gt=0)]
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
SEPARATOR = "__"  # server__tool: the name the model sees (no dots in OpenAI-style tool names)


class McpServer(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}
    enabled: bool = True
    # Per call, unless tools.timeouts names the tool; and for start-up (spawn,
    # handshake, the first tool list).
    timeout_s: Seconds = 60.0
    start_timeout_s: Seconds = 30.0

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    def target(self) -> str:
        """Where the server is, without secrets (env and headers are left out)."""
        return " ".join([self.command or "", *self.args]).strip() if self.command else (self.url or "")


class McpConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    servers: list[McpServer] = []
    # A server that fails is started again after 1 s, then 2, 4, ... up to this.
    restart_max_delay_s: Seconds = 60.0
    # A connected server is pinged this often; no answer means it is gone.
    ping_interval_s: Seconds = 15.0


def check(cfg: McpConfig) -> None:
    """Refuse a server table that cannot work: a bad or repeated name, neither
    or both of command and url, a url that is not http(s)."""
    seen: set[str] = set()
    for i, s in enumerate(cfg.servers):
        where = f"mcp.servers[{i}]"
        if not NAME.match(s.name) or SEPARATOR in s.name:
            raise ConfigError(f"{where}: name {s.name!r} must be 1-32 letters, digits, '_' or '-' (no '__'), "
                              "starting with a letter or digit", key=f"{where}.name")
        if s.name in seen:
            raise ConfigError(f"{where}: a second server named {s.name!r}; names must be unique", key=f"{where}.name")
        seen.add(s.name)
        if bool(s.command) == bool(s.url):
            raise ConfigError(f"{where} ({s.name}): give either command (a stdio server) or url (streamable HTTP), "
                              "not both or neither", key=where)
        if s.url and not s.url.startswith(("http://", "https://")):
            raise ConfigError(f"{where} ({s.name}): url {s.url!r} must start with http:// or https://",
                              key=f"{where}.url")


def secrets(cfg: McpConfig) -> list[tuple[str, str]]:
    """(label, value) of every env value and header value, for the redactor."""
    out: list[tuple[str, str]] = []
    for s in cfg.servers:
        out += [(f"mcp.{s.name}.env.{k}", v) for k, v in s.env.items()]
        out += [(f"mcp.{s.name}.headers.{k}", v) for k, v in s.headers.items()]
    return out
