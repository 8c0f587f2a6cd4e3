"""read_file / write_file inside the goal's artifacts directory.

Paths are relative, made of plain components (no ``..``, no absolute paths, no
NUL, no backslashes). They are walked one component at a time with
``dir_fd``-relative ``open(O_NOFOLLOW)``, so a symlink anywhere in the path
(middle or end) is refused rather than followed, and a rename race cannot
move the walk outside the artifacts directory. Writes are atomic (temporary
file in the same directory, fsync, ``os.replace``) and bounded by the goal's
quota (``file_quota_bytes``, the sum of every file in the directory).

What a local process may plant or swap in is refused, never waited on or
read through: every open is ``O_NONBLOCK | O_NOFOLLOW`` and checked with
``fstat`` (a FIFO, socket or device is not a regular file), and a regular file
with more than one hard link may be a link to a file outside the sandbox.
The quota check and the write are one step under an exclusive ``flock`` on
the artifacts directory, so parallel writes (several tool calls of one model
turn, several runs of one goal) cannot together overrun the quota.
Each path component is at most ``NAME_MAX`` (255) bytes, checked up front.

``write_artifact`` and ``artifacts_path`` are the same checks for the runtime
(summaries, large observations). All failures raise ToolRefused / ToolError.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import stat
from pathlib import Path
from typing import Annotated, Any, ClassVar

import msgspec
import trio

from ..protocol.errors import ToolError, ToolRefused
from .base import ToolContext
from .facts import data_facts, with_facts

MAX_PATH = 512
NAME_MAX = 255  # bytes in one path component (Linux file systems)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

RelPath = Annotated[str, msgspec.Meta(
    min_length=1, max_length=MAX_PATH,
    description="Path relative to the goal's own folder, e.g. 'report.md' or 'reports/2024-06-07.md'. No '..', no absolute paths.",
)]


class NoSuchFile(ToolError):
    """read_file of a path that does not exist."""


def list_files(root: Path, limit: int = 20) -> list[str]:
    """Up to ``limit`` regular files under ``root`` (relative paths, top level
    first, then by name; links not followed; agentd's own ``runs/`` folder
    left out). Never raises."""
    out: list[str] = []
    level = [root]
    try:
        while level and len(out) < limit:
            nxt = []
            for d in level:
                for entry in sorted(os.scandir(d), key=lambda e: e.name):
                    if entry.is_dir(follow_symlinks=False):
                        if not (d == root and entry.name == "runs"):
                            nxt.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        out.append(Path(entry.path).relative_to(root).as_posix())
            level = nxt
    except OSError:
        pass
    return out[:limit]


def split_path(rel: str) -> list[str]:
    """Check ``rel`` and return its components. Raises ToolRefused."""
    if not isinstance(rel, str) or not rel.strip():
        raise ToolRefused("the path is empty")
    if "\x00" in rel:
        raise ToolRefused("the path contains a NUL character")
    if "\\" in rel:
        raise ToolRefused("use '/' to separate directories; backslashes are not allowed in paths")
    if rel.startswith("/") or rel.startswith("~"):
        raise ToolRefused(f"{rel!r} is absolute; give a path relative to the artifacts directory")
    if len(rel) > MAX_PATH:
        raise ToolRefused(f"the path is longer than {MAX_PATH} characters")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ToolRefused(f"{rel!r} contains '..'; paths must stay inside the artifacts directory")
    if any(any(ord(c) < 32 for c in p) for p in parts):
        raise ToolRefused("the path contains control characters")
    for p in parts:
        if len(p.encode("utf-8", "surrogatepass")) > NAME_MAX:
            raise ToolRefused(f"the name {p[:40]!r}… is longer than {NAME_MAX} bytes (in UTF-8); "
                              "use a shorter file or folder name")
    if not parts:
        raise ToolRefused(f"{rel!r} names the artifacts directory itself, not a file")
    return parts


def _open_dir(fd: int, name: str, rel: str, create: bool) -> int:
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        if not create:
            raise NoSuchFile(f"{rel}: no such file or directory") from None
        try:
            os.mkdir(name, 0o700, dir_fd=fd)
        except FileExistsError:
            pass
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        raise ToolRefused(f"{rel}: '{name}' is a symbolic link; links are not followed")
    if not stat.S_ISDIR(st.st_mode):
        raise ToolRefused(f"{rel}: '{name}' is a file, not a directory")
    try:
        return os.open(name, DIR_FLAGS, dir_fd=fd)
    except OSError as exc:  # raced into a link or a file
        raise ToolRefused(f"{rel}: cannot open directory '{name}' safely ({exc.strerror})") from exc


def _open_parent(root: Path, parts: list[str], rel: str, create: bool) -> int:
    fd = os.open(root, DIR_FLAGS)
    try:
        for name in parts[:-1]:
            child = _open_dir(fd, name, rel, create)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _check_leaf(st: os.stat_result | None, rel: str) -> None:
    if st is None:
        return
    if stat.S_ISLNK(st.st_mode):
        raise ToolRefused(f"{rel} is a symbolic link; links are not followed")
    if stat.S_ISDIR(st.st_mode):
        raise ToolRefused(f"{rel} is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise ToolRefused(f"{rel} is not a regular file (a FIFO, socket or device); only regular files are used")
    if st.st_nlink > 1:
        raise ToolRefused(f"{rel} has {st.st_nlink} hard links, so it may be a file outside the artifacts "
                          "directory; it is not read or written")


def dir_usage(root: Path) -> int:
    """Bytes used by regular files under ``root`` (links are not followed)."""
    total, stack = 0, [str(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


def read_text(root: Path, rel: str) -> str:
    """Read a UTF-8 file under ``root`` safely. Raises ToolRefused / ToolError."""
    parts = split_path(rel)
    try:
        dfd = _open_parent(root, parts, rel, create=False)
        try:
            data = _read_leaf(dfd, parts[-1], rel)
        finally:
            os.close(dfd)
    except OSError as exc:
        raise ToolError(f"cannot read {rel}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ToolError(f"{rel} is not UTF-8 text; only text files can be read") from exc


def _read_leaf(dfd: int, name: str, rel: str) -> bytes:
    """The bytes of regular file ``name`` in ``dfd``. The open never blocks
    (O_NONBLOCK: a FIFO swapped in after the lstat has no writer to wait for)
    and what was opened is checked with fstat before anything is read."""
    _check_leaf(_lstat(dfd, name), rel)
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dfd)
    except FileNotFoundError:
        raise NoSuchFile(f"{rel}: no such file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ToolRefused(f"{rel} is a symbolic link; links are not followed") from exc
        raise ToolError(f"{rel}: cannot open ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as f:
        _check_leaf(os.fstat(f.fileno()), rel)
        return f.read()


def goal_artifacts(root: Path, goal_id: str) -> Path:
    """The goal's artifacts directory under ``root``, created (0700) if missing."""
    path = root / goal_id
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def write_artifact(root: Path, rel: str, text: str, *, append: bool = False, quota: int | None = None) -> int:
    """Atomically write ``text`` (UTF-8) to ``rel`` under ``root``, creating
    parent directories. Returns the file's new size in bytes.

    The quota check and the write hold an exclusive flock on ``root``, so
    concurrent writers are serialised. Raises ToolRefused for unsafe paths or
    when the quota would be exceeded; ToolError when the file system refuses.
    """
    parts = split_path(rel)
    data = text.encode("utf-8")
    root.mkdir(parents=True, exist_ok=True)
    lock = os.open(root, DIR_FLAGS)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _write_locked(root, parts, rel, data, append, quota)
    except OSError as exc:
        raise ToolError(f"cannot write {rel}: {exc.strerror or exc}") from exc
    finally:
        os.close(lock)  # releases the flock


