"""The OpenAI provider's own transport and request encoding: byte-identical
bodies from cached message bytes, the keep-alive pool, stale connections,
chunked/gzip answers, TLS, proxies; all under trio."""

from __future__ import annotations

import gzip
import shutil
import ssl
import subprocess

import msgspec
import pytest
import trio

from agentd.agent.messages import Message, ToolCall
from agentd.providers import _http, _wire
from agentd.providers._httpx_client import HttpxClient
from agentd.providers.factory import make_provider
from agentd.providers.openai import OpenAIProvider
from agentd.testing.fakellm import FakeLLM, Loop, text
from provider_helpers import HISTORY, TOOLS, read_request


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


def test_one_keep_alive_connection_serves_a_run_and_the_pool_holds_concurrent_runs(run):
    async def scenario(p, n):
        async def conversation():
            msgs = [Message(role="user", content="go #k")]
            while True:
                c = await p.complete(msgs, TOOLS)
                if not c.message.tool_calls:
                    return
                msgs += [c.message, Message(role="tool", content="ok", tool_call_id=c.message.tool_calls[0].id)]

        try:
            await conversation()
            one = p._client.idle_connections
            async with trio.open_nursery() as nursery:
                for _ in range(n):
                    nursery.start_soon(conversation)
            return one, p._client.idle_connections
        finally:
            await p.aclose()

    with FakeLLM(loop=Loop(3, tool="get_time", arguments="{}"), latency=0.05) as fake:
        p = OpenAIProvider(name="openai", model="gpt-4o", api_key="k", base_url=fake.base_url, pool_size=20)
        one, after = run(scenario, p, 20)
    assert p.pool_size == 20
    assert one == 1 and 1 < after <= 20


def test_factory_sizes_the_pool_from_the_concurrency(tmp_path):
    from agentd import config

    cfg = config.load(tmp_path / "none.toml", environ={"LLM_PROVIDER": "openai", "OPENAI_MODEL": "gpt-4o"})
    assert make_provider(cfg.resolved_provider(), cfg.provider, concurrency=200).pool_size == 200
    assert make_provider(cfg.resolved_provider(), cfg.provider, concurrency=2).pool_size == 8


# ---------------------------------------------------------------- a scripted raw server


class RawServer:
    """Answers each request with the next canned bytes; ``close_after`` closes
    the connection after that answer (as a server's idle timeout would)."""

    def __init__(self, answers: list[bytes], close_after: bool = False) -> None:
        self.answers = list(answers)
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed_one = trio.Event()  # set when the server has closed a connection

    async def serve(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        try:
            await self._answer(stream)
        finally:
            self.closed_one.set()

    async def _answer(self, stream: trio.SocketStream) -> None:
        buf = b""
        async with stream:
            while self.answers:
                req, buf = await read_request(stream, buf)
                if req is None:
                    return
                self.requests.append(req)
                await stream.send_all(self.answers.pop(0))
                if self.close_after:
                    return


async def with_server(server: RawServer, fn):
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, server.serve, 0)
        port = listeners[0].socket.getsockname()[1]
        try:
            return await fn(f"http://127.0.0.1:{port}/v1")
        finally:
            nursery.cancel_scope.cancel()


def completion_bytes(content: str) -> bytes:
    return msgspec.json.encode({"choices": [{"message": {"content": content}, "finish_reason": "stop"}],
                                "model": "m", "usage": {"prompt_tokens": 1, "completion_tokens": 2}})


def http_answer(body: bytes, *, chunked: bool = False, gzipped: bool = False, status: bytes = b"200 OK") -> bytes:
    head = [b"HTTP/1.1 " + status, b"content-type: application/json"]
    if gzipped:
        body = gzip.compress(body)
        head.append(b"content-encoding: gzip")
    if chunked:
        head.append(b"transfer-encoding: chunked")
        half = len(body) // 2
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:half], body[half:])) + b"0\r\n\r\n"
    else:
        head.append(b"content-length: %d" % len(body))
        payload = body
    return b"\r\n".join(head) + b"\r\n\r\n" + payload


