"""Following run events: the ``run.watch`` stream with reconnects, and
``agentctl run watch`` (live on a terminal, plain lines, NDJSON; what the live
view draws is in :mod:`agentctl.watchview`).

Stdlib only (ANSI escapes, no prompt_toolkit): ``run watch`` should start as
fast as any other command.

:class:`EventStream` yields what happens on a subscription, in order:

- ``("event", params)`` for each ``run.event`` (params as the daemon sent them:
  ``{subscription, seq, run_id, goal_id, at, event}``);
- ``("tick", None)`` every ``tick`` seconds without an event (for a spinner);
- ``("lost", message)`` when the connection dropped and a reconnect begins,
  ``("back", None)`` once watching again.

A dropped connection (the daemon restarted) or a ``run.lagged`` notification
is answered by watching again with ``since`` = the last seq seen, so nothing is
missed and nothing is seen twice; reconnects are bounded (``retries``,
with backoff), after which :class:`~agentctl.client.DaemonNotReachable` or
:class:`~agentctl.client.ConnectionLost` propagates.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, TextIO

from .client import Client, ClientError, ConnectionLost, DaemonNotReachable, DaemonTimeout


FINISHED = ("completed", "failed", "cancelled")
BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 2.0, 2.0, 3.0, 3.0, 5.0, 5.0, 5.0, 5.0)
# Events of a model call in flight: sent live only, with the seq of the last
# journaled event (agentd.protocol.events.LIVE), so never skipped as seen.
LIVE = ("model_call_started", "model_retry", "text_delta")


class EventStream:
    """One ``run.watch`` subscription that survives reconnects.

    ``params`` are run.watch's (``run_id`` or ``goal_id`` or ``all``, ``detail``,
    ``deltas``); for a run the stream ends after its ``run_finished``; the others
    run until the caller stops iterating (then :meth:`close`). Give the run's
    full id (run.watch does not say which run a prefix matched, and a prefix
    could match another run by the time a reconnect uses it).
    """

    def __init__(self, socket_path: str, params: dict, *, since: int = 0, tick: float | None = None,
                 retries: int = len(BACKOFF_S), timeout: float = 30.0) -> None:
        self.socket_path = socket_path
        self.params = {k: v for k, v in params.items() if v is not None}
        self.run_id: str | None = self.params.get("run_id")
        self.since = since
        self.tick = tick
        self.retries = retries
        self.timeout = timeout
        self.status: str | None = None  # the run's status as run.watch reported it
        self.client: Client | None = None
        self.done = False

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ subscribing

    def _subscribe(self) -> None:
        self.close()
        client = Client(self.socket_path, timeout=self.timeout)
        try:
            params = dict(self.params)
            if self.run_id is not None:
                params["since"] = self.since
            res = client.call("run.watch", params)
        except BaseException:
            client.close()
            raise
        self.client = client
        if self.run_id is not None:
            self.status = res.get("run_status")
            if self.status in FINISHED and res.get("last_seq", 0) <= self.since:
                self.done = True  # nothing more will come: the run ended and we saw it all

    def _resubscribe(self, why: str) -> Iterator[tuple[str, Any]]:
        yield "lost", why
        last: ClientError | None = None
        for delay in BACKOFF_S[: self.retries]:
            time.sleep(delay)
            try:
                self._subscribe()
            except (DaemonNotReachable, ConnectionLost, DaemonTimeout) as exc:
                last = exc
                continue
            yield "back", None
            return
        raise last or ConnectionLost(why)

    # ------------------------------------------------------------ reading

    def _ready(self, wait: float | None) -> bool:
        """True when a notification can be read without waiting longer than ``wait``."""
        c = self.client
        assert c is not None
        if c._pending or b"\n" in c._buf:
            return True
        if wait is None:
            return True
        import select

        sock = c._sock
        if sock is None:
            return True  # reading will report the lost connection
        r, _, _ = select.select([sock], [], [], wait)
        return bool(r)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        self._subscribe()
        while not self.done:
            assert self.client is not None
            if not self._ready(self.tick):
                yield "tick", None
                continue
            try:
                notice = next(self.client.notifications(timeout=None), None)
            except (ConnectionLost, DaemonTimeout) as exc:
                notice, why = None, str(exc)
            else:
                why = "agentd closed the connection."
            if notice is None:  # the daemon went away (restart?): watch again from where we were
                yield from self._resubscribe(why)
                continue
            if notice.method == "run.lagged":
                yield from self._resubscribe("fell behind the run; catching up")
                continue
            if notice.method != "run.event" or not isinstance(notice.params, dict):
                continue
            p = notice.params
            ev = p.get("event") or {}
            if self.run_id is not None and ev.get("type") not in LIVE:
                if p.get("seq", 0) <= self.since:
                    continue  # seen before a reconnect
                self.since = p["seq"]
            yield "event", p
            if self.run_id is not None and ev.get("type") == "run_finished":
                self.status = ev.get("status")
                self.done = True
        self.close()


def run_and_watch(ctx: Any, goal_ref: str) -> int:
    """``goal run --watch``: start a run of the goal and watch it. When the
    watch asks for the model's text, a goal-wide subscription with deltas is
    taken *before* the run starts, so that its first model call streams too
    (the daemon decides per call, when the call begins); it is let go once
    the run's own subscription is up."""
    early = None
    if _wants_deltas(ctx, _mode(ctx)):
        early = Client(ctx.socket_path, timeout=ctx.timeout)
        try:
            early.call("run.watch", {"goal_id": goal_ref, "deltas": True})
        except BaseException:
            early.close()
            raise
    try:
        run = ctx.call("goal.run", {"id": goal_ref})
        if not ctx.json:
            ctx.info(f"Started run {run['id']} of goal {run.get('goal_id')}.")
        return watch_run(ctx, run["id"], run=run, watching=early.close if early else None)
    finally:
        if early is not None:
            early.close()


