"""Plain-English descriptions of cron expressions, e.g. "at 08:30 on weekdays (Mon-Fri)".

Fast enough to call on every keystroke. Common shapes get idiomatic phrases; anything else gets a
literal but correct reading of each field. Times are wall-clock times of the schedule's zone.
"""

from __future__ import annotations

import calendar

from .cron import Spec, parse

_MAX_TIMES = 6  # beyond this many times of day, describe minutes and hours separately


def describe(expr: str) -> str:
    """Describe ``expr`` in one English phrase.

    Raises:
        ValidationFailed: the expression is invalid (the message says why, as ``validate`` does).
    """
    spec = parse(expr)
    time, periodic = _time_phrase(spec)
    if spec.every_day:
        months = _months(spec.month.values)
        return time + ("" if periodic else " every day") + (f" in {months}" if months else "")
    return f"{time} {_day_phrase(spec)}"


def _time_phrase(spec: Spec) -> tuple[str, bool]:
    """The time-of-day part, and whether it already reads as recurring within a day."""
    minutes, hours = spec.minute.values, spec.hour.values
    all_hours = len(hours) == 24
    every = _every_n(minutes, 60)
    if all_hours and every:
        return ("every minute" if every == 1 else f"every {every} minutes"), True
    if all_hours:
        return f"at {_plural('minute', minutes)} of every hour", True
    if (step := _every_n(hours, 24)) and len(minutes) == 1:
        return f"at minute {minutes[0]} of every {_ordinal(step)} hour", True
    if spec.fixed_time and len(spec.times) <= _MAX_TIMES:
        return "at " + _join([f"{h:02d}:{m:02d}" for h, m in spec.hm]), False
    contiguous = hours == tuple(range(hours[0], hours[-1] + 1))
    if contiguous and every:
        unit = "every minute" if every == 1 else f"every {every} minutes"
        return f"{unit} from {hours[0]:02d}:00 to {hours[-1]:02d}:{minutes[-1]:02d}", True
    if contiguous and len(minutes) == 1:
        return (f"at minute {minutes[0]} of every hour from {hours[0]:02d}:{minutes[0]:02d} "
                f"to {hours[-1]:02d}:{minutes[0]:02d}"), True
    return f"at {_plural('minute', minutes)} of {_plural('hour', hours)}", True


def _day_phrase(spec: Spec) -> str:
    months = _months(spec.month.values)
    of_months = f"of {months}" if months else "of every month"
    in_months = f" in {months}" if months else ""
    dom_restricted = len(spec.dom.values) < 31
    dow_restricted = len(spec.dow.values) < 7
    doms = f"{_plural('day', spec.dom.values)}"
    if dom_restricted and dow_restricted:
        if spec.day_or:
            return f"on {doms} {of_months} and on every {_weekdays(spec.dow.values)}{in_months}"
        return (f"on {_weekdays(spec.dow.values)}{in_months}, if the day of the month is "
                f"{_numbers(spec.dom.values)}")
    if dom_restricted:
        return f"on {doms} {of_months}"
    if dow_restricted:
        return f"on {_weekdays(spec.dow.values)}{in_months}"
    raise AssertionError("every_day schedules are described by describe()")


def _weekdays(values: tuple[int, ...]) -> str:
    if values == (1, 2, 3, 4, 5):
        return "weekdays (Mon-Fri)"
    if values == (0, 6):
        return "weekends (Sat-Sun)"
    names = list(calendar.day_name)  # Monday first
    ordered = sorted(values, key=lambda d: (d - 1) % 7)  # Monday..Sunday
    if len(ordered) >= 3 and ordered == [((ordered[0] - 1 + i) % 7) + 1 for i in range(len(ordered))]:
        return f"{names[(ordered[0] - 1) % 7]} through {names[(ordered[-1] - 1) % 7]}"
    return _join([names[(d - 1) % 7] for d in ordered])


def _months(values: tuple[int, ...]) -> str:
    if len(values) == 12:
        return ""
    names = [calendar.month_name[m] for m in values]
    if len(values) >= 3 and values == tuple(range(values[0], values[-1] + 1)):
        return f"{names[0]} through {names[-1]}"
    return _join(names)


def _every_n(values: tuple[int, ...], size: int) -> int | None:
    """n if ``values`` are 0, n, 2n, ... covering a range of ``size`` evenly, else None."""
    if len(values) < 2 and size > 1:
        return None
    step = values[1] - values[0]
    if values[0] == 0 and size % step == 0 and values == tuple(range(0, size, step)):
        return step
    return None


def _plural(unit: str, values: tuple[int, ...]) -> str:
    if len(values) == 1:
        return f"{unit} {values[0]}"
    return f"{unit}s {_numbers(values)}"


def _numbers(values: tuple[int, ...]) -> str:
    """1-5, 10 and 12; or 0, 7, 14, ..., 56 for a long regular step."""
    step = values[1] - values[0]
    if len(values) >= 4 and step > 1 and values == tuple(range(values[0], values[-1] + 1, step)):
        return f"{values[0]}, {values[1]}, {values[2]}, ..., {values[-1]}"
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][-1] + 1:
            runs[-1].append(v)
        else:
            runs.append([v])
    return _join([f"{r[0]}-{r[-1]}" if len(r) >= 3 else ", ".join(map(str, r)) for r in runs])


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
