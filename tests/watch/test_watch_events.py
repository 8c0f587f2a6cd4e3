"""run.watch against the real daemon: replay + live without gaps or
duplicates, reconnect with ``since``, many watchers, a stalled watcher, a run
that ends while watched, goal-wide and daemon-wide subscriptions, text deltas."""

from __future__ import annotations

import time

import pytest

from agentd.testing.fakellm import text, tool_call, tool_calls
from daemon_harness import RpcError, is_finished
from watch_support import WAIT, events, journaled, read_until


def recall(q: str):
    return tool_call("recall", {"query": q})


def start(d, **params) -> tuple[str, str]:
    g = d.call("goal.create", {"objective": "watch me", "name": "news", **({"params": params} if params else {})})
    run = d.call("goal.run", {"id": g["id"]})
    return g["id"], run["id"]


def seq_of(msg: dict) -> int:
    return msg["params"]["seq"]


def full_journal(d, run_id: str) -> list[dict]:
    with d.client(timeout=WAIT) as c:
        res = c.call("run.watch", {"run_id": run_id})
        assert res["run_status"] in ("completed", "failed", "cancelled")
        return events(read_until(c, is_finished))


def test_reconnect_in_the_middle_with_since_sees_everything_once(daemon, fake_llm):
    fake_llm.add(recall("a"), recall("b"))
    gate = fake_llm.gate(recall("c"))
    fake_llm.add(text("all done"))
    _, rid = start(daemon)
    gate.wait_reached()
    first = daemon.client(timeout=WAIT)
    first.call("run.watch", {"run_id": rid})
    # Read a few events only, then drop the connection (more were sent).
    got = read_until(first, lambda m: m.get("method") == "run.event" and m["params"]["seq"] == 3)
    first.close()
    since = seq_of(got[-1])
    with daemon.client(timeout=WAIT) as second:
        res = second.call("run.watch", {"run_id": rid, "since": since})
        assert res["run_status"] == "running" and res["last_seq"] > since
        gate.open()
        rest = read_until(second, is_finished)
        assert not second.notifications
    seqs = [e["seq"] for e in journaled(events(got + rest))]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    assert [e["event"] for e in journaled(events(got + rest))] == [e["event"] for e in full_journal(daemon, rid)]
    assert daemon.call("run.get", {"id": rid})["status"] == "completed"


def test_ten_watchers_and_goal_and_daemon_wide_subscriptions(daemon, fake_llm):
    gate = fake_llm.gate(recall("a"))
    fake_llm.add(recall("b"), text("done"))
    g = daemon.call("goal.create", {"objective": "watch me"})
    # Goal-wide and daemon-wide subscriptions exist before the run does.
    goal_w = daemon.client(timeout=WAIT)
    goal_w.call("run.watch", {"goal_id": g["id"]})
    all_w = daemon.client(timeout=WAIT)
    all_w.call("run.watch", {"all": True})
    detail_w = daemon.client(timeout=WAIT)
    detail_w.call("run.watch", {"all": True, "detail": True})
    rid = daemon.call("goal.run", {"id": g["id"]})["id"]
    gate.wait_reached()
    watchers = []
    for i in range(10):
        c = daemon.client(timeout=WAIT)
        c.call("run.watch", {"run_id": rid, "since": i % 3})  # some replay from 0, some skip the first events
        watchers.append((c, i % 3))
    gate.open()
    journal = None
    for c, since in watchers:
        with c:
            evs = journaled(events(read_until(c, is_finished)))
        seqs = [e["seq"] for e in evs]
        assert seqs == list(range(since + 1, since + 1 + len(seqs)))
        if journal is None:
            journal = full_journal(daemon, rid)
        assert [e["event"] for e in evs] == [e["event"] for e in journal[since:]]
    for c in (goal_w, all_w):
        with c:
            evs = events(read_until(c, is_finished))
        assert [e["event"]["type"] for e in evs] == ["run_started", "run_finished"]
        assert all(e["run_id"] == rid and e["goal_id"] == g["id"] for e in evs)
    with detail_w:
        evs = events(read_until(detail_w, is_finished))
        assert [e["event"] for e in journaled(evs)] == [e["event"] for e in journal]
        # and, with detail, the model calls in flight: each call's start before its answer
        kinds = [e["event"]["type"] for e in evs]
        assert kinds.count("model_call_started") == kinds.count("model_responded") == 3


