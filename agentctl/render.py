"""Output: tables, markdown, JSON, times, colour.

Rules (the same for every command):

- ``--json`` prints the RPC result exactly as the daemon's msgspec encoder
  wrote it: the shapes are the Result structs of ``agentd.protocol.methods``.
  One compact line when stdout is not a terminal, indented on a terminal.
- Tables fit the terminal's width when stdout is a terminal (long cells are
  cut with "…"); piped, they are not cut unless ``COLUMNS`` is set.
- Times: relative ("3m ago", "in 2h") on a terminal; otherwise the clock
  time in the user's local zone (``2026-12-11 15:00:00 UTC``). A schedule's
  time (next fire) is shown in the schedule's zone and, when it differs, in
  the local one too (``2026-12-11 16:00 Europe/Berlin (local: 10:00 EST)``),
  after the relative time on a terminal. ``--json`` keeps the ISO-8601 UTC
  strings as the daemon sent them.
- Colour only when stdout is a terminal, ``NO_COLOR`` is not set and
  ``TERM`` is not ``dumb``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO


ELLIPSIS = "…"

# SGR codes per status word.
_STATUS_SGR = {
    "active": "32", "ok": "32", "completed": "32", "delivered": "32", "fired": "32",
    "caught_up": "32", "closed": "32", "true": "32",
    "paused": "33", "pending": "33", "awaiting": "33", "degraded": "33", "queued": "33", "intent": "33",
    "coalesced": "33", "half_open": "33", "unchecked": "33", "stopping": "33",
    "running": "36",
    "failed": "31", "refused": "31", "error": "31", "incompatible": "31", "missed": "31", "open": "31",
    "false": "31",
    "unknown": "35",
    "cancelled": "2", "archived": "2", "skipped": "2",
}
TERMINAL_RUN_STATES = frozenset({"completed", "failed", "cancelled"})


def run_status(run: dict) -> str:
    """A run's status as shown: ``awaiting approval`` for a run parked until a
    person decides on a call (the daemon says ``pending`` and lists the calls
    in ``awaiting_approval``), else its status."""
    return "awaiting approval" if run.get("awaiting_approval") else run.get("status") or "?"


class Out:
    """What we know about an output stream: terminal or not, colour, width."""

    def __init__(self, stream: TextIO | None = None, environ: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        env = os.environ if environ is None else environ
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self.color = self.tty and "NO_COLOR" not in env and env.get("TERM") != "dumb"
        self.width: int | None = None
        columns = env.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            self.width = int(columns)
        elif self.tty:
            try:
                self.width = os.get_terminal_size(self.stream.fileno()).columns
            except (OSError, ValueError, AttributeError):
                self.width = 80

    # ------------------------------------------------------------ colour

    def paint(self, text: str, sgr: str | None) -> str:
        if not self.color or not sgr or not text:
            return text
        return f"\033[{sgr}m{text}\033[0m"

    def bold(self, text: str) -> str:
        return self.paint(text, "1")

    def dim(self, text: str) -> str:
        return self.paint(text, "2")

    def status(self, text: str) -> str:
        return self.paint(text, _STATUS_SGR.get(str(text).split(" ", 1)[0].lower()))

    # ------------------------------------------------------------ times

    def time(self, iso: str | None, *, now: float | None = None) -> str:
        """Relative on a terminal, the local clock time otherwise; "-" for none."""
        if not iso:
            return "-"
        return relative_time(iso, now=now) if self.tty else local_time(iso)

    def when(self, iso: str | None, zone: str | None, *, now: float | None = None) -> str:
        """A schedule's time: in its ``zone`` and the local zone
        (``zoned_time``), after the relative time on a terminal."""
        if not iso:
            return "-"
        text = zoned_time(iso, zone)
        return f"{relative_time(iso, now=now)}, {text}" if self.tty else text

    def write(self, text: str = "") -> None:
        self.stream.write(text + "\n")


# ---------------------------------------------------------------- json


def dumps_json(obj: Any, *, pretty: bool = False) -> str:
    """Compact JSON as msgspec writes it (no spaces, UTF-8 kept), or indented."""
    if pretty:
        return json.dumps(obj, indent=2, ensure_ascii=False)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------- times


def parse_time(iso: str) -> float | None:
    """Epoch seconds of an ISO-8601 string, or None when it is not one."""
    from datetime import datetime, timezone

    try:
        dt = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _datetime(iso: str):
    from datetime import datetime, timezone

    ts = parse_time(iso)
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc)


def local_time(iso: str, *, seconds: bool = True) -> str:
    """``iso`` as a clock time in the user's local zone (``TZ`` or the
    system's): ``2026-12-11 15:00:00 UTC``. Not a time: returned as it is."""
    dt = _datetime(iso)
    if dt is None:
        return iso
    return dt.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def _in_zone(dt, zone: str | None):
    from zoneinfo import ZoneInfo

    try:
        return dt.astimezone(ZoneInfo(zone)) if zone else None
    except (ValueError, KeyError, OSError):  # not a zone this machine knows
        return None


