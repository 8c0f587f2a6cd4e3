"""Inputs that used to escape a tool as an internal error, or to get past the
file sandbox: malformed redirects, over-long and multi-byte names, pages
nested thousands deep, compression bombs, FIFOs and hard links planted in
the artifacts directory. Real tools against real loopback servers and a real
file system."""

from __future__ import annotations

import errno
import os
import threading
import tracemalloc
import zlib

import pytest
import trio

from agentd.shared.config import ToolsConfig
from agentd.protocol.errors import ToolError, ToolRefused
from agentd.tools import fetch_page as fetch_page_mod
from agentd.tools.fetch_page import FetchPage, FetchPageParams
from agentd.tools.files import ReadFile, ReadFileParams, WriteFile, WriteFileParams
from agentd.tools.net import fetch
from agentd.tools.read_feed import ReadFeed, ReadFeedParams
from tool_helpers import run

pytestmark = pytest.mark.timeout(60)

FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>
<item><title>one</title><link>https://example.com/1</link></item></channel></rss>"""


def loopback(served, **kw) -> ToolsConfig:
    return ToolsConfig(private_hosts_allowed=[served.hostport], **kw)


def redirecting(location: str, final: bytes, ctype: str):
    def handler(method, path, headers, body):
        if path == "/start":
            return 302, {"location": location}, b""
        return 200, {"content-type": ctype}, final
    return handler


# ---------------------------------------------------------------- redirects

@pytest.mark.parametrize("location", ["http://[::1", "http://a:b:c/"])
@pytest.mark.parametrize("tool", ["fetch_page", "read_feed"])
def test_redirect_to_a_malformed_location_is_a_tool_error(serve, make_ctx, tool, location):
    s = serve(redirecting(location, FEED, "application/rss+xml"))
    ctx = make_ctx(tools=loopback(s))
    call = (FetchPage().run, FetchPageParams(s.base + "/start")) if tool == "fetch_page" else \
        (ReadFeed().run, ReadFeedParams(s.base + "/start"))
    with pytest.raises(ToolError, match="redirected to an invalid URL"):
        run(*call, ctx)


@pytest.mark.parametrize("tool", ["fetch_page", "read_feed"])
def test_redirect_to_a_host_less_location_is_followed_on_the_same_host(serve, make_ctx, tool):
    # "http:x" has a scheme and no host: browsers (and httpx's join) read it as the path "x".
    s = serve(redirecting("http:x", FEED, "application/rss+xml"))
    ctx = make_ctx(tools=loopback(s))
    if tool == "fetch_page":
        out = run(FetchPage().run, FetchPageParams(s.base + "/start"), ctx)
    else:
        out = run(ReadFeed().run, ReadFeedParams(s.base + "/start"), ctx)
    assert f"[redirected to {s.base}/x]" in out or f'source="{s.base}/x"' in out
    assert [p for _, p, _, _ in s.requests] == ["/start", "/x"]


# ---------------------------------------------------------------- names

def test_a_name_over_255_bytes_is_refused_with_the_limit(make_ctx):
    ctx = make_ctx()
    with pytest.raises(ToolRefused, match="longer than 255 bytes"):
        run(WriteFile().run, WriteFileParams("x" * 256 + ".md", "text"), ctx)
    with pytest.raises(ToolRefused, match="longer than 255 bytes"):
        run(ReadFile().run, ReadFileParams("é" * 128), ctx)
    assert os.listdir(ctx.artifacts) == []


@pytest.mark.parametrize("name", ["é" * 127, "€" * 85, "x" * 255, "dir/" + "ü" * 127])
def test_legal_long_multibyte_names_are_written_and_read(make_ctx, name):
    ctx = make_ctx()
    assert len(name.rsplit("/", 1)[-1].encode()) <= 255
    assert "Wrote" in run(WriteFile().run, WriteFileParams(name, "café"), ctx)
    assert run(ReadFile().run, ReadFileParams(name), ctx) == "café"
    assert not [n for n in os.listdir(ctx.artifacts) if n.endswith(".tmp")]


# ---------------------------------------------------------------- HTML

def test_a_page_nested_thousands_deep_converts(serve, make_ctx):
    depth = 3000
    page = ("<html><head><title>Deep</title></head><body><p>top</p>"
            + "<div><span><b>level " * depth + "bottom" + "</b></span></div>" * depth + "</body></html>").encode()
    s = serve(lambda m, p, h, b: (200, {"content-type": "text/html"}, page))
    out = run(FetchPage().run, FetchPageParams(s.base + "/"), make_ctx(tools=loopback(s)))
    assert "Title: Deep" in out and "top" in out and "bottom" in out
    assert out.count("level") == depth


def test_html_is_converted_off_the_main_thread(serve, make_ctx, monkeypatch):
    seen: list[threading.Thread] = []
    real = fetch_page_mod.html_to_markdown

    def recording(*args):
        seen.append(threading.current_thread())
        return real(*args)

    monkeypatch.setattr(fetch_page_mod, "html_to_markdown", recording)
    s = serve(lambda m, p, h, b: (200, {"content-type": "text/html"}, b"<html><p>hello</p></html>"))
    assert "hello" in run(FetchPage().run, FetchPageParams(s.base + "/"), make_ctx(tools=loopback(s)))
    assert seen and seen[0] is not threading.main_thread()


