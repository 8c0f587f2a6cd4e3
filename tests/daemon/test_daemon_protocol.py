"""JSON-RPC 2.0 from raw bytes against the real agentd on its real socket.

Every test that sends something bad uses the ``alive`` fixture: afterwards
the daemon must still answer daemon.status.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from daemon_dbutil import count

pytestmark = pytest.mark.timeout(30)

MAX_LINE = 1 << 20


def req(method, params=None, id=1, **extra) -> bytes:
    msg = {"jsonrpc": "2.0", "method": method, **extra}
    if id is not None:
        msg["id"] = id
    if params is not None:
        msg["params"] = params
    return json.dumps(msg).encode() + b"\n"


def exchange(d, data: bytes):
    with d.client() as c:
        c.send_raw(data)
        return c.read_message()


def err(reply: dict) -> dict:
    assert "result" not in reply, reply
    assert reply["jsonrpc"] == "2.0"
    return reply["error"]


def closed_by_peer(c, timeout: float = 5.0) -> bool:
    """True once the daemon has closed the connection (EOF or reset)."""
    c.sock.settimeout(timeout)
    try:
        while True:
            chunk = c.sock.recv(65536)
            if not chunk:
                return True
            c.buf += chunk
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


# ---------------------------------------------------------------- spec errors


def test_malformed_json_is_parse_error_with_null_id(alive):
    for bad in (b'{"jsonrpc": "2.0", "id": 1, "method"\n', b"not json\n", b'{"a": 1,}\n', b"\xff\xfe{}\n"):
        reply = exchange(alive, bad)
        assert reply["id"] is None
        assert err(reply)["code"] == -32700, (bad, reply)


@pytest.mark.parametrize("line", [
    b'{"jsonrpc": "2.0", "id": 1, "method": "daemon.status", "x": "\xff"}',  # an ignored member's value
    b'{"jsonrpc": "2.0", "id": 1, "method": "daemon.status", "\xc3": 1}',  # an ignored member's name
    b'{"jsonrpc": "2.0", "id": 1, "method": "goal.list", "params": {"q": "\xed\xa0\x80"}}',  # ignored param
    b'{"jsonrpc": "2.0", "id": 1, "method": "goal.list", "params": {"status": "act\xffive"}}',  # a read param
    b'{"jsonrpc": "2.0", "id": 1, "method": "goal.list", "params": {"limit": 5}} \xf0\x9f',  # after the object
    b'[{"jsonrpc": "2.0", "id": 1, "method": "daemon.status", "pad": "\x80"}]',  # inside a batch
    b'{"jsonrpc": "2.0", "id": "\xfe", "method": "daemon.status"}',
])
def test_invalid_utf8_anywhere_is_a_parse_error(alive, line):
    """JSON text is UTF-8: a line with other bytes anywhere is not JSON, even
    where the daemon would have skipped them, and is never served."""
    reply = exchange(alive, line + b"\n")
    assert isinstance(reply, dict), reply  # one error, not a batch of replies
    assert reply["id"] is None
    assert err(reply)["code"] == -32700, reply


@pytest.mark.parametrize("line", [
    b"[" * 5000 + b"]" * 5000,
    b'{"jsonrpc": "2.0", "id": 1, "method": "goal.list", "params": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
    b'{"a": ' * 5000 + b"1" + b"}" * 5000,
])
def test_deeply_nested_json_is_an_error_not_a_crash(alive, line):
    reply = exchange(alive, line + b"\n")
    assert err(reply)["code"] in (-32700, -32600, -32602), reply


@pytest.mark.parametrize("line, rid", [
    (b'{"jsonrpc": "1.0", "id": 1, "method": "daemon.status"}', 1),
    (b'{"id": 2, "method": "daemon.status"}', 2),  # no jsonrpc member
    (b'{"jsonrpc": 2.0, "id": 3, "method": "daemon.status"}', 3),
    (b'{"jsonrpc": "2.0", "id": 4}', 4),  # no method
    (b'{"jsonrpc": "2.0", "id": 5, "method": 5}', 5),
    (b'{"jsonrpc": "2.0", "id": 6, "method": null}', 6),
    (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "daemon.status"}', None),
    (b'{"jsonrpc": "2.0", "id": [1], "method": "daemon.status"}', None),
    (b'{"jsonrpc": "2.0", "id": 1.5, "method": "daemon.status"}', None),
    (b'{"jsonrpc": "2.0", "id": true, "method": "daemon.status"}', None),
    (b'"just a string"', None),
    (b"42", None),
    (b"null", None),
])
def test_invalid_request(alive, line, rid):
    reply = exchange(alive, line + b"\n")
    assert err(reply)["code"] == -32600, reply
    assert reply["id"] == rid


def test_unknown_method(alive):
    reply = exchange(alive, req("goal.explode", {}, id="abc"))
    e = err(reply)
    assert reply["id"] == "abc"
    assert e["code"] == -32601
    assert e["data"]["method"] == "goal.explode"


@pytest.mark.parametrize("method, params, field", [
    ("goal.list", {"limit": "x"}, "$.params.limit"),
    ("goal.list", {"status": "sleeping"}, "$.params.status"),
    ("goal.get", {"id": 5}, "$.params.id"),
    ("goal.create", {"objective": "x", "params": {"step_budget": "many"}}, "$.params.params.step_budget"),
    ("goal.create", {"objective": "x", "schedules": [{"cron": 5}]}, "$.params.schedules[0].cron"),
    ("run.list", {"status": "nope"}, "$.params.status"),
])
def test_params_of_the_wrong_type_name_the_field(alive, method, params, field):
    reply = exchange(alive, req(method, params, id=9))
    e = err(reply)
    assert reply["id"] == 9
    assert e["code"] == -32602, e
    assert e["data"]["field"] == field, e
    assert field in e["message"]


@pytest.mark.parametrize("method, params", [
    ("goal.list", {"limt": 5}),  # a typo must not pass silently
    ("daemon.status", {"verbose": True}),
    ("goal.create", {"objective": "x", "params": {"budget": 3}}),
])
def test_unknown_param_field_is_invalid_params(alive, method, params):
    e = err(exchange(alive, req(method, params)))
    assert e["code"] == -32602, e
    assert "unknown field" in e["message"]
    assert e["data"]["field"].startswith("$.params")


@pytest.mark.parametrize("params", [[1, 2], "x", 3, None])
def test_params_not_an_object(alive, params):
    line = b'{"jsonrpc": "2.0", "id": 1, "method": "goal.list", "params": ' + json.dumps(params).encode() + b"}\n"
    e = err(exchange(alive, line))
    assert e["code"] == -32602, e


def test_missing_required_param(alive):
    e = err(exchange(alive, req("goal.get", {})))
    assert e["code"] == -32602
    assert "id" in e["message"]


def test_null_and_string_ids_are_echoed(alive):
    for rid in ("x-1", 0, -7, None):
        line = json.dumps({"jsonrpc": "2.0", "id": rid, "method": "daemon.status"}).encode() + b"\n"
        reply = exchange(alive, line)
        assert reply["id"] == rid and "result" in reply


# ---------------------------------------------------------------- notifications, batches, framing


def test_notification_gets_no_reply(alive):
    with alive.client() as c:
        c.send_raw(req("daemon.status", id=None))
        c.send_raw(req("no.such.method", id=None))  # unknown, still silent
        c.send_raw(req("goal.list", {"limit": "x"}, id=None))  # bad params, still silent
        c.send_raw(req("daemon.status", id=77))
        first = c.read_message()
        assert first["id"] == 77 and "result" in first


def test_notification_is_executed(alive):
    before = count(alive.db, "goals", "WHERE objective = ?", ("made by a notification",))
    with alive.client() as c:
        c.send_raw(req("goal.create", {"objective": "made by a notification"}, id=None))
        assert c.call("daemon.status")  # answered after the notification was handled
    assert count(alive.db, "goals", "WHERE objective = ?", ("made by a notification",)) == before + 1


def test_batch_mixed(alive):
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "daemon.status"},
        {"jsonrpc": "2.0", "id": 2, "method": "no.such"},
        {"jsonrpc": "2.0", "method": "daemon.status"},  # notification: no entry
        {"jsonrpc": "2.0", "id": 3, "method": "goal.list", "params": {"limit": "x"}},
        1,
        {"jsonrpc": "1.0", "id": 4, "method": "daemon.status"},
        {"jsonrpc": "2.0", "id": "five", "method": "goal.list", "params": {"limit": 1}},
        {"jsonrpc": "2.0", "id": 6, "method": "goal.get", "params": {"id": "000000000000"}},
    ]
    with alive.client() as c:
        c.send_raw(json.dumps(batch).encode() + b"\n")
        replies = c.read_message()
    assert isinstance(replies, list)
    assert [r["id"] for r in replies] == [1, 2, 3, None, 4, "five", 6]
    assert "result" in replies[0] and replies[0]["result"]["pid"] == alive.proc.pid
    assert replies[1]["error"]["code"] == -32601
    assert replies[2]["error"]["code"] == -32602 and replies[2]["error"]["data"]["field"] == "$.params.limit"
    assert replies[3]["error"]["code"] == -32600
    assert replies[4]["error"]["code"] == -32600
    assert "goals" in replies[5]["result"]
    assert replies[6]["error"]["code"] == -32001


def test_batch_of_notifications_gets_no_reply(alive):
    with alive.client() as c:
        c.send_raw(json.dumps([{"jsonrpc": "2.0", "method": "daemon.status"}] * 3).encode() + b"\n")
        c.send_raw(req("daemon.status", id=8))
        assert c.read_message()["id"] == 8


@pytest.mark.parametrize("line", [b"[]", b"[ ]"])
def test_empty_batch(alive, line):
    reply = exchange(alive, line + b"\n")
    assert isinstance(reply, dict)
    assert reply["id"] is None and err(reply)["code"] == -32600


def test_batch_of_invalid_entries(alive):
    replies = exchange(alive, b"[1, 2, 3]\n")
    assert [r["error"]["code"] for r in replies] == [-32600] * 3


def test_pipelined_and_split_requests(alive):
    with alive.client() as c:
        c.send_raw(req("daemon.status", id=1) + b"\n  \n" + req("goal.list", {"limit": 1}, id=2)
                   + req("daemon.status", id=3)[:10])
        assert c.read_message()["id"] == 1
        assert c.read_message()["id"] == 2
        c.send_raw(req("daemon.status", id=3)[10:].replace(b"\n", b"\r\n"))
        assert c.read_message()["id"] == 3


def test_application_errors_carry_kind(alive):
    e = err(exchange(alive, req("goal.get", {"id": "abcdef012345"})))
    assert e["code"] == -32001 and e["data"]["kind"] == "not_found" and e["data"]["id"] == "abcdef012345"
    e = err(exchange(alive, req("run.get", {"id": "zz"})))
    assert e["code"] == -32004 and e["data"]["kind"] == "validation_failed" and e["data"]["field"] == "id"
    e = err(exchange(alive, req("goal.create", {"objective": "x", "schedules": [{"cron": "61 * * * *"}]})))
    assert e["code"] == -32004 and e["data"]["kind"] == "validation_failed"
    assert e["data"]["field"].startswith("schedules[0]")
    assert -32099 <= e["code"] <= -32000


# ---------------------------------------------------------------- oversized and slow clients


def _over_long(extra: int) -> bytes:
    head = b'{"jsonrpc": "2.0", "id": 1, "method": "daemon.status", "pad": "'
    return head + b"x" * (MAX_LINE + extra - len(head)) + b'"}\n'


@pytest.mark.parametrize("extra, newline", [(100, True), (200_000, True), (50_000, False)])
def test_line_over_1_mib_is_refused_and_closed(alive, extra, newline):
    data = _over_long(extra)
    if not newline:
        data = data[:-1]
    assert len(data) > MAX_LINE + 1
    with alive.client() as c:
        try:
            c.send_raw(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may stop reading once it has seen too much
        reply = c.read_message()
        assert reply["id"] is None
        e = err(reply)
        assert e["code"] == -32600 and "longer than" in e["message"]
        assert closed_by_peer(c)
    # others are still served
    with alive.client() as other:
        assert other.call("daemon.status")["pid"] == alive.proc.pid


def test_line_just_under_the_limit_is_served(alive):
    head = b'{"jsonrpc": "2.0", "id": 1, "method": "daemon.status", "pad": "'
    line = head + b"x" * (MAX_LINE - len(head) - 3) + b'"}\n'
    assert len(line) == MAX_LINE
    with alive.client() as c:
        c.send_raw(line)
        assert c.read_message()["result"]["pid"] == alive.proc.pid


def test_silent_client_is_dropped_after_idle_timeout(alive):
    with alive.client() as c:
        t0 = time.monotonic()
        assert closed_by_peer(c, timeout=5)
        assert 0.8 <= time.monotonic() - t0 < 3.0
        assert c.buf == b""  # no reply, just closed


def test_half_a_line_is_dropped_after_partial_timeout(alive):
    """Half a line is dropped on the partial-line timeout (0.5 s), before a
    silent client connected at the same moment (idle timeout, 1 s)."""
    with alive.client() as silent, alive.client() as half:
        half.send_raw(b'{"jsonrpc": "2.0", "id": 1, "meth')
        t0 = time.monotonic()
        assert closed_by_peer(half, timeout=5)
        assert time.monotonic() - t0 >= 0.4
        assert half.buf == b""  # no reply, just closed
        assert not closed_by_peer(silent, timeout=0.05)  # still open: its timeout is longer
        assert closed_by_peer(silent, timeout=5)


def test_dripping_half_line_is_dropped(alive):
    """A client that trickles a line a byte at a time is dropped too: the
    partial-line timeout runs from the line's first byte."""
    with alive.client() as c:
        t0 = time.monotonic()
        dropped = False
        for b in req("daemon.status"):
            try:
                c.send_raw(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                dropped = True
                break
            if closed_by_peer(c, timeout=0.2):
                dropped = True
                break
            if time.monotonic() - t0 > 4:
                break
        assert dropped, "a dripping client kept its half line alive"
        assert time.monotonic() - t0 < 2.0


def test_idle_clients_do_not_starve_a_new_one(make_daemon):
    d = make_daemon(config="[daemon]\npartial_line_timeout_s = 60\nclient_idle_timeout_s = 60\n")
    idle = []
    try:
        for i in range(100):
            c = d.client()
            if i % 2:
                c.send_raw(b'{"jsonrpc": "2.0", "id": 1, ')  # half a line
            idle.append(c)
        t0 = time.monotonic()
        with d.client() as fresh:
            assert fresh.call("daemon.status")["pid"] == d.proc.pid
            assert fresh.call("goal.list", {"limit": 1}) is not None
        assert time.monotonic() - t0 < 2.0  # served now, not when the idle ones time out (60 s)
        assert all(not closed_by_peer(c, timeout=0.01) for c in idle[:3])
    finally:
        for c in idle:
            c.close()
    assert d.call("daemon.status")


def test_active_client_is_not_dropped_while_it_talks(alive):
    """The idle timeout (1 s) counts from the last request, not from connect."""
    with alive.client() as c:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.6:
            assert c.call("daemon.status")
            time.sleep(0.2)


def test_a_watcher_is_not_dropped_for_idleness(alive):
    """A connection holding a subscription may stay quiet past the idle timeout."""
    with alive.client() as c:
        sub = c.call("run.watch", {"all": True})
        assert sub["subscription"]
        assert not closed_by_peer(c, timeout=1.5)  # idle timeout is 1 s
        assert c.call("daemon.status")["pid"] == alive.proc.pid
        assert c.call("run.unwatch", {"subscription": sub["subscription"]}) == {"ok": True}
        t0 = time.monotonic()
        assert closed_by_peer(c, timeout=5)  # no subscription: the idle timeout applies again
        assert time.monotonic() - t0 < 3


def test_max_connections(make_daemon):
    d = make_daemon(config="[daemon]\nmax_connections = 4\n")
    held = [d.client() for _ in range(4)]
    try:
        for c in held:
            assert c.call("daemon.status")  # each is registered before the next is tried
        with d.client() as extra:
            reply = extra.read_message()
            e = err(reply)
            assert reply["id"] is None
            assert -32099 <= e["code"] <= -32000 and "too many connections" in e["message"]
            assert closed_by_peer(extra)
        held.pop().close()
        # the slot frees when the daemon notices the close; wait on that, not a sleep
        deadline = time.monotonic() + 5
        while True:
            with d.client() as again:
                again.send_raw(req("daemon.status", id=5))
                reply = again.read_message()
            if reply.get("id") == 5 or time.monotonic() > deadline:
                break
        assert reply["id"] == 5 and "result" in reply
    finally:
        for c in held:
            c.close()
    assert d.call("daemon.status")
