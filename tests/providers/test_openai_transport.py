"""The OpenAI provider's transport (httpx) and request encoding: byte-identical
bodies from cached message bytes, the keep-alive pool, stale connections sent
again at once, chunked/gzip answers, the decoded-size cap (a real gzip bomb),
TLS, proxies from the environment, SOCKS without SOCKS support; all under
trio, against loopback servers."""

from __future__ import annotations

import importlib.util
import shutil
import ssl
import subprocess
import tracemalloc
import zlib
from functools import cache

import msgspec
import pytest
import trio

from agentd.messages import Message, ToolCall
from agentd.protocol.errors import ProviderRejected, ProviderUnavailable
from agentd.providers import _wire
from agentd.providers.factory import make_provider
from agentd.providers.ollama import OllamaProvider
from agentd.providers.openai import OpenAIProvider
from agentd.retry import RetryPolicy
from agentd.testing.fakellm import FakeLLM, stall, text
from provider_helpers import (HISTORY, HOLD, TOOLS, RawServer, SleepRecorder, completion_bytes, http_answer, seeded,
                              with_server)


class _ChatRequest(msgspec.Struct, omit_defaults=True):
    """The reference encoding the cached bytes must match."""

    model: str
    messages: list[_wire._WireMessage]
    tools: list[_wire._WireTool] | None = None
    stream: bool = False
    stream_options: dict | None = None


def reference_body(model, messages, tools, stream):
    wire_tools = [_wire._WireTool(_wire._WireToolFunction(t.name, t.description, t.parameters)) for t in tools]
    return msgspec.json.encode(_ChatRequest(
        model, [_wire.wire_message(m) for m in messages], wire_tools or None, stream,
        {"include_usage": True} if stream else None))


def long_history(n: int) -> list[Message]:
    msgs = list(HISTORY)
    for i in range(n):
        msgs.append(Message(role="assistant", content=None if i % 2 else "thinking",
                            tool_calls=[ToolCall(f"call_{i}", "get_time", '{"tz": "UTC"}')]))
        msgs.append(Message(role="tool", content=None if i == 3 else f"12:{i:02d} ✓", tool_call_id=f"call_{i}",
                            name="get_time"))
    return msgs


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("with_tools", [False, True])
def test_body_is_byte_identical_to_encoding_the_whole_request(stream, with_tools):
    p = OpenAIProvider(name="openai", model='gpt-4o "x"', api_key="k")
    msgs = long_history(6)
    tools = TOOLS if with_tools else []
    for upto in (2, 5, len(msgs)):  # a growing history, as a run sends it
        assert p.encode_request(msgs[:upto], tools, stream=stream) == reference_body(p.model, msgs[:upto], tools,
                                                                                    stream)


def test_each_message_is_encoded_once_while_the_history_grows(monkeypatch):
    calls = []
    real = _wire.wire_message
    monkeypatch.setattr(_wire, "wire_message", lambda m: calls.append(m) or real(m))
    p = OpenAIProvider(name="openai", model="gpt-4o", api_key="k")
    msgs = long_history(20)
    for upto in range(2, len(msgs) + 1):
        p.encode_request(msgs[:upto], TOOLS, stream=False)
    assert len(calls) == len(msgs)
    equal_not_same = msgspec.structs.replace(msgs[0])
    p.encode_request([equal_not_same], TOOLS, stream=False)  # cached by identity, not equality
    assert calls[-1] is equal_not_same


def test_message_cache_is_bounded_by_entries_and_bytes():
    cache = _wire.MessageCache(max_entries=10, max_bytes=10_000)
    msgs = long_history(20)
    assert cache.encoded(msgs) == [msgspec.json.encode(_wire.wire_message(m)) for m in msgs]
    assert len(cache) == 10
    big = [Message(role="user", content="x" * 4000) for _ in range(5)]
    cache.encoded(big)
    assert cache.nbytes <= 10_000 and len(cache) == 2
    assert cache.nbytes == sum(len(raw) for _, raw in cache._entries.values())


def provider(url: str, **kw) -> OpenAIProvider:
    kw.setdefault("api_key", "sk-x")
    kw.setdefault("timeout_s", 5)
    return OpenAIProvider(name="openai", model="gpt-4o", base_url=url, **kw)