def schedule_time(iso: str, zone: str | None) -> str:
    """``iso`` in the IANA ``zone``: ``2026-12-11 16:00 Europe/Berlin``
    (the local time when there is no zone or this machine does not know it)."""
    dt = _datetime(iso)
    if dt is None:
        return iso
    there = _in_zone(dt, zone)
    return f"{there:%Y-%m-%d %H:%M} {zone}" if there is not None else dt.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def zoned_time(iso: str, zone: str | None) -> str:
    """``iso`` in the IANA ``zone`` (a schedule's), then in the local zone
    when its clock differs there: ``2026-12-11 16:00 Europe/Berlin (local:
    10:00 EST)``; the local date too when it is another day. Without a zone
    (or an unknown one): the local time."""
    dt = _datetime(iso)
    if dt is None:
        return iso
    there, here = _in_zone(dt, zone), dt.astimezone()
    text = schedule_time(iso, zone)
    if there is None or there.utcoffset() == here.utcoffset():
        return text
    fmt = "%H:%M %Z" if here.date() == there.date() else "%Y-%m-%d %H:%M %Z"
    return f"{text} (local: {here.strftime(fmt)})"


def span(seconds: float) -> str:
    """A short human duration: 45s, 3m, 2h, 4d; under a second: 0s."""
    s = abs(seconds)
    if s < 60:
        return f"{int(s)}s"
    if s < 3600:
        return f"{int(s // 60)}m"
    if s < 86400:
        return f"{int(s // 3600)}h"
    return f"{int(s // 86400)}d"


def relative_time(iso: str, *, now: float | None = None) -> str:
    """'3m ago', 'in 2h', 'just now'; beyond 60 days the date itself."""
    import time

    ts = parse_time(iso)
    if ts is None:
        return iso
    delta = ts - (time.time() if now is None else now)
    if abs(delta) < 5:
        return "just now"
    if abs(delta) > 60 * 86400:
        return iso[:10]
    return f"in {span(delta)}" if delta > 0 else f"{span(delta)} ago"


def duration_ms(ms: float | None) -> str:
    """850ms, 1.2s, 2m03s, 1h05m."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{int(ms)}ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(int(s), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def elapsed(start: str | None, end: str | None, *, now: float | None = None) -> str:
    """The duration between two ISO times (end None: until now)."""
    import time

    if not start:
        return "-"
    a = parse_time(start)
    b = parse_time(end) if end else (time.time() if now is None else now)
    if a is None or b is None:
        return "-"
    return duration_ms(max(0.0, b - a) * 1000)


# ---------------------------------------------------------------- text


def one_line(value: Any) -> str:
    """A cell's text: None as "-", newlines and tabs as spaces."""
    if value is None:
        return "-"
    text = value if isinstance(value, str) else str(value)
    if "\n" in text or "\t" in text or "\r" in text:
        text = " ".join(text.split())
    return text


