"""``serve(config)``: the daemon's whole life.

1. Bind the socket (or take systemd's): a second daemon fails here, before
   it touches the store the first one owns.
2. Open the store (migrating it), build the parts, check the provider
   (incompatible: refuse to start; unreachable: start degraded), recover
   interrupted runs.
3. Start the run manager, scheduler, event hub and RPC server, in that
   order, all in one nursery on this trio loop, each with ``nursery.start``
   so each is ready before the next depends on it; then ``READY=1`` to
   systemd and ``task_status.started(app)``.
4. On SIGTERM/SIGINT or ``daemon.stop``: ``STOPPING=1``, stop accepting
   connections, stop claiming runs, drain runs within the deadline (those cut
   off are resumed at the next start), close connections, remove the socket.

Raises ConfigError / ProviderIncompatible / ListenerError before serving when
the daemon cannot start; the CLI turns them into a message and exit code.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

import trio

from . import log, provider_life
from .app import App
from .shared.config import Config
from .rpc import listener
from .rpc.dispatch import Dispatcher
from .rpc.handlers import Handlers
from .rpc.server import RpcServer
from .store import Store
from .systemd import Notifier, watchdog_interval_s

_log = log.get("agentd")


def build(config: Config, *, clock=None, load_config: Callable[[], Config] | None = None) -> App:
    """The daemon's parts with their provider; raises ConfigError when no
    provider is configured (nothing is left open then)."""
    store = Store(config.db_path, synchronous=config.daemon.synchronous)
    try:
        app = App(config, store, clock=clock, load_config=load_config)
        provider_life.make(app)
    except BaseException:
        store.close()
        raise
    return app


async def serve(config: Config, *, task_status=trio.TASK_STATUS_IGNORED, clock=None,
                load_config: Callable[[], Config] | None = None) -> None:
    """``load_config``: how ``daemon.reload`` reads the configuration again
    (the CLI passes one that re-applies its flags); default: file and environment."""
    # The socket first: a second daemon must fail before it opens (and
    # perhaps migrates) the store that the running one owns.
    bound = listener.bind(config.socket_path)
    try:
        app = build(config, clock=clock, load_config=load_config)
    except BaseException:
        listener.release(bound)
        raise
    notifier = Notifier()
    log.use_redactor(app.redactor)
    for label in app.redactor.too_short:
        _log.warning("a secret is too short to be hidden from logs and run records; use a longer one",
                     secret=label)
    served = False
    try:
        await provider_life.startup(app)
        if app.store.writable:
            app.runs.recover()
            app.alerts.recover()
        else:
            _log.error("the database cannot be written; serving reads only", reason=app.store.last_write_error)
        dispatcher = Dispatcher(Handlers(app).table())
        server = RpcServer(dispatcher, idle_timeout=config.daemon.client_idle_timeout_s,
                           partial_timeout=config.daemon.partial_line_timeout_s,
                           max_connections=config.daemon.max_connections,
                           redact=app.redactor.redact_bytes)
        dispatcher.on_request = app.metrics.rpc_request
        dispatcher.redact = app.redactor.redact_bytes
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_signals, app)
            await nursery.start(app.approvals.serve)  # first: the run manager skips the parked runs
            await nursery.start(app.mcp.serve)  # before the runs: recovered runs may need its tools
            await nursery.start(app.runs.serve)
            await nursery.start(app.scheduler.serve)
            await nursery.start(app.alerts.serve)
            await nursery.start(provider_life.revalidate, app)
            nursery.start_soon(_lag_monitor, app)
            nursery.start_soon(app.metrics.serve_flush)
            nursery.start_soon(_systemd_status, app, notifier)
            await nursery.start(app.events.serve)
            await nursery.start(server.serve, bound.sock)
            _log.info("agentd ready", socket=str(bound.path), db=str(app.store.path), pid=app.pid,
                      provider=app.provider.name, model=app.provider.model,
                      provider_state=app.provider_status.state if app.provider_status else "unchecked",
                      activated=bound.activated)
            notifier.ready(_status_line(app))
            served = True
            task_status.started(app)

            await app.stop_requested.wait()
            app.stopping = True
            notifier.stopping()
            _log.info("agentd stopping", reason=app.stop_reason, deadline_s=app.stop_deadline_s)
            server.stop_accepting()
            await app.runs.drain(app.stop_deadline_s)
            await server.close_all()
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            for provider in [app.provider, *app.retired_providers]:
                if provider is not None:  # None: the start failed before it was built
                    with trio.move_on_after(2):
                        await provider.aclose()
        listener.release(bound)
        app.store.close()
        notifier.close()
        if served:  # a start that failed says so once, in the CLI: no "stopped" before "cannot start"
            _log.info("agentd stopped")
        log.use_redactor(None)


async def _signals(app: App) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            if app.stop_requested.is_set():
                _log.warning("second signal: stopping now", signal=signal.Signals(signum).name)
                app.stop_deadline_s = 0
                for a in list(app.runs.active.values()):
                    a.scope.cancel()
                continue
            app.request_stop(reason=signal.Signals(signum).name)


async def _lag_monitor(app: App, interval: float = 0.25) -> None:
    """Event-loop lag: how late a timer fires. Current, and the max over ~60 s."""
    window: list[float] = []
    while True:
        t0 = trio.current_time()
        await trio.sleep(interval)
        lag = max(0.0, (trio.current_time() - t0 - interval) * 1000)
        window.append(lag)
        if len(window) > int(60 / interval):
            window.pop(0)
        app.metrics.lag_ms = lag
        app.metrics.lag_max_ms = max(window)


def _status_line(app: App) -> str:
    text = f"{len(app.runs.active)} running, {len(app.runs.queue())} pending"
    ticks = app.scheduler.next_ticks(1)
    if ticks:
        text += f", next tick {ticks[0].at[11:16]} UTC"
    if app.provider_status is not None and not app.provider_status.ok:
        text += f"; provider degraded: {app.provider_status.message}"
    return text


async def _systemd_status(app: App, notifier: Notifier) -> None:
    if not notifier.enabled:
        return
    interval = watchdog_interval_s()
    step = min(interval, 5.0) if interval else 5.0
    while True:
        notifier.status(_status_line(app))
        if interval:
            notifier.watchdog()
        await trio.sleep(step)
