"""A goal's name is accepted wherever its id is: over RPC and through the real agentctl."""

from __future__ import annotations

import secrets

from daemon_harness import RpcError


def _err(d, method: str, params: dict) -> RpcError:
    try:
        d.call(method, params)
    except RpcError as exc:
        return exc
    raise AssertionError(f"{method} {params} succeeded")


def _name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"  # the daemon is shared by the module


def test_a_unique_name_resolves_like_an_id_over_rpc(alive):
    name = _name("ai-news")
    g = alive.call("goal.create", {"objective": "collect the news", "name": name,
                                   "schedules": [{"cron": "0 16 * * 5", "timezone": "Europe/Berlin"}]})
    assert alive.call("goal.get", {"id": name})["id"] == g["id"]
    assert alive.call("goal.next", {"id": name, "count": 2})["goal_id"] == g["id"]
    assert alive.call("run.list", {"goal_id": name})["runs"] == []
    assert alive.call("memory.list", {"goal_id": name})["memories"] == []
    assert alive.call("goal.pause", {"id": name})["status"] == "paused"
    # the id and a unique prefix of it still work
    assert alive.call("goal.resume", {"id": g["id"]})["status"] == "active"
    assert alive.call("goal.get", {"id": g["id"][:10]})["id"] == g["id"]
    # a name with spaces, and an unknown name
    spaced = _name("weekly AI digest")
    h = alive.call("goal.create", {"objective": "digest", "name": spaced})
    assert alive.call("goal.get", {"id": spaced})["id"] == h["id"]
    e = _err(alive, "goal.get", {"id": "no-such-goal-name"})
    assert e.code == -32001 and "no goal has the id or name 'no-such-goal-name'" in e.message


def test_an_exact_name_wins_over_an_id_prefix(alive):
    target = alive.call("goal.create", {"objective": "the one whose id is spelled"})
    prefix = target["id"][:4]
    named = alive.call("goal.create", {"objective": "named like a prefix", "name": prefix})
    assert alive.call("goal.get", {"id": prefix})["id"] == named["id"]
    assert alive.call("goal.get", {"id": target["id"]})["id"] == target["id"]  # a full id always wins


def test_a_name_two_goals_share_is_ambiguous_and_lists_them(alive):
    name = _name("twin")
    a = alive.call("goal.create", {"objective": "first", "name": name})["id"]
    b = alive.call("goal.create", {"objective": "second", "name": name})["id"]
    e = _err(alive, "goal.run", {"id": name})
    assert e.code == -32002 and e.data["kind"] == "ambiguous_id"
    assert set(e.data["candidates"]) == {a, b}
    assert e.data["names"] == {a: name, b: name}
    assert f"2 goals are named {name!r}" in e.message
    # agentctl lists the candidates with their names; nothing ran
    p = alive.ctl("goal", "run", name)
    assert p.returncode == 1 and p.stdout == ""
    assert "candidates" in p.stderr and f"{a}  {name}" in p.stderr and f"{b}  {name}" in p.stderr
    assert alive.call("run.list", {"goal_id": a})["runs"] == []


def test_agentctl_takes_the_name_as_getting_started_shows(alive):
    name = _name("ai-news")
    p = alive.ctl("goal", "create", "Collect the week's top AI news", "--name", name,
                  "--schedule", "0 16 * * 5", "--timezone", "Europe/Berlin")
    assert p.returncode == 0, p.stderr
    gid = p.stdout.strip()
    p = alive.ctl("goal", "next", name, "-n", "3")
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("Europe/Berlin") == 3
    p = alive.ctl("--json", "goal", "show", name)
    assert p.returncode == 0 and f'"id":"{gid}"' in p.stdout
    p = alive.ctl("run", "list", "--goal", name)
    assert p.returncode == 0, p.stderr
    p = alive.ctl("goal", "show", "not a goal at all")
    assert p.returncode == 1 and "no goal has the id or name 'not a goal at all'" in p.stderr
