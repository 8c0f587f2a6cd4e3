"""The facts line the data tools add (agentd.tools.facts): exact counts and
sums of a column of numbers, JSON lists of objects and markdown tables; no
line for prose; never raises; kept when the loop cuts a long result."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentd.shared.config import ToolsConfig
from agentd.tools.facts import HEAD, data_facts, with_facts
from agentd.tools.fetch_page import FetchPage, FetchPageParams
from agentd.tools.files import ReadFile, ReadFileParams, write_artifact
from tool_helpers import run

pytestmark = pytest.mark.timeout(30)

ORDERS = {"orders": [{"id": f"A-{1001 + i}", "status": s, "total_eur": 10 + 7 * i}
                     for i, s in enumerate(["open", "shipped", "open", "cancelled", "open", "shipped", "open", "shipped"])]}
STATUS_PAGE = """# Service status

| Service | State |
| --- | --- |
| api | up |
| billing | down |
| search | up |
| mail | down |
| storage | up |
"""


@pytest.mark.parametrize("text, facts", [
    ("412\n1093\n87\n2250\n316\n529\n134\n", "7 lines, each a number; they add up to 4821."),
    ("0.1\n0.2\n", "2 lines, each a number; they add up to 0.3."),  # exact, not 0.30000000000000004
    ("  -5\n\n+2.50\n.5\n", "3 lines, each a number; they add up to -2."),
    (json.dumps(ORDERS), '`orders` has 8 items; by `status`: 4 "open" (A-1001, A-1003, A-1005, A-1007), '
                         '3 "shipped" (A-1002, A-1006, A-1008), 1 "cancelled" (A-1004); `total_eur` adds up to 276.'),
    (STATUS_PAGE, 'the table (`Service`, `State`) has 5 rows; by `State`: 3 "up" (api, search, storage), '
                  '2 "down" (billing, mail).'),
    ('[{"n": 1, "ok": true}, {"n": 2, "ok": false}, {"n": 3, "ok": true}]',
     "the list has 3 items; by `ok`: 2 true (1, 3), 1 false (2)."),
    ('{"data": {"users": [{"user_id": 7, "age": 30}, {"user_id": 9, "age": 40}]}}',
     "`data.users` has 2 items; `age` adds up to 70."),  # ids are names, not amounts
    ('[{"tag": "a"}, {"tag": "a"}, {"tag": null}]', 'the list has 3 items; by `tag`: 2 "a" (#1, #2), 1 without a value (#3).'),
])
def test_data_gets_exact_facts(text, facts):
    assert data_facts(text) == f"{HEAD} {facts}"


@pytest.mark.parametrize("text", [
    "",
    "42\n",  # one number is not a column
    "The total is 412 and then 1093.\nSee you.",
    "412\n1093\nabout 87\n",  # one line that is not a number: not a column of numbers
    '{"name": "write_file", "arguments": {"path": "a.md"}}',  # JSON without lists of objects
    '[1, 2, 3]',
    '[{"id": 1}, {"id": 2}, "x"]',  # not all objects
    '{"broken": [',
    "| a | b |\n| --- | --- |\n| 1 | 2 |\n",  # a table of one row
    "| not | a | table |\nno rule under it\n| x | y | z |\n",
])
def test_no_facts_for_what_is_not_data(text):
    assert data_facts(text) is None


def test_groups_need_repeats_and_few_values():
    # every value of k once: k names the items; n has one value for all: neither groups them
    assert data_facts(json.dumps([{"k": f"v{i}", "n": "x"} for i in range(3)])) == f"{HEAD} the list has 3 items."
    many = json.dumps([{"id": i, "colour": f"c{i % 9}"} for i in range(18)])
    assert "by `colour`" not in data_facts(many)  # nine values: not a few groups


def test_long_group_names_and_big_groups_are_shortened():
    items = [{"id": i, "kind": "k" * 100 if i % 2 else "short"} for i in range(24)]
    facts = data_facts(json.dumps(items))
    assert f'12 "{"k" * 39}…"' in facts and "(" not in facts.split("by `kind`:")[1]  # 12 items: not named


def test_with_facts_keeps_the_facts_when_the_body_is_cut():
    assert with_facts("body", None, 100) == "body"
    assert with_facts("body", "F.", 100) == "body\n\nF."
    assert with_facts("x" * 200, "F.", 100) == "F.\n\n" + "x" * 200


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_any_text(text):
    out = data_facts(text)
    assert out is None or (out.startswith(HEAD) and out.endswith("."))


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                    max_leaves=30))
def test_never_raises_on_any_json(value):
    out = data_facts(json.dumps(value))
    assert out is None or out.startswith(HEAD)


def test_fetch_page_adds_the_facts_inside_the_untrusted_block(serve, make_ctx):
    pages = {"/api/orders": ("application/json", json.dumps(ORDERS).encode()),
             "/status": ("text/html", b"<html><body><h1>Service status</h1><table><tr><th>Service</th><th>State</th></tr>"
                                      b"<tr><td>api</td><td>up</td></tr><tr><td>billing</td><td>down</td></tr>"
                                      b"<tr><td>mail</td><td>down</td></tr></table></body></html>"),
             "/prose": ("text/html", b"<html><body><p>Nothing to count here, 3 or 4 words.</p></body></html>")}
    s = serve(lambda m, p, h, b: (200, {"content-type": pages[p][0]}, pages[p][1]))
    ctx = make_ctx(tools=ToolsConfig(private_hosts_allowed=[s.hostport]))
    out = run(FetchPage().run, FetchPageParams(s.base + "/api/orders"), ctx)
    assert out.endswith('by `status`: 4 "open" (A-1001, A-1003, A-1005, A-1007), 3 "shipped" (A-1002, A-1006, A-1008), '
                        '1 "cancelled" (A-1004); `total_eur` adds up to 276.\n</untrusted_content>')
    out = run(FetchPage().run, FetchPageParams(s.base + "/status"), ctx)
    assert 'has 3 rows; by `State`: 2 "down" (billing, mail), 1 "up" (api).\n</untrusted_content>' in out
    assert HEAD not in run(FetchPage().run, FetchPageParams(s.base + "/prose"), ctx)


def test_read_file_adds_the_facts_of_the_whole_file(make_ctx):
    ctx = make_ctx()
    write_artifact(ctx.artifacts, "numbers.txt", "\n".join(str(n) for n in range(1, 201)) + "\n", quota=None)
    out = run(ReadFile().run, ReadFileParams("numbers.txt"), ctx)
    assert out.endswith(f"{HEAD} 200 lines, each a number; they add up to 20100.")
    part = run(ReadFile().run, ReadFileParams("numbers.txt", max_chars=20), ctx)
    assert part.endswith(f"{HEAD} 200 lines, each a number; they add up to 20100.") and "read on with offset=20" in part
    small = make_ctx(tools=ToolsConfig(observation_limit=500))
    write_artifact(small.artifacts, "numbers.txt", "\n".join(str(n) for n in range(1, 201)) + "\n", quota=None)
    part = run(ReadFile().run, ReadFileParams("numbers.txt"), small)
    assert part.startswith(f"{HEAD} 200 lines") and "read on with offset=500" in part  # before the part: survives cuts
    assert HEAD not in run(ReadFile().run, ReadFileParams("numbers.txt", offset=20), ctx)


def test_fetch_page_puts_the_facts_first_when_the_loop_would_cut_them(serve, make_ctx):
    many = {"orders": [{"id": f"B-{i}", "status": "open" if i % 4 else "shipped"} for i in range(40)]}
    body = json.dumps(many).encode()
    s = serve(lambda m, p, h, b: (200, {"content-type": "application/json"}, body))
    ctx = make_ctx(tools=ToolsConfig(private_hosts_allowed=[s.hostport], observation_limit=1000))
    out = run(FetchPage().run, FetchPageParams(s.base + "/api/orders"), ctx)
    facts = out.index(f"{HEAD} `orders` has 40 items; by `status`: 30 \"open\", 10 \"shipped\" (B-0, B-4")
    assert facts < 1000 < len(out) and facts < out.index('{"orders"'), out[:400]  # inside what the model sees
    assert out.index("<untrusted_content") < facts  # still inside the untrusted block
