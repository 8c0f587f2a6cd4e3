"""What ``agentctl run watch`` shows of a run: the state counted from its
events (:class:`RunState`), one line per event worth one (:func:`event_line`),
the closing text (:func:`finish_text`), and the terminal's live view
(:class:`LiveView`).

The live view keeps a small region at the bottom of the terminal that it
redraws in place: while the model answers, the last rows of its streamed text,
then one status line (spinner, status, elapsed, what the run does now: the
model call of turn N with its own elapsed time, waiting for the first token or
answering with a running estimate of its tokens (one per streamed piece),
a retry and its reason; or the tool step under way; the run's tokens so far
(the real usage of each answered call); steps of the budget). Lines for
finished steps, thoughts and retries scroll above it. Stdlib only (ANSI
escapes): ``run watch`` should start as fast as any other command.
"""

from __future__ import annotations

import time
import unicodedata
from typing import Any, TextIO


FINISHED = ("completed", "failed", "cancelled")
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
PREVIEW_ROWS = 3  # rows of the streamed answer shown above the status line
KEEP_TEXT = 4000  # characters of the streamed answer kept for the preview
REDRAW_S = 0.05  # at most this often on streamed text (ticks redraw anyway)


def _short(text: Any, limit: int) -> str:
    s = " ".join(str(text or "").split())
    return s if len(s) <= limit else s[: max(1, limit - 1)] + "…"


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    from .render import parse_time

    return parse_time(iso)


class ModelCall:
    """The model call in flight, as its live events told it."""

    def __init__(self, turn: int, started: float, *, model: str = "", streamed: bool = False) -> None:
        self.turn = turn
        self.started = started
        self.model = model
        self.streamed = streamed
        self.pieces = 0  # streamed pieces so far: about one token each
        self.text = ""  # the tail of the streamed text
        self.attempts = 1
        self.retry: dict | None = None  # the last model_retry, with "until" (epoch)


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
        self.cost: float | None = None  # the run's cost so far in USD (model_cost events; None: unpriced)
        self.steps = 0
        self.started = _epoch(run.get("started_at"))
        self.ended = _epoch(run.get("ended_at"))
        self.current: dict | None = None  # the tool call under way
        self.call: ModelCall | None = None  # the model call under way
        self.answered: ModelCall | None = None  # the call the last model_responded ended
        self.calls: dict[int, dict] = {}  # step_no -> tool_called event
        self.final: dict | None = None

    def apply(self, p: dict) -> None:
        ev = p["event"]
        kind = ev.get("type")
        at = _epoch(p.get("at")) or time.time()
        if kind == "run_started":
            self.status = "running"
            self.budget = ev.get("step_budget", self.budget)
            self.call = None
            if self.started is None or not ev.get("resumed"):
                self.started = at
        elif kind == "model_call_started":
            self.call = ModelCall(ev.get("turn", 0), at, model=ev.get("model", ""), streamed=ev.get("streamed", False))
        elif kind in ("model_retry", "text_delta"):
            call = self.call
            if call is None:  # an old daemon, or a watch that began mid-call without the start
                call = self.call = ModelCall(ev.get("turn", 0), at, streamed=kind == "text_delta")
            if kind == "model_retry":
                call.attempts = ev.get("attempt", 1) + 1
                call.retry = dict(ev, until=at + ev.get("delay_s", 0.0))
            else:
                call.pieces += ev.get("pieces", 1)
                call.text = (call.text + ev.get("text", ""))[-KEEP_TEXT:]
        elif kind == "model_cost":
            self.cost = ev.get("run_cost_usd")
        elif kind == "model_responded":
            self.tokens_in += ev.get("tokens_in", 0)
            self.tokens_out += ev.get("tokens_out", 0)
            self.answered, self.call = self.call, None
        elif kind == "tool_called":
            self.calls[ev["step_no"]] = ev
            self.current = dict(ev, since=time.monotonic())
        elif kind == "tool_returned":
            self.steps = max(self.steps, ev.get("step_no", 0))
            if self.current and self.current.get("step_no") == ev.get("step_no"):
                self.current = None
        elif kind == "run_finished":
            self.ended = at
            self.status = ev.get("status", "?")
            self.final = ev
            self.steps = ev.get("steps", self.steps)
            self.tokens_in = ev.get("tokens_in", self.tokens_in)
            self.tokens_out = ev.get("tokens_out", self.tokens_out)
            self.cost = ev.get("cost_usd", self.cost)
            self.current = self.call = None


def retry_text(ev: dict) -> str:
    return (f"turn {ev.get('turn')}: the model call failed ({_short(ev.get('reason'), 120)}); "
            f"retry {ev.get('attempt')} in {ev.get('delay_s', 0):.1f}s")


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
    if kind == "model_retry":
        return out.paint(retry_text(ev), "33")
    if kind == "memory_updated":
        return out.dim(f"memory updated: {', '.join(ev.get('keys') or [])}")
    if kind == "notification_sent":
        return f"{ev.get('kind')} sent to {ev.get('target')}"
    if kind == "notification_failed":
        return out.paint(f"{ev.get('kind')} to {ev.get('target')} failed: {ev.get('error')}", "31")
    if kind == "note":
        return out.dim(f"note: {ev.get('message')}")
    if kind == "approval_requested":
        rid = state.run_id or p.get("run_id")
        return out.paint(f"#{ev.get('step_no')} {ev.get('tool')} {_short(ev.get('arguments', ''), max(20, w - 90))} "
                         f"waits for approval: `run approve {rid}` or `run deny {rid} --reason ...`", "33")
    if kind == "approval_decided":
        why = f": {ev['note']}" if ev.get("note") else ""
        return f"#{ev.get('step_no')} {ev.get('tool')} {ev.get('decision')} by {ev.get('by')}{why}"
    return None


