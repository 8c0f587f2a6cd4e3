"""Generate the reference docs from the code, so they cannot drift.

    python -m scripts.docgen            # write every generated file
    python -m scripts.docgen --check    # exit 1 and name the stale files

Generated: docs/cli-reference.md (the argparse tree of ``agentctl.cli``),
docs/rpc-reference.md (``agentd.protocol.methods`` / ``events`` and
``agentd.protocol.errors``), docs/configuration.md and man/agentd.toml.5 (the structs
of ``agentd.shared.config`` with ``KEY_DOCS`` below), and the package data copies
``agentd/data/systemd/*`` and ``agentd/data/man/*`` of ``systemd/`` and
``man/`` (the wheel carries those). tests/ship checks that all of them are
current.
"""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec
import msgspec.inspect as mi

from agentctl.parser import EPILOG
from agentctl.commands.completion import command_tree, iter_commands
from agentd.protocol import errors, events, methods
from agentd.shared import config
from agentd.shared.config import ENV_VARS

ROOT = Path(__file__).resolve().parent.parent

# Every config key, described once (docs/configuration.md and agentd.toml(5)).
KEY_DOCS: dict[str, str] = {
    "daemon.socket": "The Unix socket path. Default: `$XDG_RUNTIME_DIR/agentd/agentd.sock`.",
    "daemon.db": "The SQLite database file. Default: `~/.local/share/agentd/agentd.db`.",
    "daemon.artifacts_dir": "Where goals' files are written (one directory per goal). Default: `artifacts/` beside the database.",
    "daemon.log_level": "`trace`, `debug`, `info`, `warning` or `error` (`warn` is accepted for `warning`). `agentctl server reload` re-reads it.",
    "daemon.max_concurrent_runs": "How many runs execute at once; further runs wait `pending`.",
    "daemon.shutdown_grace_s": "On SIGTERM, how long running runs get to finish before they are cancelled (they resume at the next start).",
    "daemon.synchronous": "SQLite `synchronous` with WAL: `normal` (a committed transaction may be lost on power loss, never corrupted) or `full` (durable on power loss, slower writes).",
    "daemon.client_idle_timeout_s": "A connection that sends no request for this long (and watches nothing) is closed.",
    "daemon.partial_line_timeout_s": "A request line not completed within this long is dropped and the connection closed.",
    "daemon.max_connections": "Connections served at once; more are refused.",
    "provider.name": "The LLM provider: `openai`, `openrouter` or `ollama`.",
    "provider.model": "The model, when the provider's own section names none.",
    "provider.timeout_s": "Timeout of one model request.",
    "provider.max_retries": "Retries of a transient provider error (429, 5xx, timeout, connection).",
    "provider.retry_max_delay_s": "The largest delay between retries (`Retry-After` is honoured up to it).",
    "provider.check_on_start": "Check at start-up that the model can call tools (`agentd --no-provider-check` turns it off).",
    "provider.wait_for_provider_s": "How long a run waits for a degraded (unreachable) provider before it fails.",
    "provider.retry_base_delay_s": "The first retry delay; later ones double up to `retry_max_delay_s` (full jitter).",
    "provider.assume_tools": "Accept an OpenAI-compatible server's model that is not on the known tool-calling list without the sample tool call that checks it at start-up.",
    "provider.max_answer_bytes": "The largest model answer read, decoded (a larger or endlessly compressed one fails the call, naming this cap).",
    "provider.http_referer": "OpenRouter attribution header `HTTP-Referer`.",
    "provider.app_title": "OpenRouter attribution header `X-Title`.",
    "provider.max_tokens": "The cap on each answer's length, sent with every model call (`max_tokens`; `max_completion_tokens` for OpenAI's o-series and gpt-5 models, where it includes their reasoning; Ollama's `num_predict`). It is also the answer side of a call's worst-case cost when a money budget applies.",
    "openai.api_key": "OpenAI API key (secret).",
    "openai.model": "OpenAI model, e.g. `gpt-4o`.",
    "openai.base_url": "Base URL of any OpenAI-compatible server. Default: OpenAI's.",
    "openrouter.api_key": "OpenRouter API key (secret).",
    "openrouter.model": "OpenRouter model, e.g. `anthropic/claude-3.5-sonnet`.",
    "openrouter.base_url": "Default: `https://openrouter.ai/api/v1`.",
    "ollama.api_key": "Sent as a bearer token, for an Ollama behind an authenticating proxy (secret).",
    "ollama.model": "Ollama model, e.g. `llama3.1`.",
    "ollama.base_url": "Default: `http://localhost:11434`.",
    "tools.timeout_s": "Default timeout of one tool call.",
    "tools.timeouts": "Per-tool timeouts, e.g. `{ fetch_page = 45 }`.",
    "tools.allow_private_networks": "Let the HTTP tools reach loopback, private and link-local addresses (off: only global addresses).",
    "tools.max_fetch_bytes": "The largest response body the HTTP tools read.",
    "tools.fetch_timeout_s": "Timeout of one HTTP fetch.",
    "tools.max_redirects": "Redirects followed (each re-checked).",
    "tools.search_backend": "`duckduckgo` (its HTML endpoint) or `searxng`.",
    "tools.duckduckgo_url": "The DuckDuckGo HTML endpoint.",
    "tools.searxng_url": "A SearXNG instance's base URL (for `search_backend = \"searxng\"`).",
    "tools.file_quota_bytes": "The size quota of one goal's artifacts directory.",
    "tools.observation_limit": "The longest tool observation (characters) that goes back to the model.",
    "tools.user_agent": "The HTTP tools' User-Agent.",
    "tools.private_hosts_allowed": "Hosts (`host` or `host:port`) the HTTP tools may reach although they resolve to non-global addresses, e.g. a LAN webhook receiver.",
    "tools.delivery_attempts": "Attempts per webhook or email delivery.",
    "tools.delivery_backoff_s": "The first delay between delivery attempts (doubles).",
    "smtp.host": "The SMTP server; without it `send_email` is unavailable.",
    "smtp.port": "The SMTP port.",
    "smtp.security": "`starttls`, `ssl` (implicit TLS) or `none`.",
    "smtp.username": "SMTP login.",
    "smtp.password": "SMTP password (secret).",
    "smtp.sender": "The From address.",
    "smtp.timeout_s": "Timeout of one SMTP conversation.",
    "runs.time_limit_s": "Default wall-clock limit of one run (a goal's `--time-limit` overrides it); empty for none.",
    "runs.max_recoveries": "A run interrupted by a crash more than this many times fails instead of resuming again.",
    "runs.max_repeated_mistakes": "The same model mistake (bad arguments, unknown tool) repeated more than this many times in a row fails the run.",
    "budgets.run_usd": "Money budget of one run in US dollars, for goals without their own (`goal create --max-cost`); empty for none.",
    "budgets.goal_per_day_usd": "Money budget of all of a goal's runs in one UTC day, for goals without their own (`--max-cost-per-day`).",
    "budgets.goal_per_month_usd": "Money budget of all of a goal's runs in one UTC month, for goals without their own (`--max-cost-per-month`).",
    "budgets.daemon_per_day_usd": "Money budget of every model call of the daemon in one UTC day.",
    "mcp.servers": "MCP servers whose tools goals may use: `[[mcp.servers]]` tables with `name`, and `command`/`args`/`env`/`cwd` (stdio) or `url`/`headers` (streamable HTTP), `enabled`, `timeout_s` (per call), `start_timeout_s`. See docs/mcp.md.",
    "mcp.restart_max_delay_s": "A failed MCP server is started again after 1 s, then 2, 4, ... up to this.",
    "mcp.ping_interval_s": "A connected MCP server is pinged this often; no answer marks it unavailable and restarts it.",
    "notify.default": "The notify mode of goals that set none (`goal create --notify`): `always` sends the completion webhook and email after every run; `on_change` only when the run's result (summary and written files, dates and ids ignored) differs from the last successful run's. See docs/notify.md.",
    "alerts.quiet_periods": "Alert once when a scheduled goal had no successful run for this many of its periods (a goal's `--alert-quiet` overrides it); 0: never.",
    "alerts.failed_runs": "Alert once when a scheduled goal's last this-many runs failed (a goal's `--alert-failed` overrides it); 0: never.",
    "alerts.webhook_url": "Where every goal's alerts and recovery notices are POSTed (events `goal.alert`, `goal.recovered`); a private host needs `tools.private_hosts_allowed`.",
    "alerts.webhook_secret": "`whsec_` + base64: signs the alert webhooks (Standard Webhooks) (secret). Without it they are sent unsigned.",
    "alerts.email_to": "Addresses that get every goal's alerts and recovery notices by email (needs `[smtp]`).",
}


