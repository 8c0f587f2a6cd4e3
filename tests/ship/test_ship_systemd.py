"""systemd integration against real sockets: sd_notify (READY, STATUS, WATCHDOG,
STOPPING), socket activation on fd 3, journald priority prefixes, and
`systemd-analyze verify` on the units."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from daemon_harness import RawClient, base_env
from ship_helpers import ROOT, Notify, ctl


def _spawn(tmp_path, env, log_name="agentd.log", argv=None, **kw):
    log = open(tmp_path / log_name, "ab")
    try:
        return subprocess.Popen(argv or [sys.executable, "-m", "agentd"], env=env, stdout=log, stderr=log,
                                cwd=str(tmp_path), **kw)
    finally:
        log.close()


def test_notify_ready_status_watchdog_stopping(tmp_path, fake_llm):
    env = base_env(tmp_path, fake_llm.base_url)
    notify = Notify(tmp_path / "notify.sock")
    env.update(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="2000000")
    env.pop("WATCHDOG_PID", None)
    proc = _spawn(tmp_path, env)
    try:
        ready = notify.wait_for("READY=1", 20, proc)
        # READY=1 means the socket accepts: connect at once, no retry.
        sock = os.path.join(env["XDG_RUNTIME_DIR"], "agentd", "agentd.sock")
        with RawClient(sock) as c:
            st = c.call("daemon.status")
        assert st["pid"] == proc.pid
        assert f"MAINPID={proc.pid}" in ready
        assert any(l.startswith("STATUS=") and "running" in l and "pending" in l for l in ready), ready
        # WATCHDOG=1 every half of WATCHDOG_USEC (1 s).
        pings = []
        deadline = time.monotonic() + 3.6
        while time.monotonic() < deadline and len(pings) < 4:
            msg = notify.recv(deadline - time.monotonic())
            if msg and "WATCHDOG=1" in msg:
                pings.append(time.monotonic())
        assert len(pings) >= 3, notify.messages
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert all(0.6 <= g <= 1.5 for g in gaps), gaps
        proc.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1", 10)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify.close()


def test_no_watchdog_for_another_pid(tmp_path, fake_llm):
    env = base_env(tmp_path, fake_llm.base_url)
    notify = Notify(tmp_path / "notify.sock")
    env.update(NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="200000", WATCHDOG_PID="1")
    proc = _spawn(tmp_path, env)
    try:
        notify.wait_for("READY=1", 20, proc)
        end = time.monotonic() + 0.8
        while time.monotonic() < end:
            msg = notify.recv(end - time.monotonic())
            assert not msg or "WATCHDOG=1" not in msg
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        notify.close()


WRAPPER = textwrap.dedent("""\
    import os, sys
    fd = int(os.environ.pop("TEST_LISTEN_FD"))
    if fd != 3:
        os.dup2(fd, 3)
        os.close(fd)
    os.set_inheritable(3, True)
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_FDNAMES"] = "agentd.socket"
    os.execv(sys.executable, [sys.executable, "-m", "agentd"])
