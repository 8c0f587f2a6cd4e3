"""croniter's own test expectations, as a reference table for our matcher.

The scheduler has its own cron matcher (docs/architecture.md says why);
croniter stays the reference. These rows are the expectations of croniter's
test suite (croniter 7.0.0, ``croniter/tests/test_croniter.py`` and
``test_croniter_dst_repetition.py``): each test's input (expression, zone,
start instant) and the instants it expects, transcribed where they agree with
our documented rules (agentd/shared/cron.py, ``man agentd``). Only what
croniter's tests assert is here: ``{n: instant}`` means "the n-th fire after
the start", so gaps in n are fires croniter's test did not check.

Where croniter's expectation disagrees with our rules the row is in
DISAGREE, with croniter's expectation, ours, and why; those rows check that
we keep our documented behaviour.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agentd.protocol.errors import ValidationFailed
from agentd.shared import cron


def _ms(iso: str) -> int:
    """An ISO instant (an offset, or UTC when none) as epoch milliseconds."""
    dt = datetime.fromisoformat(iso)
    if dt.tzinfo is None:
        dt = datetime.fromisoformat(iso + "+00:00")
    return round(dt.timestamp() * 1000)


# (croniter test, expression, zone, start, {n: expected n-th fire after start})
NEXT = [
    ("test_minute", "*/1 * * * *", "UTC", "2010-01-23T12:18", {1: "2010-01-23T12:19", 41: "2010-01-23T12:59",
                                                               42: "2010-01-23T13:00"}),
    ("test_minute", "*/5 * * * *", "UTC", "2010-01-23T12:18", {1: "2010-01-23T12:20", 8: "2010-01-23T12:55",
                                                               9: "2010-01-23T13:00"}),
    ("test_hour", "0 */3 * * *", "UTC", "2010-01-24T12:02", {1: "2010-01-24T15:00", 4: "2010-01-25T00:00"}),
    ("test_day", "0 0 */3 * *", "UTC", "2010-02-24T12:09", {1: "2010-02-25T00:00", 2: "2010-02-28T00:00",
                                                            3: "2010-03-01T00:00"}),
    ("test_day", "0 0 * * *", "UTC", "1996-02-27T00:00", {1: "1996-02-28T00:00", 2: "1996-02-29T00:00"}),
    ("test_weekday", "0 0 * * sat", "UTC", "2010-02-25T00:00", {1: "2010-02-27T00:00", 2: "2010-03-06T00:00"}),
    ("test_weekday", "0 0 1 * wed", "UTC", "2010-01-25T00:00", {1: "2010-01-27T00:00", 2: "2010-02-01T00:00",
                                                                3: "2010-02-03T00:00"}),
    # cron(8)'s rule, which croniter calls implement_cron_bug: a day-of-month starting with '*'
    # makes the two day fields an AND (odd days that are Saturdays).
    ("test_dom_dow_vixie_cron_bug", "0 16 */2 * sat", "UTC", "2023-05-02T00:00", {
        1: "2023-05-13T16:00", 2: "2023-05-27T16:00", 3: "2023-06-03T16:00", 4: "2023-06-17T16:00"}),
    ("test_month", "0 0 1 * *", "UTC", "2010-01-25T00:00", {1: "2010-02-01T00:00", 2: "2010-03-01T00:00",
                                                            11: "2010-12-01T00:00", 12: "2011-01-01T00:00"}),
    ("test_sunday_to_thursday_with_alpha_conversion", "30 22 * * sun-thu", "UTC", "2010-08-25T15:56",
     {1: "2010-08-25T22:30"}),
    ("test_bug2", "0 * * 3 *", "UTC", "2012-01-01T00:00", {1: "2012-03-01T00:00", 2: "2012-03-01T01:00",
                                                           3: "2012-03-01T02:00"}),
    ("test_bug3", "00 03 16,30 * *", "UTC", "2013-03-01T12:17:34.257", {
        1: "2013-03-16T03:00", 2: "2013-03-30T03:00", 3: "2013-04-16T03:00"}),
    ("test_bug57", "0 4/6 * * *", "UTC", "2012-02-24T00:00", {1: "2012-02-24T04:00"}),
    ("test_bug57", "0 0/6 * * *", "UTC", "2012-02-24T00:00", {1: "2012-02-24T06:00"}),
    ("test_multiple_months", "0 0 1 3,6,9,12 *", "UTC", "2016-03-01T00:00", {1: "2016-06-01T00:00"}),
    ("test_multiple_months", "0 0 1 3,6,9,12 *", "UTC", "2016-02-15T00:00", {1: "2016-03-01T00:00"}),
    ("test_multiple_months", "0 0 1 3,6,9,12 *", "UTC", "2016-12-03T10:00", {1: "2017-03-01T00:00"}),
    ("test_range_generator", "1-9/2 0 1 * *", "UTC", "2013-03-04T00:00", {
        1: "2013-04-01T00:01", 2: "2013-04-01T00:03", 3: "2013-04-01T00:05", 4: "2013-04-01T00:07",
        5: "2013-04-01T00:09"}),
    ("CroniterDST138Test", "*/5 * * * *", "UTC", "2024-01-25T04:46", {
        1: "2024-01-25T04:50", 2: "2024-01-25T04:55", 3: "2024-01-25T05:00"}),
    # DST: interval-like jobs run at each real occurrence, none in a gap.
    ("test_timezone_winter_time", "*/30 * * * *", "Europe/Athens", "2013-10-27T02:00+03:00", {
        1: "2013-10-27T02:30+03:00", 2: "2013-10-27T03:00+03:00", 3: "2013-10-27T03:30+03:00",
        4: "2013-10-27T03:00+02:00", 5: "2013-10-27T03:30+02:00", 6: "2013-10-27T04:00+02:00",
        7: "2013-10-27T04:30+02:00"}),
    ("test_timezone_summer_time", "*/30 * * * *", "Europe/Athens", "2013-03-31T01:00+02:00", {
        1: "2013-03-31T01:30+02:00", 2: "2013-03-31T02:00+02:00", 3: "2013-03-31T02:30+02:00",
        4: "2013-03-31T04:00+03:00", 5: "2013-03-31T04:30+03:00"}),
    ("test_std_dst", "0 0 * * *", "Europe/Warsaw", "2017-03-26T00:00+01:00", {1: "2017-03-27T00:00+02:00"}),
    ("test_std_dst", "0 * * * *", "Europe/Warsaw", "2017-03-26T01:00+01:00", {1: "2017-03-26T03:00+02:00"}),
    ("test_std_dst", "0 0 * * *", "Europe/Warsaw", "2017-10-29T00:00+02:00", {1: "2017-10-30T00:00+01:00"}),
    ("test_std_dst", "0 * * * *", "Europe/Warsaw", "2017-10-29T01:59+02:00", {
        1: "2017-10-29T02:00+02:00", 2: "2017-10-29T02:00+01:00", 3: "2017-10-29T03:00+01:00",
        4: "2017-10-29T04:00+01:00"}),
    ("test_std_dst2", "0 0 * * *", "America/Sao_Paulo", "2018-02-17T21:00-02:00", {1: "2018-02-18T00:00-03:00"}),
    ("test_std_dst2", "0 0 * * *", "America/Sao_Paulo", "2018-02-17T22:00-02:00", {1: "2018-02-18T00:00-03:00"}),
    ("test_std_dst2", "0 0 * * *", "America/Sao_Paulo", "2018-02-17T23:00-02:00", {1: "2018-02-18T00:00-03:00"}),
    ("test_std_dst2", "0 0 * * *", "America/Sao_Paulo", "2018-02-18T00:00-03:00", {1: "2018-02-19T00:00-03:00"}),
    ("test_std_dst2", "0 0 * * *", "America/Sao_Paulo", "2018-02-17T21:05-02:00", {1: "2018-02-18T00:00-03:00"}),
    ("test_std_dst2", "0 0 * * *", "America/Sao_Paulo", "2018-02-17T22:05-02:00", {1: "2018-02-18T00:00-03:00"}),
    ("test_std_dst2", "0 0 * * *", "America/Sao_Paulo", "2018-02-17T23:05-02:00", {1: "2018-02-18T00:00-03:00"}),
    ("test_std_dst2", "0 0 * * *", "America/Sao_Paulo", "2018-02-18T00:05-03:00", {1: "2018-02-19T00:00-03:00"}),
    ("test_std_dst3", "0 0 24 * *", "Australia/Adelaide", "2020-04-15T00:00+09:30", {1: "2020-04-24T00:00+09:30"}),
    ("test_dst_daily", "7 0 * * *", "Europe/London", "2025-03-30T00:00+00:00", {
        1: "2025-03-30T00:07+00:00", 2: "2025-03-31T00:07+01:00", 3: "2025-04-01T00:07+01:00"}),
    ("test_dst_hourly", "7 * * * *", "Europe/London", "2025-03-30T00:00+00:00", {
        1: "2025-03-30T00:07+00:00", 2: "2025-03-30T02:07+01:00", 3: "2025-03-30T03:07+01:00"}),
    # DST: a fixed-time job whose wall time falls in a gap runs once, when the gap ends.
    ("test_dst_issue90_st31ny", "1 2 * * *", "Europe/Paris", "2020-03-29T01:59:55+01:00", {
        1: "2020-03-29T03:00+02:00", 2: "2020-03-30T02:01+02:00", 3: "2020-03-31T02:01+02:00"}),
    ("test_dst_iter", "0 0 * * *", "Asia/Hebron", "2022-03-25T00:00+02:00", {
        1: "2022-03-26T00:00+02:00", 2: "2022-03-27T01:00+03:00", 3: "2022-03-28T00:00+03:00"}),
    ("test_dst_gap_shift_is_not_a_fire_time", "0 * * * *", "Australia/Lord_Howe", "2019-10-06T01:43+10:30",
     {1: "2019-10-06T03:00+11:00"}),
    ("test_dst_gap_shift_is_not_a_fire_time", "0 * * * *", "Australia/Lord_Howe", "2019-10-06T01:03+10:30",
     {1: "2019-10-06T03:00+11:00"}),
    ("test_dst_gap_shift_is_not_a_fire_time (croniter_range)", "0 * * * *", "Australia/Lord_Howe",
     "2019-10-05T23:59+10:30", {1: "2019-10-06T00:00+10:30", 2: "2019-10-06T01:00+10:30",
                                3: "2019-10-06T03:00+11:00", 4: "2019-10-06T04:00+11:00",
                                5: "2019-10-06T05:00+11:00"}),
]

# (croniter test, expression, zone, start, [the fires before start, latest first])
PREV = [
    ("test_bug1", "5 0 */2 * *", "UTC", "2012-02-24T00:00", ["2012-02-23T00:05"]),
    ("test_bug3", "00 03 16,30 * *", "UTC", "2013-04-16T03:00", ["2013-03-30T03:00", "2013-03-16T03:00",
                                                                 "2013-02-16T03:00"]),
    ("test_bug57", "0 4/6 * * *", "UTC", "2012-02-24T04:00", ["2012-02-23T22:00"]),
    ("test_bug57", "0 0/6 * * *", "UTC", "2012-02-24T06:00", ["2012-02-24T00:00"]),
    ("test_multiple_months", "0 0 1 3,6,9,12 *", "UTC", "2016-03-01T00:00", ["2015-12-01T00:00"]),
    ("test_multiple_months", "0 0 1,15,31 * *", "UTC", "2016-02-01T00:00", ["2016-01-31T00:00"]),
    ("test_multiple_months", "0 0 1 3,6,9,12 *", "UTC", "2016-06-01T00:00", ["2016-03-01T00:00"]),
    ("test_multiple_months", "0 0 1 1,3,6,9,12 *", "UTC", "2016-03-01T00:00", ["2016-01-01T00:00"]),
    ("test_previous_hour", "* 10 * * *", "UTC", "2012-06-23T17:41", ["2012-06-23T10:59"]),
    ("test_previous_day", "* * 26 * *", "UTC", "2012-06-27T00:15", ["2012-06-26T23:59"]),
    ("test_previous_month", "* * * 5 *", "UTC", "2012-06-18T00:15", ["2012-05-31T23:59"]),
    ("test_previous_dow", "* * * * sat", "UTC", "2012-05-13T18:48", ["2012-05-12T23:59"]),
    ("test_timezone_winter_time", "*/30 * * * *", "Europe/Athens", "2013-10-27T05:00+02:00", [
        "2013-10-27T04:30+02:00", "2013-10-27T04:00+02:00", "2013-10-27T03:30+02:00", "2013-10-27T03:00+02:00",
        "2013-10-27T03:30+03:00", "2013-10-27T03:00+03:00", "2013-10-27T02:30+03:00"]),
    ("test_timezone_summer_time", "*/30 * * * *", "Europe/Athens", "2013-03-31T05:00+03:00", [
        "2013-03-31T04:30+03:00", "2013-03-31T04:00+03:00", "2013-03-31T02:30+02:00", "2013-03-31T02:00+02:00",
        "2013-03-31T01:30+02:00"]),
    ("test_std_dst3", "0 0 24 * *", "Australia/Adelaide", "2020-04-15T00:00+09:30", ["2020-03-24T00:00+10:30"]),
    ("test_dst_issue90_st31ny", "1 2 * * *", "Europe/Paris", "2020-03-31T02:01+02:00", [
        "2020-03-30T02:01+02:00", "2020-03-29T03:00+02:00", "2020-03-28T02:01+01:00"]),
    ("test_dst_gap_shift_is_not_a_fire_time", "0 * * * *", "Australia/Lord_Howe", "2019-10-06T03:00+11:00",
     ["2019-10-06T01:00+10:30"]),
]

# (croniter test, day-of-week expression, the days of the month of its first fires after
# 2024-01-01 00:00 UTC, a Monday; croniter's helper checks every Sunday spelling the same way)
SUNDAY_RANGES = [
    ("test_sunday_ranges_to", "0 0 * * Mon-Sun", list(range(2, 32))),
    ("test_sunday_ranges_to", "0 0 * * Wed-Sun", [3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 17, 18, 19, 20, 21, 24, 25, 26,
                                                  27, 28, 31, 1, 2, 3, 4, 7, 8, 9, 10, 11]),
    ("test_sunday_ranges_to", "0 0 * * Fri-Sun", [5, 6, 7, 12, 13, 14, 19, 20, 21, 26, 27, 28, 2, 3, 4, 9, 10, 11, 16,
                                                  17, 18, 23, 24, 25, 1, 2, 3, 8, 9, 10]),
    ("test_sunday_ranges_to", "0 0 * * Sat-Sun", [6, 7, 13, 14, 20, 21, 27, 28, 3, 4, 10, 11, 17, 18, 24, 25, 2, 3, 9,
                                                  10, 16, 17, 23, 24, 30, 31, 6, 7, 13, 14]),
    ("test_sunday_ranges_from", "0 0 * * Sun-Mon", [7, 8, 14, 15, 21, 22, 28, 29, 4, 5, 11, 12, 18, 19, 25, 26, 3, 4,
                                                    10, 11, 17, 18, 24, 25, 31, 1, 7, 8, 14, 15]),
    ("test_sunday_ranges_from", "0 0 * * Sun-Tue", [2, 7, 8, 9, 14, 15, 16, 21, 22, 23, 28, 29, 30, 4, 5, 6, 11, 12,
                                                    13, 18, 19, 20, 25, 26, 27, 3, 4, 5, 10, 11]),
    ("test_sunday_ranges_from", "0 0 * * Sun-Sat", list(range(2, 32))),
]



@pytest.mark.parametrize(("source", "expr", "tz", "start", "expected"), NEXT,
                         ids=[f"{r[0]}:{r[1]}@{r[3]}" for r in NEXT])
def test_next_fires_agree_with_croniter(source, expr, tz, start, expected):
    fires = cron.next_fires(expr, tz, _ms(start), max(expected))
    for n, iso in expected.items():
        assert fires[n - 1] == _ms(iso), (source, n, iso)


@pytest.mark.parametrize(("source", "expr", "tz", "start", "expected"), PREV,
                         ids=[f"{r[0]}:{r[1]}@{r[3]}" for r in PREV])
def test_previous_fires_agree_with_croniter(source, expr, tz, start, expected):
    end = _ms(start) - 1  # croniter's get_prev: strictly before the start
    fires = cron.last_fires(expr, tz, end - 6 * 366 * 86_400_000, end, len(expected))
    assert fires[::-1] == [_ms(iso) for iso in expected], source


@pytest.mark.parametrize(("source", "expr", "days"), SUNDAY_RANGES, ids=[r[1] for r in SUNDAY_RANGES])
def test_sunday_ranges_agree_with_croniter_in_every_spelling(source, expr, days):
    start = _ms("2024-01-01T00:00")
    minute, hour, dom, month, dow = expr.split()
    first, last = dow.split("-")
    spellings = {dow}
    for end, other in (("first", last), ("last", first)):
        here = first if end == "first" else last
        if here.lower() == "sun":
            for form in ("0", "7", "SUN"):
                spellings.add(f"{form}-{other}" if end == "first" else f"{other}-{form}")
    for spelling in spellings:
        fires = cron.next_fires(f"{minute} {hour} {dom} {month} {spelling}", "UTC", start, len(days))
        assert [datetime.fromtimestamp(t / 1000, timezone.utc).day for t in fires] == days, spelling


# Where croniter's expectation and our rules part: (croniter test, expression, zone, start,
# croniter's expectation, ours (None: refused), why).
DISAGREE = [
    ("test_dst_negative_dst_zone_ambiguous_pytz", "0 1 * * *", "Europe/Dublin", "2019-10-26T12:00+01:00",
     ["2019-10-27T01:00+01:00", "2019-10-27T01:00+00:00", "2019-10-28T01:00+00:00"],
     ["2019-10-27T01:00+01:00", "2019-10-28T01:00+00:00"],
     "a fixed-time job runs once on the fall-back day, at the first occurrence of its wall time; "
     "croniter runs it at both"),
    ("test_dom_dow_vixie_cron_bug (default)", "0 16 */2 * sat", "UTC", "2023-05-02T00:00",
     ["2023-05-03T16:00", "2023-05-05T16:00", "2023-05-06T16:00", "2023-05-07T16:00"],
     ["2023-05-13T16:00", "2023-05-27T16:00", "2023-06-03T16:00", "2023-06-17T16:00"],
     "as in cron(8), a day-of-month starting with '*' makes the day fields an AND; croniter's default is an "
     "OR (its implement_cron_bug=True gives ours, in the table above)"),
    ("test_sunday_ranges_to", "0 0 * * Sun-Sun", "UTC", "2024-01-01T00:00",
     [f"2024-01-{d:02d}T00:00" for d in range(2, 5)],
     ["2024-01-07T00:00", "2024-01-14T00:00", "2024-01-21T00:00"],
     "a range from Sunday to Sunday is Sunday alone, in every spelling; croniter reads Sun-Sun as every day "
     "but 0-0 and 7-7 as Sunday"),
    ("test_sunday_ranges_from", "0 0 * * Thu-Tue/2", "UTC", "2024-01-01T00:00",
     ["2024-01-02T00:00", "2024-01-04T00:00", "2024-01-06T00:00"], None,
     "ranges do not wrap around: a backwards range is refused with the list it meant (thu,sat,mon: the "
     "step counted through the wrap; croniter's expectation has Thu, Sat, Tue)"),
    ("test_weekday_day_and", "0 0 1 * mon", "UTC", "2010-01-25T00:00",
     ["2010-02-01T00:00", "2010-03-01T00:00", "2010-11-01T00:00"],
     ["2010-02-01T00:00", "2010-02-08T00:00", "2010-02-15T00:00"],
     "croniter's day_or=False option makes both day fields required; we follow cron(8): both restricted "
     "means either"),
    ("test_weekday_range / test_issue_monsun_117", "0 0 * * 2-4 *", "UTC", "2019-01-14T00:00",
     ["2019-01-15T00:00"], None, "a sixth field (seconds, in croniter's order last) is refused: minute resolution"),
    ("test_issue_142_dow", "35 * 1-l/8 * *", "UTC", "2020-01-01T00:00", ["2020-01-01T00:35"], None,
     "L (last day of the month) is not supported"),
]


@pytest.mark.parametrize(("source", "expr", "tz", "start", "theirs", "ours", "why"), DISAGREE,
                         ids=[r[0] for r in DISAGREE])
def test_where_we_disagree_with_croniter_we_keep_our_rule(source, expr, tz, start, theirs, ours, why):
    if ours is None:
        with pytest.raises(ValidationFailed):
            cron.next_fires(expr, tz, _ms(start), len(theirs))
        return
    fires = cron.next_fires(expr, tz, _ms(start), len(ours))
    assert fires == [_ms(iso) for iso in ours], why
    assert fires[: len(theirs)] != [_ms(iso) for iso in theirs][: len(fires)], "no longer a disagreement: " + why
