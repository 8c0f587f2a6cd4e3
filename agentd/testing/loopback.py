"""A ``ThreadingHTTPServer`` served on a daemon thread: the plumbing shared by
``fakellm.FakeLLM``, the end-to-end tests' servers (``tests/e2e_servers.py``)
and the tool tests' ``serve`` fixture.

The socket listens once the server is constructed, so it is ready when
``serve_in_thread`` returns; nothing needs to wait for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Run ``server.serve_forever`` on a daemon thread (started)."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


def stop(server: ThreadingHTTPServer) -> None:
    """Stop serving and close the listening socket."""
    server.shutdown()
    server.server_close()


Respond = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


def serve_responder(respond: Respond) -> LoopbackServer:
    """Serve ``respond(method, path, headers, body) -> (status, headers, body)``
    on an ephemeral 127.0.0.1 port (HTTP/1.1 keep-alive, no request log) and
    return the running server. Header names reach ``respond`` lower-cased;
    Content-Length is added to the answer; a HEAD answer carries no body; a
    client that hung up before the answer was written is ignored."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _do(self) -> None:
            n = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(n) if n else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out_headers, out = respond(self.command, self.path, headers, body)
            self.send_response(status)
            for k, v in {"Content-Length": str(len(out)), **out_headers}.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                try:
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        do_GET = do_POST = do_HEAD = do_PUT = _do

    server = LoopbackServer(("127.0.0.1", 0), Handler)
    serve_in_thread(server)
    return server
