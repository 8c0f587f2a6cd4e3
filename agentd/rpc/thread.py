"""The RPC front end on a thread of its own, with a trio loop of its own.

Why: with many runs active the main loop is busy (parsing model answers,
running tools, journaling steps), and a request waiting for its turn in a
scheduling pass over hundreds of runnable tasks waited milliseconds. On its
own thread a request only waits for the GIL, which the main thread hands over
within ``sys.setswitchinterval`` (the daemon sets it to SWITCH_INTERVAL_S).

What runs where:

- RPC thread: the listener, every connection (read, parse, reply), the
  read-only handlers (``LOCAL`` in handlers.py: they only read the store, on
  this thread's own SQLite connection, and call thread-safe helpers), and the
  event hub: subscriptions, their sender tasks and journal replays sit next
  to the connections they write to.
- Main loop: everything that writes or touches the run manager, scheduler or
  provider. Those handlers are *forwarded*: the request becomes a task in the
  main loop's nursery (with the request's log ids), and its outcome (result
  or exception) comes back to the waiting connection. A forwarded handler
  sees the connection only to read ``conn.pid``/``conn.cid``.

Hand-overs between the loops go through ``TrioToken.run_sync_soon``, and
never block either loop. Shutdown, driven by the main loop: ``stop_accepting``,
then (after the runs drained) ``close``, which closes every connection, ends
the RPC loop and waits for the thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import outcome
import trio

from .. import log
from ..errors import ShuttingDown
from .server import RpcServer

_log = log.get("agentd.rpc")

SWITCH_INTERVAL_S = 0.0005


class RpcThread:
    def __init__(self, server: RpcServer, *, store: Any, hub: Any) -> None:
        self.server = server
        self.store = store
        self.hub = hub
        self._main_token: trio.lowlevel.TrioToken | None = None
        self._rpc_token: trio.lowlevel.TrioToken | None = None
        self._main_nursery: trio.Nursery | None = None
        self._quit: trio.Event | None = None  # RPC-loop event: close connections and end
        self._quit_asked = False  # set by the main loop: _serve ends at once if it starts after
        self._finished = trio.Event()  # main-loop event: the thread has ended
        self.forwarded = 0
        self.native_id: int | None = None  # the OS thread id, once serving

    # ---------------------------------------------------------------- wiring
    def forwarding(self, handlers: dict[str, Callable], local: frozenset[str]) -> dict[str, Callable]:
        """The handler table for the RPC thread: ``local`` ones as they are,
        the others forwarded to the main loop."""
        return {name: (h if name in local else self._forwarder(h)) for name, h in handlers.items()}

    def _forwarder(self, handler: Callable) -> Callable:
        async def forwarded(params: Any, conn: Any) -> Any:
            return await self.call_main(handler, params, conn)

        return forwarded

    async def call_main(self, handler: Callable, params: Any, conn: Any) -> Any:
        """Run ``await handler(params, conn)`` on the main loop; return or raise its outcome here."""
        done = trio.Event()
        box: list[outcome.Outcome] = []
        fields = log.current()
        rpc_token = self._rpc_token

        def tell(result: outcome.Outcome) -> None:
            box.append(result)
            try:
                rpc_token.run_sync_soon(done.set)
            except trio.RunFinishedError:  # the RPC loop ended first (shutdown): nobody to tell
                pass

        async def runner() -> None:  # on the main loop
            try:
                with log.bind(**fields):
                    value = await handler(params, conn)
            except Exception as exc:  # the handler's error goes back to the request
                tell(outcome.Error(exc))
            except BaseException:  # cancelled on the main loop: stays there
                tell(outcome.Error(ShuttingDown("agentd is shutting down; the request was cut off")))
                raise
            else:
                tell(outcome.Value(value))

        def spawn() -> None:  # a run_sync_soon callback on the main loop: must not raise
            try:
                self._main_nursery.start_soon(runner)
            except RuntimeError:  # the nursery is closed: the daemon is stopping
                tell(outcome.Error(ShuttingDown("agentd is shutting down")))

        try:
            self._main_token.run_sync_soon(spawn)
        except trio.RunFinishedError:
            raise ShuttingDown("agentd is shutting down") from None
        self.forwarded += 1
        await done.wait()
        return box[0].unwrap()

    # ---------------------------------------------------------------- main-loop side
    async def run(self, sock: Any, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Start the thread and serve ``sock`` there; ``task_status.started()``
        once it accepts. Returns when the thread has ended (``close``)."""
        self._main_token = main_token = trio.lowlevel.current_trio_token()
        started = trio.Event()  # the thread serves, or it ended without serving
        ended: list[outcome.Outcome] = []

        def thread_main() -> None:
            trio.run(self._serve, sock, lambda: main_token.run_sync_soon(started.set))

        def finished() -> None:  # on the main loop
            self._finished.set()
            started.set()

        def deliver(result: outcome.Outcome) -> None:  # on the thread, after trio.run returned
            ended.append(result)
            try:
                main_token.run_sync_soon(finished)
            except trio.RunFinishedError:
                pass

        async with trio.open_nursery() as nursery:
            self._main_nursery = nursery
            trio.lowlevel.start_thread_soon(thread_main, deliver, name="agentd-rpc")
            try:
                await started.wait()
                if self._finished.is_set():
                    ended[0].unwrap()  # it failed before serving: raise why
                    raise RuntimeError("the RPC thread ended before it started serving")
                task_status.started()
                await self._finished.wait()
            finally:
                if not self._finished.is_set():  # cancelled: still end the thread, and wait for it
                    with trio.CancelScope(shield=True):
                        self._ask_quit()
                        await self._finished.wait()
            nursery.cancel_scope.cancel()  # forwarded handlers still running: their replies have nowhere to go
        if ended and isinstance(ended[0], outcome.Error):
            ended[0].unwrap()

    def _ask(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the RPC loop, soon (a no-op once that loop has ended)."""
        if self._rpc_token is None:
            return
        try:
            self._rpc_token.run_sync_soon(fn)
        except trio.RunFinishedError:
            pass

    def stop_accepting(self) -> None:
        self._ask(self.server.stop_accepting)

    async def close(self) -> None:
        """Close every connection, end the RPC loop, and wait for the thread."""
        self._ask_quit()
        with trio.CancelScope(shield=True):
            with trio.move_on_after(10):
                await self._finished.wait()

    def _ask_quit(self) -> None:
        """End the RPC loop: now, or as soon as it starts if it has not yet
        (``_rpc_token`` unset: ``_ask`` cannot reach it, ``_serve`` reads the flag)."""
        self._quit_asked = True
        self._ask(self._quit_now)

    def _quit_now(self) -> None:  # on the RPC loop
        self._quit.set()

    # ---------------------------------------------------------------- RPC-thread side
    async def _serve(self, sock: Any, on_started: Callable[[], None]) -> None:
        # No checkpoint between these lines: a _quit_now sent once the token
        # is set finds _quit; before that, _quit_asked tells.
        self._rpc_token = trio.lowlevel.current_trio_token()
        self.native_id = threading.get_native_id()
        self._quit = trio.Event()
        if self._quit_asked:
            self._quit.set()
        self.store.open_thread_reader()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.hub.serve)
                await nursery.start(self.server.serve, sock)
                on_started()
                await self._quit.wait()
                self.server.stop_accepting()
                await self.server.close_all()
                nursery.cancel_scope.cancel()
        finally:
            self.store.close_thread_reader()
