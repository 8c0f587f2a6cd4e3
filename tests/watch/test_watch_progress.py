"""Progress while the model answers, through the real daemon: the live events
of a model call (its start, its streamed text, retries) reach every watcher
that asks, whatever its other options, including one that attaches mid-call;
``agentctl run watch`` shows them on a terminal (the answer's last rows, a
running token count, the call's elapsed time) and stays tidy without one.

The fake LLM streams its answer in three pieces and holds the stream between
them until the test lets it go on, so "mid-call" is a state the test controls,
not a moment it hopes to catch."""

from __future__ import annotations

import json
import re
import sys

import pexpect
from pexpect.popen_spawn import PopenSpawn

from agentd.testing.fakellm import fault, finish_call, text, tool_call
from daemon_harness import is_finished
from watch_support import WAIT, events, journaled, read_until

ANSWER = "alpha beta gamma delta epsilon zeta"  # streamed as "alpha beta g", "amma delta e", "psilon zeta"


def streamed_run(daemon, fake_llm, **goal):
    """A run whose first turn is held (watchers subscribe meanwhile) and whose
    second turn streams ANSWER, held before its second and third pieces."""
    first = fake_llm.gate(tool_call("recall", {"query": "a"}))
    holds = fake_llm.hold(text(ANSWER), 2, 3)
    g = daemon.call("goal.create", {"objective": "x", "name": "news", **goal})
    return g["id"], first, holds


def kinds(evs: list[dict]) -> list[str]:
    return [e["event"]["type"] for e in evs]


def delta_text(evs: list[dict]) -> str:
    return "".join(e["event"]["text"] for e in evs if e["event"]["type"] == "text_delta")


def test_every_watcher_that_asks_for_deltas_gets_them_whatever_its_other_options(daemon, fake_llm):
    gid, first, holds = streamed_run(daemon, fake_llm)
    options = [{"all": True}, {"all": True, "detail": True}, {"goal_id": gid}, {"goal_id": gid, "detail": True}]
    clients = []
    for opts in options:  # goal-wide and daemon-wide: before the run exists
        c = daemon.client(timeout=WAIT)
        c.call("run.watch", dict(opts, deltas=True))
        clients.append((opts, c))
    rid = daemon.call("goal.run", {"id": gid})["id"]
    first.wait_reached()
    for opts in ({"run_id": rid}, {"run_id": rid, "since": 1}, {"run_id": rid, "detail": True}):
        c = daemon.client(timeout=WAIT)
        c.call("run.watch", dict(opts, deltas=True))
        clients.append((opts, c))
    first.open()
    for g in holds:
        g.open()
    for opts, c in clients:
        with c:
            evs = events(read_until(c, is_finished))
        assert delta_text(evs) == ANSWER, opts
        if "run_id" in opts or opts.get("detail"):
            # the call's start comes before its text, the text before its cost and its answer
            k = kinds(evs)
            start = k.index("model_call_started", k.index("model_responded"))
            assert k[start + 1:start + 4] == ["text_delta"] * 3, (opts, k)
            assert k[start + 4:start + 6] == ["model_cost", "model_responded"], (opts, k)
            assert evs[start]["event"]["streamed"] is True
        else:  # lifecycle only, plus the text it asked for
            assert set(kinds(evs)) == {"run_started", "text_delta", "run_finished"}, opts


