"""What the cron parser says about what it refuses, and the one meaning of
Sunday in day-of-week ranges, whatever the spelling."""

from __future__ import annotations

import re

import pytest

from agentd.protocol.errors import ValidationFailed
from agentd.shared import cron

ALL_DAYS = (0, 1, 2, 3, 4, 5, 6)


def _message(expr: str) -> str:
    with pytest.raises(ValidationFailed) as caught:
        cron.validate(expr, "UTC")
    assert caught.value.data == {"field": "cron", "value": expr}
    return caught.value.message


# ---------------------------------------------------------------- backwards ranges

@pytest.mark.parametrize(("expr", "index", "suggested", "meant"), [
    ("0 22-2 * * *", 1, "22-23,0-2", {22, 23, 0, 1, 2}),
    ("0 23-1 * * *", 1, "23,0-1", {23, 0, 1}),
    ("0 22-0 * * *", 1, "22-23,0", {22, 23, 0}),
    ("50-10 * * * *", 0, "50-59,0-10", set(range(50, 60)) | set(range(0, 11))),
    ("0 0 1 nov-feb *", 3, "nov-dec,jan-feb", {11, 12, 1, 2}),
    ("0 0 1 11-2 *", 3, "11-12,1-2", {11, 12, 1, 2}),
    ("0 0 * * fri-mon", 4, "fri-sat,sun-mon", {5, 6, 0, 1}),
    ("0 0 * * FRI-MON", 4, "fri-sat,sun-mon", {5, 6, 0, 1}),
    ("0 0 * * 5-1", 4, "5-6,0-1", {5, 6, 0, 1}),
    ("0 0 * * sat-mon", 4, "sat,sun-mon", {6, 0, 1}),
    ("0 22-4/2 * * *", 1, "22,0,2,4", {22, 0, 2, 4}),
    ("0 0 * * fri-tue/2", 4, "fri,sun,tue", {5, 0, 2}),
])
def test_a_backwards_range_is_refused_with_the_list_it_meant(expr, index, suggested, meant):
    message = _message(expr)
    assert "runs backwards" in message
    match = re.search(r"write '([^']+)' instead", message)
    assert match, message
    assert match.group(1) == suggested, message
    # The suggestion means the range wrapped around the field's end: the same values.
    fixed = expr.split()
    fixed[index] = suggested
    spec = cron.parse(" ".join(fixed))
    field = (spec.minute, spec.hour, spec.dom, spec.month, spec.dow)[index]
    assert set(field.values) == meant


# ---------------------------------------------------------------- Sunday

@pytest.mark.parametrize(("dow", "days"), [
    ("sun-sun", (0,)), ("SUN-SUN", (0,)), ("0-0", (0,)), ("7-7", (0,)), ("0-sun", (0,)), ("SUN-7", (0,)),
    ("sun-0", (0,)), ("7-0", (0,)), ("7-sun", (0,)), ("sun", (0,)), ("7", (0,)), ("0", (0,)),
    ("5-7", (0, 5, 6)), ("fri-sun", (0, 5, 6)), ("fri-0", (0, 5, 6)), ("5-sun", (0, 5, 6)),
    ("sat-sun", (0, 6)), ("6-7", (0, 6)), ("sat-0", (0, 6)),
    ("sun-sat", ALL_DAYS), ("0-6", ALL_DAYS), ("7-6", ALL_DAYS), ("7-sat", ALL_DAYS),
    ("mon-sun", (0, 1, 2, 3, 4, 5, 6)), ("1-7", ALL_DAYS), ("sun-tue", (0, 1, 2)), ("7-2", (0, 1, 2)),
])
def test_sunday_means_sunday_in_every_spelling(dow, days):
    assert cron.parse(f"0 9 * * {dow}").dow.values == days


def test_zero_to_seven_is_refused_as_ambiguous():
    message = _message("0 9 * * 0-7")
    assert "every day" in message and "Sunday" in message and "write *" in message


# ---------------------------------------------------------------- what we do not support

@pytest.mark.parametrize(("expr", "fragments"), [
    ("0 0 L * *", ["'L'", "last day", "not supported", "write a day instead"]),
    ("0 0 l * *", ["'l'", "not supported"]),
    ("0 0 L-3 * *", ["'L-3'", "not supported"]),
    ("0 0 * * 5L", ["'5L'", "last Friday", "not supported"]),
    ("0 0 * * 5l", ["'5l'", "not supported"]),
    ("0 0 15W * *", ["'15W'", "nearest weekday", "not supported", "1-5"]),
    ("0 0 15w * *", ["'15w'", "not supported"]),
    ("0 0 LW * *", ["'LW'", "not supported"]),
    ("0 0 lw * *", ["'lw'", "not supported"]),
    ("0 0 * * 1#2", ["'1#2'", "n-th weekday", "not supported", "1 for Mondays"]),
    ("0 0 * * mon#2", ["'mon#2'", "not supported"]),
    ("0 0 ? * 1", ["'?'", "not supported", "write * instead"]),
    ("0 0 * * ?", ["'?'", "not supported", "write * instead"]),
    ("H * * * *", ["'H'", "hashed", "not supported", "fixed minute", "17"]),
    ("h * * * *", ["'h'", "not supported"]),
    ("H/15 * * * *", ["'H/15'", "not supported"]),
    ("0 H(0-5) * * *", ["'H(0-5)'", "not supported", "fixed hour"]),
    ("0 0 9 * * ?", ["6 fields", "seconds", "not supported", "'0 9 * * *'"]),
    ("0 30 9 ? * MON-FRI", ["6 fields", "not supported", "'30 9 * * MON-FRI'"]),
    ("0 0 9 * * ? 2030", ["7 fields", "not supported", "'0 9 * * *'", "years"]),
    ("* 0 9 * * * *", ["7 fields", "not supported"]),
    ("@reboot", ["@reboot", "not supported", "@daily", "agentctl goal run"]),
    ("@REBOOT", ["@reboot", "not supported"]),
])
def test_unsupported_syntax_says_so_and_what_to_write(expr, fragments):
    message = _message(expr)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize("expr", ["0 0 * * thu", "0 0 * * THU", "0 0 * jul *", "0 0 * * wed,sat", "0 9 * * sun-thu",
                                  "0 0 * mar-jul *"])
def test_names_with_those_letters_still_parse(expr):
    cron.validate(expr, "UTC")
