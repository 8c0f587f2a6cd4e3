"""agentd.retry: backoff bounds, caps, Retry-After parsing, and the retry loop on trio's clock."""

from __future__ import annotations

import random
from email.utils import format_datetime
from datetime import datetime, timezone

import pytest
import trio
import trio.testing

from agentd.retry import RetryPolicy, parse_retry_after, retry, retry_after_from_headers


def test_full_jitter_stays_within_the_exponential_cap():
    policy = RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=8.0, multiplier=2.0)
    rng = random.Random(7)
    for attempt in range(1, 10):
        cap = min(0.5 * 2 ** (attempt - 1), 8.0)
        assert policy.backoff_cap(attempt) == cap
        samples = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0.0 <= s <= cap for s in samples)
        assert max(samples) > cap * 0.8  # full jitter spreads over the whole range


def test_without_jitter_the_delay_is_the_cap_and_huge_attempts_do_not_overflow():
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0, jitter=False)
    assert [policy.delay(a, random.Random()) for a in (1, 2, 3, 6)] == [1.0, 2.0, 4.0, 30.0]
    assert policy.delay(5000, random.Random()) == 30.0


def test_retry_after_wins_over_backoff_but_is_capped():
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0)
    assert policy.delay(1, random.Random(), retry_after=7.0) == 7.0
    assert policy.delay(1, random.Random(), retry_after=120.0) == 10.0
    assert policy.delay(1, random.Random(), retry_after=-3.0) == 0.0


def test_parse_retry_after_seconds_and_http_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc).timestamp()
    later = format_datetime(datetime(2024, 5, 1, 12, 0, 42, tzinfo=timezone.utc), usegmt=True)
    assert parse_retry_after(later, now=now) == 42.0
    earlier = format_datetime(datetime(2024, 5, 1, 11, 0, 0, tzinfo=timezone.utc), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


def test_retry_after_ms_header_is_preferred():
    assert retry_after_from_headers({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_from_headers({"retry-after": "9"}) == 9.0
    assert retry_after_from_headers({}) is None


class Flaky:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def test_retry_sleeps_on_trios_clock_and_reports_each_retry():
    clock = trio.testing.MockClock(autojump_threshold=0)
    seen: list[tuple[int, float]] = []
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=10.0)
    fn = Flaky([ValueError("a"), ValueError("b")])

    async def main():
        start = trio.current_time()
        result = await retry(fn, policy=policy, is_transient=lambda e: 5.0 if str(e) == "a" else True,
                             on_retry=lambda a, d, e: seen.append((a, d)), rng=random.Random(3))
        return result, trio.current_time() - start

    result, elapsed = trio.run(main, clock=clock)
    assert result == "ok" and fn.calls == 3
    assert seen[0] == (1, 5.0)  # Retry-After honoured
    assert seen[1][0] == 2 and 0.0 <= seen[1][1] <= 2.0
    assert elapsed == pytest.approx(sum(d for _, d in seen))


def test_retry_gives_up_after_max_attempts_and_on_permanent_errors():
    policy = RetryPolicy(max_attempts=3, base_delay=0.1)
    clock = trio.testing.MockClock(autojump_threshold=0)
    fn = Flaky([OSError("x")] * 5)
    with pytest.raises(OSError):
        trio.run(lambda: retry(fn, policy=policy, is_transient=lambda e: True), clock=clock)
    assert fn.calls == 3
    fn = Flaky([KeyError("permanent")])
    with pytest.raises(KeyError):
        trio.run(lambda: retry(fn, policy=policy, is_transient=lambda e: None))
    assert fn.calls == 1
    # Retry-After of 0 seconds is still a transient verdict, not "permanent".
    fn = Flaky([OSError("x")])
    assert trio.run(lambda: retry(fn, policy=policy, is_transient=lambda e: 0.0), clock=clock) == "ok"


def test_cancellation_during_the_wait_is_not_swallowed():
    policy = RetryPolicy(max_attempts=5, base_delay=100.0, max_delay=100.0, jitter=False)
    fn = Flaky([OSError("x")] * 5)

    async def main():
        with trio.move_on_after(1.0) as scope:
            await retry(fn, policy=policy, is_transient=lambda e: True)
        return scope.cancelled_caught

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) is True
    assert fn.calls == 1
