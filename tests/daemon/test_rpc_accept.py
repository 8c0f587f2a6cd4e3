"""The accept loop of the RPC server (agentd/rpc/server.py) retries only the
errors that mean "out of resources for now"; a listening socket that is
broken raises instead of being retried for ever."""

from __future__ import annotations

import errno
import socket

import pytest
import trio

from agentd.rpc.dispatch import Dispatcher
from agentd.rpc.server import RpcServer

pytestmark = pytest.mark.timeout(30)


def test_a_broken_listening_socket_raises_instead_of_spinning():
    # A listening TCP socket on loopback that is shut down answers every
    # accept() with EINVAL at once: a loop that retries it never ends.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    server = RpcServer(Dispatcher({}))

    async def main():
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                await nursery.start(server.serve, sock)
                sock.shutdown(socket.SHUT_RDWR)

    try:
        with pytest.raises(BaseException) as caught:
            trio.run(main)
    finally:
        sock.close()
    exc = caught.value
    while isinstance(exc, BaseExceptionGroup):  # nurseries wrap what they raise
        assert len(exc.exceptions) == 1, exc
        exc = exc.exceptions[0]
    assert isinstance(exc, OSError) and exc.errno == errno.EINVAL, repr(exc)