def test_one_keep_alive_connection_serves_a_run_and_the_pool_holds_concurrent_runs(run):
    n, steps = 20, 3
    server = RawServer([http_answer(completion_bytes(f"step {i}")) for i in range(steps * (n + 1))])

    async def scenario(url):
        p = provider(url, pool_size=n)

        async def conversation():
            for _ in range(steps):
                await p.complete(HISTORY, TOOLS)

        try:
            await conversation()
            one = server.connections
            async with trio.open_nursery() as nursery:
                for _ in range(n):
                    nursery.start_soon(conversation)
            return one
        finally:
            await p.aclose()

    assert run(with_server, server, scenario) == 1  # one run: one connection for all its steps
    assert len(server.requests) == steps * (n + 1)
    assert 1 < server.connections <= n + 1  # concurrent runs: at most one connection each, kept


def test_factory_sizes_the_pool_from_the_concurrency(tmp_path):
    from agentd.shared import config

    cfg = config.load(tmp_path / "none.toml", environ={"LLM_PROVIDER": "openai", "OPENAI_MODEL": "gpt-4o"})
    assert make_provider(cfg.resolved_provider(), cfg.provider, concurrency=200).pool_size == 200
    assert make_provider(cfg.resolved_provider(), cfg.provider, concurrency=2).pool_size == 8


def test_chunked_and_gzip_answers_are_read_and_headers_are_sent(run):
    server = RawServer([http_answer(completion_bytes("one"), chunked=True),
                        http_answer(completion_bytes("two"), gzipped=True),
                        http_answer(completion_bytes("three"), chunked=True, gzipped=True)])

    async def calls(url):
        p = provider(url, headers={"X-Title": "agentd"})
        try:
            return [(await p.complete(HISTORY, [])).message.content for _ in range(3)]
        finally:
            await p.aclose()

    assert run(with_server, server, calls) == ["one", "two", "three"]
    assert server.connections == 1
    head = server.requests[0].split(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"post /v1/chat/completions http/1.1")
    for line in (b"authorization: bearer sk-x", b"content-type: application/json", b"x-title: agentd",
                 b"accept-encoding: identity", b"user-agent: agentd/"):
        assert b"\r\n" + line in head


def test_a_local_server_without_a_key_gets_no_authorization_header(run):
    server = RawServer([http_answer(completion_bytes("keyless"))])

    async def call(url):
        p = provider(url, api_key=None)
        try:
            return (await p.complete(HISTORY, [])).message.content
        finally:
            await p.aclose()

    assert run(with_server, server, call) == "keyless"
    assert b"authorization" not in server.requests[0].lower()


def test_a_connection_the_server_closed_while_idle_is_not_reused(run):
    server = RawServer([http_answer(completion_bytes("a")), http_answer(completion_bytes("b"))], close_after=True)

    async def calls(url):
        p = provider(url)
        try:
            first = await p.complete(HISTORY, [])
            with trio.fail_after(5):
                await server.closed.wait()  # the server has closed the first connection
            return first.message.content, (await p.complete(HISTORY, [])).message.content, p.retries
        finally:
            await p.aclose()

    assert run(with_server, server, calls) == ("a", "b", 0)
    assert server.connections == 2


@pytest.mark.parametrize("streamed", [False, True])
def test_a_kept_connection_closed_as_the_request_arrives_is_sent_again_at_once(run, streamed):
    """llama.cpp closes a kept connection after a streamed answer: the next
    request on it gets no answer at all. It goes again on a fresh connection,
    with no backoff and no retry counted."""
    sse = b"".join(b"data: %s\n\n" % line for line in (
        b'{"choices":[{"delta":{"content":"second"},"finish_reason":"stop"}]}', b"[DONE]"))
    second = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n%s"
              % (len(sse), sse)) if streamed else http_answer(completion_bytes("second"))
    server = RawServer([http_answer(completion_bytes("first")), None, second])
    sleeps, notices = SleepRecorder(), []

    async def calls(url):
        p = provider(url, sleep=sleeps, rng=seeded())
        try:
            first = await p.complete(HISTORY, [])
            kw = {"on_delta": lambda s: None} if streamed else {}
            again = await p.complete(HISTORY, [], on_retry=lambda *a: notices.append(a), **kw)
            return first.message.content, again.message.content, p.retries, p.reconnects
        finally:
            await p.aclose()

    assert run(with_server, server, calls) == ("first", "second", 0, 1)
    assert server.connections == 2 and len(server.requests) == 3
    assert sleeps.delays == [] and notices == []


