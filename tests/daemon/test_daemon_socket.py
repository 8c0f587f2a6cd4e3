"""Socket security and life: one daemon per socket, stale sockets, modes,
unsafe directories, SO_PEERCRED, clean shutdown on signals."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import tempfile
import time
from pathlib import Path

import pytest

from agentd.testing.fakellm import stall
from daemon_harness import Daemon
from watch_support import read_until

pytestmark = pytest.mark.timeout(60)

EXIT_SOCKET = 4


def other_daemon(tmp_path: Path, env: dict, name: str = "second", args=None) -> Daemon:
    """Another agentd on the same XDG dirs (so the same socket), with its own log."""
    base = tmp_path / name
    base.mkdir()
    return Daemon(base, dict(env), args)


def wait_for_log(d: Daemon, needle: str, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in d.log_records() if needle in r.get("msg", "")]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_socket_and_dir_modes(shared_daemon):
    daemon = shared_daemon
    st = daemon.socket.lstat()
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.getuid()
    dst = daemon.socket.parent.stat()
    assert stat.S_IMODE(dst.st_mode) == 0o700 and dst.st_uid == os.getuid()
    assert daemon.socket.parent == Path(daemon.env["XDG_RUNTIME_DIR"]) / "agentd"


def test_second_daemon_refuses_to_start(shared_daemon, tmp_path):
    daemon = shared_daemon
    second = other_daemon(tmp_path, daemon.env, args=["--db", str(tmp_path / "second-db" / "x.db")])
    second.start(expect_ready=False)
    assert second.wait(20) == EXIT_SOCKET
    text = second.log()
    assert f"pid {daemon.proc.pid}" in text and "already serving" in text and str(daemon.socket) in text
    # the first one is untouched
    assert daemon.socket.exists()
    assert daemon.call("daemon.status")["pid"] == daemon.proc.pid
    assert "agentd ready" not in text
    assert not (tmp_path / "second-db").exists()  # it never opened (or migrated) a store


def test_a_live_foreign_listener_is_not_replaced(make_daemon):
    d = make_daemon(start=False)
    d.socket.parent.mkdir(mode=0o700)
    squatter = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    squatter.bind(str(d.socket))
    squatter.listen(1)
    try:
        d.start(expect_ready=False)
        assert d.wait(20) == EXIT_SOCKET
        assert f"pid {os.getpid()}" in d.log() and "listening" in d.log()
        assert d.socket.exists()  # not ours to remove
    finally:
        squatter.close()


def test_a_file_in_the_way_is_not_removed(make_daemon):
    d = make_daemon(start=False)
    d.socket.parent.mkdir(mode=0o700)
    d.socket.write_text("precious")
    d.start(expect_ready=False)
    assert d.wait(20) == EXIT_SOCKET
    assert "not a socket" in d.log()
    assert d.socket.read_text() == "precious"


@pytest.mark.parametrize("mode", [0o750, 0o701])
def test_runtime_dir_with_group_or_other_bits_is_refused(make_daemon, mode):
    d = make_daemon(start=False)
    d.socket.parent.mkdir()
    os.chmod(d.socket.parent, mode)
    d.start(expect_ready=False)
    assert d.wait(20) == EXIT_SOCKET
    text = d.log()
    assert "accessible by other users" in text and f"{mode:04o}" in text and "chmod 700" in text
    assert not d.socket.exists()


def test_socket_directly_in_tmp_is_refused(make_daemon):
    d = make_daemon(start=False, args=["--socket", f"/tmp/agentd-test-{os.getpid()}.sock"])
    d.start(expect_ready=False)
    assert d.wait(20) == EXIT_SOCKET
    assert "refusing to put the socket directly in /tmp" in d.log()
    assert not Path(f"/tmp/agentd-test-{os.getpid()}.sock").exists()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to run a client as another uid")
def test_connection_from_another_uid_is_refused_and_logged(make_daemon):
    base = Path(tempfile.mkdtemp(prefix="agentd-uid-", dir="/tmp"))
    try:
        d = make_daemon(base=base)
        # Let uid 65534 reach the socket at all, so that the daemon's own
        # SO_PEERCRED check is what refuses it (not the file modes).
        for p in (base, base / "run", d.socket.parent):
            os.chmod(p, 0o711)
        os.chmod(d.socket, 0o666)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: become nobody, connect, ask
            code = 1
            try:
                os.close(r)
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5)
                s.connect(str(d.socket))
                try:
                    s.sendall(b'{"jsonrpc": "2.0", "id": 1, "method": "daemon.status"}\n')
                except OSError:
                    pass
                data = b""
                try:
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    os.write(w, b"closed:" + data)
                except (ConnectionResetError, BrokenPipeError):
                    os.write(w, b"closed:" + data)
                except socket.timeout:
                    os.write(w, b"timeout:" + data)
                code = 0
            except BaseException as exc:  # noqa: BLE001 - report anything to the parent
                os.write(w, f"error:{exc!r}".encode())
            finally:
                os._exit(code)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            result = f.read()
        _, status = os.waitpid(pid, 0)
        assert result == b"closed:", result  # closed, and not one byte of an answer
        records = wait_for_log(d, "refused connection from another user")
        assert records and records[0]["peer_uid"] == 65534 and records[0]["level"] == "warning"
        assert d.call("daemon.status")["pid"] == d.proc.pid  # we are still served
        assert d.stop() == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_kill_restart_and_signals(daemon):
    """SIGKILL leaves a stale socket that the next start replaces; SIGTERM and
    SIGINT shut down cleanly (exit 0, socket removed), even with a client
    connected."""
    old_pid = daemon.proc.pid
    daemon.kill()
    assert daemon.socket.exists()  # left behind
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with pytest.raises(ConnectionRefusedError):
        s.connect(str(daemon.socket))
    s.close()
    daemon.start()
    assert daemon.proc.pid != old_pid and daemon.call("daemon.status")["pid"] == daemon.proc.pid
    assert stat.S_IMODE(daemon.socket.lstat().st_mode) == 0o600
    for sig in (signal.SIGTERM, signal.SIGINT):
        with daemon.client() as c:  # an open connection does not hold the shutdown
            assert c.call("daemon.status")
            daemon.proc.send_signal(sig)
            assert daemon.wait(15) == 0
        assert not daemon.socket.exists()
        msgs = [r.get("msg") for r in daemon.log_records()]
        assert msgs.count("agentd stopping") == msgs.count("agentd stopped")
        assert msgs[-1] == "agentd stopped"
        if sig == signal.SIGTERM:
            daemon.start()


def test_stop_with_a_run_in_flight_respects_the_deadline(make_daemon, fake_llm):
    fake_llm.add(stall(30))
    d = make_daemon()
    g = d.call("goal.create", {"objective": "long"})
    rid = d.call("goal.run", {"id": g["id"]})["id"]
    with d.client() as c:  # stop only once the run is under way, not while it is still pending
        c.call("run.watch", {"run_id": rid})
        read_until(c, lambda m: m.get("method") == "run.event" and m["params"]["event"]["type"] == "run_started")
    t0 = time.monotonic()
    assert d.call("daemon.stop", {"deadline_s": 0.5}) == {"ok": True}
    assert d.wait(15) == 0
    assert time.monotonic() - t0 < 8
    assert not d.socket.exists()


def test_harness_env_is_private(shared_daemon):
    """The daemon runs on the test's own XDG dirs, never the user's."""
    daemon = shared_daemon
    st = daemon.call("daemon.status")
    for key in ("socket", "db", "data_dir", "state_dir"):
        assert st["paths"][key].startswith(str(daemon.base)), st["paths"]