# ---------------------------------------------------------------- bodies

def gzip_bomb(decoded_mb: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    return b"".join([*(z.compress(block) for _ in range(decoded_mb)), z.flush()])


def test_a_gzip_bomb_stops_at_the_cap_without_expanding(serve, make_ctx):
    bomb = gzip_bomb(128)  # 128 MiB of zeros in ~130 KB
    s = serve(lambda m, p, h, b: (200, {"content-type": "text/plain", "content-encoding": "gzip"}, bomb))
    cap = 1 << 20
    tracemalloc.start()
    try:
        result = run(fetch, s.base + "/", make_ctx(tools=loopback(s, max_fetch_bytes=cap)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.truncated and len(result.text) == cap
    assert peak < 8 * cap, f"peak {peak} bytes while reading a body capped at {cap}"


@pytest.mark.parametrize("coding", ["gzip", "deflate", "deflate-raw"])
def test_compressed_bodies_are_decoded(serve, make_ctx, coding):
    text = ("hello compressed world " * 5000).encode()
    if coding == "gzip":
        body = gzip_bomb(0)[:0] + zlib.compress(text, wbits=16 + zlib.MAX_WBITS)
    elif coding == "deflate":
        body = zlib.compress(text)
    else:
        z = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = z.compress(text) + z.flush()
    header = "deflate" if coding.startswith("deflate") else coding
    s = serve(lambda m, p, h, b: (200, {"content-type": "text/plain", "content-encoding": header}, body))
    result = run(fetch, s.base + "/", make_ctx(tools=loopback(s)))
    assert result.text == text.decode() and not result.truncated


def test_an_unknown_content_encoding_is_a_tool_error(serve, make_ctx):
    s = serve(lambda m, p, h, b: (200, {"content-type": "text/plain", "content-encoding": "compress"}, b"xx"))
    with pytest.raises(ToolError, match="cannot be read"):
        run(fetch, s.base + "/", make_ctx(tools=loopback(s)))


# ---------------------------------------------------------------- the sandbox

def test_a_fifo_swapped_in_while_opening_is_refused_without_blocking(make_ctx, monkeypatch):
    """A local process replaces the file by a FIFO between the checks and the
    open: the open must not wait for a writer, and the read is refused."""
    ctx = make_ctx()
    (ctx.artifacts / "swap.txt").write_text("plain")
    real_open = os.open
    fifo = ctx.artifacts / "swap.txt"

    def swapping_open(path, flags, mode=0o777, *, dir_fd=None):
        if path == "swap.txt" and dir_fd is not None and not flags & os.O_CREAT and not fifo.is_fifo():
            os.unlink(path, dir_fd=dir_fd)
            os.mkfifo(path, dir_fd=dir_fd)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    rescued: list[bool] = []

    def unblock():  # the old code blocked in open() for ever; a writer lets it go at last
        try:
            os.close(real_open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # succeeds only if a reader waits
            rescued.append(True)
        except OSError as exc:
            assert exc.errno in (errno.ENXIO, errno.ENOENT)

    monkeypatch.setattr(os, "open", swapping_open)
    rescue = threading.Timer(15, unblock)
    rescue.start()
    outcome: list[object] = []

    async def main():
        with trio.move_on_after(5) as scope:  # the run's cancel (its tool timeout) must work
            try:
                outcome.append(await ReadFile().run(ReadFileParams("swap.txt"), ctx))
            except ToolError as exc:
                outcome.append(exc)
        assert not scope.cancelled_caught, "read_file held up the cancel"

    try:
        trio.run(main)
    finally:
        rescue.cancel()
        monkeypatch.undo()
    assert not rescued, "read_file blocked in open() on the FIFO until a writer came"
    unblock()
    assert fifo.is_fifo()
    assert isinstance(outcome[0], ToolRefused) and "not a regular file" in str(outcome[0])


def test_a_fifo_placed_beforehand_is_refused(make_ctx):
    ctx = make_ctx()
    os.mkfifo(ctx.artifacts / "pipe")
    with pytest.raises(ToolRefused, match="not a regular file"):
        run(ReadFile().run, ReadFileParams("pipe"), ctx, timeout=5)
    with pytest.raises(ToolRefused, match="not a regular file"):
        run(WriteFile().run, WriteFileParams("pipe", "x", append=True), ctx, timeout=5)


def test_a_hard_link_to_an_outside_file_is_neither_read_nor_written(make_ctx, tmp_path):
    ctx = make_ctx()
    outside = tmp_path / "secret.txt"
    outside.write_text("outside secret")
    os.link(outside, ctx.artifacts / "linked.txt")
    with pytest.raises(ToolRefused, match="hard links"):
        run(ReadFile().run, ReadFileParams("linked.txt"), ctx)
    with pytest.raises(ToolRefused, match="hard links"):
        run(WriteFile().run, WriteFileParams("linked.txt", " appended", append=True), ctx)
    with pytest.raises(ToolRefused, match="hard links"):
        run(WriteFile().run, WriteFileParams("linked.txt", "replaced"), ctx)
    assert outside.read_text() == "outside secret"
