"""Start the real agentd with every registered tool made to raise.

    python failing_tools_daemon.py [agentd arguments]

The n-th call of each tool raises ``INJECTED[n]``; later calls run the real
tool. A test that calls every tool once per model turn sees every exception
type in every tool, and can then end the run with a real ``finish``. Everything else is the real daemon (``python -m agentd``): the
registry, its ContainedTool boundary, the breakers, the loop, the store.
"""

from __future__ import annotations

import errno
import sys
from collections import defaultdict

import httpx


class WeirdLibraryError(Exception):
    """An exception class no code of ours knows about."""


INJECTED: list[BaseException] = [
    ValueError("injected value error"),
    KeyError("injected-key"),
    OSError(errno.ENAMETOOLONG, "File name too long"),
    RecursionError("maximum recursion depth exceeded"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    WeirdLibraryError("injected by the test"),
    httpx.InvalidURL("Invalid URL component 'host'"),
    ExceptionGroup("injected group", [TypeError("one"), AttributeError("two")]),
]


def install() -> None:
    from agentd.tools.registry import default_registry

    calls: dict[str, int] = defaultdict(int)
    for name in default_registry().names():
        cls = type(default_registry()._tools[name])

        async def run(self, params, ctx, _name=name, _real=cls.run):
            n = calls[_name]
            calls[_name] += 1
            if n < len(INJECTED):
                raise INJECTED[n]
            return await _real(self, params, ctx)

        cls.run = run


if __name__ == "__main__":
    install()
    from agentd.cli import main

    sys.argv[0] = "agentd"
    sys.exit(main())
