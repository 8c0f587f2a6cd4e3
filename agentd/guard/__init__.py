"""The exfiltration guard: once untrusted content has entered a run, data may
leave only to destinations the person named for the goal (see ``policy``)."""

from .policy import BLOCKED, TAINTED, GuardRefused, RunGuard, Verdict

__all__ = ["BLOCKED", "TAINTED", "GuardRefused", "RunGuard", "Verdict"]
