"""``agentctl server …``: start, stop, status, reload, metrics, install, uninstall.

``start``, ``stop`` and ``status`` go through ``systemctl --user`` when the
units are installed (``server install``) and a user manager runs; otherwise
they run the daemon directly (detached, log in the state dir).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from ..client import Client, ClientError, ConnectionLost, DaemonNotReachable
from ..context import EXIT_NOT_READY, Context, Failure
from ..render import key_values, span


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
    from agentd.shared.paths import state_dir

    d = state_dir()
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return str(d / "agentd.log")


def _tail(path: str, offset: int, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines written after ``offset``, JSON log lines shown
    as sentences (``readable_log_line``)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return ""
    return "\n".join(readable_log_line(line) for line in data.decode("utf-8", "replace").splitlines()[-lines:])


def readable_log_line(line: str) -> str:
    """A JSON log line of agentd as ``agentd: LEVEL msg: error  key=value``;
    any other line as it is."""
    import json

    try:
        rec = json.loads(line[line.index("{"):])
    except ValueError:
        return line
    if not isinstance(rec, dict) or "msg" not in rec:
        return line
    text = f"agentd: {rec['msg']}"
    if rec.get("error"):
        text += f": {rec['error']}"
    extra = "  ".join(f"{k}={v}" for k, v in rec.items()
                      if k not in ("ts", "level", "logger", "msg", "error") and v is not None)
    level = str(rec.get("level", "")).upper()
    return (f"{level} " if level not in ("INFO", "") else "") + text + (f"  {extra}" if extra else "")


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

    from .. import units

    sock = ctx.socket_path
    if units.use_systemd():
        return _start_systemd(ctx, units)
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
    running. Under systemd: ``systemctl --user stop agentd.service``."""
    from .. import units

    if units.use_systemd():
        return _stop_systemd(ctx, units)
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


