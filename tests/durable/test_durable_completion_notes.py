"""A completion notification skipped because of an earlier attempt: a note only
when that attempt's outcome is unknown (cut by a crash), never for a known one."""

from __future__ import annotations

import trio

from agentd.protocol import events as ev
from agentd.tools.base import EffectRecord
from agentd.tools.delivery import deliver_notice, earlier_outcome


class _App:
    metrics = None

    def __init__(self) -> None:
        self.emitted: list = []

    async def emit(self, run_id, goal_id, *events) -> None:
        self.emitted.extend(events)


def _emitted_for(record: EffectRecord) -> list:
    app = _App()

    async def send():
        return earlier_outcome(record)

    trio.run(deliver_notice, app, "r1", "g1", "email", "a@example.org", send)
    return app.emitted


def test_unknown_earlier_attempt_is_noted():
    out = _emitted_for(EffectRecord("e1", "r1:completion-email", "unknown", 1))
    assert len(out) == 1 and isinstance(out[0], ev.Note) and "outcome is unknown" in out[0].message


def test_known_earlier_outcome_is_not_noted_even_if_its_detail_says_unknown():
    assert _emitted_for(EffectRecord("e1", "r1:completion-email", "failed", 1, "550 unknown recipient")) == []
    assert _emitted_for(EffectRecord("e1", "r1:completion-email", "delivered", 1, "unknown queue id")) == []
