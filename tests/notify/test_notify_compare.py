"""How notify on_change decides "unchanged": normalise, then compare exactly.
Near-identical results both ways: what differs only in dates, times, ids and
whitespace is the same; one changed headline or figure is not."""

from __future__ import annotations

import pytest

from agentd.notify.changes import fingerprint, normalise

RUN_A, RUN_B, GOAL = "0123456789ab", "ba9876543210", "feedfacecafe"
IDS = {RUN_A, RUN_B, GOAL}

FRIDAY = """# AI news

Run `0123456789ab` of goal `feedfacecafe` — **completed** — 2026-12-04 16:00 UTC

Collected Friday, Dec 4, 2026 at 4:00 pm UTC (fetched 2 hours ago):

- OpenAI ships a model (published 2026-12-03T09:12:00Z)
- A new open-weights LLM tops the leaderboard (12/03/2026)
- Stars: 1520
"""

NEXT_FRIDAY_SAME = """# AI news

Run `ba9876543210` of goal `feedfacecafe` — **completed** — 2026-12-11 16:01 UTC

Collected   Friday, December 11th, 2026 at 16:01:07 UTC (fetched 3 hours ago):

- OpenAI ships a model (published 2026-12-10T08:00:00+01:00)
- A new open-weights LLM tops the leaderboard (12/10/2026)
- Stars: 1520
"""


@pytest.mark.parametrize("a, b", [
    (FRIDAY, NEXT_FRIDAY_SAME),
    ("Report for Mon, 7 Dec 2026: 3 new issues", "Report for Tue, 8 Dec 2026: 3 new issues"),
    ("as of 7 December 2026, 09:00", "as of 8th of December 2026, 9:30 am"),
    ("run 0123456789ab found nothing new", "run ba9876543210 found nothing new"),
    ("line one\n\nline two  ", "line one\nline two"),
])
def test_results_that_differ_only_in_dates_times_ids_and_spacing_are_the_same(a, b):
    assert normalise(a, IDS) == normalise(b, IDS)
    assert fingerprint(a, {}, IDS) == fingerprint(b, {}, IDS)


@pytest.mark.parametrize("a, b", [
    (FRIDAY, NEXT_FRIDAY_SAME.replace("Stars: 1520", "Stars: 1521")),  # one figure
    (FRIDAY, NEXT_FRIDAY_SAME.replace("tops the leaderboard", "tops the leaderboard\n- EU passes an AI rule")),
    ("3 new issues", "4 new issues"),
    ("version 3.11.2 released", "version 3.11.3 released"),  # not a date
    ("commit 0123456789ab", "commit 0123456789ac"),  # a 12-hex token that is not a known id stays
])
def test_one_changed_figure_headline_or_version_is_a_change(a, b):
    assert fingerprint(a, {}, IDS) != fingerprint(b, {}, IDS)


def test_written_files_count_with_their_normalised_path_and_content():
    same = fingerprint("ok", {"news-2026-12-04.md": b"- item one (2026-12-04)\n"}, IDS)
    assert fingerprint("ok", {"news-2026-12-11.md": b"- item one   (2026-12-11)"}, IDS) == same
    assert fingerprint("ok", {"news-2026-12-11.md": b"- item two (2026-12-11)"}, IDS) != same
    assert fingerprint("ok", {}, IDS) != same  # the file is part of the result
    assert fingerprint("ok", {"other.md": b"- item one (2026-12-04)\n"}, IDS) != same
    # A file that cannot be read, and a binary file, are parts of the result too.
    binary = {"chart.png": b"\x89PNG\x00\xff2026-12-04"}
    assert fingerprint("ok", binary, IDS) != fingerprint("ok", {}, IDS)
    assert fingerprint("ok", {"chart.png": b"\x89PNG\x00\xff2026-12-05"}, IDS) != fingerprint("ok", binary, IDS)
    assert fingerprint("ok", {"gone.md": FileNotFoundError(2, "No such file or directory")}, IDS) != same
