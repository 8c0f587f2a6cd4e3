"""agentctl.render: tables that fit, truncation, colour rules, times, JSON."""

from __future__ import annotations

import io

import msgspec
import pytest

from agentctl import render
from agentctl.render import Column, Out


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def out(width=None, tty=False, env=None):
    env = dict(env or {})
    if width is not None:
        env["COLUMNS"] = str(width)
    return Out(_Tty() if tty else io.StringIO(), env)


def test_truncate_marks_cut_text_with_an_ellipsis():
    assert render.truncate("hello", 10) == "hello"
    assert render.truncate("hello world", 6) == "hello…"
    assert render.truncate("hello", 1) == "…"
    assert render.truncate("hello", 0) == ""


def test_table_fits_the_width_by_cutting_the_flex_column():
    o = out(width=40)
    rows = [["g_1", "active", "x" * 100], ["g_22", "paused", "short"]]
    text = render.table(o, [Column("ID"), Column("STATUS"), Column("GOAL", flex=True)], rows)
    lines = text.splitlines()
    assert all(len(line) <= 40 for line in lines), lines
    assert lines[0].split() == ["ID", "STATUS", "GOAL"]
    assert lines[1].startswith("g_1   active  x") and lines[1].endswith("…")
    assert lines[2].rstrip().endswith("short")


def test_table_shrinks_other_columns_when_the_flex_one_is_not_enough():
    o = out(width=30)
    rows = [["a" * 40, "b" * 40, "c" * 40]]
    text = render.table(o, [Column("A"), Column("B"), Column("C", flex=True)], rows)
    assert all(len(line) <= 30 for line in text.splitlines())


def test_piped_tables_are_not_cut():
    o = out()  # not a terminal, no COLUMNS
    assert o.width is None
    text = render.table(o, [Column("GOAL", flex=True)], [["y" * 500]])
    assert "y" * 500 in text


def test_cells_are_one_line():
    o = out(width=80)
    text = render.table(o, [Column("A"), Column("B", flex=True)], [["x", "line1\nline2\tend"], [None, "z"]])
    assert "line1 line2 end" in text
    assert text.splitlines()[2].startswith("-")


def test_colour_only_on_a_terminal_without_no_color():
    assert not out().color
    assert out(tty=True).color
    assert not out(tty=True, env={"NO_COLOR": "1"}).color
    assert not out(tty=True, env={"NO_COLOR": ""}).color
    assert not out(tty=True, env={"TERM": "dumb"}).color
    o = out(tty=True)
    assert o.status("failed") == "\033[31mfailed\033[0m"
    assert o.status("completed 3m ago").startswith("\033[32m")
    assert out().status("failed") == "failed"


def test_coloured_table_is_aligned_on_the_visible_text():
    o = out(width=80, tty=True)
    rows = [["r1", "failed", "@"], ["r22", "completed", "#"]]
    text = render.table(o, [Column("ID"), Column("STATUS", paint=o.status), Column("N")], rows)
    plain = [render_strip(line) for line in text.splitlines()]
    assert plain[1].index("@") == plain[2].index("#")


def render_strip(s: str) -> str:
    import re

    return re.sub(r"\033\[[0-9;]*m", "", s)


def test_relative_times():
    now = render.parse_time("2026-11-21T16:00:00.000Z")
    assert render.relative_time("2026-11-21T15:57:00.000Z", now=now) == "3m ago"
    assert render.relative_time("2026-11-21T18:00:00.000Z", now=now) == "in 2h"
    assert render.relative_time("2026-11-21T16:00:02.000Z", now=now) == "just now"
    assert render.relative_time("2026-11-18T16:00:00.000Z", now=now) == "3d ago"
    assert render.relative_time("2025-01-01T00:00:00.000Z", now=now) == "2025-01-01"
    assert render.relative_time("not a time", now=now) == "not a time"


def test_times_are_relative_only_on_a_terminal():
    iso = "2000-01-01T00:00:00.000Z"
    assert out().time(iso) == render.local_time(iso)
    assert out(tty=True).time(iso) == "2000-01-01"
    assert out().time(None) == "-"


def test_durations():
    assert render.duration_ms(850) == "850ms"
    assert render.duration_ms(1234) == "1.2s"
    assert render.duration_ms(123_000) == "2m03s"
    assert render.duration_ms(3_900_000) == "1h05m"
    assert render.elapsed("2026-01-01T00:00:00Z", "2026-01-01T00:00:01.500Z") == "1.5s"


def test_markdown_table_escapes_pipes_and_newlines():
    text = render.markdown_table(["A", "B"], [["x|y", "1\n2"], [None, 3]])
    assert text.splitlines() == ["| A | B |", "|---|---|", "| x\\|y | 1<br>2 |", "| - | 3 |"]


def test_json_is_byte_identical_to_msgspec():
    from agentd.protocol import methods as m

    goal = m.Goal(id="g_1", objective="Zürich — “news”", status="active", params=m.GoalParams(),
                  created_at="2026-11-21T16:00:00.000Z", updated_at="2026-11-21T16:00:00.000Z",
                  catchup_window_s=3600)
    encoded = msgspec.json.encode(goal)
    assert render.dumps_json(msgspec.json.decode(encoded)).encode() == encoded


@pytest.fixture
def new_york(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_schedule_times_in_their_zone_and_the_local_one(new_york):
    at = "2026-12-11T15:00:00.000Z"  # Friday 16:00 in Berlin
    assert render.local_time(at) == "2026-12-11 10:00:00 EST"
    assert render.zoned_time(at, "Europe/Berlin") == "2026-12-11 16:00 Europe/Berlin (local: 10:00 EST)"
    assert render.zoned_time("2026-12-11T23:30:00.000Z", "Europe/Berlin") == \
        "2026-12-12 00:30 Europe/Berlin (local: 2026-12-11 18:30 EST)"  # another day here
    assert render.zoned_time(at, "America/New_York") == "2026-12-11 10:00 America/New_York"  # same clock: once
    assert render.zoned_time(at, "Not/AZone") == "2026-12-11 10:00 EST"
    assert out().when(at, "Europe/Berlin") == "2026-12-11 16:00 Europe/Berlin (local: 10:00 EST)"
    assert out(tty=True).when(at, "Europe/Berlin", now=render.parse_time(at) - 4 * 86400) == \
        "in 4d, 2026-12-11 16:00 Europe/Berlin (local: 10:00 EST)"
