"""The log levels: one vocabulary for ``agentd --log-level``, ``daemon.log_level``
in the config file, ``AGENTD_LOG_LEVEL``, the ``daemon.reload`` RPC and
``agentctl server reload --log-level``.

The names are the ones the log lines themselves carry (``"level": "warning"``)
and journald's priorities use. ``warn`` (the name agentd's flag and config once
used) is still accepted and means ``warning``. Stdlib only: agentctl imports it.
"""

from __future__ import annotations

from typing import Literal, get_args

LogLevel = Literal["trace", "debug", "info", "warning", "error"]
LEVELS: tuple[str, ...] = get_args(LogLevel)
ALIASES = {"warn": "warning"}
DEFAULT = "info"
HELP = "trace, debug, info, warning or error (warn is accepted for warning)"


def canonical(name: str) -> str | None:
    """The level ``name`` means (any case, aliases resolved), or None when it is
    not a level."""
    low = name.strip().lower()
    low = ALIASES.get(low, low)
    return low if low in LEVELS else None


def argparse_type(text: str) -> str:
    """An argparse ``type=``: the canonical level, or the usage error naming
    the levels (paired with ``choices=LEVELS`` so help and completion list them)."""
    import argparse

    level = canonical(text)
    if level is None:
        raise argparse.ArgumentTypeError(f"unknown log level {text!r}; use {HELP}")
    return level
