"""agentctl.client against a fake server in a thread (real socket, real framing)."""

from __future__ import annotations

import socket
import threading

import pytest

from agentctl import client as cl
from agentctl.client import Client, ConnectionLost, DaemonNotReachable, DaemonTimeout, ProtocolViolation, RpcError
from agentd.protocol import methods as m
from agentd.protocol.envelope import MAX_LINE


def test_max_line_matches_the_protocol():
    assert cl.MAX_LINE == MAX_LINE


def test_untyped_call_returns_plain_data_and_sends_params(fake):
    with Client(fake.path, timeout=5) as c:
        res = c.call("goal.list", {"limit": 1})
    assert res["total"] == 2 and len(res["goals"]) == 1 and res["goals"][0]["id"] == "g_0123456789"
    assert fake.requests == [("goal.list", {"limit": 1})]


def test_typed_call_decodes_the_result_struct(fake):
    with Client(fake.path, timeout=5) as c:
        goal = c.call("goal.get", m.GoalGet(id="g_a"), m.Goal)
        again = c.call("goal.get", {"id": "g_0"}, m.Goal)  # dict params, typed result
    assert isinstance(goal, m.Goal) and goal.id == "g_abcdef" and goal.schedules[0].cron == "0 9 * * *"
    assert again.id == "g_0123456789"
    assert fake.requests[0] == ("goal.get", {"id": "g_a"})


def test_error_response_becomes_rpc_error_with_candidates(fake):
    with Client(fake.path, timeout=5) as c:
        with pytest.raises(RpcError) as info:
            c.call("goal.get", {"id": "g_"})
        assert info.value.code == -32002
        assert info.value.kind == "ambiguous_id"
        assert info.value.candidates == ["g_0123456789", "g_abcdef"]
        with pytest.raises(RpcError) as info:
            c.call("goal.get", m.GoalGet(id="nope"), m.Goal)  # typed path too
        assert info.value.code == -32001
        # The connection stays usable after an error response.
        assert c.call("goal.list", {})["total"] == 2


def test_invalid_params_are_reported_by_the_server(fake):
    with Client(fake.path, timeout=5) as c, pytest.raises(RpcError) as info:
        c.call("goal.list", {"limt": 3})
    assert info.value.code == -32602


def test_notifications_are_kept_in_order_and_iterable(fake):
    fake.notify_before["goal.list"] = [
        {"jsonrpc": "2.0", "method": "run.event", "params": {"seq": 1}},
        {"jsonrpc": "2.0", "method": "run.event", "params": {"seq": 2}},
    ]
    with Client(fake.path, timeout=5) as c:
        c.call("goal.list", {})
        c.call("goal.list", {}, m.GoalListResult)
        seqs = [n.params["seq"] for n in c.take_notifications()]
        assert seqs == [1, 2, 1, 2]
        c.call("goal.list", {})
        it = c.notifications(timeout=0.3)
        assert [next(it).params["seq"], next(it).params["seq"]] == [1, 2]
        with pytest.raises(DaemonTimeout):
            next(it)  # nothing more arrives


def test_notifications_end_when_the_daemon_closes(short_dir):
    path = str(short_dir / "s.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        conn.sendall(b'{"jsonrpc":"2.0","method":"run.event","params":{"seq":7}}\n')
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    with Client(path, timeout=5) as c:
        c.connect()
        assert [n.params for n in c.notifications(timeout=5)] == [{"seq": 7}]
    t.join(5)
    srv.close()


def test_missing_socket_is_not_reachable(short_dir):
    path = str(short_dir / "nothing" / "agentd.sock")
    with pytest.raises(DaemonNotReachable) as info:
        Client(path).call("daemon.status")
    assert info.value.socket_path == path
    assert str(info.value) == (f"agentd is not running (no socket at {path}). Start it with "
                               "`agentctl server start` or `systemctl --user start agentd`.")


def test_stale_socket_is_not_reachable(short_dir):
    path = str(short_dir / "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # the file stays, nobody listens: ECONNREFUSED
    with pytest.raises(DaemonNotReachable) as info:
        Client(path).call("daemon.status")
    assert info.value.reason == "refused"
    assert "agentd is not running" in str(info.value)


def _one_shot_server(short_dir, reply: bytes | None):
    path = str(short_dir / "one.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    done = threading.Event()

    def serve():
        conn, _ = srv.accept()
        conn.recv(65536)
        if reply is not None:
            conn.sendall(reply)
            conn.close()
        else:
            done.wait(10)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return path, srv, done


def test_no_answer_is_a_timeout(short_dir):
    path, srv, done = _one_shot_server(short_dir, None)
    try:
        with pytest.raises(DaemonTimeout):
            Client(path, timeout=0.2).call("daemon.status")
    finally:
        done.set()
        srv.close()


def test_closed_before_answer_is_connection_lost(short_dir):
    path, srv, _ = _one_shot_server(short_dir, b"")
    with pytest.raises(ConnectionLost):
        Client(path, timeout=5).call("daemon.status")
    srv.close()


def test_garbage_is_a_protocol_violation(short_dir):
    path, srv, _ = _one_shot_server(short_dir, b"this is not json\n")
    with pytest.raises(ProtocolViolation):
        Client(path, timeout=5).call("daemon.status")
    srv.close()


def test_overlong_line_is_a_protocol_violation(short_dir):
    path, srv, _ = _one_shot_server(short_dir, b"x" * (MAX_LINE + 10))
    with pytest.raises(ProtocolViolation):
        Client(path, timeout=5).call("daemon.status")
    srv.close()


def test_typed_result_of_the_wrong_shape_is_a_protocol_violation(fake):
    fake.raw_replies["goal.get"] = b'{"jsonrpc":"2.0","id":1,"result":{"id":3}}\n'
    with Client(fake.path, timeout=5) as c, pytest.raises(ProtocolViolation):
        c.call("goal.get", {"id": "x"}, m.Goal)
