"""Shared helpers for the tool tests (imported by name: tests have no packages)."""

from __future__ import annotations

from typing import Any

import trio


def run(fn, *args, timeout: float = 20.0) -> Any:
    async def main():
        with trio.fail_after(timeout):
            return await fn(*args)
    return trio.run(main)
