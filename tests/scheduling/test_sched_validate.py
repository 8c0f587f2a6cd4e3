"""validate(): good schedules pass; typos get a message that says what is wrong."""

from __future__ import annotations

import pytest

from agentd.protocol.errors import ValidationFailed
from agentd.shared import cron

GOOD = ["* * * * *", "*/15 * * * *", "0 9 * * 1-5", "30 8 * * MON-FRI", "0 0 1 jan *", "0 0 * * 7",
        "5/10 * * * *", "0 0 29 2 *", "0 12 1,15 */2 sun,sat", "@hourly", "@DAILY", "@weekly", "@monthly",
        "@yearly", "@annually", "@midnight", "  0  9  *  *  *  "]


@pytest.mark.parametrize("expr", GOOD)
def test_good_expressions_pass(expr: str) -> None:
    cron.validate(expr, "Europe/Paris")


@pytest.mark.parametrize(("expr", "fragments"), [
    ("", ["empty"]),
    ("0 9 * *", ["5 fields", "has 4"]),
    ("0 0 9 * * *", ["6 fields", "seconds", "5 fields"]),
    ("0 0 9 * * * 2024", ["7 fields", "seconds"]),
    ("60 * * * *", ["60", "minute", "0-59"]),
    ("0 24 * * *", ["24", "hour", "0-23"]),
    ("0 0 32 * *", ["32", "day-of-month", "1-31"]),
    ("0 0 0 * *", ["0", "day-of-month", "1-31"]),
    ("0 0 * 13 *", ["13", "month", "1-12", "jan-dec"]),
    ("0 0 * * 8", ["8", "day-of-week", "0-7", "sun-sat"]),
    ("0 0 * * mon-fry", ["'fry'", "day-of-week"]),
    ("0 0 * jna *", ["'jna'", "month"]),
    ("0 9-5 * * *", ["'9-5'", "backwards"]),
    ("*/0 * * * *", ["step", "minute"]),
    ("*/x * * * *", ["step 'x'"]),
    ("*/60 * * * *", ["too large", "0 * * * *"]),
    ("0,,5 * * * *", ["empty item", "minute"]),
    ("0 0 L * *", ["L", "not supported"]),
    ("0 0 ? * 1", ["?", "not supported"]),
    ("0 0 * * 5#3", ["#", "not supported"]),
    ("0 0 30 2 *", ["never fires", "February", "30"]),
    ("0 0 31 4,6 *", ["never fires", "April, June", "31"]),
    ("@dayly", ["unknown macro", "did you mean @daily"]),
    ("@reboot", ["@reboot", "not supported", "@daily"]),
])
def test_bad_expressions_say_what_is_wrong(expr: str, fragments: list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        cron.validate(expr, "UTC")
    err = caught.value
    assert err.data == {"field": "cron", "value": expr}
    for fragment in fragments:
        assert fragment in err.message, (fragment, err.message)


@pytest.mark.parametrize(("tz", "suggestion"), [
    ("Europe/Pari", "Europe/Paris"), ("america/new_york", "America/New_York"), ("utc", "UTC"),
    ("Mars/Olympus", None), ("", None), ("../../etc/passwd", None), (" UTC", "UTC"),
])
def test_unknown_timezone(tz: str, suggestion: str | None) -> None:
    with pytest.raises(ValidationFailed) as caught:
        cron.validate("0 9 * * *", tz)
    err = caught.value
    assert err.data == {"field": "timezone", "value": tz}
    assert "unknown timezone" in err.message and "IANA name such as Europe/Paris" in err.message
    if suggestion:
        assert f"did you mean {suggestion}?" in err.message
    else:
        assert "did you mean" not in err.message


def test_good_timezones() -> None:
    for tz in ["UTC", "Europe/Berlin", "America/Sao_Paulo", "Pacific/Chatham", "Asia/Kolkata", "Australia/Lord_Howe"]:
        cron.validate("@daily", tz)


def test_other_functions_raise_the_same_errors() -> None:
    with pytest.raises(ValidationFailed):
        cron.next_fires("61 * * * *", "UTC", 0, 1)
    with pytest.raises(ValidationFailed):
        cron.fires_between("@daily", "Nowhere/City", 0, 1, 1)


def test_equivalent_spellings_parse_alike() -> None:
    assert cron.parse("0 0 * * 7").dow.values == cron.parse("0 0 * * sun").dow.values == (0,)
    assert cron.parse("@weekly").times == cron.parse("0 0 * * 0").times
    assert cron.parse("5/20 * * * *").minute.values == (5, 25, 45)
    assert cron.parse("*/2 * * * *").minute.values == tuple(range(0, 60, 2))
    assert cron.parse("0 0 * * */2").dow.values == (0, 2, 4, 6)
    assert cron.parse("0 0 * * fri-sun").dow.values == (0, 5, 6)
    assert cron.parse("0 0 * * mon-sun").every_day
