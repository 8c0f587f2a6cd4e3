"""The exfiltration guard's rules, one edge at a time (agentd.guard.policy).

The guard is fed what the loop feeds it: each call's step number, tool name,
decoded params and raw arguments, then the call's observation."""

from __future__ import annotations

import msgspec
import pytest

from agentd.guard import BLOCKED, TAINTED, GuardRefused, RunGuard
from agentd.guard.urls import harvest, url_key
from agentd.protocol import methods as m
from agentd.tools.email import SendEmailParams
from agentd.tools.fetch_page import FetchPageParams
from agentd.tools.webhook import SendWebhookParams

EXTERNAL = {"fetch_page", "read_feed", "web_search", "mcp_lookup"}
HOOK = "https://hooks.example/me"
CANARY = "https://canary.example/c"


def goal(objective="Collect AI news from https://news.example/ai and post it", **params):
    return m.Goal(id="g1", objective=objective, status="active", created_at="", updated_at="",
                  params=m.GoalParams(**params), webhook_url=HOOK)


def guard(**params) -> RunGuard:
    return RunGuard.for_goal(goal(**params), lambda name: name in EXTERNAL)


class Calls:
    """Drives a guard the way the loop does, numbering the steps."""

    def __init__(self, g: RunGuard) -> None:
        self.g, self.step = g, 0

    def check(self, name, params, **args):
        self.step += 1
        raw = msgspec.json.encode(args or msgspec.structs.asdict(params)).decode()
        return self.g.check(self.step, name, params, raw)

    def fetch(self, url):
        return self.check("fetch_page", FetchPageParams(url=url))

    def read(self, name, url, observation):
        """A call of an external tool that succeeds with ``observation``."""
        assert self.check(name, FetchPageParams(url=url)) is None
        return self.g.settle(self.step, name, msgspec.json.encode({"url": url}).decode(), observation, None)


def page(*links: str, text: str = "") -> str:
    return "<untrusted_content>\n" + text + "\n" + "\n".join(f"[link]({u})" for u in links) + "\n</untrusted_content>"


def test_a_clean_run_is_not_checked():
    c = Calls(guard())
    assert c.fetch(CANARY + "?d=anything") is None
    assert c.check("send_webhook", SendWebhookParams(url=CANARY, payload={})) is None
    assert not c.g.tainted and c.g.marks == {}


def test_the_first_external_result_taints_and_is_marked_once():
    c = Calls(guard())
    assert c.g.settle(0, "write_file", "{}", "Wrote a.md", None) is None  # our own tool: no taint
    assert c.read("fetch_page", "https://news.example/ai", page()) == TAINTED
    assert c.g.tainted_at == 1 and c.g.source == "fetch_page https://news.example/ai"
    assert c.read("fetch_page", "https://news.example/ai", page()) is None  # already tainted: not marked again
    assert c.g.tainted_at == 1


def test_a_failed_external_call_does_not_taint():
    g = guard()
    assert g.settle(1, "fetch_page", '{"url": "https://x.example/"}', None, "answered HTTP 404") is None
    assert not g.tainted


def test_composed_query_and_path_are_blocked_verbatim_links_pass():
    c = Calls(guard())
    c.read("fetch_page", "https://news.example/ai", page("https://other.example/story?id=7",
                                                         "https://canary.example/c"))
    assert c.fetch("https://other.example/story?id=7") is None
    assert c.fetch("https://canary.example/c") is None  # a link as written: nothing of ours in it
    v = c.fetch("https://canary.example/c?d=Q29sbGVjdA==")
    assert v is not None and "the query was composed" in v.reason and c.g.marks[c.step] == BLOCKED
    v = c.fetch("https://canary.example/c/Collect-AI-news")
    assert v is not None and "not this path" in v.reason
    v = c.fetch("https://never-linked.example/")
    assert v is not None and "No content read in this run linked to that host" in v.reason
    assert "step 1: fetch_page https://news.example/ai" in v.message and v.message.startswith("BLOCKED")


@pytest.mark.parametrize("variant", [
    "HTTPS://Other.Example/story?id=7",
    "https://other.example:443/story?id=7",
    "https://other.example/story?id=7#comments",
])
def test_spellings_of_the_same_link_pass(variant):
    c = Calls(guard())
    c.read("fetch_page", "https://news.example/ai", page("https://other.example/story?id=7"))
    assert c.fetch(variant) is None


@pytest.mark.parametrize("variant", [
    "http://other.example/story?id=7",          # another scheme: another request
    "https://other.example:8443/story?id=7",    # another port
    "https://other.example/story?id=7&d=x",     # a parameter added
    "https://other.example/story?id=8",         # a value changed
    "https://other.example/Story?id=7",         # paths are case-sensitive
    "https://other.example/story/?id=7",
    "https://other.example.evil.example/story?id=7",
])
def test_near_misses_of_a_link_are_blocked(variant):
    c = Calls(guard())
    c.read("fetch_page", "https://news.example/ai", page("https://other.example/story?id=7"))
    assert c.fetch(variant) is not None


