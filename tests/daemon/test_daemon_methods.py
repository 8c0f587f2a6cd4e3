"""The goal, run and daemon methods over raw JSON-RPC on the real socket, the
refusals that must write nothing, id prefixes, and a goal deleted with its children."""

from __future__ import annotations

import re
import sqlite3
import stat
import time
from contextlib import closing
from pathlib import Path

import pytest

from daemon_dbutil import count, counts, integrity_ok, ro
from daemon_harness import RpcError

pytestmark = pytest.mark.timeout(60)

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def call_err(d, method, params) -> RpcError:
    with pytest.raises(RpcError) as info:
        d.call(method, params)
    return info.value


# ---------------------------------------------------------------- goals


def test_goal_create_get_list_shapes(alive):
    g = alive.call("goal.create", {
        "objective": "collect AI news", "name": "news",
        "schedules": [{"cron": "0 16 * * 5", "timezone": "Europe/Paris"}, {"cron": "*/15 * * * *"}],
        "webhook_url": "https://hooks.example.com/x",
        "params": {"allowed_tools": ["web_search", "finish"], "constraints": ["be brief"],
                   "allowed_domains": ["example.com"], "email_to": ["me@example.com"]},
    })
    try:
        assert re.fullmatch(r"[0-9a-f]{12}", g["id"])
        assert g["status"] == "active" and g["name"] == "news"
        assert g["params"]["step_budget"] == 20  # the default
        assert g["params"]["allowed_tools"] == ["web_search", "finish"]
        assert g["webhook_url"] == "https://hooks.example.com/x"
        assert g["webhook_secret"] is None  # only with secrets=true
        assert ISO.match(g["created_at"]) and ISO.match(g["updated_at"])
        assert [(s["cron"], s["timezone"]) for s in g["schedules"]] == [("0 16 * * 5", "Europe/Paris"),
                                                                       ("*/15 * * * *", "UTC")]
        for s in g["schedules"]:
            assert s["active"] is True and ISO.match(s["next_fire"]) and s["description"]
        got = alive.call("goal.get", {"id": g["id"]})
        assert got["id"] == g["id"] and got["objective"] == "collect AI news" and got["last_run"] is None
        secret = alive.call("goal.get", {"id": g["id"], "secrets": True})["webhook_secret"]
        assert secret and isinstance(secret, str)
        lst = alive.call("goal.list", {})
        assert lst["total"] >= 1 and g["id"] in [x["id"] for x in lst["goals"]]
        assert all(x["webhook_secret"] is None for x in lst["goals"])
        one = alive.call("goal.list", {"limit": 1})
        assert len(one["goals"]) == 1 and one["total"] == lst["total"]
        # stored as given
        with closing(ro(alive.db)) as conn:
            assert conn.execute("SELECT count(*) FROM schedules WHERE goal_id = ?", (g["id"],)).fetchone()[0] == 2
    finally:  # its */15 schedule would otherwise fire on this shared daemon during later tests
        alive.call("goal.delete", {"id": g["id"]})


def test_goal_update_pause_resume(alive):
    g = alive.call("goal.create", {"objective": "v1", "schedules": [{"cron": "0 9 * * *"}]})
    sid = g["schedules"][0]["id"]
    u = alive.call("goal.update", {"id": g["id"], "objective": "v2", "step_budget": 7, "constraints": ["c"],
                                   "webhook_url": "http://example.org/hook"})
    assert u["objective"] == "v2" and u["params"]["step_budget"] == 7 and u["params"]["constraints"] == ["c"]
    assert u["webhook_url"] == "http://example.org/hook"
    assert u["schedules"][0]["id"] == sid  # untouched schedules keep their id
    u = alive.call("goal.update", {"id": g["id"], "webhook_url": None, "schedules": []})
    assert u["webhook_url"] is None and u["schedules"] == []
    assert u["params"]["step_budget"] == 7  # fields left out are unchanged
    p = alive.call("goal.pause", {"id": g["id"]})
    assert p["status"] == "paused"
    assert alive.call("goal.pause", {"id": g["id"]})["status"] == "paused"  # idempotent
    assert g["id"] in [x["id"] for x in alive.call("goal.list", {"status": "paused"})["goals"]]
    assert g["id"] not in [x["id"] for x in alive.call("goal.list", {"status": "active"})["goals"]]
    assert alive.call("goal.resume", {"id": g["id"]})["status"] == "active"
    created_paused = alive.call("goal.create", {"objective": "p", "paused": True})
    assert created_paused["status"] == "paused"