# ---------------------------------------------------------------- types


_SCALARS = {mi.StrType: "string", mi.BoolType: "boolean", mi.IntType: "integer", mi.FloatType: "number",
            mi.NoneType: "null", mi.AnyType: "any"}


def _range(t: mi.Type) -> str:
    bounds = [f"{word} {getattr(t, attr)}" for attr, word in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
              if getattr(t, attr, None) is not None]
    return f" ({', '.join(bounds)})" if bounds else ""


def _type(t: mi.Type, links: bool = True) -> str:
    scalar = _SCALARS.get(type(t))
    if scalar is not None:
        return scalar + _range(t)
    if isinstance(t, mi.LiteralType):
        return " \\| ".join(f'`"{v}"`' if isinstance(v, str) else f"`{v}`" for v in t.values)
    if isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
        return f"array of {_type(t.item_type, links)}"
    if isinstance(t, mi.DictType):
        return f"object of {_type(t.value_type, links)}"
    if isinstance(t, mi.UnionType):
        return " \\| ".join(_type(x, links) for x in t.types)
    if isinstance(t, mi.StructType):
        name = t.cls.__name__
        return f"[{name}](#{name.lower()})" if links else name
    return type(t).__name__


def _default(f: mi.Field) -> str:
    if f.required:
        return "required"
    d = f.default if f.default is not mi.NODEFAULT else (f.default_factory() if f.default_factory is not mi.NODEFAULT else None)
    if isinstance(d, msgspec.Struct):
        return "see type"
    return "`" + msgspec.json.encode(d).decode() + "`"


