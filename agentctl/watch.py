"""Following run events: the ``run.watch`` stream with reconnects, and the
views of ``agentctl run watch`` (live on a terminal, plain lines, NDJSON).

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

from .client import Client, ClientError, ConnectionLost, DaemonNotReachable, DaemonTimeout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, TextIO

FINISHED = ("completed", "failed", "cancelled")
BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 2.0, 2.0, 3.0, 3.0, 5.0, 5.0, 5.0, 5.0)
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


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
            if self.run_id is not None and ev.get("type") != "text_delta":
                if p.get("seq", 0) <= self.since:
                    continue  # seen before a reconnect
                self.since = p["seq"]
            yield "event", p
            if self.run_id is not None and ev.get("type") == "run_finished":
                self.status = ev.get("status")
                self.done = True
        self.close()


# ---------------------------------------------------------------- views


def _short(text: Any, limit: int) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= limit else s[: max(1, limit - 1)] + "…"


class RunState:
    """What the views know about the run: ``run`` (run.get) before any event,
    then its events. run.watch replays them from the first, so the totals
    (tokens, steps) start at zero and are counted from the events."""

    def __init__(self, run: dict | None = None) -> None:
        run = run or {}
        self.run_id = run.get("id", "")
        self.goal_id = run.get("goal_id", "")
        self.status = run.get("status", "pending")
        self.budget = run.get("step_budget") or 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.steps = 0
        self.started = _epoch(run.get("started_at"))
        self.ended = _epoch(run.get("ended_at"))
        self.current: dict | None = None  # the tool call under way
        self.calls: dict[int, dict] = {}  # step_no -> tool_called event
        self.final: dict | None = None

    def apply(self, p: dict) -> None:
        ev = p["event"]
        kind = ev.get("type")
        if kind == "run_started":
            self.status = "running"
            self.budget = ev.get("step_budget", self.budget)
            if self.started is None or not ev.get("resumed"):
                self.started = _epoch(p.get("at")) or time.time()
        elif kind == "model_responded":
            self.tokens_in += ev.get("tokens_in", 0)
            self.tokens_out += ev.get("tokens_out", 0)
        elif kind == "tool_called":
            self.calls[ev["step_no"]] = ev
            self.current = dict(ev, since=time.monotonic())
        elif kind == "tool_returned":
            self.steps = max(self.steps, ev.get("step_no", 0))
            if self.current and self.current.get("step_no") == ev.get("step_no"):
                self.current = None
        elif kind == "run_finished":
            self.ended = _epoch(p.get("at")) or time.time()
            self.status = ev.get("status", "?")
            self.final = ev
            self.steps = ev.get("steps", self.steps)
            self.tokens_in = ev.get("tokens_in", self.tokens_in)
            self.tokens_out = ev.get("tokens_out", self.tokens_out)
            self.current = None


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    from .render import parse_time

    return parse_time(iso)


def event_line(out: Any, state: RunState, p: dict, width: int | None = None) -> str | None:
    """One line for an event worth a line of its own (None: not worth one)."""
    from .render import duration_ms

    ev = p["event"]
    kind = ev.get("type")
    w = width or 200
    if kind == "run_started":
        how = "resumed" if ev.get("resumed") else "started"
        return f"run {state.run_id or p.get('run_id')} {how} ({ev.get('trigger')}, budget {ev.get('step_budget')} steps)"
    if kind == "tool_returned":
        call = state.calls.get(ev.get("step_no"), {})
        head = f"#{ev.get('step_no')} {ev.get('tool')}"
        inp = _short(call.get("input", ""), 50)
        dur = f" ({duration_ms(ev.get('duration_ms'))})"
        room = max(20, w - len(head) - len(inp) - len(dur) - 5)
        if ev.get("ok", True):
            result = _short(ev.get("output"), room)
            return f"{out.bold(head)} {inp} → {result}{out.dim(dur)}"
        return f"{out.bold(head)} {inp} → {out.paint('error: ' + _short(ev.get('output'), room - 7), '31')}{out.dim(dur)}"
    if kind == "model_responded" and ev.get("tool_calls") and ev.get("text"):
        return out.dim(f"thought: {_short(ev['text'], w - 9)}")  # the answer itself ends the view
    if kind == "memory_updated":
        return out.dim(f"memory updated: {', '.join(ev.get('keys') or [])}")
    if kind == "notification_sent":
        return f"{ev.get('kind')} sent to {ev.get('target')}"
    if kind == "notification_failed":
        return out.paint(f"{ev.get('kind')} to {ev.get('target')} failed: {ev.get('error')}", "31")
    if kind == "note":
        return out.dim(f"note: {ev.get('message')}")
    return None


def finish_text(out: Any, state: RunState) -> str:
    ev = state.final or {}
    status = ev.get("status", state.status)
    tokens = f"{state.tokens_in} in / {state.tokens_out} out tokens"
    head = f"Run {state.run_id} {out.status(status)}: {state.steps} steps, {tokens}"
    if ev.get("budget_exhausted"):
        head += " (budget exhausted)"
    if state.started:
        from .render import duration_ms

        head += f", took {duration_ms(max(0.0, (state.ended or time.time()) - state.started) * 1000)}"
    lines = [head]
    if status == "completed" and ev.get("summary"):
        lines += ["", *ev["summary"].rstrip().splitlines()]
    elif ev.get("error"):
        lines.append(out.paint(f"reason: {ev['error']}", "31"))
    return "\n".join(lines)


class LiveView:
    """The terminal view: lines scroll above one status line that is redrawn
    in place (spinner, status, elapsed, current step, tokens, budget)."""

    def __init__(self, out: Any, stream: TextIO, state: RunState) -> None:
        self.out = out
        self.stream = stream
        self.state = state
        self.frame = 0
        self.drawn = False

    def _clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\033[K")
            self.drawn = False

    def line(self, text: str) -> None:
        self._clear()
        self.stream.write(text + "\n")
        self.status()

    def status(self) -> None:
        from .render import duration_ms

        s = self.state
        if s.status in FINISHED:
            self._clear()
            self.stream.flush()
            return
        self.frame = (self.frame + 1) % len(SPINNER)
        took = duration_ms((time.time() - s.started) * 1000) if s.started else "-"
        parts = [f"{SPINNER[self.frame]} {s.status}", took]
        if s.current:
            parts.append(f"step {s.current.get('step_no')} {s.current.get('tool')} "
                         f"{_short(s.current.get('input'), 30)}")
        elif s.status == "running":
            parts.append("thinking…")
        parts.append(f"{s.tokens_in + s.tokens_out} tokens")
        if s.budget:
            parts.append(f"{s.steps}/{s.budget} steps")
        text = _short(" · ".join(parts), (self.out.width or 80) - 1)
        self.stream.write("\r\033[K" + text)
        self.stream.flush()
        self.drawn = True

    def end(self) -> None:
        self._clear()
        self.stream.flush()


def watch_run(ctx: Any, run_id: str, *, mode: str | None = None, run: dict | None = None) -> int:
    """``run watch``: follow a run until it ends. ``mode``: live, plain or json
    (default: json with --json, live on a terminal, else plain). ``run``: the
    run as the daemon just returned it (``goal.run``), else it is asked for.

    Exit 0 if the run completed, 1 if it failed or was cancelled, 130 when
    Ctrl-C stopped the watching (the run goes on)."""
    out = ctx.out
    if mode is None:
        mode = "json" if ctx.json else ("live" if out.tty else "plain")
    if run is None:
        run = ctx.call("run.get", {"id": run_id})
    state = RunState(run)
    view = LiveView(out, ctx.stdout, state) if mode == "live" else None
    stream = EventStream(ctx.socket_path, {"run_id": run["id"]}, tick=0.1 if view else None,
                         timeout=ctx.timeout)
    try:
        for kind, p in stream:
            if kind == "tick":
                view.status()  # type: ignore[union-attr]
                continue
            if kind in ("lost", "back"):
                msg = f"lost the connection to agentd ({p}); reconnecting…" if kind == "lost" else "watching again."
                if view:
                    view.line(out.dim(msg))
                else:
                    ctx.stderr.write(f"agentctl: {msg}\n")
                continue
            if mode == "json":
                from .render import dumps_json

                ctx.stdout.write(dumps_json(p) + "\n")
                ctx.stdout.flush()
                state.apply(p)
                continue
            state.apply(p)
            if p["event"].get("type") == "text_delta":
                continue
            text = event_line(out, state, p, out.width)
            if text is not None:
                if view:
                    view.line(text)
                else:
                    ctx.stdout.write(text + "\n")
                    ctx.stdout.flush()
            elif view:
                view.status()
    except KeyboardInterrupt:
        if view:
            view.end()
        ctx.stderr.write(f"\nStopped watching; run {state.run_id} goes on "
                         f"(`agentctl run watch {state.run_id}` to watch again).\n")
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