def test_a_fresh_connection_closed_without_an_answer_waits_for_a_backoff(run):
    server = RawServer([None, http_answer(completion_bytes("later"))])
    sleeps, notices = SleepRecorder(), []

    async def call(url):
        p = provider(url, sleep=sleeps, rng=seeded())
        try:
            c = await p.complete(HISTORY, [], on_retry=lambda *a: notices.append(a))
            return c.message.content, p.retries, p.reconnects
        finally:
            await p.aclose()

    assert run(with_server, server, call) == ("later", 1, 0)
    assert len(sleeps.delays) == 1 and notices[0][0] == 1 and notices[0][2].startswith("connection failed")


def test_404_names_the_model_and_the_cause_is_an_httpx_status_error(run):
    import httpx

    body = b'{"error": {"message": "The model `nope` does not exist"}}'
    server = RawServer([http_answer(body, status=b"404 Not Found")])

    async def call(url):
        p = provider(url)
        try:
            with pytest.raises(ProviderRejected, match="does not exist.*check the model name") as err:
                await p.complete(HISTORY, [])
            return err.value
        finally:
            await p.aclose()

    error = run(with_server, server, call)
    assert isinstance(error.__cause__, httpx.HTTPStatusError)
    assert error.__cause__.response.status_code == 404 and error.data["status"] == 404


def test_cancelled_request_closes_its_connection_and_later_calls_work(run):
    server = RawServer([HOLD])  # no answer to the first request: the connection stays open

    async def scenario(url):
        p = provider(url, timeout_s=30)
        try:
            with trio.move_on_after(0.3):
                await p.complete(HISTORY, [])
            with trio.fail_after(5):
                await server.client_gone.wait()  # the server sees the client close the connection
            server.answers.append(http_answer(completion_bytes("after")))
            return (await p.complete(HISTORY, [])).message.content
        finally:
            await p.aclose()

    assert run(with_server, server, scenario) == "after"
    assert server.connections == 2


# ---------------------------------------------------------------- the decoded-size cap