def _struct_table(cls: type) -> list[str]:
    info = mi.type_info(cls)
    if not info.fields:
        return ["(no fields)", ""]
    out = ["| field | type | default |", "|---|---|---|"]
    for f in info.fields:
        out.append(f"| `{f.encode_name}` | {_type(f.type)} | {_default(f)} |")
    return out + [""]


def _reachable(types: list[type]) -> list[type]:
    seen: dict[type, None] = {}

    def visit(t: mi.Type) -> None:
        if isinstance(t, mi.StructType):
            if t.cls in seen:
                return
            seen[t.cls] = None
            for f in t.fields:
                visit(f.type)
        for attr in ("item_type", "value_type"):
            if hasattr(t, attr):
                visit(getattr(t, attr))
        if isinstance(t, mi.UnionType):
            for x in t.types:
                visit(x)

    for cls in types:
        visit(mi.type_info(cls))
    return list(seen)


def rpc_reference() -> str:

    kinds = {cls.kind: cls for cls in errors.BY_CODE.values()}
    out = ["# RPC reference", "",
           "<!-- Generated by `python -m scripts.docgen` from agentd/protocol/methods.py, events.py and "
           "agentd/protocol/errors.py. Do not edit: tests/ship/test_ship_docs.py checks that it is current. -->", "",
           "JSON-RPC 2.0 over the Unix socket `$XDG_RUNTIME_DIR/agentd/agentd.sock`: one compact JSON "
           "object per line, each ending in `\\n`; lines longer than 1 MiB are refused. Methods are "
           "`noun.verb`. Timestamps are ISO-8601 UTC strings (`2026-11-21T16:00:00.000Z`). `id` "
           "parameters accept a unique prefix. Unknown parameters are an error (`-32602`, with the field "
           "path in `data`).", "",
           "## Methods", ""]
    for name in methods.METHODS:
        out.append(f"- [`{name}`](#{name.replace('.', '')})")
    out.append("")
    for name, spec in methods.METHODS.items():
        out += [f"### {name}", "", spec.doc.replace("``", "`"), "",
                f"**Params** (`{spec.params.__name__}`):", ""]
        out += _struct_table(spec.params)
        out += [f"**Result**: {_type(mi.type_info(spec.result))}", ""]
        errs = ", ".join(f"`{kinds[k].code}` {k}" for k in spec.errors)
        out += [f"**Errors**: {errs or 'only the generic ones'}", ""]
    out += ["## Notifications", "", "Sent by the daemon without an `id`:", ""]
    for name, doc in methods.NOTIFICATIONS.items():
        out.append(f"- `{name}`: {doc}")
    out += ["", "## Events", "",
            "`run.event` carries one event in `event`; its `type` field says which. Every event has a "
            "per-run sequence number `seq` (1, 2, 3, … with no gaps) and is journaled, so "
            "`run.watch {run_id, since}` replays exactly what a client missed. The events of a model call "
            "in flight (`model_call_started`, `model_retry`, `text_delta`) are the exception: sent live only, "
            "never journaled, with the `seq` of the journaled event before them; a watcher that attaches "
            "mid-call gets them right after its replay (the text so far as one `text_delta`). `text_delta` "
            "goes only to watchers that asked for deltas, and to every one of them.", ""]
    out += ["Envelope (`run.event` params):", ""] + _struct_table(events.EventEnvelope)
    for cls in events.EVENT_TYPES:
        tag = mi.type_info(cls).tag
        out += [f"### {tag}", ""]
        if cls.__doc__:
            out += [" ".join(cls.__doc__.split()), ""]
        out += _struct_table(cls)
    out += ["## Errors", "",
            "| code | kind | meaning |", "|---|---|---|",
            "| -32700 | | parse error: the line is not JSON |",
            "| -32600 | | invalid request (also: a line over 1 MiB, then the connection closes) |",
            "| -32601 | | method not found |",
            "| -32602 | | invalid params; `data.field` names the field |",
            "| -32603 | | internal error |"]
    for code, cls in sorted(errors.BY_CODE.items(), reverse=True):
        out.append(f"| {code} | `{cls.kind}` | {cls.__name__} |")
    out += ["", "Application errors carry `data.kind` and, where they apply, `data.field`, "
            "`data.candidates` (ambiguous id prefix) and the ids involved.", ""]
    results = [s.result for s in methods.METHODS.values()]
    out += ["## Types", ""]
    for cls in _reachable(results + [s.params for s in methods.METHODS.values()]):
        out += [f"### {cls.__name__}", ""]
        if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):
            out += [" ".join(cls.__doc__.split()).replace("``", "`"), ""]
        out += _struct_table(cls)
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- config


