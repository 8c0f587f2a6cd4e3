"""Every tool says what it does to the world (read-only, idempotent, external),
through ``tool.list`` of the real daemon and on the specs the loop holds."""

from __future__ import annotations

from agentd.tools.registry import default_registry

EXPECTED = {  # name: (read_only, idempotent, external)
    "web_search": (True, True, True), "fetch_page": (True, True, True), "read_feed": (True, True, True),
    "read_file": (True, True, False), "write_file": (False, True, False),
    "send_webhook": (False, False, True), "send_email": (False, False, True),
    "remember": (False, False, False), "recall": (True, True, False), "finish": (True, True, False),
}


def test_tool_list_shows_each_builtin_tools_effects(daemon):
    tools = {t["name"]: t for t in daemon.call("tool.list")["tools"]}
    assert {n: (t["read_only"], t["idempotent"], t["external"]) for n, t in tools.items()} == EXPECTED
    assert all(t["source"] == "builtin" and t["state"] == "available" for t in tools.values())


def test_specs_carry_the_flags_but_the_wire_schema_does_not():
    specs = {s.name: s for s in default_registry().specs(list(EXPECTED))}
    assert {n: (s.read_only, s.idempotent, s.external) for n, s in specs.items()} == EXPECTED
    assert "read_only" not in specs["send_email"].parameters