def test_a_stalled_watcher_does_not_slow_the_run_and_is_told_it_lagged(daemon, fake_llm):
    turns, per_turn = 39, 25
    for t in range(turns):
        fake_llm.add(tool_calls(*[("recall", {"query": f"q{t}-{i}"}) for i in range(per_turn)]))
    fake_llm.add(text("done"))
    g = daemon.call("goal.create", {"objective": "busy", "params": {"step_budget": 1000}})
    stalled = daemon.client(timeout=WAIT)
    sub = stalled.call("run.watch", {"goal_id": g["id"], "detail": True})["subscription"]  # never reads, for now
    t0 = time.monotonic()
    rid = daemon.call("goal.run", {"id": g["id"]})["id"]
    with daemon.client(timeout=WAIT) as normal:
        normal.call("run.watch", {"run_id": rid})
        evs = journaled(events(read_until(normal, is_finished, timeout=60)))
    took = time.monotonic() - t0
    n = len(evs)
    assert n > 2500 and [e["seq"] for e in evs] == list(range(1, n + 1))
    assert evs[-1]["event"]["status"] == "completed"
    assert took < 45, took
    # The stalled watcher now reads: a prefix of the events, then run.lagged.
    got = read_until(stalled, lambda m: m.get("method") == "run.lagged")
    prefix = journaled(events(got))
    assert 0 < len(prefix) < n
    assert [e["seq"] for e in prefix] == list(range(1, len(prefix) + 1))
    lag = got[-1]["params"]
    # A goal-wide subscription: the notice names no run, so the watcher resumes
    # from the seq it counted itself.
    assert lag["subscription"] == sub and lag["run_id"] is None
    # It resumes with since and gets the rest, exactly once.
    stalled.call("run.watch", {"run_id": rid, "since": len(prefix)})
    rest = journaled(events(read_until(stalled, is_finished)))
    stalled.close()
    assert [e["seq"] for e in prefix + rest] == list(range(1, n + 1))
    # The daemon went on answering, and counted every step of the run.
    assert daemon.call("daemon.metrics", {})["counters"]["agentd_steps_total"] == turns * per_turn


def test_a_run_that_ends_while_watched_ends_the_subscription(daemon, fake_llm):
    gate = fake_llm.gate(recall("a"))
    fake_llm.add(text("done"))
    _, rid = start(daemon)
    gate.wait_reached()
    with daemon.client(timeout=WAIT) as c:
        sub = c.call("run.watch", {"run_id": rid})["subscription"]
        gate.open()
        evs = journaled(events(read_until(c, is_finished)))
        assert evs[-1]["event"]["status"] == "completed"
        assert evs[-1]["event"]["summary"] == "done"
        # The subscription is over: nothing more, and unwatch does not know it.
        with pytest.raises(RpcError) as exc:  # else the subscription outlived its run
            c.call("run.unwatch", {"subscription": sub})
        assert exc.value.data["kind"] == "not_found"
        assert not c.notifications
    # Watching a finished run replays it and ends the same way.
    with daemon.client(timeout=WAIT) as c:
        res = c.call("run.watch", {"run_id": rid, "since": len(evs) - 1})
        assert res["run_status"] == "completed" and res["last_seq"] == len(evs)
        again = events(read_until(c, is_finished))
        assert [e["seq"] for e in again] == [len(evs)]
        # since == last_seq: nothing to send, the subscription ends at once.
        c.call("run.watch", {"run_id": rid, "since": len(evs)})
        c.call("daemon.status")  # a round trip: any notification would have come first
        assert not c.notifications


def test_text_deltas_only_to_watchers_that_ask(daemon, fake_llm):
    answer = "the quick brown fox jumps over the lazy dog"
    gate = fake_llm.gate(recall("a"))
    fake_llm.add(text(answer))
    _, rid = start(daemon)
    gate.wait_reached()  # the first model call is under way; the next one sees the delta watcher
    with daemon.client(timeout=WAIT) as plain, daemon.client(timeout=WAIT) as deltas:
        plain.call("run.watch", {"run_id": rid})
        deltas.call("run.watch", {"run_id": rid, "deltas": True})
        gate.open()
        d_evs = events(read_until(deltas, is_finished))
        p_evs = events(read_until(plain, is_finished))
    assert not any(e["event"]["type"] == "text_delta" for e in p_evs)
    pieces = [e for e in d_evs if e["event"]["type"] == "text_delta"]
    assert "".join(e["event"]["text"] for e in pieces) == answer
    assert [e["event"] for e in d_evs if e["event"]["type"] != "text_delta"] == [e["event"] for e in p_evs]
    # A delta carries the seq of the journaled event before it and comes before
    # the call's cost and the model_responded it belongs to.
    i = d_evs.index(pieces[0])
    assert pieces[0]["seq"] == d_evs[i - 1]["seq"]
    cost, after = d_evs[i + len(pieces)], d_evs[i + len(pieces) + 1]
    assert cost["event"]["type"] == "model_cost" and cost["seq"] == pieces[0]["seq"] + 1
    assert after["event"]["type"] == "model_responded" and after["seq"] == pieces[0]["seq"] + 2
    assert [e["event"] for e in full_journal(daemon, rid)] == [e["event"] for e in journaled(p_evs)]
