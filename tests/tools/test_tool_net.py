"""SSRF defences of agentd.tools.net: address forms, redirects, caps, allowlists."""

from __future__ import annotations

import ipaddress
import threading

import pytest

from agentd.shared.config import ToolsConfig
from agentd.protocol.errors import ToolError, ToolRefused
from agentd.tools.net import NetPolicy, address_refusal, check_url, fetch, host_allowed

from tool_helpers import run

pytestmark = pytest.mark.timeout(30)

REFUSED_URLS = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://127.0.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0x7f.0x0.0x0.0x1/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://0/",
    "http://0.0.0.0/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://192.0.0.1/",
    "http://198.18.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.1.1/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://127.0.0.1:8080/admin",
    "https://127.0.0.1/",
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b:1::1]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://[2002:c0a8:0101::1]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://foo.localhost/",
    "http://user:pass@example.com/",
    "http://example.com@127.0.0.1/",
    "http://user@[::1]/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/_x",
    "javascript:alert(1)",
    "data:text/html,hi",
    "http:\\\\127.0.0.1\\",
    "http://127.0.0.1\t/",
    "//127.0.0.1/",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_refused_urls(url):
    # ToolRefused for nearly all; a few (e.g. 0177.0.0.1) httpx rejects as
    # invalid URLs, which is a ToolError: either way nothing is requested.
    policy = NetPolicy(ToolsConfig())
    with pytest.raises(ToolError) as info:
        run(check_url, url, policy)
    if isinstance(info.value, ToolRefused):
        return
    assert "not a valid URL" in info.value.message, info.value.message


def test_table_is_big_enough():
    assert len(REFUSED_URLS) >= 40


@pytest.mark.parametrize("addr", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:82b::200e",
                                  "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"])
def test_global_addresses_allowed(addr):
    assert address_refusal(ipaddress.ip_address(addr)) is None


def fake_dns(table):
    async def resolve(host, port):
        if host not in table:
            raise ToolError(f"could not resolve host {host!r}")
        return table[host]
    return resolve


def test_name_resolving_to_private_is_refused():
    policy = NetPolicy(ToolsConfig(), resolve=fake_dns({"evil.example": ["10.1.2.3"],
                                                        "mixed.example": ["93.184.216.34", "127.0.0.1"]}))
    with pytest.raises(ToolRefused, match="private"):
        run(check_url, "http://evil.example/", policy)
    with pytest.raises(ToolRefused, match="loopback"):
        run(check_url, "http://mixed.example/", policy)


def test_public_name_passes_check():
    policy = NetPolicy(ToolsConfig(), resolve=fake_dns({"good.example": ["93.184.216.34"]}))
    target = run(check_url, "https://good.example/x", policy)
    assert target.addresses == ("93.184.216.34",) and target.port == 443


def test_goal_allowlist():
    assert host_allowed("example.com", ["example.com"])
    assert host_allowed("news.example.com", ["example.com"])
    assert not host_allowed("badexample.com", ["example.com"])
    assert not host_allowed("example.com.evil.net", ["example.com"])
    assert host_allowed("anything.org", [])
    policy = NetPolicy(ToolsConfig(), ("example.com",), resolve=fake_dns({"other.org": ["93.184.216.34"]}))
    with pytest.raises(ToolRefused, match="allowed domains"):
        run(check_url, "http://other.org/", policy)


def ok(body=b"<html><title>T</title><p>hello</p></html>", ctype="text/html; charset=utf-8"):
    return lambda m, p, h, b: (200, {"content-type": ctype}, body)


def allowed(*served):
    return ToolsConfig(private_hosts_allowed=[s.hostport for s in served], max_redirects=5)


def test_connects_to_the_checked_address_keeping_the_host_name(serve):
    s = serve(ok())
    tools = ToolsConfig(private_hosts_allowed=["pinned.test"])
    policy = NetPolicy(tools, resolve=fake_dns({"pinned.test": ["127.0.0.1"]}))
    result = run(fetch, f"http://pinned.test:{s.port}/page", policy)
    assert result.status == 200 and "hello" in result.text
    assert s.requests[0][2]["host"] == f"pinned.test:{s.port}"


def test_allowed_loopback_fetch(serve):
    s = serve(ok())
    result = run(fetch, s.base + "/", NetPolicy(allowed(s)))
    assert result.status == 200 and result.content_type.startswith("text/html") and not result.truncated