@cache
def gzip_bomb(decoded: int = 256 << 20) -> bytes:
    """``decoded`` bytes of zeros, gzip-compressed (~1000:1)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    return b"".join([*(z.compress(zeros) for _ in range(decoded >> 20)), z.flush()])


def bomb_answer(ctype: bytes = b"application/json") -> bytes:
    body = gzip_bomb()
    return (b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n"
            % (ctype, len(body))) + body


@pytest.mark.parametrize("streamed", [False, True])
def test_a_gzip_bomb_is_refused_at_the_cap_with_memory_bounded(run, streamed):
    server = RawServer([bomb_answer(b"text/event-stream" if streamed else b"application/json")])
    sleeps = SleepRecorder()

    async def call(url):
        p = provider(url, max_answer_bytes=1 << 20, sleep=sleeps)
        try:
            kw = {"on_delta": lambda s: None} if streamed else {}
            tracemalloc.start()
            try:
                with pytest.raises(ProviderUnavailable, match="larger than 1 MiB decoded") as err:
                    await p.complete(HISTORY, [], **kw)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            return err.value, peak
        finally:
            await p.aclose()

    error, peak = run(with_server, server, call, deadline=60)
    assert "cap" in error.message and sleeps.delays == []  # not retried: the same request, the same answer
    assert peak < 12 << 20, peak  # one 64 KiB read of this body decodes to ~64 MB at once


def test_the_ollama_provider_caps_answers_too(run):
    server = RawServer([bomb_answer(b"application/x-ndjson"), bomb_answer()])

    async def calls(url):
        p = OllamaProvider(model="llama3.1", base_url=url.removesuffix("/v1"), policy=RetryPolicy(max_attempts=1),
                           max_answer_bytes=1 << 20, timeout_s=5)
        try:
            for kw in ({"on_delta": lambda s: None}, {}):
                with pytest.raises(ProviderUnavailable, match="larger than 1 MiB decoded"):
                    await p.complete(HISTORY, [], **kw)
        finally:
            await p.aclose()

    run(with_server, server, calls, deadline=60)


def test_an_encoding_we_cannot_decode_within_the_cap_is_refused(run):
    server = RawServer([http_answer(b"\x00" * 50, headers=(b"content-encoding: br",))])

    async def call(url):
        p = provider(url, policy=RetryPolicy(max_attempts=1))
        try:
            with pytest.raises(ProviderUnavailable, match="unsupported content encoding 'br'"):
                await p.complete(HISTORY, [])
        finally:
            await p.aclose()

    run(with_server, server, call)


# ---------------------------------------------------------------- TLS and proxies


@pytest.fixture
def tls_files(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def test_https_with_a_certificate_from_ssl_cert_file_plain_and_streaming(run, tls_files, monkeypatch):
    cert, key = tls_files
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with FakeLLM([text("secure"), text("streamed securely")]) as fake:
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert, key)
        fake._server.socket = server_ctx.wrap_socket(fake._server.socket, server_side=True)
        url = f"https://localhost:{fake.port}/v1"
        p = OpenAIProvider(name="openai", model="gpt-4o", api_key="k", base_url=url, timeout_s=5)
        deltas: list[str] = []

        async def calls():
            try:
                return ((await p.complete(HISTORY, TOOLS)).message.content,
                        (await p.complete(HISTORY, TOOLS, on_delta=deltas.append)).message.content)
            finally:
                await p.aclose()

        assert run(calls) == ("secure", "streamed securely")
        assert "".join(deltas) == "streamed securely"
        fake.assert_complete()


def test_an_untrusted_certificate_is_a_connection_error(run, tls_files):
    cert, key = tls_files
    with FakeLLM([]) as fake:
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert, key)
        fake._server.socket = server_ctx.wrap_socket(fake._server.socket, server_side=True,
                                                     do_handshake_on_connect=False)
        p = OpenAIProvider(name="openai", model="gpt-4o", api_key="k", base_url=f"https://localhost:{fake.port}/v1",
                           timeout_s=5, policy=RetryPolicy(max_attempts=1))
        with pytest.raises(ProviderUnavailable, match="cannot reach.*CERTIFICATE_VERIFY_FAILED"):
            run(p.complete, HISTORY, [])


@pytest.fixture
def no_proxy_env(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.lower(), raising=False)
    return monkeypatch


def test_the_proxy_from_the_environment_carries_the_requests(run, no_proxy_env):
    proxy = RawServer([http_answer(completion_bytes("via the proxy"))])

    async def call(proxy_url):
        no_proxy_env.setenv("HTTP_PROXY", proxy_url.removesuffix("/v1"))
        p = provider("http://llm.example.invalid/v1")  # never resolved: the proxy is asked
        try:
            return (await p.complete(HISTORY, [])).message.content
        finally:
            await p.aclose()

    assert run(with_server, proxy, call) == "via the proxy"
    assert proxy.requests[0].startswith(b"POST http://llm.example.invalid/v1/chat/completions HTTP/1.1")


def test_no_proxy_sends_the_requests_directly(run, no_proxy_env):
    no_proxy_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    with FakeLLM([text("direct")]) as fake:
        p = OpenAIProvider(name="openai", model="gpt-4o", api_key="k", base_url=fake.base_url, timeout_s=5,
                           policy=RetryPolicy(max_attempts=1))

        async def call():
            try:
                return (await p.complete(HISTORY, [])).message.content
            finally:
                await p.aclose()

        assert run(call) == "direct"


@pytest.mark.skipif(importlib.util.find_spec("socksio") is not None, reason="SOCKS support is installed")
def test_a_socks_proxy_without_socks_support_is_unavailable_naming_the_fix(run, no_proxy_env):
    no_proxy_env.setenv("ALL_PROXY", "socks5://127.0.0.1:9")
    p = OpenAIProvider(name="openai", model="gpt-4o", api_key="k", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ProviderUnavailable, match=r"ALL_PROXY=socks5://127.0.0.1:9.*pip install 'httpx\[socks\]'"
                                                  r".*unset ALL_PROXY"):
        run(p.complete, HISTORY, [])
    result = run(p.check)
    assert result.state == "degraded" and "httpx[socks]" in result.message
    ollama = OllamaProvider(model="llama3.1", base_url="http://127.0.0.1:9")
    result = run(ollama.check)
    assert result.state == "degraded" and "httpx[socks]" in result.message


def test_ping_reads_only_the_head_of_any_answer_and_fails_when_nobody_answers(run):
    big = http_answer(b"[" + b"0," * 500_000 + b"0]")  # a long model list: its body is not read
    server = RawServer([big, http_answer(b"no such page", status=b"404 Not Found")])

    async def pings(url):
        p = provider(url)
        try:
            await p.ping()
            await p.ping()  # a 404 is an answer too
        finally:
            await p.aclose()

    run(with_server, server, pings)
    assert [r.split(b"\r\n")[0] for r in server.requests] == [b"GET /v1/models HTTP/1.1"] * 2
    p = provider("http://127.0.0.1:1/v1")
    with pytest.raises(ProviderUnavailable, match="cannot reach"):
        run(p.ping)
