"""The world a system under test acts on, on 127.0.0.1: a web server (pages,
feeds, a DuckDuckGo-style search endpoint, a JSON API), a webhook receiver
and an SMTP server (aiosmtpd). Each system gets a world of its own, so that
two systems can run at the same time and every request is attributed.

Everything that arrives is recorded with a sequence number; a goal's check
looks only at what arrived after its run began (``World.mark()``).
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

from agentd.testing.loopback import LoopbackServer, serve_responder, stop


@dataclass
class Hit:
    seq: int
    method: str
    path: str
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class Mail:
    seq: int
    mail_from: str
    rcpt_tos: list[str]
    subject: str
    body: str


class _Http:
    """A loopback HTTP server answering from ``handler(method, path, body) ->
    (status, content_type, body)`` and recording every request."""

    def __init__(self, world: "World", handler: Callable[[str, str, bytes], tuple[int, str, bytes]]) -> None:
        self.world, self.handler = world, handler
        self.hits: list[Hit] = []
        self._server: LoopbackServer | None = None

    def start(self) -> None:
        def respond(method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
            self.hits.append(Hit(self.world.next_seq(), method, path, body))
            status, ctype, out = self.handler(method, path, body)
            return status, {"Content-Type": ctype}, out

        self._server = serve_responder(respond)

    def stop(self) -> None:
        if self._server is not None:
            stop(self._server)
            self._server = None

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class World:
    """``routes`` maps a path to (content type, body or body(world) callable)
    for the web server; ``search`` answers the search endpoint's query."""

    def __init__(self, routes: dict[str, tuple[str, Any]], search: Callable[["World", str], str]) -> None:
        self.routes, self.search = routes, search
        self._seq = 0
        self._lock = threading.Lock()
        self.web = _Http(self, self._web)
        self.hooks = _Http(self, lambda m, p, b: (200, "application/json", b'{"ok": true}'))
        self.mails: list[Mail] = []
        self.smtp_port = 0
        self._smtp = None

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def mark(self) -> int:
        """A point in time: ``since(mark)`` views show only what came later."""
        with self._lock:
            return self._seq

    # ---------------------------------------------------------------- servers

    def __enter__(self) -> "World":
        from aiosmtpd.controller import Controller

        world = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                               policy=email.policy.default)
                part = msg.get_body(preferencelist=("plain",)) if msg.is_multipart() else msg
                body = part.get_content() if part is not None else ""
                world.mails.append(Mail(world.next_seq(), envelope.mail_from, list(envelope.rcpt_tos),
                                        str(msg["Subject"] or ""), body))
                return "250 OK"

        self.web.start()
        self.hooks.start()
        self.smtp_port = _free_port()
        self._smtp = Controller(Handler(), hostname="127.0.0.1", port=self.smtp_port, ready_timeout=10)
        self._smtp.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.web.stop()
        self.hooks.stop()
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None

    def _web(self, method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        bare = path.split("?", 1)[0]
        if bare == "/html/":
            form = urllib.parse.parse_qs(body.decode() if method == "POST" else path.partition("?")[2])
            query = (form.get("q") or [""])[0]
            if not query:
                return 400, "text/plain", b"missing q"
            return 200, "text/html; charset=utf-8", self.search(self, query).encode()
        if bare in self.routes:
            ctype, page = self.routes[bare]
            text = page(self) if callable(page) else page
            return 200, ctype, text.encode()
        return 404, "text/plain", b"not found"

    # ---------------------------------------------------------------- addresses

    @property
    def base(self) -> str:
        return self.web.base

    @property
    def search_url(self) -> str:
        return self.web.base + "/html/"

    def hook_url(self, name: str) -> str:
        return f"{self.hooks.base}/hook/{name}"

    # ---------------------------------------------------------------- what happened

    def posts_since(self, mark: int) -> list[Hit]:
        return [h for h in list(self.hooks.hits) if h.seq > mark]

    def mails_since(self, mark: int) -> list[Mail]:
        return [m for m in list(self.mails) if m.seq > mark]

    def fetched_since(self, mark: int) -> list[str]:
        return [h.path for h in list(self.web.hits) if h.seq > mark]
