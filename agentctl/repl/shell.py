"""The REPL: every agentctl command without the prefix, with completion,
history, a toolbar with the daemon's state, and run events as they happen.

Threads, and what each owns:

- the main thread prompts (prompt_toolkit) and runs each command in-process
  with the ``run`` it is given, ``agentctl.cli.run`` (so Ctrl-C reaches the command as
  KeyboardInterrupt: it stops a ``watch``, never the run);
- a status thread asks ``daemon.status`` every :data:`STATUS_EVERY_S` seconds
  on its own connection for the toolbar, and notices the daemon going away and
  coming back (one line each time);
- an events thread holds a daemon-wide subscription (``run.watch {all}``) on a
  second connection and prints each run's start and end above the prompt.

Output from the threads goes above the prompt through prompt_toolkit's
``patch_stdout`` while a prompt is shown; while a command runs it is held back
and printed when the prompt returns, so it never cuts into the command's
own output.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
from collections.abc import Callable
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import HTML
from prompt_toolkit.history import FileHistory
from prompt_toolkit.patch_stdout import patch_stdout

from ..client import Client, ClientError
from ..context import Context
from .completion import IdSource, ReplCompleter, command_tree

STATUS_EVERY_S = 2.0
INTRO = ("agentctl shell: every agentctl command without the prefix (`goal list`, `run watch ID`, …). "
         "`help` lists them. Tab completes, Ctrl-C cancels, Ctrl-D leaves.")


def help_text() -> str:
    """What ``help`` prints in the REPL: the commands it takes (agentctl's,
    without those that make no sense inside it) and its own words."""
    from .completion import BUILTINS, NOT_IN_REPL

    tree = command_tree()
    commands = [(name, node.help) for name, node in tree.subcommands.items() if name not in NOT_IN_REPL]
    own = [("watch RUN", BUILTINS["watch"]), ("help [COMMAND]", "this list, or a command's options (help goal create)"),
           ("clear", BUILTINS["clear"]), ("exit, quit", BUILTINS["exit"])]
    width = max(len(n) for n, _ in commands + own)
    lines = ["Commands (agentctl's, typed without `agentctl`):"]
    lines += [f"  {n.ljust(width)}  {h}" for n, h in commands]
    lines += ["", "In this shell:"]
    lines += [f"  {n.ljust(width)}  {h}" for n, h in own]
    lines += ["", "Tab completes commands, options, goal ids and names, run ids. "
                  "`help COMMAND` shows a command's options."]
    return "\n".join(lines)


def history_path() -> str:
    from platformdirs import user_state_dir

    d = user_state_dir("agentd")
    os.makedirs(d, mode=0o700, exist_ok=True)
    return os.path.join(d, "repl_history")


class DaemonState:
    """What the toolbar shows; written by the status thread."""

    def __init__(self) -> None:
        self.up: bool | None = None  # None: not asked yet
        self.status: dict[str, Any] = {}
        self.error = ""
        self.live = False  # the daemon-wide event subscription is up


class Shell:
    def __init__(self, ctx: Context, run: Callable[..., int]) -> None:
        self.ctx = ctx
        self.run_command = run  # agentctl.cli.run, which starts the shell: passed in, not imported
        self.socket = ctx.socket_path
        self.state = DaemonState()
        self.stop = threading.Event()
        self._lock = threading.Lock()  # guards prompting/backlog
        self._prompting = False
        self._backlog: list[str] = []
        self._ids_client = Client(self.socket, timeout=5.0, connect_timeout=2.0)
        self._ids_lock = threading.Lock()
        self.ids = IdSource(self._ids_call)
        self.last_code = 0
        self.prefix: list[str] = []
        for flag, value in (("--socket", getattr(ctx.args, "socket", None)),
                            ("--config", getattr(ctx.args, "config", None))):
            if value:
                self.prefix += [flag, value]

    # ------------------------------------------------------------ daemon calls

    def _ids_call(self, method: str, params: dict) -> Any:
        with self._ids_lock:
            try:
                return self._ids_client.call(method, params)
            except ClientError:
                self._ids_client.close()
                raise

    # ------------------------------------------------------------ output above the prompt

    def say(self, text: str) -> None:
        """Print a line from a background thread: above the prompt while one
        is shown, else after the running command."""
        with self._lock:
            if self._prompting:
                print(text, flush=True)
            else:
                self._backlog.append(text)

    def _flush_backlog(self) -> None:
        with self._lock:
            lines, self._backlog = self._backlog, []
        for line in lines:
            print(line)
        sys.stdout.flush()

    # ------------------------------------------------------------ background threads

    def _status_loop(self) -> None:
        client = Client(self.socket, timeout=5.0, connect_timeout=2.0)
        try:
            while not self.stop.is_set():
                try:
                    st = client.call("daemon.status")
                except ClientError as exc:
                    client.close()
                    if self.state.up is not False:
                        was = self.state.up
                        self.state.up, self.state.error = False, str(exc)
                        if was:
                            self.say("agentd went away; the shell reconnects when it is back.")
                        else:
                            self.say(f"agentd is not reachable ({exc}); the shell reconnects when it is back.")
                else:
                    if self.state.up is False:
                        self.say(f"agentd is back (pid {st.get('pid')}).")
                    self.state.status, self.state.up = st, True
                self.stop.wait(STATUS_EVERY_S)
        finally:
            client.close()

    def _events_loop(self) -> None:
        from ..watch import EventStream

        while not self.stop.is_set():
            stream = EventStream(self.socket, {"all": True}, tick=0.5, retries=0, timeout=5.0)
            try:
                for kind, p in stream:
                    self.state.live = kind != "lost"
                    if self.stop.is_set():
                        return
                    if kind == "event":
                        line = self.describe_event(p)
                        if line:
                            self.say(line)
                    elif kind == "lost":
                        break
            except ClientError:
                pass
            finally:
                self.state.live = False
                stream.close()
            self.stop.wait(1.0)

    def describe_event(self, p: dict) -> str | None:
        ev = p.get("event") or {}
        kind = ev.get("type")
        run_id, goal_id = p.get("run_id", ""), p.get("goal_id", "")
        name = self.ids.goal_name(goal_id)
        if name is None:  # a goal made since the ids were fetched
            self.ids.invalidate()
            self.ids.goals()
            name = self.ids.goal_name(goal_id)
        goal = f"'{name}'" if name else goal_id
        if kind == "run_started":
            how = "resumed" if ev.get("resumed") else f"started ({ev.get('trigger', '?')})"
            return f"run {run_id} of goal {goal} {how}"
        if kind == "approval_requested":
            args = " ".join(str(ev.get("arguments", "")).split())
            args = args if len(args) <= 100 else args[:99] + "…"
            return (f"run {run_id} of goal {goal} waits for approval: {ev.get('tool')} {args}; "
                    f"`run approve {run_id}` shows it and asks, `run deny {run_id} --reason ...` refuses it")
        if kind == "run_finished":
            status = ev.get("status", "?")
            tail = f": {status}"
            if status != "completed" and ev.get("error"):
                tail += f" ({ev['error']})"
            return f"run {run_id} of goal {goal} finished{tail}"
        return None

    # ------------------------------------------------------------ toolbar

    def toolbar(self) -> Any:
        st, s = self.state, self.state.status
        if st.up is None:
            return HTML(" agentd: <i>connecting…</i>")
        if not st.up:
            return HTML(" agentd: <style fg='ansired'>not reachable</style> (reconnecting) ")
        parts = [f"agentd {s.get('state', '?')}"]
        prov = s.get("provider") or {}
        if prov:
            parts.append(f"{prov.get('provider', '?')}/{prov.get('model', '?')}"
                         + ("" if prov.get("ok", True) else f" ({prov.get('state')})"))
        parts.append(f"{len(s.get('running') or [])} running, {len(s.get('queue') or [])} pending")
        ticks = s.get("next_ticks") or []
        if ticks:
            from ..render import relative_time

            t = min(ticks, key=lambda x: x.get("at", ""))
            name = self.ids.goal_name(t.get("goal_id", "")) or t.get("goal_id", "")
            parts.append(f"next tick {relative_time(t['at'])} ({name})")
        else:
            parts.append("no ticks scheduled")
        if st.live:
            parts.append("events live")
        from html import escape

        return HTML(" " + escape(" · ".join(parts)) + " ")

    # ------------------------------------------------------------ running commands

    def execute(self, line: str) -> bool:
        """Run one line; False to leave the shell."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            print(f"agentctl: {exc}", file=sys.stderr)
            return True
        if not words:
            return True
        if words[0] in ("agentctl",):
            words = words[1:]
        if not words:
            return True
        head = words[0]
        if head in ("exit", "quit"):
            return False
        if head == "clear":
            sys.stdout.write("\033[H\033[2J")
            sys.stdout.flush()
            return True
        if head == "help":
            if len(words) == 1:
                print(help_text())
                return True
            words = words[1:] + ["--help"]
            head = words[0]
        if head == "watch":
            words = ["run", "watch"] + words[1:]
        from .completion import NOT_IN_REPL

        if head in NOT_IN_REPL:
            print(f"agentctl: `{head}` is not a shell command: {NOT_IN_REPL[head]}", file=sys.stderr)
            self.last_code = 2
            return True
        try:
            code = self.run_command(self.prefix + words, repl=True)
        except SystemExit as exc:  # argparse: --help or a usage error (already printed)
            code = exc.code if isinstance(exc.code, int) else 2
        except KeyboardInterrupt:
            print()
            code = 130
        finally:
            sys.stdout.flush()
        if words[:2] in (["goal", "create"], ["goal", "delete"], ["goal", "rm"], ["goal", "run"]):
            self.ids.invalidate()
        self.last_code = code
        return True

    # ------------------------------------------------------------ the loop

    def run(self) -> int:
        session: PromptSession = PromptSession(
            history=FileHistory(history_path()),
            completer=ReplCompleter(command_tree(), self.ids),
            complete_in_thread=True,
            complete_while_typing=False,
            bottom_toolbar=self.toolbar,
            refresh_interval=1.0,
            enable_history_search=False,
        )
        threads = [threading.Thread(target=self._status_loop, name="repl-status", daemon=True),
                   threading.Thread(target=self._events_loop, name="repl-events", daemon=True)]
        for t in threads:
            t.start()
        print(INTRO)
        try:
            while True:
                self._flush_backlog()
                with patch_stdout(raw=True):
                    with self._lock:
                        self._prompting = True
                    try:
                        line = session.prompt("agentd> ")
                    except KeyboardInterrupt:
                        continue  # Ctrl-C: cancel the line
                    except EOFError:
                        return 0  # Ctrl-D: leave
                    finally:
                        with self._lock:
                            self._prompting = False
                if not self.execute(line):
                    return 0
        finally:
            self.stop.set()
            self._ids_client.close()
            for t in threads:
                t.join(timeout=1.0)
