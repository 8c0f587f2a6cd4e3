"""The scheduler's pure decisions (``policy``): catch-up after downtime and overlap with active
runs. No I/O and no clock: callers pass the current time in, as epoch milliseconds. Cron
evaluation itself is ``agentd.shared.cron`` (agentctl checks schedules with it too)."""
