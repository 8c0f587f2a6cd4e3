"""The Unix socket: where it may live, who owns it, who may connect.

- The socket's directory is created 0700 and checked before use: owned by us,
  no group/other permission bits. Never ``/tmp`` (or ``/var/tmp``,
  ``/dev/shm``) itself, never an abstract socket.
- One daemon per socket: a lock file beside the socket (``<socket>.lock``,
  flock'd for the daemon's lifetime, holding its pid) decides. A second daemon
  fails with the owner's pid. A socket file left by a killed daemon (the lock
  is free, connecting is refused) is removed and replaced.
- The socket is created 0600 (umask held during bind, then chmod).
- Socket activation: with ``LISTEN_PID`` = our pid and ``LISTEN_FDS`` >= 1,
  fd 3 is the listening socket systemd made; we do not bind or unlink it.
- ``peer_uid`` reads SO_PEERCRED; the server refuses any other uid.

Raises ``ListenerError`` with a message that says what to do.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

FORBIDDEN_PARENTS = {Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")}
SD_LISTEN_FDS_START = 3


class ListenerError(Exception):
    pass


@dataclass
class Bound:
    sock: socket.socket
    path: Path
    inode: int | None  # None when inherited from systemd
    lock_fd: int
    activated: bool


def check_dir(directory: Path, *, create: bool = True) -> None:
    if create and not directory.exists():
        old = os.umask(0o077)
        try:
            directory.mkdir(parents=True, mode=0o700, exist_ok=True)
        finally:
            os.umask(old)
    try:
        st = directory.stat()
    except FileNotFoundError:
        raise ListenerError(f"socket directory {directory} does not exist") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ListenerError(f"{directory} is not a directory")
    if st.st_uid != os.getuid():
        raise ListenerError(
            f"socket directory {directory} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}); "
            f"choose another --socket path")
    if st.st_mode & 0o077:
        raise ListenerError(
            f"socket directory {directory} is accessible by other users (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run `chmod 700 {directory}` or choose another --socket path")


def check_path(path: Path) -> None:
    text = str(path)
    if not text or text.startswith(("\0", "@")):
        raise ListenerError("abstract sockets are not supported: give a filesystem path")
    if not path.is_absolute():
        raise ListenerError(f"socket path {path} must be absolute")
    if path.parent in FORBIDDEN_PARENTS:
        raise ListenerError(f"refusing to put the socket directly in {path.parent}: use $XDG_RUNTIME_DIR/agentd/")
    if len(os.fsencode(text)) > 107:
        raise ListenerError(f"socket path {path} is too long for a Unix socket (max 107 bytes)")


def _lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            os.close(fd)
            raise
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ListenerError(f"another agentd (pid {owner}) is already serving {path}; "
                            f"stop it first (`agentctl server stop`) or use another --socket") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _remove_stale(path: Path) -> None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ListenerError(f"{path} exists and is not a socket; move it away or choose another --socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        path.unlink(missing_ok=True)  # stale: its daemon is gone
        return
    except OSError:
        path.unlink(missing_ok=True)
        return
    else:
        pid, _, _ = peer_cred(probe)
        raise ListenerError(f"another process (pid {pid}) is listening on {path}; stop it or use another --socket")
    finally:
        probe.close()


def inherited() -> socket.socket | None:
    """The listening socket passed by systemd socket activation, if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    try:
        count = int(os.environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return None
    if count < 1:
        return None
    for var in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(var, None)  # not for our children
    sock = socket.socket(fileno=SD_LISTEN_FDS_START)
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        raise ListenerError("the socket passed by systemd (fd 3) is not a Unix stream socket")
    os.set_inheritable(SD_LISTEN_FDS_START, False)
    return sock


def bind(path: Path, *, backlog: int = 128) -> Bound:
    path = Path(path)
    activated = inherited()
    if activated is not None:
        name = activated.getsockname()
        real = Path(name) if isinstance(name, str) and name else path
        lock_fd = _lock(real) if real.parent.exists() else -1
        activated.setblocking(False)
        return Bound(activated, real, None, lock_fd, True)
    check_path(path)
    check_dir(path.parent)
    lock_fd = _lock(path)
    try:
        _remove_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        os.close(lock_fd)
        raise
    return Bound(sock, path, path.stat().st_ino, lock_fd, False)


def release(bound: Bound) -> None:
    """Close the socket; remove its file if it is still the one we made."""
    try:
        bound.sock.close()
    except OSError:
        pass
    if not bound.activated and bound.inode is not None:
        try:
            if bound.path.lstat().st_ino == bound.inode:
                bound.path.unlink()
        except FileNotFoundError:
            pass
    if bound.lock_fd >= 0:
        os.close(bound.lock_fd)


_UCRED = struct.Struct("3i")


def peer_cred(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end (SO_PEERCRED)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return _UCRED.unpack(raw)