def provider(url: str, **kw) -> OpenAIProvider:
    return OpenAIProvider(name="openai", model="gpt-4o", api_key="sk-x", base_url=url, timeout_s=5, **kw)


def test_chunked_and_gzip_answers_are_read_and_headers_are_prebuilt(run):
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


def test_a_connection_the_server_closed_while_idle_is_not_reused(run):
    server = RawServer([http_answer(completion_bytes("a")), http_answer(completion_bytes("b"))], close_after=True)

    async def calls(url):
        p = provider(url)
        try:
            first = await p.complete(HISTORY, [])
            with trio.fail_after(5):
                await server.closed_one.wait()  # the server has closed the first connection
            return first.message.content, (await p.complete(HISTORY, [])).message.content, p.retries
        finally:
            await p.aclose()

    assert run(with_server, server, calls) == ("a", "b", 0)
    assert server.connections == 2


def test_404_names_the_model_and_the_cause_is_an_httpx_status_error(run):
    import httpx

    from agentd.errors import ProviderRejected

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
    from agentd.testing.fakellm import stall

    with FakeLLM([stall(10), text("after")]) as fake:
        p = OpenAIProvider(name="openai", model="gpt-4o", api_key="k", base_url=fake.base_url, timeout_s=30)

        async def scenario():
            try:
                with trio.move_on_after(0.3):
                    await p.complete(HISTORY, [])
                assert p._client.idle_connections == 0
                return (await p.complete(HISTORY, [])).message.content
            finally:
                await p.aclose()

        assert run(scenario) == "after"


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
    from agentd.errors import ProviderUnavailable

    cert, key = tls_files
    with FakeLLM([]) as fake:
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert, key)
        fake._server.socket = server_ctx.wrap_socket(fake._server.socket, server_side=True,
                                                     do_handshake_on_connect=False)
        p = OpenAIProvider(name="openai", model="gpt-4o", api_key="k", base_url=f"https://localhost:{fake.port}/v1",
                           timeout_s=5, policy=_one_attempt())
        with pytest.raises(ProviderUnavailable, match="cannot reach.*CERTIFICATE_VERIFY_FAILED"):
            run(p.complete, HISTORY, [])


def _one_attempt():
    from agentd.retry import RetryPolicy

    return RetryPolicy(max_attempts=1)


@pytest.mark.parametrize(("env", "url", "expected"), [
    ({}, "https://api.openai.com/v1", None),
    ({"HTTPS_PROXY": "http://proxy:3128"}, "https://api.openai.com/v1", "http://proxy:3128"),
    ({"https_proxy": "http://p:1", "NO_PROXY": "openai.com"}, "https://api.openai.com/v1", None),
    ({"ALL_PROXY": "socks5://p:1"}, "http://127.0.0.1:8000/v1", "socks5://p:1"),
    ({"HTTP_PROXY": "http://p:1", "no_proxy": "localhost,127.0.0.1"}, "http://127.0.0.1:8000/v1", None),
    ({"HTTP_PROXY": "http://p:1"}, "https://api.openai.com/v1", None),
])
def test_proxy_from_the_environment(env, url, expected):
    assert _http.proxy_for(url, env) == expected


def test_a_proxy_in_the_environment_hands_the_origin_to_httpx(run, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    client = _http.make_client("http://example.invalid/v1", {}, timeout=1, max_keepalive=8)
    assert isinstance(client, HttpxClient)
    run(client.aclose)
    monkeypatch.delenv("HTTP_PROXY")
    with FakeLLM([text("via httpx"), text("streamed via httpx")]) as fake:  # the same interface, no proxy
        p = OpenAIProvider(name="openai", model="gpt-4o", api_key="k", base_url=fake.base_url)
        p._client = HttpxClient(fake.base_url, {"Authorization": "Bearer k"}, timeout=5, max_keepalive=8)
        p._chat_target = p._client.target("/chat/completions")

        async def calls():
            try:
                return ((await p.complete(HISTORY, TOOLS)).message.content,
                        (await p.complete(HISTORY, TOOLS, on_delta=lambda s: None)).message.content)
            finally:
                await p.aclose()

        assert run(calls) == ("via httpx", "streamed via httpx")

