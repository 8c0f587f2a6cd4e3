"""``agentctl`` entry point (console script ``agentctl = agentctl.__main__:main``).

Imports only argparse, socket, json and agentctl's own small modules for a
typical command; see ``agentctl.cli`` for the exit statuses.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    from .cli import run

    try:
        code = run(argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`agentctl run list | head`): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except KeyboardInterrupt:
        code = 130
    return code


if __name__ == "__main__":
    sys.exit(main())
