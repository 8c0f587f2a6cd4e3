"""A ``ThreadingHTTPServer`` served on a daemon thread: the plumbing shared by
``fakellm.FakeLLM``, the end-to-end tests' servers (``tests/e2e_servers.py``)
and the tool tests' ``serve`` fixture.

The socket listens once the server is constructed, so it is ready when
``serve_in_thread`` returns; nothing needs to wait for it.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer


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
