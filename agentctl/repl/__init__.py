"""The interactive side of agentctl: the REPL (``agentctl`` alone on a
terminal, ``agentctl shell``) and the prompts of ``goal create`` and ``init``.

prompt_toolkit is imported here and nowhere else, and only when one of these
starts: a plain command never pays for it. prompt_toolkit runs on asyncio;
agentctl stays free of trio.

Modules: ``shell`` (the REPL loop, toolbar, live events), ``completion``
(nested completion of commands, options and live ids), ``prompts`` (the
interactive forms).
"""

from __future__ import annotations

from collections.abc import Callable

from ..context import Context


def main(ctx: Context, run: Callable[..., int]) -> int:
    """The REPL until the person leaves it; ``run`` runs each command typed
    (``agentctl.cli.run``). Returns the exit status of the last command."""
    from .shell import Shell

    return Shell(ctx, run).run()
