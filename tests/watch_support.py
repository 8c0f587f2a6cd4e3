"""Shared by the watch and REPL suites: a gated fake LLM (and its fixture,
which their conftest.py files import) and event helpers.

tests/ is on sys.path: pytest puts it there for tests/conftest.py."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from agentd.testing.fakellm import FakeLLM, Turn

WAIT = 30.0


@dataclass(frozen=True)
class Gate:
    """A script entry: wait until ``opened`` is set, then answer with ``then``."""

    then: Any
    opened: threading.Event = field(default_factory=threading.Event, compare=False)
    reached: threading.Event = field(default_factory=threading.Event, compare=False)

    def open(self) -> None:
        self.opened.set()

    def wait_reached(self, timeout: float = WAIT) -> None:
        assert self.reached.wait(timeout), "the run never reached the gate"


@dataclass(frozen=True)
class Held:
    """A script entry: answer with ``then``; if streamed, hold the stream before
    each chunk of ``gates`` until its gate opens."""

    then: Any
    gates: dict[int, Gate]


class GatedLLM(FakeLLM):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._local = threading.local()  # the holds of the answer this handler thread sends
        self._stream_gates: list[Gate] = []  # every one made, opened on close

    def gate(self, then: Turn) -> Gate:
        g = Gate(then)
        self.add(g)  # type: ignore[arg-type]
        return g

    def hold(self, then: Turn, *before: int) -> list[Gate]:
        """Answer with ``then``, streamed and held before each of its chunks
        ``before`` (of a text answer, chunk 0 says "assistant" and 1-3 are the
        text's three pieces)."""
        gates = [Gate(None) for _ in before]
        self.add(Held(then, dict(zip(before, gates))))  # type: ignore[arg-type]
        self._stream_gates += gates
        return gates

    def paced(self, chunks):
        holds, self._local.holds = getattr(self._local, "holds", {}), {}
        for i, c in enumerate(super().paced(chunks)):
            g = holds.get(i)
            if g is not None:
                g.reached.set()
                g.opened.wait(WAIT * 2)
            yield c

    def _next_turn(self, body: dict[str, Any]) -> Turn:
        turn = super()._next_turn(body)
        self._local.holds = {}
        if isinstance(turn, Held):
            self._local.holds = turn.gates
            return turn.then
        if isinstance(turn, Gate):
            turn.reached.set()
            turn.opened.wait(WAIT * 2)
            return turn.then
        return turn

    def close(self) -> None:
        # Open every gate still closed, so no handler thread hangs the shutdown.
        for t in list(self._script or ()):
            if isinstance(t, Gate):
                t.open()
        for g in self._stream_gates:
            g.open()
        super().close()


@pytest.fixture
def fake_llm():
    """Overrides tests/conftest.py's: a fake LLM whose script can hold a turn
    until the test opens a gate (so a run stays ``running`` exactly as long as
    a test needs, without sleeps)."""
    with GatedLLM() as llm:
        yield llm


def read_until(client, want, timeout: float = WAIT) -> list[dict]:
    """Read messages on a RawClient (after those already kept) until ``want(msg)``;
    returns every notification read, in order, including the matching one."""
    got = list(client.notifications)
    client.notifications.clear()
    deadline = time.monotonic() + timeout
    for i, msg in enumerate(got):
        if want(msg):
            client.notifications.extend(got[i + 1:])  # kept for the next read, not dropped
            return got[:i + 1]
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no matching message within {timeout}s; got {[m.get('method') for m in got][-5:]}"
        client.sock.settimeout(left)
        msg = client.read_message()
        got.append(msg)
        if want(msg):
            return got


def events(msgs: list[dict]) -> list[dict]:
    return [m["params"] for m in msgs if m.get("method") == "run.event"]


def journaled(evs: list[dict]) -> list[dict]:
    """The journaled events among ``evs`` (run.event params): without the live
    events of model calls in flight, which share the seq of the event before."""
    from agentd.protocol.events import LIVE

    return [e for e in evs if e["event"]["type"] not in LIVE]
