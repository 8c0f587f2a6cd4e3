"""Independent references for the scheduling tests: wall-clock helpers, DST transitions found by
scanning, and a brute-force fire list built minute by minute over real instants."""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from agentd.shared import cron

UTC = timezone.utc
MINUTE = 60_000
HOUR = 3_600_000
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "America/Sao_Paulo", "Pacific/Chatham", "UTC"]


def ms(local_iso: str, tz: str, fold: int = 0) -> int:
    """Epoch ms of a local wall time (fold=1: its second occurrence)."""
    return int(datetime.fromisoformat(local_iso).replace(tzinfo=ZoneInfo(tz), fold=fold).timestamp() * 1000)


def local(instant_ms: int, tz: str) -> datetime:
    return datetime.fromtimestamp(instant_ms / 1000, ZoneInfo(tz))


def local_iso(instant_ms: int, tz: str) -> str:
    return local(instant_ms, tz).isoformat(timespec="minutes")


def offset_ms(instant_ms: int, tz: str) -> int:
    return int(local(instant_ms, tz).utcoffset().total_seconds() * 1000)


@functools.lru_cache(maxsize=None)
def transitions(tz: str, year: int) -> tuple[int, ...]:
    """Instants (ms) in ``year`` at which the zone's UTC offset changes."""
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp() * 1000)
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp() * 1000)
    found = []
    t = start
    while t < end:
        if offset_ms(t, tz) != offset_ms(t + HOUR, tz):
            lo, hi = t // 1000, (t + HOUR) // 1000
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset_ms(mid * 1000, tz) == offset_ms(t, tz) else (lo, mid)
            found.append(hi * 1000)
        t += HOUR
    return tuple(found)


def matches(spec: cron.Spec, wall: datetime) -> bool:
    """Field matching on a naive wall time, written out from cron(5)."""
    dow = (wall.weekday() + 1) % 7
    dom_ok, dow_ok = wall.day in spec.dom.values, dow in spec.dow.values
    day_ok = (dom_ok or dow_ok) if (not spec.dom.star and not spec.dow.star) else (dom_ok and dow_ok)
    return (wall.minute in spec.minute.values and wall.hour in spec.hour.values
            and wall.month in spec.month.values and day_ok)


def brute_force(expr: str, tz: str, start_ms: int, end_ms: int) -> list[int]:
    """Fires in (start_ms, end_ms], found by visiting every real minute and applying the DST rules
    as the module docstring states them."""
    spec = cron.parse(expr)
    fires = []
    t = (start_ms // MINUTE + 1) * MINUTE
    while t <= end_ms:
        here = local(t, tz)
        wall = here.replace(tzinfo=None)
        hit = matches(spec, wall) and (here.fold == 0 or not spec.fixed_time)
        if not hit and spec.fixed_time:
            before = local(t - 1000, tz).replace(tzinfo=None) + timedelta(seconds=1)
            gap = wall - before  # the wall-clock span skipped just before t (zero when none)
            hit = any(matches(spec, before + timedelta(minutes=i)) for i in range(int(gap.total_seconds() // 60)))
        if hit:
            fires.append(t)
        t += MINUTE
    return fires


def days_of(year: int) -> list[date]:
    d, out = date(year, 1, 1), []
    while d.year == year:
        out.append(d)
        d += timedelta(days=1)
    return out