def shorten(text: str, width: int) -> str:
    """``text`` on one line, cut to at most ``width`` characters at a word
    boundary with "…" (a single word longer than that is cut inside it)."""
    text = one_line(text)
    if len(text) <= width:
        return text
    cut = text[: max(1, width - 1)]
    if text[len(cut)] != " " and " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-–—(") + ELLIPSIS


def truncate(text: str, width: int) -> str:
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: width - 1] + ELLIPSIS if width > 1 else ELLIPSIS


class Column:
    """A table column. ``flex`` columns shrink first; ``paint`` colours a cell
    after it has been cut to width (so widths are counted on plain text)."""

    __slots__ = ("header", "flex", "paint", "min_width", "right")

    def __init__(self, header: str, *, flex: bool = False,
                 paint: Callable[[str], str] | None = None, min_width: int = 0,
                 right: bool = False) -> None:
        self.header = header
        self.flex = flex
        self.paint = paint
        self.min_width = min_width
        self.right = right


def fit_widths(natural: list[int], columns: Sequence[Column], width: int | None,
               gap: int = 2) -> list[int]:
    """Column widths that fit ``width``: shrink the widest flex column first,
    down to its minimum (its header, or 10), then the others down to 4."""
    widths = list(natural)
    if width is None:
        return widths
    total = sum(widths) + gap * (len(widths) - 1)
    for pass_flex in (True, False):
        while total > width:
            candidates = [
                i for i, c in enumerate(columns)
                if c.flex == pass_flex
                and widths[i] > _floor(c, pass_flex)
            ]
            if not candidates:
                break
            i = max(candidates, key=lambda j: widths[j])
            floor = _floor(columns[i], pass_flex)
            second = max((widths[j] for j in candidates if j != i), default=floor)
            step = min(total - width, widths[i] - floor, max(1, widths[i] - second))
            widths[i] -= step
            total -= step
    return widths


def _floor(column: Column, flex: bool) -> int:
    if column.min_width:
        return column.min_width
    return max(len(column.header), 10) if flex else 4


def table(out: Out, columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> str:
    """Render rows as an aligned table that fits ``out.width``."""
    cells = [[one_line(v) for v in row] for row in rows]
    natural = [len(c.header) for c in columns]
    for row in cells:
        for i, text in enumerate(row):
            natural[i] = max(natural[i], len(text))
    widths = fit_widths(natural, columns, out.width)
    last = len(columns) - 1
    lines = []
    header = "  ".join(
        _pad(truncate(c.header, widths[i]), widths[i], i == last, c.right, out.bold)
        for i, c in enumerate(columns)
    )
    lines.append(header.rstrip())
    for row in cells:
        parts = []
        for i, c in enumerate(columns):
            parts.append(_pad(truncate(row[i], widths[i]), widths[i], i == last, c.right, c.paint))
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _pad(text: str, width: int, last: bool, right: bool, paint: Callable[[str], str] | None) -> str:
    fill = " " * (width - len(text))
    shown = paint(text) if paint else text
    if right:
        return fill + shown
    return shown if last else shown + fill


def md_escape(value: Any) -> str:
    text = "-" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(md_escape(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(md_escape(v) for v in row) + " |")
    return "\n".join(lines)


def key_values(out: Out, pairs: Sequence[tuple[str, Any]], indent: str = "") -> str:
    """Aligned "Key   value" lines; values with newlines are indented under."""
    pairs = [(k, v) for k, v in pairs if v is not None]
    if not pairs:
        return ""
    kw = max(len(k) for k, _ in pairs)
    lines = []
    for k, v in pairs:
        text = str(v)
        first, *rest = text.split("\n") if text else [""]
        lines.append(f"{indent}{out.dim(k.ljust(kw))}  {first}")
        pad = indent + " " * (kw + 2)
        lines.extend(pad + r for r in rest)
    return "\n".join(lines)


def usd(amount: float | None) -> str:
    """Dollars for a person: 4 decimals below $1 (a model call costs
    fractions of a cent), else 2; None (no price known) says so."""
    if amount is None:
        return "cost unknown"
    return f"${amount:.4f}" if abs(amount) < 1 else f"${amount:,.2f}"
