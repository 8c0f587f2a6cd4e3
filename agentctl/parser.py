"""agentctl's argparse tree: every command, its options and its handler
(``"noun:verb"``, the function ``cmd_verb`` of ``agentctl.commands.noun``).

``agentctl.cli`` parses with it and dispatches; ``agentctl.commands.completion``
walks it for the completion scripts, the REPL's completion and
docs/cli-reference.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, NamedTuple

from agentd.protocol import loglevels

EPILOG = """\
exit status:
  0    ok
  1    the operation failed (the daemon answered with an error)
  2    usage error
  3    agentd is not reachable (not running, or no access to its socket)
  4    agentd is not ready or is degraded (server status)
  130  interrupted

environment:
  AGENTD_SOCKET  the daemon's socket (like --socket)
  AGENTD_CONFIG  the config file (like --config)
  NO_COLOR       no colour in tables

Ids may be abbreviated to any unique prefix; a goal may also be named by its
name (goal create --name).
Run `agentctl COMMAND --help` for a command's options."""

RUN_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
GOAL_STATUSES = ("active", "paused", "archived")
MEMORY_TYPES = ("note", "fact", "artifact")
GOAL_REF_HELP = "the goal: its id, a unique prefix of it, or its name"


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """The help formatter, without importing shutil (a noticeable part of a
    command's run) to learn the terminal's width."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            columns = os.environ.get("COLUMNS", "")
            if columns.isdigit() and int(columns) > 0:
                width = int(columns)
            else:
                try:
                    width = os.get_terminal_size(sys.__stdout__.fileno()).columns
                except (AttributeError, ValueError, OSError):
                    width = 80
            width = max(width - 2, 20)
        super().__init__(prog, indent_increment, max_help_position, width)


def _common(p: argparse.ArgumentParser, top: bool = False) -> None:
    """Options accepted before or after the command (``--json goal list`` and
    ``goal list --json``): the sub-parsers must not reset what the top set."""
    d = (lambda v: v) if top else (lambda v: argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", default=d(False),
                   help="print the result as JSON (the RPC result, unchanged)")
    p.add_argument("-q", "--quiet", action="store_true", default=d(False),
                   help="no messages on stderr; print only ids where a command creates something")
    p.add_argument("--socket", metavar="PATH", default=d(None),
                   help="the daemon's socket (default: $AGENTD_SOCKET, config, $XDG_RUNTIME_DIR/agentd/agentd.sock)")


def _group(parent, name: str, help: str):
    """A noun with verbs (``goal``, ``run``, ...): its sub-parser group."""
    p = parent.add_parser(name, help=help, description=help, formatter_class=_Formatter)
    _common(p)
    sub = p.add_subparsers(dest=f"{name}_verb", metavar="COMMAND", title="commands")
    sub.required = True
    return sub


def _cmd(parent, name: str, handler: str | None, help: str, description: str | None = None,
         aliases: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """A command (a verb of a group, or a top-level command without verbs such
    as ``init``), with the common options and its handler."""
    p = parent.add_parser(name, help=help, description=description or help, aliases=list(aliases),
                          formatter_class=_Formatter)
    _common(p)
    p.set_defaults(handler=handler)
    return p


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def add_mcp_server_options(p) -> None:
    """The options of ``mcp add`` (also parsed again from what follows NAME:
    argparse hands everything after the first positional to COMMAND)."""
    p.add_argument("--url", help="the server's streamable HTTP endpoint instead of a command")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="an environment variable for the command (repeatable; never logged)")
    p.add_argument("--header", action="append", default=[], metavar="NAME=VALUE",
                   help="an HTTP header for --url, e.g. Authorization=... (repeatable; never logged)")
    p.add_argument("--cwd", metavar="DIR", help="the command's working directory")
    p.add_argument("--tool-timeout", type=_non_negative_float, metavar="SECONDS",
                   help="how long one call may take (default 60)")
    p.add_argument("--start-timeout", type=_non_negative_float, metavar="SECONDS",
                   help="how long it may take to start and list its tools (default 30)")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _list_options(p: argparse.ArgumentParser, limit: int) -> None:
    p.add_argument("--limit", type=_positive_int, default=limit, help=f"at most N rows (default {limit})")
    p.add_argument("--format", choices=("table", "json", "md"), default="table",
                   help="table (default), json (same as --json) or md (a markdown table)")


def _split_tools(text: str) -> list[str] | None:
    """``--tools a,b`` → ["a", "b"]; ``default`` (or ``all``) → None: every default tool."""
    if text.strip().lower() in ("default", "all"):
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def _notify_mode(text: str) -> str | None:
    """``--notify``'s value; ``default`` → None: the daemon's [notify] default."""
    return None if text == "default" else text


class GoalOption(NamedTuple):
    """One option of ``goal create`` and ``goal edit``: how argparse reads it
    and which goal.create / goal.update field it fills.

    ``field`` None: commands/goal.py combines the option with others itself
    (schedules from --schedule and --timezone, the approval policy from
    --ask/--deny/--allow). ``clear``: edit's flag that removes the value (to
    [] for a repeatable option, else None); for a repeatable option edit's help
    says that it replaces the list. goal.update takes every field at its top
    level; goal.create takes the run parameters (``in_params``) in ``params``.
    """

    flag: str
    field: str | None
    group: str
    help: str
    metavar: str | None = None
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    repeat: bool = False  # repeatable (action="append")
    switch: bool = False  # a flag without a value (True when given)
    parse: Callable[[Any], Any] | None = None  # the value → the field's value
    clear: tuple[str, str] | None = None  # edit: (flag, help) that removes the value
    only: str | None = None  # "create" or "edit": the other command has no such option
    in_params: bool = True  # create: a field of GoalCreate.params (GoalParams), else of GoalCreate

    @property
    def dest(self) -> str:
        return self.field or self.flag.lstrip("-").replace("-", "_")

    @property
    def clear_dest(self) -> str:
        return self.clear[0].lstrip("-").replace("-", "_") if self.clear else ""


_GOAL, _RUN, _NOTIFY, _SCHED = "goal", "run parameters", "notifications and alerts", "scheduling policy"

GOAL_OPTIONS: tuple[GoalOption, ...] = (
    GoalOption("--objective", "objective", _GOAL, "a new objective", only="edit", in_params=False),
    GoalOption("--name", "name", _GOAL, "a short name, shown in lists and accepted wherever the goal's id is",
               in_params=False),
    GoalOption("--schedule", None, _GOAL, "a cron expression", metavar="CRON", repeat=True,
               clear=("--no-schedule", "remove every schedule")),
    GoalOption("--timezone", None, _GOAL, "IANA timezone of the schedules (default: this machine's)",
               metavar="TZ"),
    GoalOption("--webhook", "webhook_url", _GOAL, "POST a signed notification here when a run ends",
               metavar="URL", clear=("--no-webhook", "remove the webhook"), in_params=False),
    GoalOption("--step-budget", "step_budget", _RUN, "at most N steps per run (default 20)", metavar="N",
               type=_positive_int),
    GoalOption("--tools", "allowed_tools", _RUN,
               "the tools a run may use (comma-separated; 'default' for all default tools)", metavar="A,B",
               parse=_split_tools),
    GoalOption("--allow-domain", "allowed_domains", _RUN,
               "a domain the web tools may reach; without any, every public host", metavar="DOMAIN",
               repeat=True, clear=("--no-allow-domains", "allow any public host again")),
    GoalOption("--constraint", "constraints", _RUN, "a rule the agent must follow", metavar="TEXT", repeat=True,
               clear=("--no-constraints", "remove every constraint")),
    GoalOption("--email", "email_to", _RUN, "email the summary to this address", metavar="ADDRESS",
               repeat=True, clear=("--no-email", "remove every email recipient")),
    GoalOption("--token-budget", "token_budget", _RUN, "at most N tokens per run", metavar="N",
               type=_positive_int, clear=("--no-token-budget", "remove the token budget")),
    GoalOption("--time-limit", "time_limit_s", _RUN, "at most this long per run", metavar="SECONDS",
               type=_non_negative_float, clear=("--no-time-limit", "remove the time limit")),
    GoalOption("--max-concurrent", "max_concurrent", _RUN, "at most N runs of this goal at once", metavar="N",
               type=_positive_int),
    GoalOption("--max-cost", "max_cost", _RUN,
               "money budget per run, in US dollars (a model call that could exceed it is not made)",
               metavar="USD", type=_non_negative_float,
               clear=("--no-max-cost",
                      "remove the goal's per-run money budget (the config's [budgets] default applies)")),
    GoalOption("--max-cost-per-day", "max_cost_per_day", _RUN,
               "money budget for all of the goal's runs in a UTC day", metavar="USD", type=_non_negative_float,
               clear=("--no-max-cost-per-day", "remove the goal's daily money budget (the config's default applies)")),
    GoalOption("--max-cost-per-month", "max_cost_per_month", _RUN,
               "money budget for all of the goal's runs in a UTC month", metavar="USD", type=_non_negative_float,
               clear=("--no-max-cost-per-month",
                      "remove the goal's monthly money budget (the config's default applies)")),
    GoalOption("--expect", "expect", _RUN,
               "a file (relative to the goal's artifacts) each run must write; a run that ends without it, or "
               "with it empty, fails", metavar="FILE", repeat=True,
               clear=("--no-expect", "remove every expected file")),
    GoalOption("--ask", None, _RUN,
               "ask a person before each call of TOOL (send_email, send_webhook, external tools not read-only); "
               "the run waits, parked, for `run approve`/`run deny`", metavar="TOOL", repeat=True),
    GoalOption("--deny", None, _RUN, "never make calls of TOOL: the agent is told it is denied", metavar="TOOL",
               repeat=True),
    GoalOption("--allow", None, _RUN, "make calls of TOOL without asking again, undoing --ask/--deny",
               metavar="TOOL", repeat=True, only="edit"),
    GoalOption("--guard", "guard", _RUN,
               "after a run read untrusted content, a call that would send data where the goal does not name: "
               "block it (default) or ask a person (see `agentctl approvals`)", choices=("block", "ask")),
    GoalOption("--approval-timeout", "approval_timeout_s", _RUN,
               "a call nobody decides on within this is denied (default 86400: 24 h)", metavar="SECONDS",
               type=_positive_int),
    GoalOption("--expect-sent", "expect_sent", _RUN,
               "a delivery each run must make: webhook (send_webhook) or email (send_email); a run that ends "
               "without one delivered fails", choices=("webhook", "email"), repeat=True,
               clear=("--no-expect-sent", "remove every expected delivery")),
    GoalOption("--notify", "notify", _NOTIFY,
               "send the completion webhook and email after every run (always) or only when the result changed "
               "since the last successful run (on_change); default: the daemon's [notify] default",
               choices=("always", "on_change", "default"), parse=_notify_mode),
    GoalOption("--alert-quiet", "alert_quiet_periods", _NOTIFY,
               "alert once when this scheduled goal had no successful run for N of its periods "
               "(0: never; default: [alerts] quiet_periods, 2)", metavar="N", type=_non_negative_int),
    GoalOption("--alert-failed", "alert_failed_runs", _NOTIFY,
               "alert once when its last K runs failed (0: never; default: [alerts] failed_runs, 3)", metavar="K",
               type=_non_negative_int),
    GoalOption("--alert-via", "alert_via", _NOTIFY,
               "also send its alerts to the goal's own webhook or email recipients, besides [alerts]",
               choices=("webhook", "email"), repeat=True,
               clear=("--no-alert-via", "send alerts only to the [alerts] destinations")),
    GoalOption("--catchup", "catchup", _SCHED,
               "ticks missed while agentd was down: none, the latest (default) or all in the window",
               choices=("none", "latest", "all"), in_params=False),
    GoalOption("--catchup-window", "catchup_window_s", _SCHED, "how far back catch-up looks (default 86400)",
               metavar="SECONDS", type=_positive_int, in_params=False),
    GoalOption("--overlap", "overlap", _SCHED,
               "a tick while a run is active: skip it (default), queue one, or cancel the running one",
               choices=("skip", "queue", "cancel"), in_params=False),
    GoalOption("--paused", "paused", _SCHED, "create the goal paused", switch=True, only="create",
               in_params=False),
)


def goal_options(command: str) -> list[GoalOption]:
    """The options of ``goal create`` or ``goal edit`` (``command``), in help order."""
    return [o for o in GOAL_OPTIONS if o.only in (None, command)]


def _goal_options(p: argparse.ArgumentParser, edit: bool) -> None:
    """Add GOAL_OPTIONS to ``goal create`` or (``edit``) ``goal edit``: by
    group, each group's clearing flags (edit) after its options."""
    options = goal_options("edit" if edit else "create")
    for name in dict.fromkeys(o.group for o in options):
        g = p.add_argument_group(name)
        group = [o for o in options if o.group == name]
        for o in group:
            if o.switch:
                g.add_argument(o.flag, action="store_true", default=None, dest=o.dest, help=o.help)
                continue
            help = o.help
            if o.repeat:
                help += " (repeatable; replaces the list)" if edit and o.clear else " (repeatable)"
            g.add_argument(o.flag, dest=o.dest, metavar=o.metavar, type=o.type, choices=o.choices,
                           action="append" if o.repeat else "store", help=help)
        for o in group:
            if edit and o.clear:
                g.add_argument(o.clear[0], action="store_true", help=o.clear[1])