def test_goal_run_creates_a_run_that_completes(alive):
    g = alive.call("goal.create", {"objective": "say hello"})
    run = alive.call("goal.run", {"id": g["id"][:6]})  # a prefix works
    assert run["goal_id"] == g["id"] and run["trigger"] == "manual"
    assert run["status"] in ("pending", "running") and run["step_budget"] == 20
    assert ISO.match(run["created_at"])
    done = alive.wait_run(run["id"])
    assert done["status"] == "completed", done
    assert ISO.match(done["ended_at"]) and done["summary"]
    steps = alive.call("run.steps", {"id": run["id"]})
    assert steps["run_id"] == run["id"] and steps["run_status"] == "completed"
    assert [s["step_no"] for s in steps["steps"]] == list(range(1, len(steps["steps"]) + 1))
    outs = alive.call("run.outputs", {"id": run["id"]})
    assert outs["run_id"] == run["id"] and any(o["kind"] == "summary" for o in outs["outputs"])
    lst = alive.call("run.list", {"goal_id": g["id"]})
    assert [r["id"] for r in lst["runs"]] == [run["id"]] and lst["total"] == 1
    assert run["id"] in [r["id"] for r in alive.call("run.list", {"status": "completed"})["runs"]]
    assert alive.call("goal.get", {"id": g["id"]})["last_run"]["id"] == run["id"]
    st = alive.call("daemon.status", {})
    assert st["runs"].get("completed", 0) >= 1
    deleted = alive.call("run.delete", {"id": run["id"]})
    assert deleted == {"id": run["id"], "deleted": True, "runs_cancelled": 0}
    assert call_err(alive, "run.get", {"id": run["id"]}).data["kind"] == "not_found"
    for t in ("runs", "steps", "outputs", "events"):
        assert count(alive.db, t, "WHERE " + ("id" if t == "runs" else "run_id") + " = ?", (run["id"],)) == 0


def test_goal_run_of_archived_goal_is_refused(alive):
    g = alive.call("goal.create", {"objective": "old"})
    with closing(sqlite3.connect(alive.db, timeout=5)) as conn, conn:
        conn.execute("UPDATE goals SET status = 'archived' WHERE id = ?", (g["id"],))
    before = count(alive.db, "runs")
    e = call_err(alive, "goal.run", {"id": g["id"]})
    assert e.data["kind"] == "invalid_state"
    assert count(alive.db, "runs") == before


def test_daemon_status_shape(alive):
    st = alive.call("daemon.status")
    assert st["pid"] == alive.proc.pid and st["version"]
    assert st["uptime_s"] >= 0 and ISO.match(st["started_at"])
    assert st["paths"]["socket"] == str(alive.socket) and st["paths"]["db"] == str(alive.db)
    assert isinstance(st["goals"], dict) and isinstance(st["runs"], dict)
    assert st["state"] == "ok" and st["ready"] is True
    assert sum(st["goals"].values()) == count(alive.db, "goals")


