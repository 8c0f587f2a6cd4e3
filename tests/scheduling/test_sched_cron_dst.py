"""DST behaviour of cron evaluation: explicit cases, whole-year checks, and properties against a
brute-force minute-by-minute reference."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _sched_helpers import HOUR, ZONES, brute_force, days_of, local, local_iso, matches, ms, transitions
from agentd.shared import cron

DET = settings(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


# -- the cases the man page quotes ------------------------------------------------------------

def test_spring_forward_fixed_time_runs_once_after_the_gap_berlin() -> None:
    fires = cron.next_fires("30 2 * * *", "Europe/Berlin", ms("2024-03-30T12:00", "Europe/Berlin"), 3)
    assert [local_iso(f, "Europe/Berlin") for f in fires] == [
        "2024-03-31T03:00+02:00", "2024-04-01T02:30+02:00", "2024-04-02T02:30+02:00"]


def test_spring_forward_fixed_time_runs_once_after_the_gap_new_york() -> None:
    fires = cron.next_fires("30 2 * * *", "America/New_York", ms("2024-03-09T12:00", "America/New_York"), 3)
    assert [local_iso(f, "America/New_York") for f in fires] == [
        "2024-03-10T03:00-04:00", "2024-03-11T02:30-04:00", "2024-03-12T02:30-04:00"]


def test_fall_back_fixed_time_runs_once_at_first_occurrence_new_york() -> None:
    fires = cron.next_fires("30 1 * * *", "America/New_York", ms("2024-11-02T12:00", "America/New_York"), 2)
    assert [local_iso(f, "America/New_York") for f in fires] == ["2024-11-03T01:30-04:00", "2024-11-04T01:30-05:00"]


def test_fall_back_fixed_time_runs_once_at_first_occurrence_berlin() -> None:
    fires = cron.next_fires("30 2 * * *", "Europe/Berlin", ms("2024-10-26T12:00", "Europe/Berlin"), 2)
    assert [local_iso(f, "Europe/Berlin") for f in fires] == ["2024-10-27T02:30+02:00", "2024-10-28T02:30+01:00"]


def test_fixed_time_after_first_occurrence_does_not_fire_at_second() -> None:
    after = ms("2024-11-03T01:30", "America/New_York", fold=0)
    first = cron.next_fires("30 1 * * *", "America/New_York", after, 1)[0]
    assert local_iso(first, "America/New_York") == "2024-11-04T01:30-05:00"


def test_interval_job_fires_in_both_passes_of_the_repeated_hour() -> None:
    tz = "America/New_York"
    fires = cron.fires_between("*/30 * * * *", tz, ms("2024-11-03T00:00", tz), ms("2024-11-03T03:00", tz), 100)
    assert [local_iso(f, tz) for f in fires] == [
        "2024-11-03T00:30-04:00", "2024-11-03T01:00-04:00", "2024-11-03T01:30-04:00",
        "2024-11-03T01:00-05:00", "2024-11-03T01:30-05:00", "2024-11-03T02:00-05:00",
        "2024-11-03T02:30-05:00", "2024-11-03T03:00-05:00"]


def test_interval_job_skips_the_gap() -> None:
    tz = "Europe/Berlin"
    fires = cron.fires_between("*/30 * * * *", tz, ms("2024-03-31T01:00", tz), ms("2024-03-31T04:00", tz), 100)
    assert [local_iso(f, tz) for f in fires] == [
        "2024-03-31T01:30+01:00", "2024-03-31T03:00+02:00", "2024-03-31T03:30+02:00", "2024-03-31T04:00+02:00"]


def test_starting_inside_the_second_pass() -> None:
    tz = "America/New_York"
    after = ms("2024-11-03T01:10", tz, fold=1)
    fires = cron.next_fires("*/20 * * * *", tz, after, 3)
    assert [local_iso(f, tz) for f in fires] == [
        "2024-11-03T01:20-05:00", "2024-11-03T01:40-05:00", "2024-11-03T02:00-05:00"]


def test_starting_inside_the_first_pass_sees_the_second() -> None:
    tz = "America/New_York"
    fires = cron.next_fires("0 * * * *", tz, ms("2024-11-03T01:59", tz, fold=0), 2)
    assert [local_iso(f, tz) for f in fires] == ["2024-11-03T01:00-05:00", "2024-11-03T02:00-05:00"]


def test_lord_howe_half_hour_shift() -> None:
    tz = "Australia/Lord_Howe"  # springs 02:00 -> 02:30, falls back 02:00 -> 01:30
    spring = cron.next_fires("15 2 * * *", tz, ms("2024-10-05T12:00", tz), 2)
    assert [local_iso(f, tz) for f in spring] == ["2024-10-06T02:30+11:00", "2024-10-07T02:15+11:00"]
    fall = cron.fires_between("45 * * * *", tz, ms("2024-04-07T00:00", tz), ms("2024-04-07T03:00", tz), 10)
    assert [local_iso(f, tz) for f in fall] == [
        "2024-04-07T00:45+11:00", "2024-04-07T01:45+11:00", "2024-04-07T01:45+10:30", "2024-04-07T02:45+10:30"]


def test_midnight_gap_sao_paulo_2018() -> None:
    tz = "America/Sao_Paulo"  # 2018-11-04 00:00 did not exist: clocks went to 01:00
    fires = cron.next_fires("0 0 * * *", tz, ms("2018-11-03T12:00", tz), 2)
    assert [local_iso(f, tz) for f in fires] == ["2018-11-04T01:00-02:00", "2018-11-05T00:00-02:00"]


def test_several_wall_times_in_one_gap_fire_once() -> None:
    tz = "Europe/Berlin"
    fires = cron.fires_between("0,20,40 2,3 * * *", tz, ms("2024-03-31T00:00", tz), ms("2024-03-31T05:00", tz), 10)
    assert [local_iso(f, tz) for f in fires] == ["2024-03-31T03:00+02:00", "2024-03-31T03:20+02:00",
                                                 "2024-03-31T03:40+02:00"]


# -- whole years --------------------------------------------------------------------------------

DAILY_CASES = [  # (zone, wall time): includes times in each zone's gap and repeated hour
    ("Europe/Berlin", "30 2"), ("Europe/Berlin", "0 3"), ("America/New_York", "30 1"),
    ("America/New_York", "30 2"), ("Australia/Lord_Howe", "15 2"), ("Australia/Lord_Howe", "45 1"),
    ("Pacific/Chatham", "0 3"), ("Pacific/Chatham", "50 2"), ("Asia/Kolkata", "30 2"), ("UTC", "0 0"),
]


@pytest.mark.parametrize("year", [2021, 2024, 2030])
@pytest.mark.parametrize(("tz", "at"), DAILY_CASES)
def test_fixed_daily_job_fires_once_every_local_day(tz: str, at: str, year: int) -> None:
    start, end = ms(f"{year}-01-01T00:00", tz) - 1, ms(f"{year + 1}-01-01T00:00", tz) - 1
    fires = cron.fires_between(f"{at} * * *", tz, start, end, 1000)
    per_day = Counter(local(f, tz).date() for f in fires)
    assert set(per_day) == set(days_of(year)) and set(per_day.values()) == {1}


def test_fixed_daily_job_sao_paulo_historic_dst_year() -> None:
    tz = "America/Sao_Paulo"
    for at in ("0 0", "30 23", "30 0"):
        fires = cron.fires_between(f"{at} * * *", tz, ms("2018-01-01T00:00", tz) - 1, ms("2019-01-01T00:00", tz) - 1, 999)
        assert sorted(Counter(local(f, tz).date() for f in fires).values()) == [1] * 365


HOURLY_ON_DST_DAYS = {  # zone: (runs on the spring-forward day, runs on the fall-back day)
    "Europe/Berlin": (23, 25), "America/New_York": (23, 25),
    "Australia/Lord_Howe": (23, 24),  # the repeated half hour 01:30-02:00 holds no :00
    "Pacific/Chatham": (23, 25),
}


@pytest.mark.parametrize("year", [2020, 2025, 2030])
@pytest.mark.parametrize("tz", sorted(HOURLY_ON_DST_DAYS))
def test_hourly_runs_on_dst_days(tz: str, year: int) -> None:
    fires = cron.fires_between("0 * * * *", tz, ms(f"{year}-01-01T00:00", tz) - 1, ms(f"{year + 1}-01-01T00:00", tz) - 1, 10_000)
    per_day = Counter(local(f, tz).date() for f in fires)
    changes = transitions(tz, year)
    assert len(changes) == 2
    counts = {}
    for t in changes:
        kind = "spring" if local(t, tz).utcoffset() > local(t - 1000, tz).utcoffset() else "fall"
        counts[kind] = per_day[local(t, tz).date()]
    assert (counts["spring"], counts["fall"]) == HOURLY_ON_DST_DAYS[tz]
    dst_days = {local(t, tz).date() for t in changes}
    assert {n for d, n in per_day.items() if d not in dst_days} == {24}
    assert len(fires) == len(set(fires)) == (len(per_day) - 2) * 24 + sum(HOURLY_ON_DST_DAYS[tz])


def test_hourly_sao_paulo_historic() -> None:
    tz = "America/Sao_Paulo"
    for day, expected in (("2018-11-04", 23), ("2019-02-16", 25)):
        fires = cron.fires_between("0 * * * *", tz, ms(f"{day}T00:00", tz) - 1, ms(f"{day}T00:00", tz) + 30 * HOUR, 100)
        assert Counter(local(f, tz).date().isoformat() for f in fires)[day] == expected


# -- properties against the brute-force reference ------------------------------------------------

minute_f = st.sampled_from(["*", "0", "30", "*/15", "*/20", "5,35", "10-12", "45", "59", "0/7"])
hour_f = st.sampled_from(["*", "0", "1", "2", "3", "1,2", "2,14", "*/2", "1-3", "0-23/5", "23"])
dom_f = st.sampled_from(["*", "*", "*", "*", "1", "15", "1-7", "28-31", "*/2"])
month_f = st.sampled_from(["*", "*", "*", "3", "3,10", "*/2", "4-11"])
dow_f = st.sampled_from(["*", "*", "*", "*", "0", "1-5", "6,0", "5"])
years = st.integers(2020, 2030)


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, str, int, int]:
    """An expression, a zone and a 26-hour window, usually around one of the zone's DST changes
    with an hour field that names (or spans) the hours the change touches. Positions come from a
    hypothesis-controlled Random: hypothesis' integers favour small values too much for this."""
    rnd = draw(st.randoms(use_true_random=False))
    tz = draw(st.sampled_from(ZONES))
    year = draw(years)
    changes = transitions(tz, year)
    days = [draw(dom_f), draw(month_f), draw(dow_f)]
    if changes and rnd.random() < 0.8:
        centre = rnd.choice(changes)
        a, b = sorted((local(centre - 1000, tz).hour, local(centre, tz).hour))
        hot = [str(h) for h in range(a, b + 1)] + [f"{a},{b + 1}", f"{a}-{b + 1}", f"*/{a or 1}"]
        hour = rnd.choice(hot) if rnd.random() < 0.75 else draw(hour_f)
        if rnd.random() < 0.75:
            days = ["*", "*", "*"]
    else:
        centre = ms(f"{year}-01-01T00:00", "UTC") + rnd.randrange(365) * 24 * HOUR
        hour = draw(hour_f)
    expr = " ".join([draw(minute_f), hour, *days])
    start = centre + rnd.randrange(-20 * HOUR, 1 * HOUR) + rnd.choice([0, 1, 29_999, 60_000])
    return expr, tz, start, start + 26 * HOUR