def build_parser() -> argparse.ArgumentParser:
    """The whole tree."""
    top = argparse.ArgumentParser(
        prog="agentctl",
        description="Control agentd, the daemon that runs background LLM agents.",
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    _common(top, top=True)
    top.add_argument("--config", metavar="FILE", default=None,
                     help="the config file (default: $AGENTD_CONFIG or ~/.config/agentd/config.toml)")
    top.add_argument("--timeout", type=_non_negative_float, metavar="SECONDS", default=60.0,
                     help="how long to wait for the daemon's answer (default 60)")
    top.add_argument("--version", action="store_true", help="print the version and exit")
    nouns = top.add_subparsers(dest="noun", metavar="COMMAND", title="commands")

    # ---- init
    p = _cmd(nouns, "init", "init:init", "write a config file",
               "Write config.toml (mode 0600) in the config directory.")
    p.add_argument("--provider", choices=("openai", "openrouter", "ollama"), help="the LLM provider")
    p.add_argument("--model", help="the model name (e.g. gpt-4o-mini, llama3.1)")
    p.add_argument("--api-key", metavar="KEY", help="the provider's API key ('-' reads it from stdin)")
    p.add_argument("--base-url", metavar="URL", help="the provider's base URL (OpenAI-compatible servers, Ollama)")
    p.add_argument("--force", action="store_true", help="overwrite an existing config file")

    # ---- goal
    g = _group(nouns, "goal", "create and manage goals")
    p = _cmd(g, "create", "goal:create", "create a goal")
    p.add_argument("objective", nargs="?",
                   help="what the agent should achieve (left out on a terminal: asked for, with the other settings)")
    _goal_options(p, edit=False)
    p = _cmd(g, "list", "goal:list", "list goals", aliases=("ls",))
    p.add_argument("--status", choices=GOAL_STATUSES)
    _list_options(p, 100)
    p = _cmd(g, "show", "goal:show", "show a goal with its schedules, last run and health")
    p.add_argument("id", help=GOAL_REF_HELP)
    p.add_argument("--secrets", action="store_true", help="include the webhook signing secret")
    p = _cmd(g, "edit", "goal:edit", "change a goal (options left out stay as they are)")
    p.add_argument("id", help=GOAL_REF_HELP)
    _goal_options(p, edit=True)
    p = _cmd(g, "delete", "goal:delete", "delete a goal with all its runs", aliases=("rm",))
    p.add_argument("id", help=GOAL_REF_HELP)
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")
    for verb, text in (("pause", "pause a goal's schedules"), ("resume", "resume a paused goal"),
                       ("run", "start a run now")):
        p = _cmd(g, verb, f"goal:{verb}", text)
        p.add_argument("id", help=GOAL_REF_HELP)
        if verb == "run":
            p.add_argument("-w", "--watch", action="store_true",
                           help="watch the run until it ends (as `run watch`)")
    p = _cmd(g, "next", "goal:next", "show the next fire times of a goal's schedules")
    p.add_argument("id", help=GOAL_REF_HELP)
    p.add_argument("-n", "--count", type=_positive_int, default=5, help="how many (default 5)")

    # ---- run
    r = _group(nouns, "run", "inspect and control runs")
    p = _cmd(r, "list", "run:list", "list runs", aliases=("ls",))
    p.add_argument("--goal", metavar="GOAL", help="only this goal's runs (its id, a unique prefix, or its name)")
    p.add_argument("--status", choices=RUN_STATUSES)
    _list_options(p, 50)
    p = _cmd(r, "show", "run:show", "show a run with its outputs, side effects and error")
    p.add_argument("id")
    p.add_argument("--format", choices=("text", "json", "md"), default="text",
                   help="text (default), json, or md (a markdown report)")
    p = _cmd(r, "logs", "run:logs", "show a run's steps")
    p.add_argument("id")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new steps until the run ends")
    p.add_argument("--full", action="store_true", help="do not shorten inputs and observations")
    p.add_argument("--daemon-log", action="store_true",
                   help="print the daemon's own log lines about the run (journal or the server log file)")
    p = _cmd(r, "watch", "run:watch", "watch a run live until it ends", description=(
        "Watch a run live until it ends: status, elapsed time, the model's answer as it streams (its last "
        "rows, a running token count, the call's own elapsed time, retries and their reasons), the current "
        "step, each finished step, tokens and budget, then the summary or the failure reason. Without a "
        "terminal: plain lines; with --json: the events as NDJSON. Reconnects if agentd restarts. "
        "Exit 0 if the run completed, 1 if it failed or was cancelled, "
        "130 if Ctrl-C stopped the watching (the run itself goes on)."))
    p.add_argument("id")
    p.add_argument("--deltas", action=argparse.BooleanOptionalAction, default=None,
                   help="ask for the model's text as it streams (default: on a terminal only; without one it is "
                        "written as it comes, with --json as text_delta events)")
    p = _cmd(r, "cancel", "run:cancel", "cancel a pending or running run")
    p.add_argument("id")
    p.add_argument("--reason", default=None, help="recorded with the run")
    p = _cmd(r, "delete", "run:delete", "delete a finished run", aliases=("rm",))
    p.add_argument("id")
    p = _cmd(r, "approve", "approvals:approve", "approve a call the run waits for (shows it first)", description=(
        "Show the call the run waits for (tool, exact arguments, why it was asked) and, on a terminal, ask; "
        "the approval applies to exactly the call shown. The run resumes and the call is made once."))
    p.add_argument("id")
    p.add_argument("--call", metavar="ID", help="which call, when the run waits for several (see `approvals`)")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask (needed without a terminal)")
    p = _cmd(r, "deny", "approvals:deny", "deny the call(s) a run waits for; the agent is told and goes on")
    p.add_argument("id")
    p.add_argument("--call", metavar="ID", help="only this call (default: every call the run waits for)")
    p.add_argument("--reason", help="why (recorded and told to the agent)")

    # ---- approvals
    p = _cmd(nouns, "approvals", "approvals:list", "list the tool calls waiting for approval",
             "Every tool call waiting for a person's decision, across goals, oldest first.")
    p.add_argument("--goal", metavar="GOAL", help="only this goal's calls")
    p.add_argument("--format", choices=("table", "json", "md"), default="table")

    # ---- memory
    m = _group(nouns, "memory", "a goal's long-term memories")
    p = _cmd(m, "list", "memory:list", "list a goal's memories", aliases=("ls",))
    p.add_argument("goal", help=GOAL_REF_HELP)
    p.add_argument("--type", choices=MEMORY_TYPES)
    p.add_argument("--query", help="only memories matching this text")
    _list_options(p, 100)
    p = _cmd(m, "add", "memory:add", "add a memory to a goal")
    p.add_argument("goal", help=GOAL_REF_HELP)
    p.add_argument("content", help="the text to remember ('-' reads stdin)")
    p.add_argument("--type", choices=MEMORY_TYPES, default="note")
    p = _cmd(m, "delete", "memory:delete", "delete a memory", aliases=("rm",))
    p.add_argument("id")

    # ---- tool, provider
    t = _group(nouns, "tool", "the tools agents can use")
    p = _cmd(t, "list", "tool:list", "list the tools", aliases=("ls",))
    p.add_argument("--format", choices=("table", "json", "md"), default="table")
    mc = _group(nouns, "mcp", "MCP servers: tool sources for goals, and agentd as an MCP server")
    p = _cmd(mc, "add", "mcp:add", "add an MCP server to the configuration (and reload a running agentd)",
             description="add an MCP server: `agentctl mcp add NAME -- COMMAND [ARGS...]` (stdio: agentd "
                         "starts it) or `agentctl mcp add NAME --url URL` (streamable HTTP); goals name its "
                         "tools as NAME.TOOL or NAME.* in --tools")
    p.add_argument("name", help="the server's name (letters, digits, _ and -): its tools are NAME.TOOL")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command that runs the server on stdio, after --")
    add_mcp_server_options(p)
    p = _cmd(mc, "remove", "mcp:remove", "remove an MCP server from the configuration (and reload)",
             aliases=("rm",))
    p.add_argument("name")
    p = _cmd(mc, "list", "mcp:list", "the MCP servers with their state and tools", aliases=("ls",))
    p.add_argument("--format", choices=("table", "json", "md"), default="table")
    p = _cmd(mc, "check", "mcp:check", "start-up state of one MCP server: ready with its tools, or why not "
             "(exit 1 when not ready)")
    p.add_argument("name")
    _cmd(mc, "serve", "mcp:serve", "serve agentd to MCP clients on stdio (goals, runs, summaries, artifacts)")
    pv = _group(nouns, "provider", "the LLM provider")
    _cmd(pv, "check", "provider:check", "check now that the configured model can call tools")

    # ---- server
    s = _group(nouns, "server", "start, stop and inspect the daemon")
    p = _cmd(s, "start", "server:start", "start agentd (through systemctl --user when installed, else in the background)")
    p.add_argument("--wait", type=_non_negative_float, default=15.0, metavar="SECONDS",
                   help="how long to wait for it to answer (default 15)")
    p.add_argument("--db", metavar="FILE", help="the database file (passed to agentd)")
    p = _cmd(s, "stop", "server:stop", "stop agentd (exit 0 if it was not running)")
    p.add_argument("--deadline", type=_non_negative_float, default=10.0, metavar="SECONDS",
                   help="how long runs get to finish before they are cancelled (default 10)")
    _cmd(s, "status", "server:status", "show agentd's status (exit 3: not running, 4: not ready or degraded)")
    p = _cmd(s, "reload", "server:reload", "make agentd re-read its config file")
    p.add_argument("--log-level", type=loglevels.argparse_type, choices=loglevels.LEVELS,
                   help=f"set this level instead of the config file's: {loglevels.HELP}")
    p = _cmd(s, "metrics", "server:metrics", "print agentd's metrics (Prometheus text or JSON)")
    p.add_argument("--format", choices=("prometheus", "json"), default="prometheus",
                   help="prometheus (default: the text exposition format) or json")
    p = _cmd(s, "install", "server:install", "install the systemd user unit (and socket) for this installation",
              description="Write agentd.service (and agentd.socket with --socket-activation) into "
                          "$XDG_CONFIG_HOME/systemd/user/ with this installation's ExecStart, then run "
                          "`systemctl --user daemon-reload` and enable them (when a user manager runs).")
    p.add_argument("--socket-activation", action="store_true",
                   help="also install agentd.socket: systemd listens and starts agentd on the first connection")
    p.add_argument("--unit-dir", metavar="DIR", help="write the units here instead (systemctl is not run)")
    p.add_argument("--now", action="store_true", help="also start it now")
    p = _cmd(s, "uninstall", "server:uninstall", "disable and remove the systemd user units (data is kept)")
    p.add_argument("--unit-dir", metavar="DIR", help="remove the units from here instead (systemctl is not run)")

    # ---- config
    c = _group(nouns, "config", "show and change the config file")
    p = _cmd(c, "show", "config:show", "show the effective configuration and where each value comes from")
    p.add_argument("--secrets", action="store_true", help="show API keys and passwords")
    p = _cmd(c, "set", "config:set", "set a value in the config file",
              description="Set SECTION.KEY to VALUE in the config file (written atomically, 0600). VALUE is "
                          "TOML of the key's type, as it would follow `key =` in the file: `true`, `8`, `2.5`, "
                          "`'[\"127.0.0.1:8799\"]'`, `'{ fetch_page = 45 }'`; a string needs no quotes, a "
                          "list may be comma-separated (`a,b`). A value of the wrong type, outside its range or "
                          "not among the allowed ones is refused (exit 2) with the type the key takes. `none` "
                          "empties a key whose default is empty; VALUE '-' reads it from stdin.")
    p.add_argument("key", metavar="SECTION.KEY")
    p.add_argument("value")
    p = _cmd(c, "unset", "config:unset", "remove a value from the config file (back to its default)")
    p.add_argument("key", metavar="SECTION.KEY")
    _cmd(c, "path", "config:path", "print the config file's path")

    # ---- completion
    p = _cmd(nouns, "completion", "completion:completion", "print a shell completion script", (
        "Print a completion script for bash, zsh or fish. It completes commands, options, choices, "
        "timezones, and goal ids and names and run ids from the running daemon. Install it with "
        "`agentctl completion bash > ~/.local/share/bash-completion/completions/agentctl`, "
        "`agentctl completion zsh > ~/.zfunc/_agentctl` (with `fpath=(~/.zfunc $fpath)` before "
        "`compinit` in ~/.zshrc) or "
        "`agentctl completion fish > ~/.config/fish/completions/agentctl.fish`, then open a new shell."))
    p.add_argument("shell", nargs="?", choices=("bash", "zsh", "fish"), help="the shell")
    p.add_argument("--candidates", choices=("goal", "run", "timezone"), metavar="KIND",
                   help="print the values the scripts complete for KIND (goal: ids and names, run: ids, "
                        "timezone: IANA names), one a line with a tab and a description; the scripts call this")

    # ---- man
    p = _cmd(nouns, "man", "man:man", "show a manual page of this installation", (
        "Show agentctl(1), agentd(8) or agentd.toml(5) with man(1), from the copies this installation "
        "carries: it works wherever agentctl runs, also where `man agentctl` finds no page (an "
        "editable install, a MANPATH without this installation's share/man)."))
    p.add_argument("page", nargs="?", choices=("agentctl", "agentd", "agentd.toml"), default="agentctl",
                   help="the page (default agentctl)")
    p.add_argument("--path", action="store_true", help="print the page's file instead of showing it")

    # ---- shell (the REPL; also `agentctl` alone on a terminal)
    _cmd(nouns, "shell", None, "the interactive shell (REPL)",
           "Every command without the `agentctl` prefix, with completion, history and live run events.")
    return top