def finish_text(out: Any, state: RunState) -> str:
    ev = state.final or {}
    status = ev.get("status", state.status)
    tokens = f"{state.tokens_in} in / {state.tokens_out} out tokens"
    if state.cost is not None:
        from .render import usd

        tokens += f", {usd(state.cost)}"
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


def call_text(call: ModelCall, now: float) -> str:
    """What the model call is doing, for the status line."""
    from .render import duration_ms

    head = f"turn {call.turn}: model"
    r = call.retry
    if r is not None and now < r["until"]:
        return (f"{head} retry {r.get('attempt')} in {r['until'] - now:.0f}s "
                f"({_short(r.get('reason'), 40)})")
    took = duration_ms(max(0.0, now - call.started) * 1000)
    if call.pieces:
        doing = f"answering {took}, ~{_count(call.pieces, 'token')}"
    elif call.streamed:
        doing = f"waiting for the first token {took}"
    else:
        doing = f"thinking {took} (not streamed)"
    return f"{head} {doing}" + (f", attempt {call.attempts}" if call.attempts > 1 else "")


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def clean(text: str) -> str:
    """Text fit for a terminal row: no control characters (a model can write
    escape sequences), tabs as spaces."""
    return "".join(" " if c == "\t" else c for c in text if c == "\t" or unicodedata.category(c)[0] != "C")


def _cells(c: str) -> int:
    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def wrap_rows(line: str, width: int) -> list[str]:
    """``line`` cut into rows of at most ``width`` terminal cells."""
    rows, row, used = [], [], 0
    for c in line:
        n = _cells(c)
        if used + n > width:
            rows.append("".join(row))
            row, used = [], 0
        row.append(c)
        used += n
    rows.append("".join(row))
    return rows


def fit(text: str, width: int) -> str:
    """``text`` on one row of at most ``width`` cells (cut with "…")."""
    rows = wrap_rows(clean(text), width - 1)
    return rows[0] + "…" if len(rows) > 1 else rows[0]


def tail_rows(text: str, width: int, n: int) -> list[str]:
    """The last ``n`` rows of ``text`` wrapped at ``width`` cells."""
    rows: list[str] = []
    for line in text.split("\n")[-n:]:
        rows += wrap_rows(clean(line), width)
    return rows[-n:]


class LiveView:
    """The terminal view: lines scroll above a region redrawn in place (the
    streamed answer's last rows, then the status line). Rows are cut to the
    terminal's width by us, so the terminal never wraps them and the region's
    height is known when it is erased."""

    def __init__(self, out: Any, stream: TextIO, state: RunState) -> None:
        self.out = out
        self.stream = stream
        self.state = state
        self.frame = 0
        self.rows = 0  # rows of the region on the screen (the cursor is at the end of the last)
        self.last_draw = 0.0

    def _width(self) -> int:
        """The terminal's width now (it may have been resized since the start)."""
        import os

        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return self.out.width or 80

    def _erase(self) -> str:
        if not self.rows:
            return ""
        up = f"\033[{self.rows - 1}A" if self.rows > 1 else ""
        self.rows = 0
        return "\r" + up + "\033[J"

    def show(self, ctx: Any, state: RunState, p: dict) -> None:
        """One event (already applied to the state)."""
        if p["event"].get("type") == "text_delta":
            self.streamed()
            return
        text = event_line(self.out, state, p, self.out.width)
        if text is not None:
            self.line(text)
        else:
            self.status()

    def line(self, text: str) -> None:
        self.stream.write(self._erase() + text + "\n")
        self.status()

    def streamed(self) -> None:
        """New streamed text: redraw, at most every REDRAW_S."""
        if time.monotonic() - self.last_draw >= REDRAW_S:
            self.status()

    def region(self, now: float) -> list[str]:
        from .render import duration_ms

        s = self.state
        width = max(20, self._width() - 1)
        rows = []
        call = s.call
        if call is not None and call.text.strip():
            rows = [self.out.dim("│ " + r) for r in tail_rows(call.text.strip("\n"), width - 2, PREVIEW_ROWS)]
        self.frame = (self.frame + 1) % len(SPINNER)
        took = duration_ms((now - s.started) * 1000) if s.started else "-"
        parts = [f"{SPINNER[self.frame]} {s.status} {took}"]
        if s.current:
            parts.append(f"step {s.current.get('step_no')} {s.current.get('tool')} "
                         f"{_short(s.current.get('input'), 30)}")
        elif call is not None:
            parts.append(call_text(call, now))
        elif s.status == "running":
            parts.append("working…")
        parts.append(_count(s.tokens_in + s.tokens_out, "token"))
        if s.cost is not None:
            from .render import usd

            parts.append(usd(s.cost))
        if s.budget:
            parts.append(f"{s.steps}/{s.budget} steps")
        rows.append(fit(" · ".join(parts), width))
        return rows

    def status(self) -> None:
        if self.state.status in FINISHED:
            self.end()
            return
        rows = self.region(time.time())
        self.stream.write(self._erase() + "\n".join(rows))
        self.stream.flush()
        self.rows = len(rows)
        self.last_draw = time.monotonic()

    def end(self) -> None:
        self.stream.write(self._erase())
        self.stream.flush()