def _spend(spend: dict | None) -> str | None:
    """``$0.1200 of $2.00 today (UTC), $1.40 this month``."""
    if not spend:
        return None
    from ..render import usd

    budget = spend.get("per_day_budget_usd")
    today = usd(spend.get("today_usd", 0.0)) + (f" of {usd(budget)}" if budget is not None else "")
    return f"{today} today (UTC), {usd(spend.get('month_usd', 0.0))} this month"


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
    mcp = [f"{x['name']} {out.status(x.get('state', '?'))}" + (f" ({x['reason']})" if x.get("reason") and
                                                                x.get("state") != "ready" else "")
           for x in st.get("mcp_servers") or []]
    state = st.get("state", "ok")
    title = f"agentd {st.get('version', '?')}  {out.status(state)}  (pid {st.get('pid')}, up {span(st.get('uptime_s', 0))})"
    pairs: list[tuple[str, Any]] = [
        ("Ready", "yes" if st.get("ready", True) else out.paint("no", "31")),
        ("Reasons", "\n".join(st.get("reasons") or []) or None),
        ("Provider", prov_text),
        ("Goals", _counts(st.get("goals"))),
        ("Runs", _counts(st.get("runs"))),
        ("Spend", _spend(st.get("spend"))),
        ("Running", ", ".join(st.get("running") or []) or None),
        ("Queued", ", ".join(st.get("queue") or []) or None),
        ("Next ticks", "\n".join(nexts) or None),
        ("Breakers", "\n".join(breakers) or None),
        ("MCP servers", "\n".join(mcp) or None),
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
    from .. import units

    unit = None
    if units.use_systemd():
        unit = units.systemctl("is-active", units.SERVICE).stdout.strip() or "unknown"
    try:
        st = ctx.call("daemon.status", timeout=min(ctx.timeout, 10.0))
    except DaemonNotReachable:
        if unit is not None:
            ctx.warn(f"{units.SERVICE} is {unit} (see `systemctl --user status {units.SERVICE}` "
                     f"and `journalctl --user -u {units.SERVICE}`)")
        raise
    if ctx.json:
        ctx.emit_json(st if unit is None else {**st, "systemd_unit": unit})
    else:
        text = render_status(ctx, st)
        if unit is not None:
            text += f"\n  Unit        {units.SERVICE} {unit} (systemd --user)"
        ctx.print(text)
    if not st.get("ready", True) or st.get("state", "ok") != "ok":
        return EXIT_NOT_READY
    return None


def cmd_reload(ctx: Context) -> None:
    """daemon.reload, then what changed now and what waits for a restart. A
    configuration the daemon refuses changes nothing (exit 1, the reason)."""
    params = {"log_level": ctx.args.log_level} if ctx.args.log_level else {}
    res = ctx.call("daemon.reload", params)
    if ctx.json:
        return ctx.emit_json(res)
    ctx.print(render_reload(res, file_read=not params))


def _value(v: Any) -> str:
    import json

    return "(not set)" if v is None else json.dumps(v, ensure_ascii=False)


def render_reload(res: dict, *, file_read: bool = True) -> str:
    changed, later = res.get("changed") or [], res.get("restart_needed") or []
    head = f"agentd re-read {res.get('config')}" if file_read else "agentd changed its log level"
    if not changed and not later:
        return f"{head}: nothing changed (log level {res.get('log_level')})."
    lines = [f"{head}."]
    if changed:
        lines.append("Applied now:")
        lines += [f"  {c['key']}: {_value(c.get('old'))} -> {_value(c.get('new'))}" for c in changed]
        if res.get("provider_replaced"):
            held = res.get("runs_on_old_provider") or 0
            lines.append("  Runs started from now on use the new provider" +
                         (f"; {held} running run(s) finish with the one they started with." if held else "."))
        elif file_read:
            lines.append("  Runs already running keep the settings they started with.")
    if later:
        lines.append("Needs a restart (`agentctl server stop && agentctl server start`, or "
                     "`systemctl --user restart agentd`); until then agentd keeps the old value:")
        lines += [f"  {c['key']}: {_value(c.get('old'))} -> {_value(c.get('new'))}" for c in later]
    return "\n".join(lines)


# ---------------------------------------------------------------- systemd


def _start_systemd(ctx: Context, units) -> int | None:
    """``systemctl --user start agentd.service``: Type=notify, so it returns
    once the daemon said READY=1 (or failed)."""
    r = units.systemctl("start", units.SERVICE, timeout=max(ctx.args.wait, 1.0) + 90)
    if r.returncode != 0:
        raise Failure(f"systemctl --user start {units.SERVICE} failed: {(r.stderr or r.stdout).strip()} "
                      f"(see `journalctl --user -u {units.SERVICE}`).")
    st = probe(ctx.socket_path, timeout=max(ctx.args.wait, 1.0))
    if ctx.json:
        ctx.emit_json(st or {"started": True})
    if st is None:
        raise Failure(f"{units.SERVICE} started but agentd does not answer at {ctx.socket_path} "
                      f"(see `journalctl --user -u {units.SERVICE}`).")
    ctx.info(f"agentd started by systemd ({units.SERVICE}, pid {st.get('pid')}, socket {ctx.socket_path}).")
    return None


def _stop_systemd(ctx: Context, units) -> int | None:
    r = units.systemctl("stop", units.SERVICE, timeout=ctx.args.deadline + 90)
    if r.returncode != 0:
        raise Failure(f"systemctl --user stop {units.SERVICE} failed: {(r.stderr or r.stdout).strip()}")
    if ctx.json:
        ctx.emit_json({"stopped": True, "unit": units.SERVICE})
    ctx.info(f"agentd stopped ({units.SERVICE}).")
    if units.socket_installed() and units.systemctl("is-active", units.SOCKET).stdout.strip() == "active":
        ctx.info(f"{units.SOCKET} still listens: the next connection starts agentd again "
                 f"(`systemctl --user stop {units.SOCKET}` to stop that).")
    return None


def cmd_install(ctx: Context) -> int | None:
    """Write agentd.service (and agentd.socket with --socket-activation) into
    the user's systemd directory with this installation's ExecStart, then
    daemon-reload and enable them when a user manager runs."""
    from .. import units

    custom = ctx.args.unit_dir is not None
    unit_dir = os.path.abspath(ctx.args.unit_dir) if custom else units.default_unit_dir()
    os.makedirs(unit_dir, exist_ok=True)
    names = [units.SERVICE] + ([units.SOCKET] if ctx.args.socket_activation else [])
    manager = None if custom else units.manager_state()
    written = []
    for name in names:
        path = os.path.join(unit_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(units.render(name))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        written.append(path)
        ctx.info(f"wrote {path}")
    removed = []
    stale_socket = os.path.join(unit_dir, units.SOCKET)
    if not ctx.args.socket_activation and os.path.exists(stale_socket):
        if manager is not None:
            units.systemctl("disable", "--now", units.SOCKET)
        os.unlink(stale_socket)
        removed.append(stale_socket)
        ctx.info(f"removed {stale_socket} (no --socket-activation)")
    result: dict = {"unit_dir": unit_dir, "units": written, "removed": removed,
                    "exec_start": units.exec_start(), "systemctl": manager is not None, "enabled": []}
    ctx.info(f"ExecStart={units.exec_start()}")
    if manager is None:
        why = (f"--unit-dir {unit_dir} is not the user unit directory" if custom
               else "no systemd user manager is running")
        later = (f"`systemctl --user daemon-reload && systemctl --user enable --now "
                 f"{' '.join(reversed(names))}`")
        if ctx.args.now:  # asked to start it, and nothing started: say so and fail
            if ctx.json:
                ctx.emit_json({**result, "started": False})
            raise Failure(f"wrote the units, but agentd was not started: {why}, so systemctl was not run. "
                          f"Start agentd with `agentctl server start`; with a user manager: {later}.")
        ctx.info(f"note: {why}, so systemctl was not run. With a user manager: {later}.")
    else:
        for args in (("daemon-reload",), ("enable", *reversed(names))):
            r = units.systemctl(*args)
            if r.returncode != 0:
                raise Failure(f"systemctl --user {' '.join(args)} failed: {(r.stderr or r.stdout).strip()}")
        result["enabled"] = list(reversed(names))
        if ctx.args.now:
            target = units.SOCKET if ctx.args.socket_activation else units.SERVICE
            r = units.systemctl("start", target)
            if r.returncode != 0:
                raise Failure(f"systemctl --user start {target} failed: {(r.stderr or r.stdout).strip()}")
            result["started"] = True
        ctx.info(f"enabled {', '.join(reversed(names))}"
                 + ("" if ctx.args.now else f"; start it with `systemctl --user start {names[-1]}`")
                 + ". To keep it running after you log out: `loginctl enable-linger $USER`.")
    if ctx.json:
        ctx.emit_json(result)
    return None


def cmd_uninstall(ctx: Context) -> int | None:
    """Disable and stop the units, remove them, daemon-reload. The database,
    config and logs stay."""
    from .. import units

    custom = ctx.args.unit_dir is not None
    unit_dir = os.path.abspath(ctx.args.unit_dir) if custom else units.default_unit_dir()
    present = [n for n in units.UNITS if os.path.exists(os.path.join(unit_dir, n))]
    manager = None if custom else units.manager_state()
    if manager is not None and present:
        units.systemctl("disable", "--now", *reversed(present))
    removed = []
    for name in present:
        path = os.path.join(unit_dir, name)
        os.unlink(path)
        removed.append(path)
        ctx.info(f"removed {path}")
    if manager is not None and present:
        units.systemctl("daemon-reload")
    if not present:
        ctx.info(f"no agentd units in {unit_dir}: nothing to do.")
    if ctx.json:
        ctx.emit_json({"unit_dir": unit_dir, "removed": removed, "systemctl": manager is not None})
    return None


# ---------------------------------------------------------------- metrics


def cmd_metrics(ctx: Context) -> int | None:
    """daemon.metrics: Prometheus text exposition (default) or JSON."""
    fmt = "json" if ctx.json else ctx.args.format
    res = ctx.call("daemon.metrics", {"format": fmt})
    if fmt == "json":
        ctx.emit_json(res)
    else:
        ctx.stdout.write(res.get("text") or "")
    return None
