"""The artifact quota holds when one model turn writes many files at once:
the real daemon runs the turn's write_file calls in parallel, and the quota
check and the write are one serialised step."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentd.testing.fakellm import text, tool_calls

pytestmark = pytest.mark.timeout(60)

QUOTA = 10_000
SIZE = 6_000
CALLS = 16


def usage(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and f.name.startswith("part-"))


def test_parallel_writes_of_one_turn_cannot_overrun_the_quota(make_daemon, fake_llm):
    fake_llm.add(tool_calls(*[("write_file", {"path": f"part-{i:02}.txt", "content": "x" * SIZE})
                              for i in range(CALLS)]))
    fake_llm.add(text("wrote what fitted"))
    d = make_daemon(config=f"[tools]\nfile_quota_bytes = {QUOTA}\n[runs]\nmax_repeated_mistakes = {CALLS}\n")
    goal = d.call("goal.create", {"objective": "write many files at once"})
    # Files already there (empty: they use none of the quota) make each quota check a longer walk.
    old = next(Path(d.env["XDG_DATA_HOME"]).rglob(goal["id"]), None) or \
        Path(d.env["XDG_DATA_HOME"]) / "agentd" / "artifacts" / goal["id"]
    (old / "old").mkdir(parents=True, exist_ok=True)
    for i in range(2000):
        (old / "old" / f"{i}.txt").touch()
    run = d.call("goal.run", {"id": goal["id"]})
    assert d.wait_run(run["id"], timeout=45)["status"] == "completed"
    fake_llm.assert_complete()

    steps = [s for s in d.call("run.steps", {"id": run["id"]})["steps"] if s.get("tool_name") == "write_file"]
    assert len(steps) == CALLS
    ok = [s for s in steps if s["status"] == "ok"]
    refused = [s for s in steps if s["status"] == "error"]
    assert len(ok) == QUOTA // SIZE, [s["error"] for s in refused][:2]
    assert all("quota" in s["error"] for s in refused)
    written = [p for p in Path(d.env["XDG_DATA_HOME"]).rglob("part-*.txt")]
    assert len(written) == QUOTA // SIZE
    assert sum(os.path.getsize(p) for p in written) <= QUOTA