def _mode(ctx: Any) -> str:
    return "json" if ctx.json else ("live" if ctx.out.tty else "plain")


def _wants_deltas(ctx: Any, mode: str) -> bool:
    deltas = getattr(ctx.args, "deltas", None)
    return mode == "live" if deltas is None else deltas


def watch_run(ctx: Any, run_id: str, *, mode: str | None = None, run: dict | None = None,
              watching: Any = None) -> int:
    """``run watch``: follow a run until it ends. ``mode``: live, plain or json
    (default: json with --json, live on a terminal, else plain). ``run``: the
    run as the daemon just returned it (``goal.run``), else it is asked for.
    The model's streamed text is asked for with ``--deltas`` (the default on
    the live view, which shows its last rows; plain lines write it as it
    comes; json writes its ``text_delta`` events), refused with
    ``--no-deltas``.

    ``watching()``, if given, is called once the run's subscription is up.

    Exit 0 if the run completed, 1 if it failed or was cancelled, 130 when
    Ctrl-C stopped the watching (the run goes on)."""
    from .watchview import LiveView, RunState, finish_text

    out = ctx.out
    mode = mode or _mode(ctx)
    deltas = _wants_deltas(ctx, mode)
    if run is None:
        run = ctx.call("run.get", {"id": run_id})
    state = RunState(run)
    view = LiveView(out, ctx.stdout, state) if mode == "live" else None
    show = _json_event if mode == "json" else (view.show if view else _Plain().show)
    stream = EventStream(ctx.socket_path, {"run_id": run["id"], "deltas": deltas or None},
                         tick=0.1 if view else None, timeout=ctx.timeout)
    try:
        for kind, p in stream:
            if watching is not None:
                watching()
                watching = None
            if kind == "tick":
                view.status()  # type: ignore[union-attr]
            elif kind in ("lost", "back"):
                msg = f"lost the connection to agentd ({p}); reconnecting…" if kind == "lost" else "watching again."
                if view:
                    view.line(out.dim(msg))
                else:
                    ctx.stderr.write(f"agentctl: {msg}\n")
            else:
                state.apply(p)
                show(ctx, state, p)
    except KeyboardInterrupt:
        if view:
            view.end()
        ctx.stderr.write(f"\nStopped watching; run {state.run_id} goes on "
                         f"(`{ctx.command(f'run watch {state.run_id}')}` to watch again).\n")
        return 130
    finally:
        stream.close()
    if view:
        view.end()
    if state.final is None and stream.status in FINISHED:
        # The run had ended without events to replay: say how from the run itself.
        run = ctx.call("run.get", {"id": state.run_id})
        usage = run.get("usage") or {}
        state = RunState(run)
        state.apply({"at": run.get("ended_at"), "event": {
            "type": "run_finished", "status": run.get("status"), "summary": run.get("summary"),
            "error": run.get("error"), "budget_exhausted": run.get("budget_exhausted"),
            "steps": run.get("steps_executed", 0), "tokens_in": usage.get("tokens_in", 0),
            "tokens_out": usage.get("tokens_out", 0)}})
    if mode != "json":
        ctx.stdout.write(finish_text(out, state) + "\n")
    return 0 if state.status == "completed" else 1


def _json_event(ctx: Any, state: Any, p: dict) -> None:
    """--json: each event as the daemon sent it, one JSON line."""
    from .render import dumps_json

    ctx.stdout.write(dumps_json(p) + "\n")
    ctx.stdout.flush()


class _Plain:
    """Without a terminal: one line per event worth one, no redrawing; the
    streamed text (when asked for) as it comes, ended by a newline."""

    def __init__(self) -> None:
        self.open = False  # streamed text written without its final newline

    def show(self, ctx: Any, state: Any, p: dict) -> None:
        from .watchview import clean, event_line

        ev = p["event"]
        w = ctx.stdout.write
        if ev.get("type") == "text_delta":
            text = "\n".join(clean(line) for line in ev.get("text", "").split("\n"))
            if text:
                w(text)
                self.open = not text.endswith("\n")
                ctx.stdout.flush()
            return
        line = event_line(ctx.out, state, p, ctx.out.width)
        if self.open and (line is not None or ev.get("type") in ("model_responded", "run_finished")):
            w("\n")
            self.open = False
        if line is not None:
            w(line + "\n")
        ctx.stdout.flush()
