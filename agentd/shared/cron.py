"""Cron expressions evaluated in an IANA timezone, correct across DST. Pure: no I/O, no clock.

Every instant at this interface is an int of epoch milliseconds (UTC); a timezone is an IANA name
such as ``Europe/Paris``.

Syntax: five fields, ``minute hour day-of-month month day-of-week`` (0-59, 0-23, 1-31, 1-12 or
jan-dec, 0-7 or sun-sat where 0 and 7 are Sunday), each a ``*``, a number, a range ``a-b``, a step
``*/n``, ``a-b/n`` or ``a/n`` (from a to the end), or a comma list of those; or one of the macros
``@hourly``, ``@daily`` (``@midnight``), ``@weekly``, ``@monthly``, ``@yearly`` (``@annually``).
There is no seconds field: 6- and 7-field expressions are refused. As in cron(8), when both the
day-of-month and the day-of-week field are restricted (neither starts with ``*``) a day matches if
EITHER matches; otherwise both must.

Ranges run forwards and do not wrap: ``22-2`` is refused, with the list that means what it
probably meant (``22-23,0-2``). Sunday is 0, 7 or ``sun``, whichever is written: at the start of
a range it is the first day of the week, at the end the last (``sat-sun``, ``5-7``, ``fri-0``
are Friday or Saturday to Sunday), and a range from Sunday to Sunday (``sun-sun``, ``0-0``,
``7-7``, ``sun-7``, ``0-sun``) is Sunday alone. ``0-7`` is refused: cron(8) reads it as every
day, our rule as Sunday, and a schedule must not depend on which cron one has in mind.

Not supported, each refused with a message saying what to write instead: the Quartz/Jenkins
extensions ``L``, ``W``, ``#``, ``?`` and ``H`` (in either case), a seconds or years field,
``@reboot``.

DST rules. A schedule is evaluated in the wall-clock time of its zone:

* A *fixed-time* job is one whose hour field names hours: a number or a list of numbers
  (``30 2 * * *``, ``0 9,17 * * 1-5``). Each matching wall time fires once:
  - a wall time that does not exist because the clock springs forward (02:30 in Europe/Berlin on
    the last Sunday of March) fires ONCE, at the first valid instant after the gap (03:00 local);
    several wall times of one gap fire once together;
  - a wall time that occurs twice because the clock falls back (01:30 in America/New_York on the
    first Sunday of November) fires ONCE, at its first occurrence.
* An *interval-like* job is one whose hour field has a wildcard, a range or a step
  (``0 * * * *``, ``*/15 * * * *``, ``0 9-17 * * *``). It fires at every matching wall time that
  exists, at each of its occurrences: both passes through the repeated hour on fall-back, none in
  the hour skipped on spring-forward. An hourly job therefore runs every real hour: 24 times on a
  normal day, 23 on the spring-forward day, 25 on the fall-back day.
* The instants returned are strictly increasing; none is returned twice.

Candidate wall times are computed by matching the fields on naive local datetimes; they are mapped
to instants here with zoneinfo: a wall time whose fold=0 and fold=1 offsets agree exists once,
one whose fold=0 offset is the larger occurs twice, and one whose fold=0 offset is the smaller lies
in a gap.
"""

from __future__ import annotations

import calendar
import functools
import re
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from itertools import islice, takewhile
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from ..protocol.errors import ValidationFailed

MACROS = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
}
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FIELDS = (  # name, lowest, highest, names (index + offset = value)
    ("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day-of-month", 1, 31, ()),
    ("month", 1, 12, MONTH_NAMES), ("day-of-week", 0, 7, DOW_NAMES),
)
_HINTS = {"month": " (use 1-12 or jan-dec)", "day-of-week": " (use 0-7, where 0 and 7 are Sunday, or sun-sat)"}
_SYNTAX = "minute hour day-of-month month day-of-week"
_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_HORIZON_YEARS = 9  # a schedule that can fire at all fires within 8 years (29 February)
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    text: str                 # as written
    values: tuple[int, ...]   # sorted, day-of-week 7 folded to 0
    star: bool                # starts with '*': "unrestricted" for the day-or-day rule


