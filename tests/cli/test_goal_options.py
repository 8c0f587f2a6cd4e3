"""The one table of goal options (agentctl.parser.GOAL_OPTIONS) that builds
both ``goal create`` and ``goal edit``: each option fills a real field of the
protocol, and every ``--no-…`` flag of edit clears what create set, on the
real daemon."""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec
import pytest

from agentctl.parser import GOAL_OPTIONS, goal_options
from agentd.protocol import methods as m

ROOT = str(Path(__file__).resolve().parents[2])


@pytest.mark.parametrize("option", [o for o in GOAL_OPTIONS if o.field], ids=lambda o: o.flag)
def test_each_option_fills_a_field_of_goal_create_and_goal_update(option):
    if option.only != "edit":
        owner = m.GoalParams if option.in_params else m.GoalCreate
        assert option.field in owner.__struct_fields__, f"{option.flag}: {owner.__name__} has no {option.field}"
    if option.only != "create":
        assert option.field in m.GoalUpdate.__struct_fields__, f"{option.flag}: GoalUpdate has no {option.field}"
    if option.clear:  # what edit's --no-… flag sends must be valid
        msgspec.convert({"id": "g", option.field: [] if option.repeat else None}, m.GoalUpdate)


def ctl(daemon, *args):
    env = dict(daemon.env)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    r = daemon.ctl(*args, timeout=30.0, env=env)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r.stdout


def test_every_no_flag_of_edit_clears_what_create_set(daemon):
    gid = ctl(daemon, "-q", "goal", "create", "Collect AI news", "--schedule", "0 16 * * 5",
              "--webhook", "https://example.org/h", "--allow-domain", "example.org", "--constraint", "be brief",
              "--email", "me@example.org", "--token-budget", "5000", "--time-limit", "600", "--max-cost", "0.5",
              "--max-cost-per-day", "2", "--max-cost-per-month", "20", "--expect", "news.md",
              "--expect-sent", "webhook", "--alert-via", "webhook", "--notify", "on_change",
              "--ask", "send_webhook").strip()
    goal = json.loads(ctl(daemon, "goal", "show", gid, "--json"))
    params = goal["params"]
    assert goal["webhook_url"] == "https://example.org/h" and len(goal["schedules"]) == 1
    assert (params["allowed_domains"], params["constraints"], params["email_to"]) == \
        (["example.org"], ["be brief"], ["me@example.org"])
    assert (params["token_budget"], params["time_limit_s"], params["max_cost"], params["max_cost_per_day"],
            params["max_cost_per_month"]) == (5000, 600.0, 0.5, 2.0, 20.0)
    assert (params["expect"], params["expect_sent"], params["alert_via"], params["notify"], params["approvals"]) == \
        (["news.md"], ["webhook"], ["webhook"], "on_change", {"send_webhook": "ask"})

    clears = [o for o in goal_options("edit") if o.clear]
    ctl(daemon, "goal", "edit", gid, "--notify", "default", *(o.clear[0] for o in clears))
    goal = json.loads(ctl(daemon, "goal", "show", gid, "--json"))
    assert goal["schedules"] == [] and goal.get("webhook_url") is None
    for o in clears:
        if o.field and o.in_params:
            assert goal["params"].get(o.field) == ([] if o.repeat else None), o.clear[0]
    assert goal["params"].get("notify") is None
    assert goal["params"]["approvals"] == {"send_webhook": "ask"}  # no option of the edit touched it