def config_keys() -> list[tuple[str, str, str, mi.Field]]:
    """(section, key, "section.key", field) for every key of the config file."""

    out = []
    for sf in mi.type_info(config.Config).fields:
        if not isinstance(sf.type, mi.StructType):
            continue
        for f in sf.type.fields:
            out.append((sf.encode_name, f.encode_name, f"{sf.encode_name}.{f.encode_name}", f))
    return out


def _env_for(key: str) -> list[str]:

    return [v for v, (s, k) in ENV_VARS.items() if f"{s}.{k}" == key]


def configuration() -> str:
    missing = [k for *_, k, _ in config_keys() if k not in KEY_DOCS]
    if missing:
        raise SystemExit(f"scripts.docgen: KEY_DOCS lacks {', '.join(missing)}")
    out = ["# Configuration", "",
           "<!-- Generated by `python -m scripts.docgen` from agentd/shared/config.py. Do not edit. -->", "",
           "agentd reads `~/.config/agentd/config.toml` (`$XDG_CONFIG_HOME/agentd/config.toml`; "
           "`--config` or `AGENTD_CONFIG` name another file), then the environment, then its "
           "command-line flags: **flag > environment > config file > default**. `agentctl init` writes "
           "the file (mode 0600, it may hold keys); `agentctl config show` prints the effective values "
           "and where each comes from; `agentctl config set SECTION.KEY VALUE` changes one: VALUE is TOML "
           "of the key's type, as it would follow `key =` in the file (`true`, `8`, `'[\"127.0.0.1:8799\"]'`, "
           "`'{ fetch_page = 45 }'`; a string needs no quotes, a list may be comma-separated), and a value "
           "of the wrong type or out of range is refused with the type the key takes. Unknown keys, wrong "
           "types and values out of range are an error that names the key (agentd exits with status 3). "
           "Under systemd, "
           "`~/.config/agentd/env` (KEY=VALUE lines) is read by the unit for the environment variables.", "",
           "```toml", "[provider]", 'name = "openai"', "", "[openai]", 'api_key = "sk-..."',
           'model = "gpt-4o"', "", "[daemon]", "max_concurrent_runs = 2", 'synchronous = "full"', "```", "",
           "## Paths", "",
           "| what | default |", "|---|---|",
           "| config file | `~/.config/agentd/config.toml` |",
           "| environment file (systemd unit) | `~/.config/agentd/env` |",
           "| database | `~/.local/share/agentd/agentd.db` |",
           "| artifacts | `~/.local/share/agentd/artifacts/<goal-id>/` |",
           "| logs (`agentctl server start`), REPL history | `~/.local/state/agentd/` |",
           "| socket | `$XDG_RUNTIME_DIR/agentd/agentd.sock` |", "",
           "## Durability", "",
           "The database runs in WAL mode with `synchronous = NORMAL` by default: a crash of agentd "
           "never loses a committed step, and a power loss may lose the last transactions but never "
           "corrupts the file. `daemon.synchronous = \"full\"` makes every commit durable on power loss "
           "too, at the cost of an fsync per commit.", "",
           "## A local model server", "",
           "Any OpenAI-compatible server (llama.cpp's `llama-server`, vLLM, LM Studio, LocalAI, ...) works "
           "with `LLM_PROVIDER=openai`, `OPENAI_BASE_URL` (e.g. `http://127.0.0.1:8080/v1`) and "
           "`OPENAI_MODEL`. A custom base URL needs no API key: without `OPENAI_API_KEY` requests go "
           "out without an `Authorization` header (set the key when the server wants one). At start-up "
           "the daemon asks the server for its models and, for a model that is not known to call tools, "
           "makes one small sample tool call: native tool calls and tool calls written as text (which "
           "agentd recovers) both work; a model that does not use the tool is refused with its name. "
           "`LLM_ASSUME_TOOLS=true` (`provider.assume_tools`) skips the sample call, "
           "`LLM_CHECK_ON_START=false` (`provider.check_on_start`) skips the whole check.", "",
           "## Prices and money budgets", "",
           "Every model call is priced from the usage the server reports (prompt, cached prompt, answer; "
           "reasoning is part of the answer). Prices come from `[prices.\"MODEL\"]` tables, in US dollars "
           "per million tokens, else from the genai-prices database installed with agentd (read from "
           "disk, never fetched) for OpenAI, OpenRouter and the OpenAI-compatible services it knows by "
           "their URL. A local server's model has no price until one is written; a free one says so:", "",
           "```toml", '[prices."qwen2.5-coder:1.5b"]', "input = 0", "output = 0", "",
           '[prices."my-finetune"]', "input = 0.30", "cached_input = 0.15  # default: input", "output = 1.20",
           "```", "",
           "Budgets (`[budgets]` below, and per goal with `goal create --max-cost`, `--max-cost-per-day`, "
           "`--max-cost-per-month`) are checked before every model call against its worst case (the "
           "prompt's size bound and an answer of `provider.max_tokens`); a call that could exceed one is "
           "not made and the run ends with `budget_exhausted` and the figures. When a budget applies and "
           "the model has no price, the run does not start. Days and months are UTC. See "
           "[budgets.md](budgets.md).", "",
           "## Keys", ""]
    section = None
    for sec, key, full, f in config_keys():
        if sec != section:
            section = sec
            out += [f"### [{sec}]", "", "| key | type | default | environment | description |",
                    "|---|---|---|---|---|"]
        env = ", ".join(f"`{v}`" for v in _env_for(full)) or ""
        out.append(f"| `{key}` | {_type(f.type, links=False)} | {_default(f)} | {env} | {KEY_DOCS[full]} |")
    out += ["", "## Environment variables", "", "| variable | key |", "|---|---|"]

    for var, (s, k) in ENV_VARS.items():
        out.append(f"| `{var}` | `{s}.{k}` |")
    out += ["", "Also read: `AGENTD_CONFIG` (the config file), `XDG_CONFIG_HOME`, `XDG_DATA_HOME`, "
            "`XDG_STATE_HOME`, `XDG_RUNTIME_DIR` (the directories above), `NO_COLOR` (agentctl), and under "
            "systemd `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `LISTEN_FDS`, `JOURNAL_STREAM`.", ""]
    return "\n".join(out)


