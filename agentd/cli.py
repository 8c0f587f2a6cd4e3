"""The ``agentd`` command: flags -> Config -> trio.run(daemon.serve).

Runs in the foreground, as systemd expects. Exit status:
  0  stopped cleanly (SIGTERM, SIGINT, daemon.stop)
  1  failed while running (a bug or the store became unusable)
  2  usage error (bad flags)
  3  configuration error: no provider, a model that cannot call tools,
     an invalid config file (systemd: RestartPreventExitStatus=3 4)
  4  the socket cannot be used: another agentd owns it, or its directory
     is unsafe
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from . import __version__
from .protocol import loglevels

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG, EXIT_SOCKET = 0, 1, 2, 3, 4


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="agentd",
        description="Run the agentd daemon in the foreground: schedules goals, runs agents, serves agentctl.",
        epilog="Exit status: 0 stopped cleanly, 1 failed, 2 usage error, 3 configuration error "
               "(no provider, incompatible model, bad config file), 4 socket in use or unsafe. "
               "See agentd(8) and agentd.toml(5).",
    )
    p.add_argument("--version", action="version", version=f"agentd {__version__}")
    p.add_argument("--socket", type=Path, help="Unix socket path (default $XDG_RUNTIME_DIR/agentd/agentd.sock; env AGENTD_SOCKET)")
    p.add_argument("--db", type=Path, help="SQLite database file (default ~/.local/share/agentd/agentd.db; env AGENTD_DB)")
    p.add_argument("--config", type=Path, help="config file (default ~/.config/agentd/config.toml; env AGENTD_CONFIG)")
    p.add_argument("--log-level", type=loglevels.argparse_type, choices=loglevels.LEVELS,
                   help=f"log level: {loglevels.HELP} (default info; env AGENTD_LOG_LEVEL)")
    p.add_argument("--log-format", choices=["auto", "json", "human"], default="auto",
                   help="log lines on stderr: json (one object per line), human, or auto (default): human on a "
                        "terminal, json otherwise and under systemd (JOURNAL_STREAM)")
    p.add_argument("--max-concurrent-runs", type=int, metavar="N", help="runs executing at once (default 4)")
    p.add_argument("--no-provider-check", action="store_true",
                   help="skip the tool-calling check at start (provider.check_on_start = false)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from .shared import config as config_mod
    from . import log
    from .protocol.errors import AgentdError, ConfigError, ProviderIncompatible

    overrides = {
        "daemon": {"socket": str(args.socket.absolute()) if args.socket else None,
                   "db": str(args.db.absolute()) if args.db else None,
                   "log_level": args.log_level, "max_concurrent_runs": args.max_concurrent_runs},
        "provider": {"check_on_start": False if args.no_provider_check else None},
    }
    try:
        cfg = config_mod.load(args.config, overrides=overrides)
        log.setup(cfg.daemon.log_level, fmt=args.log_format)
    except AgentdError as exc:
        print(f"agentd: {_for_here(exc.message)}", file=sys.stderr)
        return EXIT_CONFIG

    import trio

    from .daemon import serve
    from .rpc.listener import ListenerError

    _log = log.get("agentd")
    human = log.human_stream(sys.stderr, args.log_format)

    def fatal(what: str, message: str) -> None:
        """One message: a sentence for a person at a terminal, else one log
        line (the journal, or the log file that ``agentctl server start`` shows)."""
        message = _for_here(message)
        if human:
            print(f"agentd: {what}: {message}", file=sys.stderr)
        else:
            _log.error(what, error=message)

    def load_config():  # daemon.reload: the same file, environment and flags
        return config_mod.load(args.config, overrides=overrides)

    try:
        trio.run(partial(serve, cfg, load_config=load_config))
    except (ConfigError, ProviderIncompatible) as exc:
        fatal("cannot start", exc.message)
        return EXIT_CONFIG
    except ListenerError as exc:
        fatal("cannot start", str(exc))
        return EXIT_SOCKET
    except AgentdError as exc:
        fatal("stopped on error", exc.message)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


def agentctl_command() -> str:
    """How to run this installation's agentctl from here: ``agentctl`` when
    that is what PATH finds, else its path (``.venv/bin/agentctl`` in a
    checkout, where ``make run`` starts agentd without activating the venv)."""
    import os
    import shutil

    mine = Path(sys.executable).parent / "agentctl"
    if not mine.exists():
        return "agentctl"
    found = shutil.which("agentctl")
    if found and Path(found).resolve() == mine.resolve():
        return "agentctl"
    rel = os.path.relpath(mine)
    return rel if not rel.startswith("..") else str(mine)


def _for_here(message: str) -> str:
    """``message`` with ``agentctl …`` spelled as the agentctl that works from here."""
    ctl = agentctl_command()
    return message if ctl == "agentctl" else message.replace("`agentctl ", f"`{ctl} ")


if __name__ == "__main__":
    sys.exit(main())