@settings(DET, max_examples=250)
@given(cases())
def test_fires_equal_brute_force_reference(case: tuple[str, str, int, int]) -> None:
    expr, tz, start, end = case
    fires = cron.fires_between(expr, tz, start, end, 10_000)
    assert fires == brute_force(expr, tz, start, end)
    assert all(a < b for a, b in zip(fires, fires[1:]))
    assert cron.count_between(expr, tz, start, end) == len(fires)


@settings(DET, max_examples=150)
@given(cases())
def test_each_fire_matches_fields_or_ends_a_gap(case: tuple[str, str, int, int]) -> None:
    expr, tz, start, _ = case
    spec = cron.parse(expr)
    fires = cron.next_fires(expr, tz, start, 30)
    assert all(a < b for a, b in zip(fires, fires[1:])) and fires[0] > start
    for f in fires:
        wall = local(f, tz).replace(tzinfo=None)
        if not matches(spec, wall):
            before, after = local(f - 1000, tz), local(f, tz)
            assert spec.fixed_time and after.utcoffset() > before.utcoffset(), local_iso(f, tz)


@settings(DET, max_examples=150)
@given(cases(), st.integers(0, 20))
def test_restarting_after_any_fire_continues_the_sequence(case: tuple[str, str, int, int], i: int) -> None:
    expr, tz, start, _ = case
    fires = cron.next_fires(expr, tz, start, 25)
    assert cron.next_fires(expr, tz, fires[i], 4) == fires[i + 1:i + 5]
    assert cron.last_fires(expr, tz, start, fires[i + 3], 3) == fires[i + 1:i + 4]


