"""The pure scheduling core: cron evaluation in IANA timezones (``cron``), plain-English
descriptions (``describe``) and tick decisions (``policy``). No I/O and no clock: callers pass
the current time in, as epoch milliseconds."""

from .cron import count_between, fires_between, is_fixed_time, last_fires, next_fires, validate
from .describe import describe
from .policy import ActiveRun, OverlapDecision, TickDecision, decide_overlap, on_time, plan_catchup

__all__ = [
    "ActiveRun", "OverlapDecision", "TickDecision", "count_between", "decide_overlap", "describe",
    "fires_between", "is_fixed_time", "last_fires", "next_fires", "on_time", "plan_catchup", "validate",
]
