"""``agentctl shell``: the REPL (``agentctl.repl``; prompt_toolkit is imported there only)."""

from __future__ import annotations

from ..context import Context, UsageError


def cmd_shell(ctx: Context) -> int:
    import sys

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the shell needs a terminal (stdin and stdout); run commands directly instead")
    from ..repl import main

    return main(ctx)
