"""One exception tree for agentd. Each class maps to one JSON-RPC error code
and one ``agentctl`` exit status.

    AgentdError                      -32000  generic application error   exit 1
    ├── NotFound                     -32001  no such goal/run/memory      exit 1
    ├── AmbiguousId                  -32002  id prefix matches several    exit 1
    ├── InvalidState                 -32003  e.g. cancel a finished run   exit 1
    ├── ValidationFailed             -32004  a value is wrong (cron, tz,  exit 1
    │                                         URL, tool name); data.field names it
    ├── ProviderError                -32010  the LLM provider failed       exit 1
    │   ├── ProviderUnavailable      -32011  unreachable / degraded
    │   ├── ProviderRejected         -32012  4xx from the provider (auth, bad request)
    │   ├── ProviderIncompatible     -32013  the model cannot call tools
    │   └── ProviderRateLimited      -32014  429 that survived the retries
    ├── StoreError                   -32020  the database refused a write  exit 1
    │   └── StoreUnavailable         -32021  read-only or disk full
    ├── ToolError                    -32030  a tool failed (model-visible)
    │   └── ToolRefused              -32031  a tool refused its input (SSRF, path escape...)
    ├── ShuttingDown                 -32040  the daemon is stopping       exit 1
    ├── ConfigError                  -32050  the configuration is wrong   exit 1
    └── RepeatedMistake              -32000  the model made one mistake too often in a row;
                                              it fails the run (the run's error), never a request

Protocol-level errors (-32700 parse, -32600 invalid request, -32601 method not
found, -32602 invalid params, -32603 internal) are not exceptions of this tree:
they are produced by ``agentd.rpc.dispatch`` from what went wrong with the
request itself.

Constructors never log; whoever catches an error decides what to report.
"""

from __future__ import annotations

from typing import Any


class AgentdError(Exception):
    """Base of every error agentd reports to a client.

    ``message`` is one human sentence that says what is wrong and, where it can,
    what to do. ``data`` is a JSON-serialisable mapping a client can act on.
    """

    code = -32000
    kind = "error"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def to_data(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.data}


class NotFound(AgentdError):
    code = -32001
    kind = "not_found"


class AmbiguousId(AgentdError):
    code = -32002
    kind = "ambiguous_id"


class InvalidState(AgentdError):
    code = -32003
    kind = "invalid_state"


class ValidationFailed(AgentdError):
    code = -32004
    kind = "validation_failed"


class ProviderError(AgentdError):
    code = -32010
    kind = "provider_error"


class ProviderUnavailable(ProviderError):
    code = -32011
    kind = "provider_unavailable"


class ProviderRejected(ProviderError):
    code = -32012
    kind = "provider_rejected"


class ProviderIncompatible(ProviderError):
    code = -32013
    kind = "provider_incompatible"


class ProviderRateLimited(ProviderError):
    code = -32014
    kind = "provider_rate_limited"


class StoreError(AgentdError):
    code = -32020
    kind = "store_error"


class StoreUnavailable(StoreError):
    code = -32021
    kind = "store_unavailable"


class ToolError(AgentdError):
    """A tool failed. Its message goes back to the model as the observation."""

    code = -32030
    kind = "tool_error"


class ToolRefused(ToolError):
    """A tool refused its input for safety (SSRF, path escape, quota, allowlist)."""

    code = -32031
    kind = "tool_refused"


class ShuttingDown(AgentdError):
    code = -32040
    kind = "shutting_down"


class ConfigError(AgentdError):
    code = -32050
    kind = "config_error"


class RepeatedMistake(AgentdError):
    """The model repeated the same mistake more than ``runs.max_repeated_mistakes``
    times in a row; the agent loop raises it and the run fails with its message."""

    kind = "repeated_mistake"


BY_CODE: dict[int, type[AgentdError]] = {
    cls.code: cls
    for cls in (
        AgentdError, NotFound, AmbiguousId, InvalidState, ValidationFailed,
        ProviderError, ProviderUnavailable, ProviderRejected, ProviderIncompatible,
        ProviderRateLimited, StoreError, StoreUnavailable, ToolError, ToolRefused,
        ShuttingDown, ConfigError,
    )
}