@dataclass(frozen=True, slots=True)
class Spec:
    """A parsed expression. ``times`` are the matching minutes of the day, sorted."""

    expr: str
    minute: Field
    hour: Field
    dom: Field
    month: Field
    dow: Field
    fixed_time: bool
    times: tuple[int, ...]
    hm: tuple[tuple[int, int], ...]
    months: frozenset[int]
    doms: frozenset[int]
    dows: frozenset[int]
    every_day: bool
    day_or: bool

    def day_matches(self, day: int, dow: int) -> bool:
        if self.every_day:
            return True
        if self.day_or:
            return day in self.doms or dow in self.dows
        return day in self.doms and dow in self.dows


def _fail(message: str, expr: str) -> ValidationFailed:
    return ValidationFailed(message, field="cron", value=expr)


@functools.lru_cache(maxsize=4096)
def parse(expr: str) -> Spec:
    """Parse a cron expression or macro.

    Raises:
        ValidationFailed: (``field="cron"``) the expression is malformed, out of range, or can
            never fire; the message says which field and what to write instead.
    """
    text = expr.strip()
    if not text:
        raise _fail(f"the schedule is empty; write a cron expression ({_SYNTAX}) or a macro such as @daily", expr)
    if text.startswith("@"):
        text = _expand_macro(text, expr)
    parts = text.split()
    if len(parts) in (6, 7):
        raise _fail(_seconds_or_years(parts, expr), expr)
    if len(parts) != 5:
        raise _fail(f"a cron expression has 5 fields ({_SYNTAX}); {expr!r} has {len(parts)}", expr)
    fields = [_parse_field(p, *spec, expr) for p, spec in zip(parts, _FIELDS)]
    minute, hour, dom, month, dow = fields
    _check_can_fire(dom, month, dow, expr)
    times = tuple(h * 60 + m for h in hour.values for m in minute.values)
    day_or = not dom.star and not dow.star
    dom_all, dow_all = len(dom.values) == 31, len(dow.values) == 7
    every_day = (dom_all or dow_all) if day_or else (dom_all and dow_all)
    return Spec(
        expr=" ".join(parts), minute=minute, hour=hour, dom=dom, month=month, dow=dow,
        fixed_time=not any(c in hour.text for c in "*-/"), times=times, hm=tuple(divmod(t, 60) for t in times),
        months=frozenset(month.values), doms=frozenset(dom.values), dows=frozenset(dow.values),
        every_day=every_day, day_or=day_or,
    )


def _seconds_or_years(parts: list[str], expr: str) -> str:
    """The message for 6 or 7 fields (Quartz's seconds first, and years last), with the 5-field
    expression that drops them when that one is valid."""
    message = (f"{expr!r} has {len(parts)} fields, which looks like cron with seconds (or years), as in Quartz; "
               f"that is not supported: agentd schedules have minute resolution, so use 5 fields ({_SYNTAX})")
    five = " ".join("*" if p == "?" else p for p in parts[1:6])
    try:
        parse(five)
    except ValidationFailed:
        return message
    return f"{message}, for example {five!r} (the seconds{' and years' if len(parts) == 7 else ''} dropped)"