@settings(DET, max_examples=40)
@given(st.sampled_from(["* * * * *", "*/5 * * * *", "0 * * * *", "30 2 * * *", "*/7 1-3 * * 1-5", "0 0 29 2 *"]),
       st.sampled_from(ZONES), years, st.integers(2, 20))
def test_count_between_over_long_spans(expr: str, tz: str, year: int, days: int) -> None:
    start = ms(f"{year}-02-20T07:13", tz)
    end = start + days * 24 * HOUR + 17 * 60_000
    assert cron.count_between(expr, tz, start, end) == len(cron.fires_between(expr, tz, start, end, 100_000))


def test_leap_day_schedule_and_horizon() -> None:
    fires = cron.next_fires("0 0 29 2 *", "UTC", ms("2097-01-01T00:00", "UTC"), 2)
    assert [local_iso(f, "UTC") for f in fires] == ["2104-02-29T00:00+00:00", "2108-02-29T00:00+00:00"]


def test_minute_resolution_after_mid_minute() -> None:
    at = ms("2024-05-01T10:00", "UTC")
    assert cron.next_fires("* * * * *", "UTC", at + 500, 1) == [at + 60_000]
    assert cron.next_fires("* * * * *", "UTC", at - 1, 1) == [at]
    assert cron.fires_between("* * * * *", "UTC", at, at, 10) == []
    assert cron.next_fires("* * * * *", "UTC", at, 0) == []


def test_fixed_time_classification() -> None:
    assert cron.is_fixed_time("30 2 * * *") and cron.is_fixed_time("0 9,17 * * *") and cron.is_fixed_time("*/5 2 * * *")
    assert not any(map(cron.is_fixed_time, ["0 * * * *", "*/15 * * * *", "0 9-17 * * *", "0 */2 * * *", "@hourly"]))
    assert cron.is_fixed_time("@daily")


def test_wall_matching_agrees_with_croniter() -> None:
    croniter = pytest.importorskip("croniter").croniter
    samples = [datetime(2024, 1, 1) + timedelta(minutes=37 * k) for k in range(0, 40000, 61)]
    for expr in ["*/15 9-17 * * 1-5", "0 0 1,15 * *", "0 0 13 * 5", "5 4 * * sun", "0 0 * jan,jul *",
                 "0/7 */3 1-10 */2 mon-fri", "59 23 31 12 *", "0 12 * * 7"]:
        spec = cron.parse(expr)
        for wall in samples:
            assert matches(spec, wall) == croniter.match(expr, wall), (expr, wall)