# ---------------------------------------------------------------- roff


def _roff(text: str) -> str:
    """Inline text for roff: backslashes, backticks to bold, no leading dot."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    parts = text.split("`")
    for i in range(1, len(parts), 2):
        parts[i] = "\\fB" + parts[i] + "\\fR"
    text = "".join(parts)
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def config_man() -> str:
    template = (ROOT / "man" / "agentd.toml.5.in").read_text()
    keys: list[str] = []
    section = None
    for sec, key, full, f in config_keys():
        if sec != section:
            section = sec
            keys += [".SS [" + sec + "]"]
        env = _env_for(full)
        kind = _type(f.type, links=False).replace("\\|", "|").replace("`", "")
        default = _default(f).replace("`", "")
        keys += [".TP", f"\\fB{_roff(key)}\\fR (\\fI{_roff(kind)}\\fR, default {_roff(default)})",
                 _roff(KEY_DOCS[full]) + (f" Environment: {_roff(', '.join(env))}." if env else "")]

    envs = []
    for var, (s, k) in ENV_VARS.items():
        envs += [".TP", f"\\fB{_roff(var)}\\fR", f"Sets \\fB{_roff(s + '.' + k)}\\fR."]
    return (template.replace("@KEYS@\n", "\n".join(keys) + "\n")
            .replace("@ENV_VARS@\n", "\n".join(envs) + "\n"))


# ---------------------------------------------------------------- cli


def cli_reference() -> str:

    tree = command_tree()
    out = ["# agentctl reference", "",
           "<!-- Generated by `python -m scripts.docgen` from the argparse tree of agentctl/cli.py. "
           "Do not edit. -->", "",
           "`agentctl [--json] [-q] [--socket PATH] [--config FILE] [--timeout SECONDS] COMMAND ...`", "",
           "Options before the command apply to it; `--json`, `-q` and `--socket` are also accepted after "
           "it. See also `man agentctl`.", "", "```text", EPILOG, "```", ""]
    for cmd in iter_commands(tree):
        if cmd.subcommands and cmd.path:
            continue
        title = "agentctl " + " ".join(cmd.path) if cmd.path else "agentctl"
        out += [f"## {title}", ""]
        if cmd.description:
            out += [cmd.description.replace("\n", " "), ""]
        if cmd.path:
            parent = tree
            for w in cmd.path[:-1]:
                parent = parent.subcommands[w]
            aliases = [a for a, n in parent.aliases.items() if n == cmd.path[-1]]
            if aliases:
                out += ["Aliases: " + ", ".join(f"`{a}`" for a in aliases), ""]
        usage = title + "".join(f" {p.name.upper() if p.name.islower() else p.name}" for p in cmd.positionals)
        out += [f"`{usage}`", ""]
        rows = []
        for p in cmd.positionals:
            sep = " \\| "
            choice = f" ({sep.join(p.choices)})" if p.choices else ""
            rows.append(f"| `{p.name}` | {p.help}{choice} |")
        for o in cmd.options:
            if o.flags[-1] in ("--help",):
                continue
            flag = ", ".join(o.flags) + (f" {o.metavar or o.flags[-1].lstrip('-').upper()}" if o.takes_value and not o.choices else "")
            if o.choices:
                flag += " {" + ",".join(o.choices) + "}"
            text = o.help.replace("|", "\\|")
            rows.append(f"| `{flag}` | {text} |")
        if rows:
            out += ["| argument | meaning |", "|---|---|"] + rows + [""]
    return "\n".join(out)


# ---------------------------------------------------------------- all


def generated() -> dict[Path, str | bytes]:
    files: dict[Path, str | bytes] = {
        ROOT / "docs" / "rpc-reference.md": rpc_reference(),
        ROOT / "docs" / "configuration.md": configuration(),
        ROOT / "docs" / "cli-reference.md": cli_reference(),
        ROOT / "man" / "agentd.toml.5": config_man(),
    }
    data = ROOT / "agentd" / "data"
    for name in ("agentd.service", "agentd.socket"):
        files[data / "systemd" / name] = (ROOT / "systemd" / name).read_bytes()
    for name in ("agentctl.1", "agentd.8"):
        files[data / "man" / name] = (ROOT / "man" / name).read_bytes()
    files[data / "man" / "agentd.toml.5"] = files[ROOT / "man" / "agentd.toml.5"].encode()
    return files


def _outdated() -> dict[Path, bytes]:
    """The generated files whose content on disk differs, with what they should hold."""
    out = {}
    for path, content in generated().items():
        want = content.encode() if isinstance(content, str) else content
        if not path.exists() or path.read_bytes() != want:
            out[path] = want
    return out


def stale() -> list[Path]:
    return list(_outdated())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--check" in argv:
        bad = stale()
        for p in bad:
            print(f"stale: {p.relative_to(ROOT)} (run `python -m scripts.docgen`)", file=sys.stderr)
        return 1 if bad else 0
    for path, want in _outdated().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(want)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
