"""describe(): plain English for the common shapes, and a literal but correct reading otherwise."""

from __future__ import annotations

import pytest

from agentd.protocol.errors import ValidationFailed
from agentd.shared.describe import describe

CASES = [
    ("0 16 * * 5", "at 16:00 on Friday"),
    ("*/15 * * * *", "every 15 minutes"),
    ("0 * * * *", "at minute 0 of every hour"),
    ("0 9 * * *", "at 09:00 every day"),
    ("30 8 * * 1-5", "at 08:30 on weekdays (Mon-Fri)"),
    ("30 8 * * mon-fri", "at 08:30 on weekdays (Mon-Fri)"),
    ("0 0 1 * *", "at 00:00 on day 1 of every month"),
    ("* * * * *", "every minute"),
    ("@hourly", "at minute 0 of every hour"),
    ("@daily", "at 00:00 every day"),
    ("@weekly", "at 00:00 on Sunday"),
    ("@yearly", "at 00:00 on day 1 of January"),
    ("0,30 * * * *", "every 30 minutes"),
    ("*/7 * * * *", "at minutes 0, 7, 14, ..., 56 of every hour"),
    ("0 */2 * * *", "at minute 0 of every 2nd hour"),
    ("0 9,17 * * *", "at 09:00 and 17:00 every day"),
    ("*/15 9-17 * * 1-5", "every 15 minutes from 09:00 to 17:45 on weekdays (Mon-Fri)"),
    ("0 9-17 * * *", "at minute 0 of every hour from 09:00 to 17:00"),
    ("0 0 1,15 * *", "at 00:00 on days 1 and 15 of every month"),
    ("0 12 * * 0,6", "at 12:00 on weekends (Sat-Sun)"),
    ("0 9 * * 1,3,5", "at 09:00 on Monday, Wednesday and Friday"),
    ("0 9 * * mon-thu", "at 09:00 on Monday through Thursday"),
    ("0 0 * jan *", "at 00:00 every day in January"),
    ("15 10 * 3-5 *", "at 10:15 every day in March through May"),
    ("0 0 1 */3 *", "at 00:00 on day 1 of January, April, July and October"),
    ("0 0 13 * 5", "at 00:00 on day 13 of every month and on every Friday"),
    ("0 0 */2 * 1", "at 00:00 on Monday, if the day of the month is 1, 3, 5, ..., 31"),
    ("0 0 1-31 * 1", "at 00:00 every day"),  # either field matching is enough: every day
    ("* 2 * * *", "every minute from 02:00 to 02:59"),
    ("0 1,2,3,5,8,13,21 * * *", "at minute 0 of hours 1-3, 5, 8, 13 and 21"),
    ("1-10 */3 * * *", "at minutes 1-10 of hours 0, 3, 6, ..., 21"),
    ("*/10 * * * 6", "every 10 minutes on Saturday"),
]


@pytest.mark.parametrize(("expr", "text"), CASES)
def test_describe(expr: str, text: str) -> None:
    assert describe(expr) == text


def test_invalid_expression_raises_the_validation_message() -> None:
    with pytest.raises(ValidationFailed, match="out of range for the hour field"):
        describe("0 25 * * *")


def test_describe_is_fast_enough_for_keystrokes() -> None:
    import time
    begin = time.perf_counter()
    for minute in range(60):
        describe(f"{minute} {minute % 24} * * 1-5")
    assert time.perf_counter() - begin < 0.5