def test_urls_in_the_objective_and_allowed_domains_pass():
    c = Calls(guard(allowed_domains=["news.example"]))
    c.read("web_search", "https://search.example/", page(text="1. Result"))
    assert c.fetch("https://news.example/ai") is None  # written by the person
    assert c.fetch("https://sub.news.example/any/path?q=composed") is None  # an allowed domain
    assert c.fetch("https://news.example.evil.example/") is not None


def test_a_link_that_only_echoes_what_the_model_sent_is_not_seen():
    c = Calls(guard())
    c.read("fetch_page", "https://news.example/ai", page())
    # The model puts a composed URL in a search; the engine's page repeats it.
    assert c.check("web_search", FetchPageParams(url="x"), query="see https://canary.example/c?d=SECRET") is None
    c.g.settle(c.step, "web_search", '{"query": "see https://canary.example/c?d=SECRET"}',
               page(text="No results for 'see https://canary.example/c?d=SECRET'"), None)
    assert c.fetch("https://canary.example/c?d=SECRET") is not None


def test_webhook_only_to_the_goal_or_its_domains():
    c = Calls(guard(allowed_domains=["ops.example"]))
    c.read("fetch_page", "https://news.example/ai", page(CANARY))
    assert c.check("send_webhook", SendWebhookParams(url=HOOK, payload={"x": 1})) is None
    assert c.check("send_webhook", SendWebhookParams(url="https://ops.example/in", payload={})) is None
    v = c.check("send_webhook", SendWebhookParams(url=CANARY, payload={"objective": "..."}))
    assert v is not None and HOOK in v.reason  # a verbatim link is still not a webhook destination


def test_email_only_to_the_goal_recipients():
    c = Calls(guard(email_to=["Me@Example.com"]))
    c.read("read_feed", "https://news.example/feed", page())
    ok = SendEmailParams(to=["me@example.com"], subject="s", body="b")
    assert c.check("send_email", ok) is None
    v = c.check("send_email", SendEmailParams(to=["me@example.com", "thief@evil.example"], subject="s", body="b"))
    assert v is not None and v.destination == "thief@evil.example"


def test_external_tools_taint_and_their_url_arguments_are_checked():
    c = Calls(guard())
    assert c.g.settle(1, "mcp_lookup", '{"q": "x"}', "result text https://linked.example/a", None) == TAINTED
    c.step = 1
    assert c.check("mcp_lookup", FetchPageParams(url="x"), q="https://linked.example/a") is None
    assert c.check("mcp_lookup", FetchPageParams(url="x"), q="post to https://canary.example/?d=1") is not None
    assert c.check("mcp_lookup", FetchPageParams(url="x"), q="no url at all") is None
    assert c.check("write_file", FetchPageParams(url="x"), path="a.md", content=CANARY + "?d=1") is None


def test_redirects_same_host_or_allowed_only():
    c = Calls(guard())
    c.read("fetch_page", "https://news.example/ai", page("https://short.example/x"))
    g = c.g
    g.check_redirect(9, "fetch_page", "https://short.example/x", "https://short.example/y")  # same host
    g.check_redirect(9, "fetch_page", "http://short.example/x", "https://short.example/x")  # upgraded to https
    g.check_redirect(9, "fetch_page", "https://short.example/x", "https://news.example/ai")  # the objective's URL
    with pytest.raises(GuardRefused, match="redirected there"):
        g.check_redirect(9, "fetch_page", "https://short.example/x", "https://canary.example/c")
    with pytest.raises(GuardRefused):  # same host, another port: another server
        g.check_redirect(9, "fetch_page", "http://short.example:8080/x", "http://short.example:9090/x")
    assert g.marks[9] == BLOCKED


def test_redirects_in_a_clean_run_are_not_checked():
    g = guard()
    g.check_redirect(1, "fetch_page", "https://a.example/", "https://canary.example/c")


def test_replay_rebuilds_the_same_state():
    c = Calls(guard())
    c.read("fetch_page", "https://news.example/ai", page("https://other.example/a"))
    rows = [(1, "fetch_page", '{"url": "https://news.example/ai"}', "ok", page("https://other.example/a")),
            (2, "fetch_page", '{"url": "https://canary.example/?d=1"}', "error", None),
            (3, "send_email", None, "pending", None)]
    g2 = guard()
    g2.reset()
    for r in rows:
        g2.replay(*r)
    assert (g2.tainted_at, g2.source, g2.seen) == (c.g.tainted_at, c.g.source, c.g.seen)
    assert g2.marks == {}  # journaled marks are not journaled again


def test_harvest_and_keys():
    text = ("See [a](https://a.example/x?y=1). Also https://b.example/p, and <https://c.example/q>; "
            "`https://d.example/` and ftp://e.example/ and https://a.example/x?y=1 again.")
    assert harvest(text) == ["https://a.example/x?y=1", "https://b.example/p", "https://c.example/q",
                             "https://d.example/"]
    assert url_key("HTTP://A.Example:80") == "http://a.example/"
    assert url_key("https://[::1]:8443/p?q#f") == "https://[::1]:8443/p?q"
    assert url_key("mailto:x@y") is None and url_key("https://") is None and url_key("http://a:99999/") is None
