"""A goal's approval policy: per tool ``allow`` (the default), ``ask`` or ``deny``.

``ask`` is for tools whose calls act on the world: the built-in side-effect
tools (``send_email``, ``send_webhook``) and tools of external (MCP) servers
that do not declare themselves read-only. Asking before a read-only tool
would only stall the run, so it is refused with the reason; ``deny`` works for
any tool (the call comes back to the model as an error, the run goes on).
"""

from __future__ import annotations

from typing import Any

from ..protocol.errors import ValidationFailed
from ..protocol import methods as m

POLICIES = ("allow", "ask", "deny")


def askable(tool: Any) -> bool:
    """Whether ``tool`` may be set to ``ask``: it has side effects, or it comes
    from an external server and does not declare itself read-only."""
    if getattr(tool, "side_effect", False):
        return True
    return bool(getattr(tool, "external", False)) and not getattr(tool, "read_only", False)


def policy_for(params: m.GoalParams, tool_name: str) -> str:
    return params.approvals.get(tool_name, "allow")


def check(registry: Any, params: m.GoalParams, prefix: str = "params.") -> None:
    """Refuse an unknown tool name, an unknown policy, ``ask`` on a read-only
    tool, and a timeout below one second or above 30 days.

    Raises:
        ValidationFailed: naming the field, the value and what to write instead.
    """
    t = params.approval_timeout_s
    if not 1 <= t <= 30 * 86400:
        raise ValidationFailed(f"approval timeout must be between 1 second and 30 days (in seconds), not {t}",
                               field=prefix + "approval_timeout_s", value=t)
    if registry is None:
        return
    for name, policy in params.approvals.items():
        if name not in registry:
            raise ValidationFailed(f"approval policy for unknown tool {name!r}; known tools: "
                                   f"{', '.join(sorted(registry.names()))}", field=prefix + "approvals", value=name)
        if policy == "ask" and not askable(registry.get(name)):
            side = sorted(n for n in registry.names() if askable(registry.get(n)))
            raise ValidationFailed(f"{name} has no side effects, so asking before it would only stall the run; "
                                   f"'ask' is for: {', '.join(side)} (use 'deny' to forbid {name})",
                                   field=prefix + "approvals", value=name)