def _write_locked(root: Path, parts: list[str], rel: str, data: bytes, append: bool, quota: int | None) -> int:
    dfd = _open_parent(root, parts, rel, create=True)
    try:
        name = parts[-1]
        st = _lstat(dfd, name)
        _check_leaf(st, rel)
        old = st.st_size if st else 0
        if append and st is not None:
            data = _read_leaf(dfd, name, rel) + data
        if quota is not None:
            after = dir_usage(root) - old + len(data)
            if after > quota:
                raise ToolRefused(
                    f"writing {rel} would bring this goal's files to {after} bytes, over the quota of "
                    f"{quota} bytes; delete or shorten files, or raise [tools] file_quota_bytes"
                )
        # Not derived from the name: a long (or multi-byte) name must not make the temporary one too long.
        tmp = f".write-{secrets.token_hex(8)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
            raise
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return len(data)


def artifacts_path(ctx_or_root: ToolContext | Path, rel: str) -> Path:
    """The checked absolute path of ``rel`` under the artifacts directory
    (parent directories created, no symlinks on the way)."""
    root = ctx_or_root if isinstance(ctx_or_root, Path) else ctx_or_root.artifacts
    parts = split_path(rel)
    root.mkdir(parents=True, exist_ok=True)
    os.close(_open_parent(root, parts, rel, create=True))
    with_leaf = root.joinpath(*parts)
    _check_leaf(_lstat_path(with_leaf), rel)
    return with_leaf


