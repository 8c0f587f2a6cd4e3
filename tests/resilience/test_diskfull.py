"""Disk full and read-only store: the daemon reports it, refuses new runs with a
clear error, keeps serving reads, and the store is not corrupted. The store
lives on a real, small tmpfs (needs root to mount; skipped with the reason
otherwise)."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess

import pytest

from daemon_harness import RpcError


@contextlib.contextmanager
def tmpfs(path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(path) -> None:
    with open(path, "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        try:
            while True:  # the last few bytes
                f.write(b"\0" * 512)
                f.flush()
        except OSError:
            pass


def integrity(db) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def test_disk_full_is_reported_refused_and_recovered(make_daemon, tmp_path):
    with tmpfs(tmp_path / "small", "3m") as small:
        db = small / "agentd.db"
        d = make_daemon(env={"AGENTD_DB": str(db)})
        g = d.call("goal.create", {"objective": "keep me"})
        fill(small / "filler")
        big = "x" * 15000
        err = None
        for _ in range(300):
            try:
                d.call("goal.create", {"objective": big})
            except RpcError as exc:
                err = exc
                break
        assert err is not None, "the disk never filled up"
        assert err.code == -32021 and err.data["kind"] == "store_unavailable", (err.code, err.message)
        st = d.call("daemon.status")
        assert st["store_writable"] is False and st["ready"] is False
        assert any("disk" in r for r in st["reasons"]), st["reasons"]
        with pytest.raises(RpcError) as run_err:
            d.call("goal.run", {"id": g["id"]})
        assert run_err.value.code == -32021
        assert "free disk space" in run_err.value.message
        # reads still work
        assert any(x["id"] == g["id"] for x in d.call("goal.list")["goals"])
        p = d.ctl("server", "status")
        assert p.returncode == 4, (p.returncode, p.stderr)  # answered, not ready
        # free the space: writes work again and the daemon says so
        (small / "filler").unlink()
        d.call("goal.create", {"objective": "after the disk was freed"})
        assert d.call("daemon.status")["store_writable"] is True
        assert d.stop() == 0
        assert integrity(db) == "ok"


def test_read_only_store_is_served_read_only_and_refuses_writes(make_daemon, tmp_path):
    with tmpfs(tmp_path / "ro", "8m") as ro:
        db = ro / "agentd.db"
        base = tmp_path / "d-ro"
        base.mkdir()
        d = make_daemon(env={"AGENTD_DB": str(db)}, base=base)
        g = d.call("goal.create", {"objective": "made before the disk went read-only"})
        assert d.stop() == 0
        r = subprocess.run(["mount", "-o", "remount,ro", str(ro)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot remount read-only: {r.stderr.strip()}")
        try:
            d.start()
            st = d.call("daemon.status")
            assert st["store_writable"] is False and st["ready"] is False
            assert any("read-only" in x for x in st["reasons"]), st["reasons"]
            assert d.call("goal.get", {"id": g["id"]})["objective"].startswith("made before")
            with pytest.raises(RpcError) as err:
                d.call("goal.create", {"objective": "while read-only"})
            assert err.value.code == -32021 and "read-only" in err.value.message
            with pytest.raises(RpcError) as run_err:
                d.call("goal.run", {"id": g["id"]})
            assert run_err.value.code == -32021
            assert d.stop() == 0
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(ro)], capture_output=True)
        assert integrity(db) == "ok"
