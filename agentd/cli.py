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

from . import __version__, loglevels

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
    p.add_argument("--max-concurrent-runs", type=int, metavar="N", help="runs executing at once (default 4)")
    p.add_argument("--no-provider-check", action="store_true",
                   help="skip the tool-calling check at start (provider.check_on_start = false)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from . import config as config_mod
    from . import log
    from .errors import AgentdError, ConfigError, ProviderIncompatible

    overrides = {
        "daemon": {"socket": str(args.socket.absolute()) if args.socket else None,
                   "db": str(args.db.absolute()) if args.db else None,
                   "log_level": args.log_level, "max_concurrent_runs": args.max_concurrent_runs},
        "provider": {"check_on_start": False if args.no_provider_check else None},
    }
    try:
        cfg = config_mod.load(args.config, overrides=overrides)
        log.setup(cfg.daemon.log_level)
    except AgentdError as exc:
        print(f"agentd: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG

    import trio

    from .daemon import serve
    from .rpc.listener import ListenerError

    _log = log.get("agentd")
    def load_config():  # daemon.reload: the same file, environment and flags
        return config_mod.load(args.config, overrides=overrides)

    try:
        trio.run(partial(serve, cfg, load_config=load_config))
    except (ConfigError, ProviderIncompatible) as exc:
        _log.error("cannot start", error=exc.message)
        print(f"agentd: cannot start: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    except ListenerError as exc:
        _log.error("cannot start", error=str(exc))
        print(f"agentd: cannot start: {exc}", file=sys.stderr)
        return EXIT_SOCKET
    except AgentdError as exc:
        _log.error("stopped on error", error=exc.message)
        print(f"agentd: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