def _lstat_path(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None


class ReadFileParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: RelPath
    offset: Annotated[int, msgspec.Meta(ge=0, description="Character offset to start reading at.")] = 0
    max_chars: Annotated[int | None, msgspec.Meta(description="Most characters to return (default: the observation limit).")] = None


class WriteFileParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: RelPath
    content: Annotated[str, msgspec.Meta(description="UTF-8 text to write.")]
    append: Annotated[bool, msgspec.Meta(description="Add to the end of the file instead of replacing it.")] = False


class ReadFile:
    name: ClassVar[str] = "read_file"
    description: ClassVar[str] = "Read a text file from this goal's own folder (files saved by earlier steps or runs)."
    Params: ClassVar[type[msgspec.Struct]] = ReadFileParams
    timeout_s: ClassVar[float] = 15.0
    side_effect: ClassVar[bool] = False
    read_only: ClassVar[bool] = True
    idempotent: ClassVar[bool] = True
    external: ClassVar[bool] = False
    default: ClassVar[bool] = True

    async def run(self, params: ReadFileParams, ctx: ToolContext) -> str:
        # Abandoned on cancel: a file-system call that hangs must not hold up the run's cancel or shutdown.
        try:
            text = await trio.to_thread.run_sync(read_text, ctx.artifacts, params.path, abandon_on_cancel=True)
        except NoSuchFile as exc:  # say what is there: models invent folders ("files/notes.txt")
            names = await trio.to_thread.run_sync(list_files, ctx.artifacts, abandon_on_cancel=True)
            there = ("the files in this goal's folder are: " + ", ".join(names)) if names else \
                "this goal's folder has no files yet"
            raise NoSuchFile(f"{exc.message}; {there}") from None
        limit = ctx.tools.observation_limit
        size = max(1, min(params.max_chars or limit, limit))
        part = text[params.offset : params.offset + size]
        end = params.offset + len(part)
        if end < len(text):
            part += f"\n[… {len(text) - end} more characters; read on with offset={end}]"
        if not part:
            return f"{params.path} is empty (or offset {params.offset} is past its end, {len(text)} characters)."
        # The facts of the whole file, with its first part only (later parts are read to see more, not to count again).
        return with_facts(part, data_facts(text) if params.offset == 0 else None, limit)


class WriteFile:
    name: ClassVar[str] = "write_file"
    description: ClassVar[str] = "Write (or append to) a UTF-8 text file in this goal's own folder; parent folders are created."
    Params: ClassVar[type[msgspec.Struct]] = WriteFileParams
    timeout_s: ClassVar[float] = 15.0
    side_effect: ClassVar[bool] = False
    working_memory: ClassVar[tuple[str, str] | None] = ("files_written", "path")
    read_only: ClassVar[bool] = False
    idempotent: ClassVar[bool] = True
    external: ClassVar[bool] = False
    default: ClassVar[bool] = True

    @staticmethod
    def output(args: dict[str, Any]) -> tuple[str, str] | None:
        return ("file", str(args["path"])) if "path" in args else None

    async def run(self, params: WriteFileParams, ctx: ToolContext) -> str:
        size = await trio.to_thread.run_sync(
            lambda: write_artifact(ctx.artifacts, params.path, params.content,
                                   append=params.append, quota=ctx.tools.file_quota_bytes),
            abandon_on_cancel=True,  # as read_file: never hold up a cancel
        )
        verb = "Appended to" if params.append else "Wrote"
        return f"{verb} {params.path} ({size} bytes)."
