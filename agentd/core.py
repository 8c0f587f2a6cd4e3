"""What the daemon's services share: the configuration (a reload replaces
it), the store, the redactor, the clock, the event hub and the journal,
prices, circuit breakers, metrics, the tool registry and its MCP servers,
and the provider with its status. Nothing here runs anything: the services
(run manager, scheduler, approvals, alerts) take a ``Core`` and are built by
``agentd.app.App``, which extends it, so no module below app.py imports it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from .breaker import Board, guard_registry
from .budgets import Money
from .events import EventHub
from .journal import Journal
from .mcp.manager import McpManager
from .metrics import Metrics
from .protocol import methods as m
from .protocol.errors import ProviderUnavailable
from .protocol.events import Event
from .redact import Redactor
from .shared.config import Config
from .store import Store
from .store import goals as goals_q
from .tools.registry import ToolRegistry, default_registry

if TYPE_CHECKING:
    from .providers.base import Provider


class Core:
    def __init__(self, config: Config, store: Store, *, clock: Callable[[], int] | None = None) -> None:
        self.config = config
        self.store = store
        # Every secret agentd holds, hidden from the foreign text runs record;
        # goals' webhook secrets are added as goals are loaded and created.
        self.redactor = Redactor.from_config(config, os.environ)
        self.redactor.add_goals(store.read(goals_q.webhook_credentials))
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self.events = EventHub(store)
        self.journal = Journal(store, self.events, self.redactor, self.now)
        self.money = Money()  # model prices as looked up, holds of the calls in flight (agentd.budgets)
        self.breakers = Board()
        self.metrics = Metrics(store, self.now, lambda: self.config, self.breakers)
        self.mcp = McpManager(config.mcp)  # MCP servers as a source of tools
        self.mcp.make_source(self.breakers, lambda: self.config.tools)
        self.tools = self.make_tools(config)
        # The provider: set by agentd.provider_life (building it can fail with a
        # configuration error the daemon reports), replaced by a reload.
        self.provider: Provider | None = None
        self.provider_status: m.ProviderStatus | None = None
        self.provider_ready = trio.Event()
        self.provider_pinged = 0.0  # monotonic time of the last reachability check
        self.retired_providers: list[Provider] = []  # replaced by a reload, still held by runs

    def now(self) -> int:
        return self._clock()

    def make_tools(self, config: Config) -> ToolRegistry:
        """A registry of the built-in tools with ``config``'s settings and the
        MCP servers' tools, each behind its circuit breaker. A reload builds a
        new one; runs in flight keep the one they hold."""
        tools = guard_registry(default_registry(), self.breakers, config.tools)
        tools.sources.append(self.mcp.source)
        return tools

    async def emit(self, run_id: str, goal_id: str, *events: Event) -> None:
        await self.journal.emit(run_id, goal_id, *events)

    async def wait_for_provider(self) -> None:
        """Wait (bounded) until the provider validated; raise its reason otherwise."""
        if self.provider_ready.is_set():
            return
        with trio.move_on_after(self.config.provider.wait_for_provider_s):
            await self.provider_ready.wait()
            return
        st = self.provider_status
        raise ProviderUnavailable(
            f"the provider is not available ({st.message if st else 'not checked'}); waited "
            f"{self.config.provider.wait_for_provider_s:.0f}s")