def redirect_to(location):
    return lambda m, p, h, b: (302, {"location": location}, b"")


@pytest.mark.parametrize("location", [
    "http://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:127.0.0.1]/",
    "http://localhost/",
    "file:///etc/passwd",
    "http://user:pw@127.0.0.1/",
])
def test_redirect_to_private_is_refused(serve, location):
    s = serve(redirect_to(location))
    with pytest.raises(ToolRefused):
        run(fetch, s.base + "/start", NetPolicy(allowed(s)))


def test_redirect_to_another_loopback_port_is_refused(serve):
    inner = serve(ok())
    outer = serve(redirect_to(inner.base + "/secret"))
    with pytest.raises(ToolRefused):
        run(fetch, outer.base + "/", NetPolicy(allowed(outer)))
    assert inner.requests == []


def test_redirect_between_allowed_hosts_is_followed(serve):
    inner = serve(ok())
    outer = serve(redirect_to(inner.base + "/final"))
    result = run(fetch, outer.base + "/", NetPolicy(allowed(outer, inner)))
    assert result.final_url == inner.base + "/final" and "hello" in result.text


def test_redirect_leaving_goal_allowlist_is_refused(serve):
    s = serve(redirect_to("http://elsewhere.example/"))
    tools = ToolsConfig(private_hosts_allowed=["site.example"])
    policy = NetPolicy(tools, ("site.example",), resolve=fake_dns({"site.example": ["127.0.0.1"],
                                                                   "elsewhere.example": ["93.184.216.34"]}))
    with pytest.raises(ToolRefused, match="allowed domains"):
        run(fetch, f"http://site.example:{s.port}/", policy)


def test_too_many_redirects(serve):
    hops = {"n": 0}

    def handler(m, p, h, b):
        hops["n"] += 1
        return 302, {"location": f"/r{hops['n']}"}, b""

    s = serve(handler)
    with pytest.raises(ToolError, match="redirected more than 5"):
        run(fetch, s.base + "/", NetPolicy(allowed(s)))
    assert hops["n"] == 6


def test_five_redirects_are_fine(serve):
    def handler(m, p, h, b):
        n = int(p.strip("/r") or 0)
        if n < 5:
            return 301, {"location": f"/r{n + 1}"}, b""
        return 200, {"content-type": "text/plain"}, b"arrived"

    s = serve(handler)
    assert run(fetch, s.base + "/r0", NetPolicy(allowed(s))).text == "arrived"


def test_oversize_body_is_cut(serve):
    s = serve(ok(b"x" * 100_000, "text/plain"))
    tools = ToolsConfig(private_hosts_allowed=[s.hostport], max_fetch_bytes=1000)
    result = run(fetch, s.base + "/", NetPolicy(tools))
    assert result.truncated and len(result.text) == 1000


@pytest.mark.parametrize("ctype", ["image/png", "application/octet-stream", "application/pdf", ""])
def test_non_text_content_type_refused(serve, ctype):
    s = serve(ok(b"\x89PNG....", ctype))
    with pytest.raises(ToolError, match="content type"):
        run(fetch, s.base + "/", NetPolicy(allowed(s)))


@pytest.mark.parametrize("ctype", ["application/json", "application/rss+xml", "application/atom+xml",
                                   "text/xml", "application/xhtml+xml", "text/plain; charset=latin-1"])
def test_text_types_accepted(serve, ctype):
    s = serve(ok(b"{}", ctype))
    assert run(fetch, s.base + "/", NetPolicy(allowed(s))).status == 200


def test_total_time_is_bounded(serve):
    release = threading.Event()

    def slow(m, p, h, b):
        release.wait(10)
        return 200, {"content-type": "text/plain"}, b"late"

    s = serve(slow)
    tools = ToolsConfig(private_hosts_allowed=[s.hostport], fetch_timeout_s=0.3)
    try:
        with pytest.raises(ToolError, match="took longer|timed out"):
            run(fetch, s.base + "/", NetPolicy(tools))
    finally:
        release.set()


def test_allow_private_networks_switch(serve):
    s = serve(ok())
    assert run(fetch, s.base + "/", NetPolicy(ToolsConfig(allow_private_networks=True))).status == 200