def test_a_watcher_attaching_mid_call_gets_the_call_so_far_then_the_rest(daemon, fake_llm):
    gid, first, (second_piece, third_piece) = streamed_run(daemon, fake_llm)
    early = daemon.client(timeout=WAIT)
    early.call("run.watch", {"goal_id": gid, "deltas": True})  # makes the daemon stream
    rid = daemon.call("goal.run", {"id": gid})["id"]
    first.open()
    second_piece.wait_reached()  # "alpha beta g" is out; the stream is held
    read_until(early, lambda m: m.get("method") == "run.event" and m["params"]["event"]["type"] == "text_delta")
    with daemon.client(timeout=WAIT) as late, daemon.client(timeout=WAIT) as late_plain:
        late.call("run.watch", {"run_id": rid, "deltas": True})
        late_plain.call("run.watch", {"run_id": rid})
        got = read_until(late, lambda m: m.get("method") == "run.event"
                         and m["params"]["event"]["type"] == "text_delta")
        so_far = events(got)[-1]
        assert so_far["event"] == {"type": "text_delta", "text": "alpha beta g"}  # one piece so far
        k = kinds(events(got))
        # the replay, then the call in flight (live events of calls already answered are not kept)
        assert k[-2] == "model_call_started" and k.count("model_call_started") == 1
        second_piece.open()
        third_piece.open()
        evs = events(got) + events(read_until(late, is_finished))
        plain = events(read_until(late_plain, is_finished))
    early.close()
    assert delta_text(evs) == ANSWER  # each piece once
    assert "text_delta" not in kinds(plain) and kinds(plain).count("model_call_started") == 1
    assert [e["event"] for e in journaled(evs)] == [e["event"] for e in journaled(plain)]
    seqs = [e["seq"] for e in journaled(evs)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_json_watchers_get_deltas_when_they_ask_and_plain_lines_stay_tidy(daemon, fake_llm):
    gid, first, holds = streamed_run(daemon, fake_llm)
    rid = daemon.call("goal.run", {"id": gid})["id"]
    first.wait_reached()
    env, cwd = daemon.env, str(daemon.base)
    procs = {name: PopenSpawn([sys.executable, "-m", "agentctl", *args, "run", "watch", rid, *more], env=env,
                              cwd=cwd, encoding="utf-8", timeout=WAIT)
             for name, args, more in (("json", ["--json"], ["--deltas"]), ("json_quiet", ["--json"], []),
                                      ("plain", [], ["--deltas"]))}
    out = {}
    for name, p in procs.items():  # each is watching once it printed the run's start
        p.expect_exact(f"run {rid} started" if name == "plain" else "run_started")
        out[name] = p.before + p.after
    first.open()
    for g in holds:
        g.open()
    for name, p in procs.items():
        p.expect(pexpect.EOF)
        out[name] += p.before
        assert p.wait() == 0, (name, out[name])
    evs = [json.loads(line) for line in out["json"].splitlines()]
    assert delta_text(evs) == ANSWER
    quiet = [json.loads(line) for line in out["json_quiet"].splitlines()]
    assert "text_delta" not in kinds(quiet) and "model_call_started" in kinds(quiet)
    # Plain lines: no escape sequence, no status line; the streamed text as it came, on its own line.
    assert "\x1b" not in out["plain"] and "\r" not in out["plain"] and "tokens ·" not in out["plain"]
    assert f"\n{ANSWER}\n" in out["plain"]
    assert out["plain"].rstrip().endswith(ANSWER)  # and the summary at the end


def test_the_live_view_shows_the_answer_arriving(daemon, fake_llm):
    gid, first, (second_piece, third_piece) = streamed_run(daemon, fake_llm)
    rid = daemon.call("goal.run", {"id": gid})["id"]
    child = pexpect.spawn(sys.executable, ["-m", "agentctl", "run", "watch", rid], env=dict(daemon.env, TERM="xterm"),
                          cwd=str(daemon.base), dimensions=(24, 100), encoding="utf-8", timeout=WAIT)
    child.expect_exact("turn 1: model")  # the first call, held by the fake: no streamed text yet
    first.open()
    child.expect_exact("#1 recall")
    child.expect_exact("│ alpha beta g")  # the answer's first piece, above the status line
    # about 1 token streamed so far; 15 tokens used by turn 1
    child.expect(r"turn 2: model answering [^,·]+, ~1 token · 15 tokens")
    # The call's elapsed time goes on while the stream is held.
    child.expect(r"answering (\d+(?:\.\d)?)(ms|s)")
    first_seen = _seconds(child.match)
    while True:
        child.expect(r"answering (\d+(?:\.\d)?)(ms|s)")
        if _seconds(child.match) > first_seen:
            break
    second_piece.open()
    child.expect_exact("│ alpha beta gamma delta e")
    child.expect(r"answering [^,·]+, ~2 tokens · 15 tokens")
    third_piece.open()
    child.expect_exact(f"Run {rid} completed: 1 steps, 20 in / 10 out tokens")
    child.expect_exact(ANSWER)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def _seconds(match: re.Match) -> float:
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "ms" else value


def test_goal_run_watch_streams_the_first_call_too(daemon, fake_llm):
    """The daemon streams a call only if a watcher asked when it began: `goal
    run --watch` asks before the run exists, so even the first call streams."""
    (rest,) = fake_llm.hold(text(ANSWER), 2)
    fake_llm.add(finish_call("done"))  # a plain first answer gets a nudge; this ends the run
    g = daemon.call("goal.create", {"objective": "x"})
    child = pexpect.spawn(sys.executable, ["-m", "agentctl", "goal", "run", g["id"], "--watch"],
                          env=dict(daemon.env, TERM="xterm"), cwd=str(daemon.base), dimensions=(24, 100),
                          encoding="utf-8", timeout=WAIT)
    child.expect_exact("│ alpha beta g")
    child.expect(r"turn 1: model answering [^,·]+, ~1 token · 0 tokens")
    rest.open()
    child.expect_exact("completed: 1 step")
    child.expect_exact("20 in / 10 out tokens")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_retry_shows_with_its_reason_live_in_plain_lines_and_in_json(make_daemon, fake_llm):
    daemon = make_daemon(config="[provider]\nretry_base_delay_s = 0.05\n")
    fake_llm.add(fault(503, "the model is loading"))
    (rest,) = fake_llm.hold(text(ANSWER), 2)  # the second attempt streams, and is held mid-answer
    fake_llm.add(finish_call("done"))  # a plain first answer gets a nudge; this ends the run
    g = daemon.call("goal.create", {"objective": "x"})
    child = pexpect.spawn(sys.executable, ["-m", "agentctl", "goal", "run", g["id"], "--watch"],
                          env=dict(daemon.env, TERM="xterm"), cwd=str(daemon.base), dimensions=(24, 120),
                          encoding="utf-8", timeout=WAIT)
    child.expect_exact("turn 1: the model call failed (")
    child.expect(r"503[^)]*\); retry 1 in \d+\.\ds")  # the reason is the provider's (HTTP 503 ...)
    child.expect_exact("│ alpha beta g")
    child.expect_exact("attempt 2")  # the status line: the call goes on, on its second attempt
    rid = daemon.call("run.list", {})["runs"][0]["id"]
    # Watchers without a terminal, attaching mid-call, get the retry too (kept with the call in flight).
    env, cwd = daemon.env, str(daemon.base)
    plain, as_json = (PopenSpawn([sys.executable, "-m", "agentctl", *args, "run", "watch", rid], env=env, cwd=cwd,
                                 encoding="utf-8", timeout=WAIT) for args in ([], ["--json"]))
    plain.expect_exact("turn 1: the model call failed (")
    as_json.expect_exact('"type":"model_retry"')
    seen = as_json.before + as_json.after
    rest.open()
    child.expect_exact("completed: 1 step")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    plain.expect(pexpect.EOF)
    assert re.search(r"503[^)]*\); retry 1 in", plain.before)
    as_json.expect(pexpect.EOF)
    evs = [json.loads(line) for line in (seen + as_json.before).splitlines()]
    (retry,) = [e["event"] for e in evs if e["event"]["type"] == "model_retry"]
    assert retry["turn"] == 1 and retry["attempt"] == 1 and "503" in retry["reason"]
    assert 0 <= retry["delay_s"] <= 0.05 * 2
