"""agentctl's command line: parse (the tree is ``agentctl.parser``), dispatch,
map errors to exit statuses.

Each command names its handler as ``"noun:verb"``; the module
``agentctl.commands.<noun>`` is imported only when that command runs, so a
command pays for its own imports and nothing else.

Exit status:

    0    ok
    1    the operation failed (the daemon answered with an error, or the
         command could not do what was asked)
    2    usage error (bad options or arguments)
    3    agentd is not reachable (no socket, nothing listening, permission
         denied); the message on stderr says how to start it
    4    agentd answered but is not ready or is degraded (``server status``)
    130  interrupted (Ctrl-C)

Data goes to stdout, messages to stderr. ``--json`` prints the RPC result as
the daemon encodes it (the Result structs of ``agentd.protocol.methods``).
Errors are always sentences on stderr (``agentctl: …``) with the exit status
above; for an ambiguous id prefix the candidates are listed.
"""

from __future__ import annotations

import sys

from .context import (
    EXIT_FAILED, EXIT_INTERRUPTED, EXIT_UNREACHABLE, EXIT_USAGE, Context, Failure, UsageError,
)
from .parser import build_parser


def _version() -> str:
    from agentd import __version__

    return f"agentctl {__version__}"


def _dispatch(handler: str, ctx: Context) -> int:
    noun, verb = handler.split(":")
    module = __import__(f"agentctl.commands.{noun}", fromlist=["_"])
    code = getattr(module, f"cmd_{verb}")(ctx)
    return 0 if code is None else int(code)


def report_rpc_error(ctx: Context, exc) -> None:
    message = exc.message
    if exc.field and exc.field not in message:
        message += f" (field: {exc.field})"
    ctx.stderr.write(f"agentctl: error: {message}\n")
    if exc.candidates:
        ctx.stderr.write("  candidates:\n")
        for c in exc.candidates:
            if isinstance(c, dict):
                label = "  ".join(str(v) for k, v in c.items() if k != "id" and v)
                ctx.stderr.write(f"    {c.get('id', '?')}  {label}\n")
            else:
                names = exc.data.get("names") if isinstance(exc.data, dict) else None
                name = names.get(c) if isinstance(names, dict) else None
                ctx.stderr.write(f"    {c}  {name}\n" if name else f"    {c}\n")


def _report(ctx: Context, message: str) -> None:
    ctx.stderr.write(f"agentctl: {message}\n")


def _on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _shell(ctx: Context) -> int:
    """The REPL (``agentctl shell``, or ``agentctl`` alone on a terminal),
    which runs each command typed into it with :func:`run`."""
    if not _on_terminal():
        raise UsageError("the shell needs a terminal (stdin and stdout); run commands directly instead")
    from .repl import main

    return main(ctx, run)


def run(argv: list[str] | None = None, *, repl: bool = False) -> int:
    """Parse ``argv``, run the command, return the exit status. ``repl``: the
    REPL runs it (its hints then name commands as the REPL takes them)."""
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error
    if args.version:
        print(_version())
        return 0
    handler = getattr(args, "handler", None)
    if args.noun is None and not _on_terminal():
        parser.print_usage(sys.stderr)
        sys.stderr.write("agentctl: error: a command is required (see agentctl --help)\n")
        return EXIT_USAGE
    ctx = Context(args, repl=repl)
    from .client import ClientError, DaemonNotReachable, RpcError

    try:
        return _shell(ctx) if handler is None else _dispatch(handler, ctx)
    except DaemonNotReachable as exc:
        _report(ctx, str(exc))
        return EXIT_UNREACHABLE
    except RpcError as exc:
        report_rpc_error(ctx, exc)
        return EXIT_FAILED
    except ClientError as exc:
        _report(ctx, str(exc))
        return EXIT_FAILED
    except UsageError as exc:
        _report(ctx, f"error: {exc}")
        return EXIT_USAGE
    except Failure as exc:
        _report(ctx, str(exc))
        return exc.code
    except KeyboardInterrupt:
        ctx.stderr.write("\n")
        return EXIT_INTERRUPTED
    finally:
        ctx.close()