def _expand_macro(text: str, expr: str) -> str:
    macro = text.lower()
    if macro in MACROS:
        return MACROS[macro]
    if macro == "@reboot":
        raise _fail("@reboot is not supported: a schedule needs a time, and agentd is not started by cron; "
                    "use a cron expression or a macro such as @daily, and `agentctl goal run ID` to start a "
                    "run now", expr)
    import difflib  # only on the error path

    close = difflib.get_close_matches(macro, MACROS, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise _fail(f"unknown macro {text!r}; {hint}known macros: {', '.join(MACROS)}", expr)


def _parse_field(text: str, name: str, lo: int, hi: int, names: tuple[str, ...], expr: str) -> Field:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise _fail(f"empty item in the {name} field {text!r} (two commas in a row, or a trailing comma?)", expr)
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise _fail(f"step {step_text!r} in the {name} field must be a whole number of at least 1", expr)
            step = int(step_text)
        unsupported = _unsupported(item, name)
        if unsupported:
            raise _fail(unsupported, expr)
        if base == "*":
            start, end = lo, (6 if name == "day-of-week" else hi)
        elif "-" in base.strip("-"):
            first, _, last = base.partition("-")
            start, end = _value(first, name, lo, hi, names, expr), _value(last, name, lo, hi, names, expr)
            if name == "day-of-week":
                start, end = _weekday_range(base, start, end, expr)
            if start > end:
                raise _fail(_backwards(item, first, last, start, end, step, name, lo, hi, names), expr)
        else:
            start = _value(base, name, lo, hi, names, expr)
            end = hi if slash else start
        if slash and step > end - start and not (base == "*" and step == 1):
            raise _fail(f"step {step} in the {name} field item {item!r} is too large: it would only match "
                        f"{start}" + (" (for once an hour write '0 * * * *')" if name == "minute" else ""), expr)
        values.update(range(start, end + 1, step))
    if name == "day-of-week" and 7 in values:
        values.discard(7)
        values.add(0)
    return Field(name, text, tuple(sorted(values)), text.startswith("*"))


def _weekday_range(base: str, start: int, end: int, expr: str) -> tuple[int, int]:
    """A day-of-week range with Sunday (0 or 7) at either end, whatever its spelling: the week's
    first day at the start, its last at the end; Sunday to Sunday is Sunday alone."""
    if base.strip() == "0-7":
        raise _fail("the day-of-week range '0-7' means every day in some crons and Sunday alone in "
                    "others; write * (or 0-6, sun-sat) for every day, or 0 for Sunday", expr)
    if start == 7:
        start = 0
    if end in (0, 7):
        end = 7 if start > 0 else 0
    return start, end


def _backwards(item: str, first: str, last: str, start: int, end: int, step: int, name: str, lo: int,
               hi: int, names: tuple[str, ...]) -> str:
    """The message for a range that runs backwards, with the list that wraps around the field's end
    as it was probably meant, spelled as the range was (numbers or names)."""
    top = 6 if name == "day-of-week" else hi  # the week ends on Saturday (6) and starts again on Sunday (0)

    def spell(value: int, like: str) -> str:
        return names[value - lo] if names and not like.isdigit() else str(value)

    def span(a: int, b: int, like: str) -> str:
        return spell(a, like) if a == b else f"{spell(a, like)}-{spell(b, like)}"

    if step == 1:
        suggestion = f"{span(start, top, first)},{span(lo, end, last)}"
    else:  # the values a wrapping range with this step would have: say them one by one
        size = top - lo + 1
        count = ((end - start) % size) // step + 1
        suggestion = ",".join(spell(lo + (start - lo + i * step) % size, first) for i in range(count))
    return (f"the range {item!r} in the {name} field runs backwards (a range cannot wrap around past "
            f"{spell(top, first)}); to mean {spell(start, first)} through {spell(end, last)}, write "
            f"{suggestion!r} instead")


# The Quartz/Jenkins extensions people copy from other schedulers: what each means and what to write.
_NOT_SUPPORTED = (
    (re.compile(r"\?"), "'?' (\"no specific value\", from Quartz) is not supported; write * instead"),
    (re.compile(r".*#.*"), "{item!r} (the n-th weekday of the month, from Quartz) is not supported; standard "
                           "cron cannot say \"the second Monday\": schedule the weekday (for example 1 for "
                           "Mondays) and let the goal's objective say which week"),
    (re.compile(r"h(\(\d+-\d+\))?(/\d+)?"), "{item!r} (a hashed value, from Jenkins) is not supported; write a "
                                           "fixed {name} instead (for example {example})"),
    (re.compile(r"\d*lw|\d+w"), "{item!r} (the nearest weekday, from Quartz) is not supported; write the "
                                "days instead (for example 1-5 in the day-of-week field for weekdays)"),
    (re.compile(r"l(-\d+)?|\d+l"), "{item!r} (the last day, from Quartz) is not supported: standard cron "
                                   "has no \"last day of the month\" or \"last Friday\"; write a day instead "
                                   "(for example 1 to run at the start of the next month, or 28 in the "
                                   "day-of-month field)"),
)
_EXAMPLES = {"minute": "17", "hour": "3", "day-of-month": "12", "month": "6", "day-of-week": "2"}


def _unsupported(item: str, name: str) -> str | None:
    """Why ``item`` is an extension we do not support (None when it is not one)."""
    text = item.strip().lower()
    if text in DOW_NAMES or text in MONTH_NAMES:
        return None
    for pattern, message in _NOT_SUPPORTED:
        if pattern.fullmatch(text):
            return message.format(item=item, name=name, example=_EXAMPLES[name])
    return None


def _value(token: str, name: str, lo: int, hi: int, names: tuple[str, ...], expr: str) -> int:
    if token.isdigit():
        value = int(token)
        if not lo <= value <= hi:
            raise _fail(f"{value} is out of range for the {name} field ({lo}-{hi}){_HINTS.get(name, '')}", expr)
        return value
    if token.lower() in names:
        return names.index(token.lower()) + lo
    if any(c in token.upper() for c in "LWH#?"):
        raise _fail(f"{token!r} in the {name} field is not standard cron (L, W, H, # and ? are not supported); "
                    "use numbers, names, '*', ranges a-b, steps /n and comma lists", expr)
    raise _fail(f"{token!r} is not a valid {name} value{_HINTS.get(name, f' (use {lo}-{hi})')}", expr)


def _check_can_fire(dom: Field, month: Field, dow: Field, expr: str) -> None:
    if not dow.star or dom.star:
        return  # some weekday, or day 1 of some month, always matches
    if any(d <= _MAX_DAYS[m - 1] for m in month.values for d in dom.values):
        return
    months = ", ".join(calendar.month_name[m] for m in month.values)
    raise _fail(f"{expr!r} never fires: {months} never {'has' if len(month.values) == 1 else 'have'} "
                f"day {', '.join(map(str, dom.values))}", expr)


@functools.lru_cache(maxsize=1024)
def zone(tz: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name.

    Raises:
        ValidationFailed: (``field="timezone"``) no such zone; the message suggests a close name.
    """
    try:
        if not tz or tz != tz.strip():
            raise ValueError(tz)
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    import difflib  # only on the error path

    by_lower = {name.lower(): name for name in _zone_names()}
    close = difflib.get_close_matches(tz.strip().lower(), by_lower, n=1, cutoff=0.6)
    hint = f"did you mean {by_lower[close[0]]}? " if close else ""
    raise ValidationFailed(f"unknown timezone {tz!r}; {hint}use an IANA name such as Europe/Paris, "
                           "America/New_York or UTC", field="timezone", value=tz)


@functools.lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def validate(expr: str, tz: str) -> None:
    """Check a schedule; return quietly if it is good.

    Raises:
        ValidationFailed: ``field`` is ``"cron"`` or ``"timezone"``; the message says what is wrong.
    """
    parse(expr)
    zone(tz)


def is_fixed_time(expr: str) -> bool:
    """Whether the DST rules treat ``expr`` as fixed-time (see the module docstring)."""
    return parse(expr).fixed_time


def next_fires(expr: str, tz: str, after_ms: int, count: int) -> list[int]:
    """The first ``count`` fire instants strictly after ``after_ms``, in order.

    Raises:
        ValidationFailed: the expression or timezone is invalid.
    """
    return list(islice(_instants(parse(expr), zone(tz), after_ms), max(count, 0)))


def fires_between(expr: str, tz: str, start_ms: int, end_ms: int, limit: int) -> list[int]:
    """Fire instants in (start_ms, end_ms], in order, at most ``limit`` of them (the earliest)."""
    fires = takewhile(lambda t: t <= end_ms, _instants(parse(expr), zone(tz), start_ms))
    return list(islice(fires, max(limit, 0)))


def last_fires(expr: str, tz: str, start_ms: int, end_ms: int, count: int) -> list[int]:
    """The latest ``count`` fire instants in (start_ms, end_ms], in order. Work is bounded by the
    density of the schedule near ``end_ms``, not by the length of the interval."""
    spec, z = parse(expr), zone(tz)
    if count <= 0 or end_ms <= start_ms:
        return []
    span = 3_600_000
    while True:
        lo = max(start_ms, end_ms - span)
        tail = deque(takewhile(lambda t: t <= end_ms, _instants(spec, z, lo)), maxlen=count)
        if len(tail) == count or lo == start_ms:
            return list(tail)
        span *= 4


def count_between(expr: str, tz: str, start_ms: int, end_ms: int) -> int:
    """How many fires fall in (start_ms, end_ms], without listing them: whole local days without a
    UTC-offset change are counted arithmetically, the rest (both ends, DST days) one by one."""
    spec, z = parse(expr), zone(tz)
    if end_ms <= start_ms:
        return 0
    total, cursor = 0, start_ms  # fires in (start_ms, cursor] are counted
    day = _wall(z, start_ms).date() + timedelta(days=1)
    last_day = _wall(z, end_ms).date() - timedelta(days=1)
    midnight = datetime.combine(day, datetime.min.time())
    here = _steady_offset(z, midnight)
    while day <= last_day:
        next_midnight = midnight + timedelta(days=1)
        there = _steady_offset(z, next_midnight)
        if here is not None and here == there == _steady_offset(z, midnight + timedelta(hours=12)):
            day_start = _wall_ms(midnight) - here
            if cursor < day_start - 1:
                total += _count_enumerated(spec, z, cursor, day_start - 1)
            if day.month in spec.months and spec.day_matches(day.day, (day.weekday() + 1) % 7):
                total += len(spec.times)
            cursor = day_start + _DAY_MS - 1
        day, midnight, here = day + timedelta(days=1), next_midnight, there
    return total + _count_enumerated(spec, z, cursor, end_ms)


def _count_enumerated(spec: Spec, z: ZoneInfo, start_ms: int, end_ms: int) -> int:
    return sum(1 for _ in takewhile(lambda t: t <= end_ms, _instants(spec, z, start_ms)))


def _steady_offset(z: ZoneInfo, wall: datetime) -> int | None:
    """The UTC offset (ms) at ``wall`` if that wall time exists exactly once, else None."""
    o0, o1 = wall.replace(tzinfo=z).utcoffset(), wall.replace(tzinfo=z, fold=1).utcoffset()
    return o0 // _MS if o0 == o1 else None


def _wall_ms(wall: datetime) -> int:
    return (wall - _EPOCH) // _MS


def _wall(z: ZoneInfo, ms: int) -> datetime:
    return (_EPOCH_UTC + timedelta(milliseconds=ms)).astimezone(z).replace(tzinfo=None)


def _offset_ms(z: ZoneInfo, ms: int) -> int:
    return (_EPOCH_UTC + timedelta(milliseconds=ms)).astimezone(z).utcoffset() // _MS


def _instants(spec: Spec, z: ZoneInfo, after_ms: int) -> Iterator[int]:
    """Fire instants strictly after ``after_ms``, strictly increasing (see the DST rules above)."""
    # Wall time runs backwards at a fall-back: start early enough to see the second pass.
    low_offset = min(_offset_ms(z, after_ms), _offset_ms(z, after_ms + 3 * 3_600_000))
    last = after_ms
    second_pass: deque[int] = deque()  # fold=1 instants of interval-like jobs, due after the fold
    for wall in _walls(spec, _EPOCH + timedelta(milliseconds=after_ms + low_offset)):
        base = _wall_ms(wall)
        o0 = wall.replace(tzinfo=z).utcoffset() // _MS
        o1 = wall.replace(tzinfo=z, fold=1).utcoffset() // _MS
        instant = base - o0
        if o0 > o1 and not spec.fixed_time:  # occurs twice
            second_pass.append(base - o1)
        elif o0 < o1:  # in a gap
            if not spec.fixed_time:
                continue
            instant = _gap_end(z, base - o1, base - o0, o0)
        while second_pass and second_pass[0] < instant:
            later = second_pass.popleft()
            if later > last:
                yield later
                last = later
        if instant > last:
            yield instant
            last = instant
    yield from (t for t in second_pass if t > last)


def _gap_end(z: ZoneInfo, lo_ms: int, hi_ms: int, offset_before: int) -> int:
    """The instant the clock jumps forward, in (lo_ms, hi_ms]: the first valid instant after the gap.
    Transitions fall on whole seconds."""
    lo, hi = lo_ms // 1000, -(-hi_ms // 1000)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset_ms(z, mid * 1000) == offset_before:
            lo = mid
        else:
            hi = mid
    return hi * 1000


def _walls(spec: Spec, start: datetime) -> Iterator[datetime]:
    """Matching naive wall times at or after ``start``'s minute, in order."""
    times, hm = spec.times, spec.hm
    year, month, first_day = start.year, start.month, start.day
    first_minute = start.hour * 60 + start.minute
    last_match_year = year
    while year - last_match_year <= _HORIZON_YEARS and year < 9999:
        if month in spec.months:
            weekday_of_1st = (date(year, month, 1).weekday() + 1) % 7  # cron: Sunday is 0
            for day in range(first_day, calendar.monthrange(year, month)[1] + 1):
                if spec.day_matches(day, (weekday_of_1st + day - 1) % 7):
                    last_match_year = year
                    for i in range(bisect_left(times, first_minute) if first_minute else 0, len(times)):
                        yield datetime(year, month, day, *hm[i])
                first_minute = 0
        first_minute, first_day = 0, 1
        month += 1
        if month > 12:
            month, year = 1, year + 1
