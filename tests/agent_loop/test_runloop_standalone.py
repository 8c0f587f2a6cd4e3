"""RunLoop on its own: no daemon, no RPC, no run manager. Its parts are a real
SQLite store, the journal, the tool registry, a provider speaking HTTP to the
scripted fake model on loopback, and the clock."""

from __future__ import annotations

import pytest
import trio

from agentd.shared import config as config_mod
from agentd.agent.loop import LoopParts, RunLoop
from agentd.events import EventHub
from agentd.journal import Journal
from agentd.protocol import methods as m
from agentd.providers.factory import make_provider
from agentd.redact import Redactor
from agentd.runs import ActiveRun
from agentd.store import Store
from agentd.store import effects as effects_q
from agentd.store import events as events_q
from agentd.store import goals as goals_q
from agentd.store import runs as runs_q
from agentd.testing.fakellm import FakeLLM, finish_call, tool_call
from agentd.tools.base import effect_key
from agentd.tools.registry import default_registry

pytestmark = pytest.mark.timeout(30)


def _now() -> int:
    return 1_700_000_000_000


def _run_loop(tmp_path, fake: FakeLLM, store: Store, run_id: str, goal_id: str):
    cfg = config_mod.load(tmp_path / "none.toml", environ={
        "LLM_PROVIDER": "openai", "OPENAI_MODEL": "fake", "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake.base_url},
        overrides={"daemon": {"artifacts_dir": str(tmp_path / "artifacts")}})

    async def main():
        provider = make_provider(cfg.resolved_provider(), cfg.provider)
        try:
            parts = LoopParts(store=store, journal=Journal(store, EventHub(store), Redactor(), _now),
                              provider=provider, tools=default_registry(), clock=_now, config=cfg)
            return await RunLoop(parts, ActiveRun(run_id, goal_id, scope=trio.CancelScope())).run()
        finally:
            await provider.aclose()

    return trio.run(main), cfg


def _seed(store: Store, spec: m.GoalCreate) -> tuple[str, str]:
    def tx(conn):
        gid = goals_q.insert_goal(conn, _now(), spec, "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ=")
        rid = runs_q.insert_run(conn, _now(), gid, step_budget=10)
        runs_q.claim(conn, _now(), rid)
        return gid, rid

    return store.write_sync(tx)


def test_a_run_writes_a_file_and_finishes_with_everything_journaled(tmp_path):
    store = Store(tmp_path / "agentd.db")
    try:
        gid, rid = _seed(store, m.GoalCreate(objective="Write notes.md", params=m.GoalParams(expect=["notes.md"])))
        with FakeLLM(script=[tool_call("write_file", {"path": "notes.md", "content": "Mars is red."}),
                             finish_call("notes.md written")]) as fake:
            outcome, cfg = _run_loop(tmp_path, fake, store, rid, gid)
            fake.assert_complete()
        assert (outcome.status, outcome.summary) == ("completed", "notes.md written")
        assert (cfg.artifacts_root / gid / "notes.md").read_text() == "Mars is red."
        steps = store.read(runs_q.steps_of, rid)
        assert [(s.tool_name, s.status) for s in steps] == [("write_file", "ok"), ("finish", "ok")]
        run = store.read(runs_q.get_run, rid)
        assert run.working_memory == {"files_written": ["notes.md"]}  # the write_file tool's working_memory
        assert [(o.kind, o.path_or_payload) for o in run.outputs] == [("file", "notes.md")]  # its output hook
        kinds = [type(e).__name__ for _, _, e in store.read(events_q.after, rid, 0)]
        assert kinds[0] == "RunStarted" and kinds.count("ToolReturned") == 2
    finally:
        store.close()


def test_a_delivered_webhook_cut_by_a_crash_is_taken_from_the_ledger_not_resent(tmp_path):
    store = Store(tmp_path / "agentd.db")
    try:
        gid, rid = _seed(store, m.GoalCreate(objective="Post the news", webhook_url="https://hooks.example.org/x",
                                             params=m.GoalParams(expect_sent=["webhook"])))

        def crashed(conn):  # the call was journaled and delivered; the crash came before the step's commit
            runs_q.insert_step(conn, _now(), rid, step_no=1, turn=1, status="pending", tool_name="send_webhook",
                               tool_input={"url": "https://hooks.example.org/x", "payload": {}}, tool_call_id="c1")
            row, _ = effects_q.begin(conn, _now(), run_id=rid, goal_id=gid, kind="webhook",
                                     target="https://hooks.example.org/x", key=effect_key(rid, 1), summary="news",
                                     source="tool")
            effects_q.finish(conn, _now(), row["id"], status="delivered", detail="HTTP 200", attempts=1)

        store.write_sync(crashed)
        with FakeLLM(script=[finish_call("posted")]) as fake:  # the webhook is never called again
            outcome, _ = _run_loop(tmp_path, fake, store, rid, gid)
            fake.assert_complete()
        assert (outcome.status, outcome.summary) == ("completed", "posted")  # expect_sent: the ledger says sent
        first = store.read(runs_q.steps_of, rid)[0]
        assert first.status == "ok" and "ledger shows it was delivered" in first.observation
    finally:
        store.close()
