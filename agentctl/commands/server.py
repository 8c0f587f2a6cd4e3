"""``agentctl server …``: start (without systemd), stop, status, reload."""

from __future__ import annotations

import os
import sys
import time

from ..client import Client, ClientError, ConnectionLost, DaemonNotReachable
from ..context import EXIT_NOT_READY, Context, Failure
from ..render import key_values, span

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

POLL_S = 0.1
LOG_TAIL_LINES = 20


def probe(socket_path: str, timeout: float = 2.0) -> dict | None:
    """daemon.status from whatever answers at ``socket_path``, or None."""
    try:
        with Client(socket_path, timeout=timeout, connect_timeout=timeout) as c:
            return c.call("daemon.status")
    except ClientError:
        return None


# ---------------------------------------------------------------- start


def _log_file() -> str:
    from agentd.paths import state_dir

    d = state_dir()
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(d / "agentd.log")


def _tail(path: str, offset: int, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def daemon_command(ctx: Context) -> list[str]:
    cmd = [sys.executable, "-m", "agentd", "--socket", ctx.socket_path]
    if getattr(ctx.args, "db", None):
        cmd += ["--db", os.path.abspath(ctx.args.db)]
    return cmd


def cmd_start(ctx: Context) -> int | None:
    """Launch ``python -m agentd`` detached (its own session, output to the
    log file in the state dir) and wait until it answers daemon.status.

    Fails (exit 1) with the log's tail if agentd exits first, or if it does
    not answer within ``--wait`` seconds (it is then left running)."""
    import subprocess

    sock = ctx.socket_path
    st = probe(sock)
    if st is not None:
        if ctx.json:
            ctx.emit_json(st)
        ctx.info(f"agentd is already running (pid {st.get('pid')}, socket {sock}).")
        return None
    log_path = _log_file()
    env = dict(os.environ)
    if getattr(ctx.args, "config", None):
        env["AGENTD_CONFIG"] = os.path.abspath(ctx.args.config)
    with open(log_path, "ab") as log:
        offset = log.tell()
        proc = subprocess.Popen(daemon_command(ctx), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env)
    deadline = time.monotonic() + ctx.args.wait
    while True:
        code = proc.poll()
        if code is not None:
            tail = _tail(log_path, offset)
            if tail:
                sys.stderr.write(tail + "\n")
            raise Failure(f"agentd exited with status {code} before it answered (log: {log_path}).")
        st = probe(sock, timeout=1.0)
        if st is not None:
            break
        if time.monotonic() >= deadline:
            raise Failure(f"agentd (pid {proc.pid}) did not answer at {sock} within {ctx.args.wait:g} s; "
                          f"it is still starting or stuck (log: {log_path}).")
        time.sleep(POLL_S)
    if ctx.json:
        ctx.emit_json(st)
    ctx.info(f"agentd started (pid {st.get('pid', proc.pid)}, socket {sock}, log {log_path}).")
    if not st.get("ready", True) or st.get("state", "ok") != "ok":
        ctx.warn(f"agentd is {st.get('state')}: " + "; ".join(st.get("reasons") or ["not ready yet"]))
    return None


# ---------------------------------------------------------------- stop


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2: stat.rindex(b")") + 3] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cmd_stop(ctx: Context) -> int | None:
    """daemon.stop, then wait until the socket stops answering and the pid is
    gone (bounded: the drain deadline plus 15 s). Exit 0 if agentd was not
    running."""
    try:
        st = ctx.call("daemon.status", timeout=10.0)
    except DaemonNotReachable:
        ctx.info("agentd is not running.")
        return None
    pid = int(st.get("pid") or 0)
    deadline_s = ctx.args.deadline
    try:
        ctx.call("daemon.stop", {"deadline_s": deadline_s}, timeout=deadline_s + 10)
    except ConnectionLost:
        pass  # it may close our connection on its way out
    ctx.close()
    limit = time.monotonic() + deadline_s + 15
    while probe(ctx.socket_path, timeout=1.0) is not None or (pid and _alive(pid)):
        if time.monotonic() >= limit:
            raise Failure(f"agentd (pid {pid}) is still running {deadline_s + 15:g} s after daemon.stop.")
        time.sleep(POLL_S)
    if ctx.json:
        ctx.emit_json({"stopped": True, "pid": pid})
    ctx.info(f"agentd stopped (pid {pid}).")
    return None


# ---------------------------------------------------------------- status


def _counts(d: dict | None) -> str:
    if not d:
        return "none"
    return ", ".join(f"{k} {v}" for k, v in d.items() if v) or "none"


def render_status(ctx: Context, st: dict) -> str:
    out = ctx.out
    paths = st.get("paths") or {}
    prov = st.get("provider")
    prov_text = None
    if prov:
        prov_text = f"{prov.get('provider')} {prov.get('model')}  {out.status(prov.get('state', '?'))}"
        if prov.get("message"):
            prov_text += f"  ({prov['message']})"
    nexts = [f"{t.get('goal_id')}  {out.time(t.get('at'))}" for t in (st.get("next_ticks") or [])[:5]]
    breakers = [f"{b['name']} {out.status(b['state'])} ({b.get('failures', 0)} failures)"
                for b in st.get("breakers") or [] if b.get("state") != "closed"]
    state = st.get("state", "ok")
    title = f"agentd {st.get('version', '?')}  {out.status(state)}  (pid {st.get('pid')}, up {span(st.get('uptime_s', 0))})"
    pairs: list[tuple[str, Any]] = [
        ("Ready", "yes" if st.get("ready", True) else out.paint("no", "31")),
        ("Reasons", "\n".join(st.get("reasons") or []) or None),
        ("Provider", prov_text),
        ("Goals", _counts(st.get("goals"))),
        ("Runs", _counts(st.get("runs"))),
        ("Running", ", ".join(st.get("running") or []) or None),
        ("Queued", ", ".join(st.get("queue") or []) or None),
        ("Next ticks", "\n".join(nexts) or None),
        ("Breakers", "\n".join(breakers) or None),
        ("Store", None if st.get("store_writable", True) else out.paint("read-only", "31")),
        ("Scheduler", None if st.get("scheduler_alive", True) else out.paint("stopped", "31")),
        ("Loop lag", f"{st.get('loop_lag_ms', 0):.1f} ms (max {st.get('loop_lag_max_ms', 0):.1f} ms)"),
        ("Socket", paths.get("socket")),
        ("Database", paths.get("db")),
        ("Config", paths.get("config")),
        ("Artifacts", paths.get("artifacts_dir")),
        ("Log level", st.get("log_level")),
    ]
    return title + "\n" + key_values(out, pairs, indent="  ")


def cmd_status(ctx: Context) -> int | None:
    """Exit 0 when agentd is ready and ok, 4 when it is not ready or is
    degraded, 3 when it is not reachable."""
    st = ctx.call("daemon.status", timeout=min(ctx.timeout, 10.0))
    if ctx.json:
        ctx.emit_json(st)
    else:
        ctx.print(render_status(ctx, st))
    if not st.get("ready", True) or st.get("state", "ok") != "ok":
        return EXIT_NOT_READY
    return None


def cmd_reload(ctx: Context) -> None:
    params = {"log_level": ctx.args.log_level} if ctx.args.log_level else {}
    res = ctx.call("daemon.reload", params)
    if ctx.json:
        return ctx.emit_json(res)
    ctx.info("agentd re-read its configuration.")