def test_db_file_settings(alive):
    from agentd.store.schema import LATEST

    assert stat.S_IMODE(alive.db.stat().st_mode) == 0o600
    assert stat.S_IMODE(alive.db.parent.stat().st_mode) == 0o700
    with closing(ro(alive.db)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST


# ---------------------------------------------------------------- refusals write nothing


BAD_CREATES = [
    ({"schedules": [{"cron": "not a cron"}]}, "schedules[0]"),
    ({"schedules": [{"cron": "0 9 * * *"}, {"cron": "0 25 * * *"}]}, "schedules[1]"),
    ({"schedules": [{"cron": "0 9 * * *", "timezone": "Mars/Olympus"}]}, "schedules[0]"),
    ({"schedules": [{"cron": "0 9 * * *", "timezone": ""}]}, "schedules[0]"),
    ({"webhook_url": "ftp://example.com/x"}, "webhook_url"),
    ({"webhook_url": "not a url"}, "webhook_url"),
    ({"webhook_url": "https://user:pw@example.com/"}, "webhook_url"),
    ({"webhook_url": "http://[::1"}, "webhook_url"),  # once an internal error
    ({"webhook_url": "http://exa mple.com/"}, "webhook_url"),
    ({"webhook_url": "http://example.com:99999/"}, "webhook_url"),
    ({"webhook_url": "https://example.com/\r\nX-Injected: 1"}, "webhook_url"),
    ({"schedules": [{"cron": "0 9 * * *"}, {"cron": "0 9 * * *"}]}, "schedules[1]"),  # would fire twice
    ({"params": {"allowed_tools": ["web_search", "rm_rf"]}}, "params.allowed_tools"),
    ({"params": {"email_to": ["not-an-email"]}}, "params.email_to"),
    ({"params": {"email_to": ["a@b.c", "x@@y"]}}, "params.email_to"),
    ({"params": {"step_budget": 0}}, "params.step_budget"),
    ({"params": {"allowed_domains": ["not a domain"]}}, "params.allowed_domains"),
    ({"objective": "   "}, "objective"),
    ({"schedules": [{"cron": f"{m} 9 * * *"} for m in range(21)]}, "schedules"),
    ({"name": "n" * 201}, "name"),
    ({"name": "two\nlines"}, "name"),
]


@pytest.mark.parametrize("extra, field", BAD_CREATES)
def test_invalid_goal_create_is_refused_and_writes_nothing(alive, extra, field):
    before = counts(alive.db)
    e = call_err(alive, "goal.create", {"objective": "x", **extra})
    assert e.code == -32004 and e.data["kind"] == "validation_failed", e
    assert e.data["field"].startswith(field), e.data
    assert len(e.message) > 10
    assert counts(alive.db) == before
    assert integrity_ok(alive.db)


@pytest.mark.parametrize("change", [
    {"schedules": [{"cron": "0 9 * * *"}, {"cron": "99 * * * *"}]},
    {"schedules": [{"cron": "0 9 * * *", "timezone": "Nowhere/Land"}]},
    {"webhook_url": "javascript:alert(1)"},
    {"allowed_tools": ["nope"]},
    {"email_to": ["@example.com"]},
    {"objective": ""},
    {"name": ""},
])
def test_invalid_goal_update_changes_nothing(alive, change):
    g = alive.call("goal.create", {"objective": "keep me", "schedules": [{"cron": "0 8 * * 1"}]})
    with closing(ro(alive.db)) as conn:
        before_goal = tuple(conn.execute("SELECT * FROM goals WHERE id = ?", (g["id"],)).fetchone())
        before_s = [tuple(r) for r in conn.execute("SELECT * FROM schedules WHERE goal_id = ?", (g["id"],))]
    e = call_err(alive, "goal.update", {"id": g["id"], **change})
    assert e.data["kind"] == "validation_failed"
    with closing(ro(alive.db)) as conn:
        assert tuple(conn.execute("SELECT * FROM goals WHERE id = ?", (g["id"],)).fetchone()) == before_goal
        assert [tuple(r) for r in conn.execute("SELECT * FROM schedules WHERE goal_id = ?", (g["id"],))] == before_s
    assert integrity_ok(alive.db)


# ---------------------------------------------------------------- id prefixes


def test_unknown_and_ambiguous_prefixes(alive):
    seen: dict[str, str] = {}
    pair = None
    for _ in range(17):  # pigeonhole: 17 ids share a first hex digit
        gid = alive.call("goal.create", {"objective": "prefix"})["id"]
        if gid[0] in seen:
            pair = (seen[gid[0]], gid)
            break
        seen[gid[0]] = gid
    assert pair is not None
    all_ids = [g["id"] for g in alive.call("goal.list", {"limit": 1000})["goals"]]
    # ambiguous: the shared prefix, with the candidates listed
    common = 1
    while pair[0][:common + 1] == pair[1][:common + 1]:
        common += 1
    prefix = pair[0][:common]
    e = call_err(alive, "goal.get", {"id": prefix})
    assert e.code == -32002 and e.data["kind"] == "ambiguous_id"
    assert set(pair) <= set(e.data["candidates"])
    assert all(c.startswith(prefix) for c in e.data["candidates"])
    # a longer prefix that is unique among ALL goals (other tests share this daemon) resolves; upper case too
    def unique_prefix(gid: str) -> str:
        n = common + 1
        while any(o != gid and o.startswith(gid[:n]) for o in all_ids):
            n += 1
        return gid[:n]

    for gid in pair:
        ref = unique_prefix(gid)
        assert alive.call("goal.get", {"id": ref})["id"] == gid
        assert alive.call("goal.get", {"id": ref.upper()})["id"] == gid
    # unknown: a prefix no goal has (three hex digits leave 4096 to choose from)
    unused = next(f"{n:03x}" for n in range(4096) if not any(i.startswith(f"{n:03x}") for i in all_ids))
    for ref in (unused, "f" * 12):
        if ref in all_ids:
            continue
        e = call_err(alive, "goal.get", {"id": ref})
        assert e.code == -32001 and e.data["kind"] == "not_found" and e.data["id"] == ref
    # not an id at all: empty is invalid; anything else could be a goal's name, and none has it
    e = call_err(alive, "goal.get", {"id": ""})
    assert e.data["kind"] == "validation_failed" and e.data["field"] == "id"
    for ref in ("xyz", "0" * 13, "../etc"):
        e = call_err(alive, "goal.get", {"id": ref})
        assert e.data["kind"] == "not_found" and e.data["id"] == ref
    for ref in ("", "xyz", "0" * 13, "../etc"):  # run ids have no names
        e = call_err(alive, "run.get", {"id": ref})
        assert e.data["kind"] == "validation_failed" and e.data["field"] == "id"
    # every verb resolves prefixes the same way
    for method in ("goal.update", "goal.delete", "goal.pause", "goal.resume", "goal.run"):
        params = {"id": prefix, "objective": "x"} if method == "goal.update" else {"id": prefix}
        assert call_err(alive, method, params).data["kind"] == "ambiguous_id"
    assert call_err(alive, "run.list", {"goal_id": prefix}).data["kind"] == "ambiguous_id"
    assert call_err(alive, "run.get", {"id": "0" * 12}).data["kind"] == "not_found"


# ---------------------------------------------------------------- delete with children


def test_goal_deleted_with_all_its_children(alive):
    keep = alive.call("goal.create", {"objective": "a bystander"})
    g = alive.call("goal.create", {"objective": "doomed", "schedules": [{"cron": "0 9 * * *"}]})
    gid, sid = g["id"], g["schedules"][0]["id"]
    run = alive.call("goal.run", {"id": gid})
    assert alive.wait_run(run["id"])["status"] == "completed"
    other_run = alive.call("goal.run", {"id": keep["id"]})
    alive.wait_run(other_run["id"])
    alive.call("memory.add", {"goal_id": gid, "content": "remember this"})
    alive.call("memory.add", {"goal_id": keep["id"], "content": "and this"})
    # a tick and a side effect, as the scheduler and the tools would write them
    now = int(time.time() * 1000)
    with closing(sqlite3.connect(alive.db, timeout=5)) as conn, conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("INSERT INTO ticks (schedule_id, goal_id, due_at, decision, run_id, recorded_at)"
                      " VALUES (?, ?, ?, 'fired', ?, ?)", (sid, gid, now, run["id"], now))
        conn.execute("INSERT INTO side_effects (id, run_id, goal_id, kind, idempotency_key, target, status,"
                     " created_at, updated_at) VALUES ('5e0000000001', ?, ?, 'webhook', 'k-1', 'https://x',"
                     " 'delivered', ?, ?)", (run["id"], gid, now, now))
    where = {
        "goals": ("id = ?", gid), "schedules": ("goal_id = ?", gid), "runs": ("goal_id = ?", gid),
        "steps": ("run_id = ?", run["id"]), "outputs": ("run_id = ?", run["id"]),
        "memories": ("goal_id = ?", gid), "ticks": ("goal_id = ?", gid),
        "side_effects": ("goal_id = ?", gid), "events": ("run_id = ?", run["id"]),
    }
    for table, (w, arg) in where.items():
        assert count(alive.db, table, "WHERE " + w, (arg,)) >= 1, table
    artifacts = Path(alive.call("daemon.status")["paths"]["artifacts_dir"]) / gid
    assert artifacts.is_dir()
    bystander = {t: count(alive.db, t) - count(alive.db, t, "WHERE " + w, (arg,)) for t, (w, arg) in where.items()}

    res = alive.call("goal.delete", {"id": gid[:8]})
    assert res == {"id": gid, "deleted": True, "runs_cancelled": 0}
    for table, (w, arg) in where.items():
        assert count(alive.db, table, "WHERE " + w, (arg,)) == 0, table
    assert {t: count(alive.db, t) for t in where} == bystander  # nothing else went
    assert not artifacts.exists()
    assert alive.call("goal.get", {"id": keep["id"]})["last_run"]["id"] == other_run["id"]
    assert call_err(alive, "goal.get", {"id": gid}).data["kind"] == "not_found"
    assert call_err(alive, "goal.delete", {"id": gid}).data["kind"] == "not_found"
    assert integrity_ok(alive.db)
    with closing(ro(alive.db)) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_active_run_goal_delete_and_daemon_stop(make_daemon, fake_llm):
    from agentd.testing.fakellm import stall

    fake_llm.add(stall(20))  # the model never answers: the run stays running
    d = make_daemon()
    g = d.call("goal.create", {"objective": "busy"})
    run = d.call("goal.run", {"id": g["id"]})
    e = call_err(d, "run.delete", {"id": run["id"]})
    assert e.code == -32003 and e.data["kind"] == "invalid_state" and "cancel" in e.message
    assert count(d.db, "runs", "WHERE id = ?", (run["id"],)) == 1
    res = d.call("goal.delete", {"id": g["id"]})
    assert res["runs_cancelled"] == 1
    assert count(d.db, "runs") == 0 and count(d.db, "goals") == 0
    assert d.call("daemon.status")["running"] == []
    # daemon.stop: answers, then exits 0 and removes its socket
    assert d.call("daemon.stop", {}) == {"ok": True}
    assert d.wait(15) == 0
    assert not d.socket.exists()
    assert d.log_records()[-1]["msg"] == "agentd stopped"


def test_concurrent_clients_all_written(alive):
    """Many clients writing at once: every write lands, once, in one piece."""
    from concurrent.futures import ThreadPoolExecutor

    def work(i: int) -> list[str]:
        with alive.client() as c:
            return [c.call("goal.create", {"objective": f"concurrent {i}.{j}",
                                           "schedules": [{"cron": f"{j} 9 * * *"}]})["id"] for j in range(5)]

    before = count(alive.db, "goals")
    with ThreadPoolExecutor(16) as pool:
        ids = [gid for batch in pool.map(work, range(16)) for gid in batch]
    assert len(set(ids)) == 80
    assert count(alive.db, "goals") == before + 80
    assert count(alive.db, "schedules", "WHERE goal_id IN (%s)" % ",".join("?" * 80), tuple(ids)) == 80
    assert integrity_ok(alive.db)


def test_run_list_with_an_empty_goal_id_is_refused_not_everything(alive):
    e = call_err(alive, "run.list", {"goal_id": ""})
    assert e.code == -32004 and e.data["field"] == "id"