""")


def test_socket_activation(tmp_path, fake_llm):
    env = base_env(tmp_path, fake_llm.base_url)
    # A directory others may traverse and a 0666 socket, as a careless unit
    # could make: then only the peer check keeps other users out.
    import tempfile
    from pathlib import Path

    sdir = Path(tempfile.mkdtemp(prefix="agentd-act-"))
    os.chmod(sdir, 0o755)
    path = sdir / "a.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o666)
    listener.listen(16)
    wrapper = tmp_path / "wrap.py"
    wrapper.write_text(WRAPPER)
    notify = Notify(tmp_path / "notify.sock")
    env.update(NOTIFY_SOCKET=str(notify.path), TEST_LISTEN_FD=str(listener.fileno()), AGENTD_SOCKET=str(path))
    proc = _spawn(tmp_path, env, argv=[sys.executable, str(wrapper)], pass_fds=(listener.fileno(),))
    listener.close()
    try:
        notify.wait_for("READY=1", 20, proc)
        with RawClient(path) as c:
            st = c.call("daemon.status")
        assert st["pid"] == proc.pid
        assert st["paths"]["socket"] == str(path)
        recs = [json.loads(l) for l in (tmp_path / "agentd.log").read_text().splitlines() if l.startswith("{")]
        assert any(r.get("msg") == "agentd ready" and r.get("activated") is True for r in recs), recs
        other_python = shutil.which("python3", path="/usr/bin:/bin")
        if os.getuid() == 0 and other_python:
            probe = textwrap.dedent(f"""\
                import socket, sys
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5)
                s.connect({str(path)!r})
                try:
                    s.sendall(b'{{"jsonrpc":"2.0","id":1,"method":"daemon.status"}}\\n')
                    data = s.recv(65536)
                except OSError:
                    data = b""
                sys.stdout.write(data.decode())
            """)
            r = subprocess.run([other_python, "-c", probe], user=65534, group=65534, capture_output=True,
                               text=True, timeout=20)
            assert r.returncode == 0, r.stderr
            assert '"result"' not in r.stdout, r.stdout
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert path.exists(), "an activated socket belongs to systemd: agentd must not remove it"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify.close()
        shutil.rmtree(sdir, ignore_errors=True)
    if os.getuid() != 0 or not other_python:
        pytest.skip("peer check across uids needs root to run a client as another user (the rest passed)")


def test_journal_stream_priority_prefixes(tmp_path, fake_llm):
    env = base_env(tmp_path, fake_llm.base_url, JOURNAL_STREAM="8:12345")
    notify = Notify(tmp_path / "notify.sock")
    env["NOTIFY_SOCKET"] = str(notify.path)
    proc = _spawn(tmp_path, env)
    try:
        notify.wait_for("READY=1", 20, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        notify.close()
    lines = [l for l in (tmp_path / "agentd.log").read_text().splitlines() if l.strip()]
    assert lines and all(l[0] == "<" and l[2] == ">" for l in lines), lines
    assert any(l.startswith("<6>{") and json.loads(l[3:])["msg"] == "agentd ready" for l in lines)


def test_units_pass_systemd_analyze_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package: systemd)")
    env = base_env(tmp_path, None)
    unit_dir = tmp_path / "units"
    r = ctl(env, "server", "install", "--socket-activation", "--unit-dir", str(unit_dir))
    assert r.returncode == 0, r.stderr
    v = subprocess.run([analyze, "--user", "--man=no", "verify", str(unit_dir / "agentd.service"),
                        str(unit_dir / "agentd.socket")], env=env, capture_output=True, text=True, timeout=60)
    if v.returncode != 0 and ("Failed to connect" in v.stderr or "No such file or directory" in v.stderr
                              and "agentd" not in v.stderr):
        pytest.skip(f"systemd-analyze cannot run here: {v.stderr.strip()}")
    assert v.returncode == 0 and "agentd" not in v.stderr, v.stderr


def test_shipped_units_say_what_the_issue_asks():
    service = (ROOT / "systemd" / "agentd.service").read_text()
    for line in ("Type=notify", "NotifyAccess=main", "Restart=on-failure", "RestartPreventExitStatus=2 3 4",
                 "WatchdogSec=60", "EnvironmentFile=-%h/.config/agentd/env", "NoNewPrivileges=yes",
                 "SystemCallArchitectures=native", "LockPersonality=yes", "StartLimitBurst=",
                 "StartLimitIntervalSec="):
        assert line in service
    # Mount-namespace options fail in user managers without unprivileged user namespaces.
    for bad in ("ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert bad not in service
    sock = (ROOT / "systemd" / "agentd.socket").read_text()
    for line in ("ListenStream=%t/agentd/agentd.sock", "SocketMode=0600", "DirectoryMode=0700"):
        assert line in sock
    stop = float(service.split("TimeoutStopSec=")[1].split()[0])
    from agentd.shared.config import DaemonConfig

    assert stop > DaemonConfig().shutdown_grace_s
