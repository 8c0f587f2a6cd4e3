"""SIGKILL the daemon at random moments across many runs, restart it on the
same directories each time, and check the invariants: no committed step lost
or repeated, every run ends completed or failed with a reason, no webhook-id
and no email delivered twice, the database intact after every kill.

``AGENTD_FAULT_RUNS`` (default 50) sets how many runs; ``AGENTD_FAULT_SEED``
replays a sequence of kill moments.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter

import pytest

from agentd.tools.webhook import message_id as webhook_message_id
from durable_helpers import assert_steps_contiguous, config_toml, integrity, plan_objective, query

ME = "me@example.test"


def _plans(web) -> list[tuple[list, dict]]:
    hook = web.hook()
    # The pages are the goals' allowed domain: a run fetches URLs it composed after reading a
    # page, which the exfiltration guard allows only on the goal's allowed domains.
    site = ["127.0.0.1"]
    return [
        ([["fetch_page", {"url": web.page("{run}-1")}],
          ["send_webhook", {"url": hook, "payload": {"run": "{run}"}}],
          ["write_file", {"path": "{run}.md", "content": "notes of {run}"}],
          ["fetch_page", {"url": web.page("{run}-4")}]],
         {"webhook_url": hook, "params": {"email_to": [ME], "allowed_domains": site}}),
        ([["send_email", {"to": [ME], "subject": "run {run}", "body": "hello from {run}"}],
          ["fetch_page", {"url": web.page("{run}-2")}]],
         {"params": {"email_to": [ME], "allowed_domains": site}}),  # an email's answer taints too
        ([], {"webhook_url": hook}),
        ([["fetch_page", {"url": web.page("{run}-1")}], ["fetch_page", {"url": web.page("{run}-2")}],
          ["fetch_page", {"url": web.page("{run}-3")}]], {"params": {"allowed_domains": site}}),
    ]


def _snapshot(db) -> dict:
    """Committed steps, as the database holds them right after a kill."""
    return {(r["run_id"], r["step_no"]): (r["status"], r["tool_name"], r["observation"], r["error"])
            for r in query(db, "SELECT * FROM steps WHERE status != 'pending'")}


def _classify_kill(db) -> Counter:
    """Where the kill landed, for each run it interrupted."""
    seen = Counter()
    ledger = {r["idempotency_key"]: r["status"] for r in query(db, "SELECT * FROM side_effects")}
    for run in query(db, "SELECT id FROM runs WHERE status = 'running'"):
        rid = run["id"]
        pending = query(db, "SELECT * FROM steps WHERE run_id = ? AND status = 'pending'", rid)
        for s in pending:
            if s["tool_name"] in ("send_webhook", "send_email"):
                state = ledger.get(f"{rid}:step-{s['step_no']}")
                seen[f"{s['tool_name']} pending, ledger {state or 'none'}"] += 1
            else:
                seen["safe tool pending"] += 1
        if not pending:
            final = query(db, "SELECT 1 FROM steps WHERE run_id = ? AND (kind IN ('answer', 'summary')"
                          " OR (tool_name = 'finish' AND status = 'ok'))", rid)
            seen["in finalize" if final else "between steps"] += 1
    return seen


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_durable_random_kills(durable_daemon, plan_llm, web, smtp):
    total = int(os.environ.get("AGENTD_FAULT_RUNS", "50"))
    seed = int(os.environ.get("AGENTD_FAULT_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    print(f"AGENTD_FAULT_SEED={seed} AGENTD_FAULT_RUNS={total}")
    web.delay = (0.0, 0.04)  # requests take a random while: kills land inside them too
    plan_llm.jitter = (0.0, 0.03)
    d = durable_daemon(config_toml(smtp, max_concurrent=8, max_recoveries=3))
    goals = [d.call("goal.create", {"objective": plan_objective(plan, f"random kills {i}"), **kw})
             for i, (plan, kw) in enumerate(_plans(web))]

    runs: list[str] = []
    committed: dict = {}
    page_hits_at_commit: dict = {}
    landed = Counter()
    kills = 0
    while len(runs) < total:
        for _ in range(min(rng.randint(3, 8), total - len(runs))):
            runs.append(d.call("goal.run", {"id": rng.choice(goals)["id"]})["id"])
        time.sleep(rng.uniform(0.02, 0.8))
        d.kill()
        kills += 1
        assert integrity(d.db) == "ok"
        landed += _classify_kill(d.db)
        snap = _snapshot(d.db)
        for key, value in committed.items():  # what was committed stays committed, unchanged
            assert snap.get(key) == value, f"committed step {key} changed: {value} -> {snap.get(key)}"
        committed.update(snap)
        for (rid, step_no), (status, tool, _, _) in snap.items():
            if tool == "fetch_page":
                page_hits_at_commit.setdefault((rid, step_no), dict(web.hits))
        d.start()
        assert integrity(d.db) == "ok"

    interrupted = [r["id"] for r in query(d.db, "SELECT id FROM runs WHERE status IN ('running', 'pending')")]
    t0 = time.monotonic()
    ended = {rid: d.wait_run(rid, timeout=15) for rid in runs}
    took = time.monotonic() - t0
    print(f"kills={kills} landed={dict(landed)} last restart: {len(interrupted)} runs left, all ended in {took:.1f}s")
    assert took < 5.0 + 0.5 * max(0, len(interrupted) - 8)  # resumed at once (8 at a time)

    # Every run ended, and a failure says why (only "kept crashing the daemon" is expected here).
    statuses = Counter(r["status"] for r in ended.values())
    assert set(statuses) <= {"completed", "failed"}, statuses
    for r in ended.values():
        if r["status"] == "failed":
            assert r["error"] and "max_recoveries" in r["error"], r
    assert statuses["completed"] >= total // 2, statuses

    # No committed step lost or repeated; numbering without gaps or duplicates.
    final = _snapshot(d.db)
    for key, value in committed.items():
        assert final.get(key) == value, f"committed step {key} lost or rewritten"
    for rid in runs:
        steps = assert_steps_contiguous(d.db, rid)
        if ended[rid]["status"] == "completed":
            last = steps[-1]  # the final answer, or finish (a plan with nothing to do)
            assert (last["kind"] == "answer" or last["tool_name"] == "finish") and not [
                s for s in steps if s["status"] == "pending"]
    # A fetch committed before a kill was never fetched again.
    for (rid, step_no), hits in page_hits_at_commit.items():
        path = f"/page/{rid}-{step_no}"  # the plans name each page after its step
        assert final[(rid, step_no)][0] == "ok" and hits.get(path, 0) >= 1
        assert web.hits[path] == hits[path], f"{path} fetched again after its step {step_no} was committed"

    # Nothing delivered twice; every delivery the ledger claims arrived exactly once.
    assert len(web.webhook_ids) == len(set(web.webhook_ids)), Counter(web.webhook_ids).most_common(3)
    assert len(smtp.message_ids) == len(set(smtp.message_ids)), Counter(smtp.message_ids).most_common(3)
    ledger = query(d.db, "SELECT * FROM side_effects")
    assert {e["status"] for e in ledger} <= {"delivered", "unknown"}
    received = set(web.webhook_ids)
    for e in ledger:
        if e["kind"] == "webhook" and e["status"] == "delivered":
            assert webhook_message_id(e["idempotency_key"]) in received
    delivered = sum(1 for e in ledger if e["status"] == "delivered")
    assert delivered <= len(web.webhook_ids) + len(smtp.message_ids) <= len(ledger)
    assert kills >= 5 and sum(landed.values()) >= 5, landed  # the kills did land inside runs
