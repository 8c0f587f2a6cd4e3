"""One run's turn loop: model ⇄ tools, every step journaled before the next
model call. No SQL here (the store's functions do that) and no RPC.

A turn: build the context → call the model with the allowed tools → journal the
tool calls as ``pending`` steps (with the model's thought and token usage) →
run the calls concurrently, each under its timeout → journal each result as it
comes (``ok`` or ``error``) → next turn.

Tool calls the model wrote as text (small local models do) are recovered by
``textcalls.recover_calls`` when an answer has no native calls: they are
validated and run like native ones, journaled as steps marked ``recovered``,
and their results go back to the model in a user message (the form such models
follow; see ``_result_messages``).

Honest outcomes. A run is ``completed`` only when the model called ``finish``,
or answered in plain text after real work (at least one successful tool call;
one whose outcome a crash made ``unknown`` counts, it may have had its effect),
and every output the goal declares (``params.expect``) exists and is not empty,
and every delivery it declares (``params.expect_sent``: webhook, email) was
made: a call of its tool in this run that succeeded, or that a crash left
``unknown`` (it may have been delivered; a resend could deliver twice).
- A plain answer before any tool call succeeded gets one nudge (act with a tool
  call, or call ``finish``); prose again fails the run, quoting the answer.
- An answer cut by the output limit (``finish_reason == "length"``) is never a
  final answer: the model is asked for a shorter reply; the same cut more than
  ``runs.max_repeated_mistakes`` times in a row fails the run with that reason.
- Declared outputs or deliveries missing at the end: the model is told which,
  with the call to make next (a skeleton with the known values filled in), up
  to MAX_REMINDERS times; still missing after that, the run fails naming the
  missing files and deliveries. While they are missing, every text-call result
  ends with what is still to do instead of an invitation to finish.
Other ends: the step or token budget is spent (one last call without tools asks
for the summary; the run completes with ``budget_exhausted`` if a tool call
succeeded, its declared outputs exist and its declared deliveries were made,
and fails otherwise); a money budget could be
exceeded by the next call (``agentd.budgets``: the call is not made; a summary
turn only if its own worst case fits; the same outcome, ``budget_exhausted``,
with the budget and the figures as its reason); the time limit is
reached (a last summary attempt, then ``failed``); the run is cancelled; or an unrecoverable error.
A money budget that applies while the model's price is unknown fails the run
before any call.

Every model call's tokens are added to the run's usage, the calls that left no
step (empty, cut or prose answers) included.

Untrusted content: before each tool call the run's exfiltration guard
(``agentd.guard``) checks where the call would send data, and after each it
learns whether the result came from outside (which taints the run); a call
it blocks is the model's observation, like a tool's refusal.

What the model gets wrong — malformed JSON arguments, an unknown tool, a tool
this goal does not allow, a tool's own failure — becomes the step's
observation and goes back to the model. The same mistake repeated more than
``runs.max_repeated_mistakes`` times in a row fails the run with that reason.
What our code gets wrong raises and fails the run loudly.

Resuming: the conversation is rebuilt from the store. Steps left ``pending``
by a crash are re-run if their tool is safe to repeat; a side-effecting one is
closed as ``unknown`` and the model is told so — it is never repeated.

Approvals: before calls are made, ``agentd.approvals.gate`` screens them
(the goal's policy per tool, a person's decision); a call waiting for a
decision parks the run (``Parked``: its task ends, the run is resumed from
its journal once decided). Steps ``awaiting_approval`` are rebuilt like
pending ones and screened again.
"""

from __future__ import annotations

import json
import re

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from .. import log
from ..budgets import BudgetExhausted, Charge, Money, RunBudget
from ..guard import BLOCKED, TAINTED, GuardRefused, RunGuard
from ..guard.policy import registry_external
from ..protocol.errors import ProviderError, RepeatedMistake, ToolError
from ..protocol import events as ev
from ..protocol import methods as m
from ..store import goals as goals_q
from ..store import memories as memories_q
from ..store import runs as runs_q
from ..tools.base import GoalView, ToolContext, effect_key
from ..tools.files import goal_artifacts, write_artifact
from ..approvals.gate import ApprovalGate, Wait
from . import prompt
from ..ledger import GoalMemories, LedgerEffects
from .expected import SEND_TOOLS, misplaced, missing_outputs, missing_reason, missing_sent
from ..messages import Completion, Message, ToolCall
from ..textcalls import broken_call, recover_calls

if TYPE_CHECKING:
    from ..approvals.service import Approvals
    from ..shared.config import Config
    from ..journal import Journal
    from ..metrics import Metrics
    from ..providers.base import Provider
    from ..runs import ActiveRun
    from ..store import Store
    from ..tools.registry import ToolRegistry

_log = log.get("agentd.agent")

# Reminders of missing declared outputs before a run that ends without them fails: small models
# often answer the first by calling finish again, and each reminder costs one model call of the budget.
MAX_REMINDERS = 2
UNKNOWN_OUTCOME = ("OUTCOME UNKNOWN: the daemon stopped while this call was in flight. It was NOT repeated, "
                   "because it may already have had its effect. Do not repeat it unless the objective requires "
                   "it and you have checked that it did not happen.")
INTERRUPTED = "the daemon stopped while this call was in flight; it was run again after the restart"


class RunOutcome(msgspec.Struct, frozen=True):
    status: str  # completed | failed | interrupted
    summary: str | None = None
    error: str | None = None
    budget_exhausted: bool = False


@dataclass
class Call:
    step_no: int
    call: ToolCall
    recovered: bool = False  # written by the model as text, not as a native tool call
    awaiting: bool = False  # journaled ``awaiting_approval``: never handed to its tool yet


@dataclass
class LoopState:
    goal: m.Goal
    run: m.Run
    secret: str | None
    messages: list[Message] = field(default_factory=list)
    next_step: int = 1
    turn: int = 0
    tool_steps: int = 0
    tokens: int = 0
    working: dict[str, Any] = field(default_factory=dict)
    mistakes: dict[str, int] = field(default_factory=dict)
    successes: int = 0  # tool calls (other than finish) that succeeded: the "real work" of the run
    nudged: bool = False  # the one nudge for a prose answer before any work was used
    reminders: int = 0  # reminders of missing expected outputs given (at most MAX_REMINDERS)
    sent: set[str] = field(default_factory=set)  # ledger tools with a delivered (or unknown) call in this run
    delivered: dict[tuple[str, str], int] = field(default_factory=dict)  # (tool, canonical arguments) -> step
    length_cuts: int = 0  # answers cut by the output limit, in a row
    summary: str | None = None
    summary_kind: str | None = None  # answer | summary | finish: how the model ended the run


async def _ready() -> None:
    return None


@dataclass(frozen=True)
class LoopParts:
    """What one run's loop works with. A run keeps the parts it started with
    (the configuration, tools and provider of that moment) even when a reload
    replaces the daemon's. ``provider_ready`` waits (bounded) until the
    provider was validated and raises its reason otherwise."""

    store: "Store"
    journal: "Journal"
    provider: "Provider"
    tools: "ToolRegistry"
    clock: Callable[[], int]
    config: "Config"
    metrics: "Metrics | None" = None
    provider_ready: Callable[[], Awaitable[None]] = _ready
    money: Money = field(default_factory=Money)  # the daemon's prices and holds (agentd.budgets)
    approvals: "Approvals | None" = None  # None: no one can be asked; a call that needs approval is refused


class RunLoop:
    def __init__(self, parts: LoopParts, active: "ActiveRun") -> None:
        self.store, self.journal, self.now = parts.store, parts.journal, parts.clock
        self.provider, self.tools, self.cfg, self.metrics = parts.provider, parts.tools, parts.config, parts.metrics
        self.provider_ready = parts.provider_ready
        self.redactor = parts.journal.redactor
        self.active = active
        self.run_id = active.run_id
        self.goal_id = active.goal_id
        self.effects = LedgerEffects(self.store, self.now, self.redactor.redact, self.metrics, self.run_id,
                                     self.goal_id)
        self.memories = GoalMemories(self.store, self.now, self.goal_id)
        self.artifacts = goal_artifacts(self.cfg.artifacts_root, self.goal_id)
        self.budget = RunBudget(parts, self.run_id, self.goal_id)  # money: agentd.budgets
        self.gate = ApprovalGate(self.store, self.journal, self.tools, self.now, parts.approvals, self.run_id,
                                 self.goal_id)
        self._charge: Charge | None = None  # the last model call's cost, until its answer is journaled

    async def _record_tx(self, fn: Callable[..., Any] | None, events: list[ev.Event]) -> None:
        """Commit ``fn(conn, now)`` and ``events`` in one transaction
        (agentd.journal), with the cost of the model call whose answer they
        journal when it is not recorded yet (its row and ``model_cost`` event first)."""
        charge, self._charge = self._charge, None
        if charge is None:
            await self.journal.record(self.run_id, self.goal_id, fn, self.now(), events=events)
            return

        def tx(conn, now):
            charge.write(conn)
            if fn is not None:
                fn(conn, now)

        committed = False
        try:
            await self.journal.record(self.run_id, self.goal_id, tx, self.now(), events=[charge.event, *events])
            committed = True
        finally:
            self.budget.settled(charge, committed=committed)

    async def _emit(self, *events: ev.Event) -> None:
        await self.journal.emit(self.run_id, self.goal_id, *events)

    # ---------------------------------------------------------------- setup
    def _load(self) -> LoopState:
        store = self.store
        goal = store.read(goals_q.get_goal, self.goal_id, secrets=True)
        run = store.read(runs_q.get_run, self.run_id, detail=False)
        st = LoopState(goal=goal, run=run, secret=goal.webhook_secret, working=dict(run.working_memory))
        st.tokens = run.usage.tokens_in + run.usage.tokens_out
        recalled = store.read(memories_q.search, self.goal_id, goal.objective, 5)
        today = time.strftime("%Y-%m-%d (%A)", time.gmtime(self.now() / 1000))
        st.messages = [Message(role="system", content=prompt.system_prompt(goal, today=today, memories=recalled)),
                       Message(role="user", content=prompt.first_user_message(goal, run))]
        self.specs = prompt.order_tools(self.tools.specs(goal.params.allowed_tools), goal)
        self.allowed = {s.name for s in self.specs}
        self.known = self.tools.names()  # names a text call may use (not allowed ones get an error back)
        self.schemas = {s.name: s.parameters for s in self.specs}  # tools a described call may name
        self.guard = RunGuard.for_goal(goal, registry_external(self.tools))
        if goal.params.guard == "ask":  # what the guard would block goes to a person instead
            self.gate.ask_when(self._guard_question)
        return st

    def _guard_question(self, step_no: int, name: str, arguments: str) -> str | None:
        """Why a person is asked about this call: the guard would block it."""
        try:
            params = self.tools.decode_args(name, arguments)
        except ToolError:
            return None
        verdict = self.guard.would_block(name, params, arguments)
        return None if verdict is None else f"the exfiltration guard would block it: {verdict.destination}: " \
                                           f"{verdict.reason}"

    def _rebuild(self, st: LoopState) -> list[Call]:
        """Rebuild the conversation from the journal; return calls left pending."""
        rows = self.store.read(runs_q.step_rows, self.run_id)
        pending: list[Call] = []
        by_turn: dict[int, list] = {}
        self.guard.reset()
        for r in rows:
            self.guard.replay(r["step_no"], r["tool_name"], r["tool_input"], r["status"], r["observation"])
            by_turn.setdefault(r["turn"], []).append(r)
            st.next_step = max(st.next_step, r["step_no"] + 1)
            st.turn = max(st.turn, r["turn"])
        for turn in sorted(by_turn):
            steps = by_turn[turn]
            first = steps[0]
            st.summary = st.summary_kind = None  # only the last turn can have ended the run
            if first["kind"] in ("answer", "summary"):
                st.messages.append(Message(role="assistant", content=first["observation"] or first["thought"] or ""))
                st.summary, st.summary_kind = first["observation"] or "", first["kind"]
                continue
            tool_steps = [s for s in steps if s["kind"] == "tool"]
            calls = [ToolCall(id=s["tool_call_id"], name=s["tool_name"] or "", arguments=s["tool_input"] or "")
                     for s in tool_steps]
            recovered = bool(first["recovered"])
            st.messages.append(self._call_message(first["thought"], calls, recovered))
            done: list[tuple[ToolCall, str | None, str | None]] = []
            for s, call in zip(tool_steps, calls):
                if s["status"] in ("pending", "awaiting_approval"):
                    pending.append(Call(s["step_no"], call, recovered=recovered,
                                        awaiting=s["status"] == "awaiting_approval"))
                    continue
                st.tool_steps += 1
                tool = self.tools.find(s["tool_name"])
                ends = tool is not None and tool.ends_run
                # A call a crash cut (``unknown``) was made and may have had its effect: it is work.
                made = s["status"] in ("ok", "unknown")
                st.successes += made and not ends
                if made and tool is not None and tool.ledger:
                    st.sent.add(s["tool_name"])
                    st.delivered[_same_call(call)] = s["step_no"]
                done.append((call, s["observation"], s["error"]))
                if ends and s["status"] == "ok":
                    st.summary, st.summary_kind = s["observation"] or "", "finish"
            st.messages += self._result_messages(done, recovered)
        return pending

    @staticmethod
    def _call_message(thought: str | None, calls: list[ToolCall], recovered: bool) -> Message:
        """The assistant turn that asked for ``calls``. A text call is given
        back as the call alone (JSON), not the whole answer: a plan with
        invented results in the history would be taken as things that happened."""
        if not recovered:
            return Message(role="assistant", content=thought, tool_calls=list(calls))
        text = "\n".join(f'{{"name": {msgspec.json.encode(c.name).decode()}, "arguments": {c.arguments}}}'
                         for c in calls)
        return Message(role="assistant", content=text)

    @classmethod
    def _result_messages(cls, done: list[tuple[ToolCall, str | None, str | None]], recovered: bool,
                         todo: str | None = None) -> list[Message]:
        """The results of one turn's calls, in call order: tool messages for
        native calls; one user message for calls written as text (closed by
        ``todo`` when given: what the goal still needs)."""
        if not recovered:
            return [cls._tool_message(c.id, c.name, obs, err) for c, obs, err in done]
        if not done:
            return []
        return [Message(role="user", content="\n\n".join(prompt.text_call_result(c.name, obs, err, todo)
                                                           for c, obs, err in done))]

    @staticmethod
    def _tool_message(call_id: str, name: str | None, observation: str | None, error: str | None) -> Message:
        content = observation if error is None else f"ERROR: {error}"
        return Message(role="tool", tool_call_id=call_id, name=name, content=content or "")

    # ---------------------------------------------------------------- run
    async def run(self) -> RunOutcome:
        try:
            return await self._run()
        finally:
            if self._charge is not None:  # a model call whose answer a failure kept from the journal
                await self._record_tx(None, [])

    async def _run(self) -> RunOutcome:
        st = self._load()
        pending = self._rebuild(st)
        resumed = st.next_step > 1 or st.run.recoveries > 0
        await self._emit(ev.RunStarted(goal_id=self.goal_id, trigger=st.run.trigger,
                                       step_budget=st.goal.params.step_budget, resumed=resumed))
        refusal = await self.budget.open(st.goal)
        if refusal is not None:  # a money budget applies and the model's price is unknown: fail closed
            return RunOutcome("failed", error=refusal)
        if pending:
            await self._resume_pending(st, pending)
        if st.summary is not None:  # the model had finished; the crash came before the run was finalized
            return self._finished_before(st)
        await self.provider_ready()
        limit = self._time_limit(st)
        deadline = trio.current_time() + limit if limit else float("inf")
        with trio.move_on_at(deadline) as timer:
            try:
                outcome = await self._turns(st)
            except BudgetExhausted as exc:
                outcome = await self._money_out(st, exc)
        if timer.cancelled_caught:
            return self._time_up(limit, await self._final_turn(st, prompt.TIME_UP, kind="summary"))
        return outcome

    def _finished_before(self, st: LoopState) -> RunOutcome:
        """The outcome of a run whose last turn was journaled before a crash."""
        if st.summary_kind != "summary":  # a plain answer or the finish tool
            return self._missing_outcome(st, st.summary) or RunOutcome("completed", summary=st.summary)
        # A summary turn without tools comes from a spent budget or the time limit.
        which = self._spent(st)
        if which is not None:
            return self._budget_out(st, which, st.summary)
        money = self.budget.refusal(st.messages, self.specs)
        if money is not None:  # the summary a money budget asked for
            return self._budget_out(st, "money budget", st.summary, reason=money.reason)
        return self._time_up(self._time_limit(st), st.summary)

    def _time_limit(self, st: LoopState) -> float | None:
        return st.goal.params.time_limit_s or self.cfg.runs.time_limit_s

    @staticmethod
    def _time_up(limit: float | None, summary: str | None) -> RunOutcome:
        return RunOutcome("failed", summary=summary,
                          error=f"the run reached its time limit of {limit or 0:g} s before finishing")

    @staticmethod
    def _spent(st: LoopState) -> str | None:
        """Which budget ran out ("step budget", "token budget"), or None."""
        if st.tool_steps >= st.goal.params.step_budget:
            return "step budget"
        token_budget = st.goal.params.token_budget
        return "token budget" if token_budget and st.tokens >= token_budget else None

    async def _money_out(self, st: LoopState, exc: BudgetExhausted) -> RunOutcome:
        """A money budget stops the run before a call that could exceed it:
        a summary turn if its own worst case fits, then the budget outcome,
        its reason naming the budget and the figures."""
        await self._emit(ev.Note(message=exc.reason))
        summary = await self._final_turn(st, prompt.FINAL_TURN, kind="summary")
        return self._budget_out(st, "money budget", summary, reason=exc.reason)

    def _budget_out(self, st: LoopState, which: str, summary: str | None, *, reason: str | None = None) -> RunOutcome:
        """A spent budget's outcome (``budget_exhausted`` either way): completed
        when the run did real work and left what the goal declares, else failed
        saying what is missing. ``reason``: why a money budget stopped it."""
        summary = (summary or "") + f"\n\n_The run stopped because its {which} ran out._"
        if st.successes == 0:  # a summary of no work is not a result, however it reads
            tried = f"{st.tool_steps} tool call(s), none succeeded" if st.tool_steps else "no tool call was made"
            error = f"{reason}; {tried}" if reason else f"its {which} ran out before any tool call succeeded ({tried})"
            return RunOutcome("failed", summary=summary, error=error, budget_exhausted=True)
        missing = self._missing_outcome(st, summary)
        if missing is not None:
            return RunOutcome("failed", summary=summary, error=f"{missing.error} before its {which} ran out",
                              budget_exhausted=True)
        return RunOutcome("completed", summary=summary, error=reason, budget_exhausted=True)

    # ---------------------------------------------------------------- expected outputs
    def _missing(self, st: LoopState) -> tuple[list[str], list[str]]:
        """The declared outputs not written and the declared deliveries not made."""
        return (missing_outputs(self.artifacts, st.goal.params.expect),
                missing_sent(st.goal.params.expect_sent, st.sent))

    def _missing_outcome(self, st: LoopState, summary: str | None,
                         missing: tuple[list[str], list[str]] | None = None) -> RunOutcome | None:
        missing_files, unsent = missing if missing is not None else self._missing(st)
        if not missing_files and not unsent:
            return None
        return RunOutcome("failed", summary=summary, error=missing_reason(missing_files, unsent))

    async def _ended(self, st: LoopState, summary: str) -> RunOutcome | None:
        """The model says it is done: the outcome, or None when it was told
        (at most MAX_REMINDERS times) which declared outputs and deliveries are
        still missing, and the call to make next, and should go on."""
        missing, unsent = self._missing(st)
        failed = self._missing_outcome(st, summary, (missing, unsent))
        if failed is None:
            return RunOutcome("completed", summary=summary)
        if st.reminders >= MAX_REMINDERS:
            return failed
        st.reminders += 1
        st.messages.append(Message(role="user", content=prompt.expected_missing(
            missing, unsent, next_call=self._next_call(st, missing, unsent),
            misplaced=misplaced(self.artifacts, missing))))
        told = []
        if missing:
            told.append(f"expected output(s) missing: {', '.join(missing)}")
        if unsent:
            told.append(f"expected delivery not made: {', '.join(unsent)}")
        await self._emit(ev.Note(message=f"{'; '.join(told)}; the model was told to make them"))
        return None

    def _next_call(self, st: LoopState, missing: list[str], unsent: list[str]) -> str | None:
        """The skeleton of the call that makes the first missing output, with
        what the goal already says filled in (the file's path, the recipients)."""
        by_name = {s.name: s for s in self.specs}
        if missing and "write_file" in by_name:
            return prompt.call_skeleton(by_name["write_file"], {"path": missing[0]})
        for kind in unsent:
            spec = by_name.get(SEND_TOOLS[kind])
            if spec is not None:
                known = {"to": list(st.goal.params.email_to)} if kind == "email" and st.goal.params.email_to else {}
                return prompt.call_skeleton(spec, known)
        return None

    def _first_call(self, st: LoopState, text: str) -> str | None:
        """The skeleton of a first call, for a model that described the work
        instead of doing it: the tool its answer names (else the first tool
        offered), with the objective's URL filled in when it has exactly one."""
        offered = [s for s in self.specs if not self._ends_run(s.name)]
        if not offered:
            return None
        named = [s for s in offered if re.search(r"(?<![A-Za-z0-9_])" + re.escape(s.name) + r"(?![A-Za-z0-9_])", text)]
        spec = (named or offered)[0]
        urls = list(dict.fromkeys(re.findall(r"https?://[^\s<>\"'`)\]]+", st.goal.objective)))
        known = {"url": urls[0].rstrip(".,;:")} if len(urls) == 1 and "url" in spec.parameters.get("properties", {}) else {}
        return prompt.call_skeleton(spec, known)

    def _ends_run(self, name: str | None) -> bool:
        """A successful call of ``name`` ends the run (``finish``)."""
        tool = self.tools.find(name)
        return tool is not None and tool.ends_run

    def _todo(self, st: LoopState, planned: list[Call]) -> str | None:
        """The closing line of a tool result while declared outputs are missing
        (first the tool that reads what the results only point to, if any)."""
        if not st.goal.params.expect and not st.goal.params.expect_sent:
            return None
        reads = [getattr(self.tools.find(c.call.name), "read_next", None) for c in planned]
        read_first = next((r for r in reads if r in self.allowed), None)
        return prompt.still_to_do(*self._missing(st), read_first=read_first)

    async def _turns(self, st: LoopState) -> RunOutcome:
        budget = st.goal.params.step_budget
        while True:
            if self.active.drain.is_set():
                return RunOutcome("interrupted")
            which = self._spent(st)
            if which is not None:
                return self._budget_out(st, which, await self._final_turn(st, prompt.FINAL_TURN, kind="summary"))
            completion = await self._call_model(st, self.specs)
            msg = completion.message
            calls, recovered = list(msg.tool_calls), False
            if not calls and msg.content:
                calls = recover_calls(msg.content, self.known, self.schemas)
                recovered = bool(calls)
            if calls:
                st.length_cuts = 0
                summary = await self._run_calls(st, msg.content, calls[: max(1, budget - st.tool_steps)],
                                                completion, recovered=recovered)
                outcome = await self._ended(st, summary) if summary is not None else None
                if outcome is not None:
                    return outcome
                continue
            outcome = await self._text_answer(st, (msg.content or "").strip(), completion)
            if outcome is not None:
                return outcome

    async def _text_answer(self, st: LoopState, text: str, completion: Completion) -> RunOutcome | None:
        """An answer without any tool call: the run's end, or a request to the
        model to do better (None: go on)."""
        if completion.finish_reason == "length":
            st.length_cuts += 1
            limit = self.cfg.runs.max_repeated_mistakes
            await self._unused_answer(st, completion, f"answer cut at the output limit ({st.length_cuts} in a row)")
            if st.length_cuts > limit:
                return RunOutcome("failed", error=f"the model's answer was cut at its output limit {st.length_cuts} "
                                                  f"times in a row (finish_reason \"length\"): no usable answer")
            st.messages += [Message(role="assistant", content=text[:1000]),
                            Message(role="user", content=prompt.LENGTH_CUT)]
            return None
        st.length_cuts = 0
        if not text:
            await self._unused_answer(st, completion, "empty answer")
            st.messages += [Message(role="assistant", content=""), Message(role="user", content=prompt.NUDGE)]
            self._mistake(st, "empty answer")
            return None
        broken = broken_call(text, self.known)
        if broken is not None and self._ends_run(broken[0]):
            broken = None  # a finish that does not parse is still the model's last word: a plain answer
        if broken is not None:  # a call gone wrong is not a final answer: send it back for fixing
            await self._unused_answer(st, completion, f"a {broken[0]} call that is not valid JSON", text=text)
            st.messages += [Message(role="assistant", content=text),
                            Message(role="user", content=prompt.broken_call(*broken))]
            self._mistake(st, f"{broken[0]}: call not valid JSON")
            return None
        if st.successes == 0:  # prose before any real work is not a final answer
            if not st.nudged:
                st.nudged = True
                await self._unused_answer(st, completion, "a plain answer before any tool call succeeded; "
                                                          "the model was asked to act", text=text)
                nudge = prompt.act_nudge(self._first_call(st, text))
                if len(st.messages) == 2:  # nothing but the objective yet: ask again without the answer in view
                    # (the 1.5B model answered the nudge by repeating its own answer word for word;
                    # asked again with the nudge in the first message it made the call)
                    st.messages[1] = Message(role="user", content=f"{st.messages[1].content}\n\n{nudge}")
                else:
                    st.messages += [Message(role="assistant", content=text), Message(role="user", content=nudge)]
                return None
            await self._unused_answer(st, completion, "a plain answer again", text=text)
            before = "any tool call succeeded" if st.tool_steps else "using any tool"
            return RunOutcome("failed", error=f"the model answered in prose before {before}, even after being "
                                              f"asked to act: \"{_quote(text)}\"")
        await self._journal_text(st, text, kind="answer", completion=completion)
        return await self._ended(st, text)

    async def _unused_answer(self, st: LoopState, completion: Completion, why: str, *, text: str = "") -> None:
        """Journal a model call that leaves no step: its tokens count in the
        run's usage, and watchers see the answer and why it was not used."""
        u = completion.usage
        run_id = self.run_id

        def tx(conn, now):
            runs_q.add_usage(conn, run_id, u.tokens_in, u.tokens_out)

        await self._record_tx(tx, [
            ev.ModelResponded(turn=st.turn, tokens_in=u.tokens_in, tokens_out=u.tokens_out, tool_calls=0,
                              text=ev.short(text or completion.message.content or ""),
                              duration_ms=round(self._last_model_ms, 1)),
            ev.Note(message=f"answer not used: {why}")])

    # ---------------------------------------------------------------- model
    async def _call_model(self, st: LoopState, specs, *, max_tokens: int | None = None):
        # raises BudgetExhausted: a call that could exceed a money budget is not made
        if self._charge is not None:  # the previous call's answer left no journal entry: record its cost
            await self._record_tx(None, [])
        ticket = self.budget.reserve(st.messages, specs, max_tokens=max_tokens)
        st.turn += 1
        # Watchers see the call while it is in flight (live events, not journaled): its start, its
        # retries, and its text -- streamed only when a watcher asked for deltas.
        run_id, goal_id, journal, metrics = self.run_id, self.goal_id, self.journal, self.metrics
        on_delta = ((lambda text: journal.live(run_id, goal_id, ev.TextDelta(text=text)))
                    if journal.wants_deltas(run_id, goal_id) else None)
        journal.live(run_id, goal_id, ev.ModelCallStarted(turn=st.turn, model=self.provider.model,
                                                          streamed=on_delta is not None))
        turn = st.turn

        def on_retry(attempt: int, delay_s: float, reason: str) -> None:
            journal.live(run_id, goal_id, ev.ModelRetry(turn=turn, attempt=attempt, delay_s=round(delay_s, 3),
                                                        reason=reason))

        t0 = time.perf_counter()
        try:
            cap = {"max_tokens": max_tokens} if max_tokens else {}
            completion = self.redactor.redact_value(await self.provider.complete(
                st.messages, specs, on_delta=on_delta, on_retry=on_retry, **cap))
        except BaseException as exc:
            self.budget.release(ticket)
            if isinstance(exc, ProviderError) and metrics is not None:
                metrics.provider_error(exc.kind)
            raise
        self._last_model_ms = (time.perf_counter() - t0) * 1000
        self._charge = self.budget.charge(ticket, completion, turn)  # recorded with the answer (_record_tx)
        u = completion.usage
        st.tokens += u.tokens_in + u.tokens_out
        if metrics is not None:
            metrics.model_call(self.provider.model, u.tokens_in, u.tokens_out)
        return completion

    async def _final_turn(self, st: LoopState, instruction: str, *, kind: str) -> str | None:
        """One call without tools asking for the summary. Failure here is not
        fatal: the run ends with what it has."""
        st.messages.append(Message(role="user", content=instruction))
        try:
            with trio.move_on_after(120):
                completion = await self._call_model(st, [], max_tokens=self.budget.summary_cap)
                text = (completion.message.content or "").strip()
                if completion.finish_reason == "length":  # kept (it is the last word), but marked
                    text += "\n\n_[This summary was cut at the model's output limit.]_"
                await self._journal_text(st, text, kind=kind, completion=completion)
                return text
        except ProviderError as exc:
            _log.warning("final summary call failed", error=exc.message)
        except BudgetExhausted as exc:
            await self._emit(ev.Note(message=f"no summary turn: {exc.reason}"))
        return None

    async def _journal_text(self, st: LoopState, text: str, *, kind: str, completion) -> None:
        step_no = st.next_step
        st.next_step += 1
        u = completion.usage
        st.messages.append(Message(role="assistant", content=text))
        st.summary = text

        def tx(conn, now):
            runs_q.insert_step(conn, now, self.run_id, step_no=step_no, turn=st.turn, kind=kind, status="ok",
                               thought=None, observation=text, tokens_in=u.tokens_in, tokens_out=u.tokens_out)
            runs_q.add_usage(conn, self.run_id, u.tokens_in, u.tokens_out)
            runs_q.set_summary(conn, self.run_id, text)

        await self._record_tx(tx, [
            ev.ModelResponded(turn=st.turn, tokens_in=u.tokens_in, tokens_out=u.tokens_out, tool_calls=0,
                              text=ev.short(text), duration_ms=round(self._last_model_ms, 1))])

    # ---------------------------------------------------------------- tools
    async def _run_calls(self, st: LoopState, thought: str | None, calls: list[ToolCall], completion, *,
                         recovered: bool = False) -> str | None:
        u = completion.usage
        planned = []
        for i, call in enumerate(calls):
            planned.append(Call(st.next_step, call, recovered=recovered))
            st.next_step += 1
        st.messages.append(self._call_message(thought, calls, recovered))
        turn = st.turn

        def tx(conn, now):
            for i, c in enumerate(planned):
                runs_q.insert_step(conn, now, self.run_id, step_no=c.step_no, turn=turn, kind="tool", status="pending",
                                   thought=thought if i == 0 else None, tool_name=c.call.name,
                                   tool_input=c.call.arguments, tool_call_id=c.call.id, recovered=recovered,
                                   tokens_in=u.tokens_in if i == 0 else 0, tokens_out=u.tokens_out if i == 0 else 0)
            runs_q.add_usage(conn, self.run_id, u.tokens_in, u.tokens_out)

        events: list[ev.Event] = [ev.ModelResponded(turn=turn, tokens_in=u.tokens_in, tokens_out=u.tokens_out,
                                                    tool_calls=len(planned), text=ev.short(thought or ""),
                                                    duration_ms=round(self._last_model_ms, 1))]
        for c in planned:
            events.append(ev.StepStarted(step_no=c.step_no, turn=turn))
            events.append(ev.ToolCalled(step_no=c.step_no, tool=c.call.name, input=ev.short(c.call.arguments),
                                        tool_call_id=c.call.id, recovered=recovered))
        await self._record_tx(tx, events)
        return await self._execute(st, planned)

    async def _execute(self, st: LoopState, planned: list[Call]) -> str | None:
        results: dict[int, tuple[str | None, str | None, float]] = {}
        verdicts = await self.gate.screen(st.goal, planned)  # str: refused (the error), Wait: needs a decision
        waiting = [(c, v) for c in planned if isinstance(v := verdicts.get(c.step_no), Wait)]
        ready = [c for c in planned if not isinstance(verdicts.get(c.step_no), Wait)]

        async def one(c: Call) -> None:
            refused = verdicts.get(c.step_no)
            results[c.step_no] = ((None, refused, 0.0) if isinstance(refused, str)
                                  else self.redactor.redact_value(await self._invoke(st, c)))
            await self._record(st, c, *results[c.step_no])

        if len(ready) == 1:
            await one(ready[0])
        elif ready:
            async with trio.open_nursery() as nursery:
                for c in ready:
                    nursery.start_soon(one, c)
        if waiting:
            await self.gate.park(st.goal, waiting)  # raises Parked: the run resumes once decided
        # Results in call order, whatever order they finished in; mistakes are
        # counted here, outside the nursery, so that a repeated mistake fails the
        # run as itself rather than inside an exception group.
        ended = next((c for c in planned if results[c.step_no][1] is None and self._ends_run(c.call.name)), None)
        todo = None if ended else self._todo(st, planned)  # a finish gets the reminder instead
        st.messages += self._result_messages([(c.call, results[c.step_no][0], results[c.step_no][1])
                                              for c in planned], planned[0].recovered, todo)
        for c in planned:
            err = results[c.step_no][1]
            if err is not None:
                self._mistake(st, f"{c.call.name}: {err[:120]}")
        return None if ended is None else results[ended.step_no][0] or ""

    async def _invoke(self, st: LoopState, c: Call) -> tuple[str | None, str | None, float]:
        """(observation, error, duration_ms) for one call. Model mistakes and
        tool failures come back as ``error``; bugs raise."""
        t0 = time.perf_counter()
        name = c.call.name
        try:
            if name not in self.allowed:
                if name in self.tools:
                    raise ToolError(f"the tool {name!r} is not allowed for this goal; use one of: "
                                    f"{', '.join(sorted(self.allowed))}")
                raise ToolError(f"there is no tool named {name!r}; use one of: {', '.join(sorted(self.allowed))}")
            params = self.tools.decode_args(name, c.call.arguments)
            before = st.delivered.get(_same_call(c.call)) if st.delivered else None  # only ledger (send) tools
            if before is not None:
                raise ToolError(f"this exact {name} call was already delivered in this run (step {before}); "
                                "it is not sent twice")
            verdict = self.guard.check(c.step_no, name, params, c.call.arguments, approved=lambda: (
                st.goal.params.guard == "ask" and self.gate.approved(c.step_no)))
            if verdict is not None:
                raise GuardRefused(verdict.message, tool=name, destination=verdict.destination)
            tool = self.tools.get(name)
            ctx = ToolContext(goal=GoalView(id=st.goal.id, objective=st.goal.objective,
                                            allowed_domains=list(st.goal.params.allowed_domains),
                                            webhook_url=st.goal.webhook_url, webhook_secret=st.secret,
                                            email_to=list(st.goal.params.email_to)),
                              run_id=self.run_id, tool_call_id=c.call.id or f"step{c.step_no}",
                              artifacts=self.artifacts, tools=self.cfg.tools, smtp=self.cfg.smtp,
                              effects=self.effects, memories=self.memories, step_no=c.step_no,
                              on_retry=self.metrics.delivery_retry if self.metrics else None,
                              redirect_check=lambda a, b: self.guard.check_redirect(c.step_no, name, a, b))
            timeout = self.tools.timeout_for(name, self.cfg.tools)
            with log.bind(step=c.step_no, tool=name):
                # The tool's own deadline (its breaker guard) fires first and counts as a
                # failure of the tool; this one is a safety net for unguarded tools. A plain
                # cancel scope: fail_after is a generator context manager, and this is per call.
                with trio.CancelScope(deadline=trio.current_time() + timeout + 1.0) as scope:
                    observation = await tool.run(params, ctx)
            if scope.cancelled_caught:
                return None, f"{name} timed out after {timeout:.0f} s", (time.perf_counter() - t0) * 1000
            return self._clip(c, observation), None, (time.perf_counter() - t0) * 1000
        except ToolError as exc:
            return None, exc.message, (time.perf_counter() - t0) * 1000

    def _clip(self, c: Call, observation: str) -> str:
        limit = self.cfg.tools.observation_limit
        observation = self.redactor.redact(observation)  # before the full text is saved as an artifact
        if observation is None or len(observation) <= limit:
            return observation
        rel = f"runs/{self.run_id}/step-{c.step_no}-{c.call.name}.txt"
        try:
            write_artifact(self.artifacts, rel, observation, quota=None)
            where = f" The full text ({len(observation)} characters) is saved: read_file(path=\"{rel}\") to see the rest."
        except (ToolError, OSError):
            where = ""
        return observation[:limit] + f"\n\n[... cut at {limit} characters.{where}]"

    async def _record(self, st: LoopState, c: Call, observation: str | None, error: str | None, ms: float) -> None:
        name = c.call.name
        tool = self.tools.find(name)
        args = self._args(c) if error is None and tool is not None else None
        working = self._update_working(st, tool, args)
        output = tool.output(args) if args is not None else None
        mark = self.guard.settle(c.step_no, name, c.call.arguments, observation, error)

        def tx(conn, now):
            runs_q.complete_step(conn, self.run_id, c.step_no, status="ok" if error is None else "error",
                                 observation=observation, error=error, duration_ms=round(ms, 3), guard=mark)
            if working is not None:
                runs_q.set_working_memory(conn, self.run_id, working)
            if output is not None:
                runs_q.insert_output(conn, now, self.run_id, *output)

        events: list[ev.Event] = [ev.ToolReturned(step_no=c.step_no, tool=name, ok=error is None,
                                                  output=ev.short(error if error is not None else observation or ""),
                                                  duration_ms=round(ms, 1))]
        if working is not None:
            events.append(ev.MemoryUpdated(keys=sorted(working)))
        if (note := self.guard.note(c.step_no, mark, error)) is not None:
            events.append(ev.Note(message=note))
        await self._record_tx(tx, events)
        st.tool_steps += 1
        st.successes += error is None and not (tool is not None and tool.ends_run)
        if error is None and tool is not None and tool.ledger:  # ok: sent (the send tools raise when not delivered)
            st.sent.add(name)
            st.delivered[_same_call(c.call)] = c.step_no
        if self.metrics is not None:
            self.metrics.tool_call(name, error is None)
            if mark == TAINTED:
                self.metrics.run_tainted(name)
            elif mark == BLOCKED:
                self.metrics.guard_blocked(name)

    def _mistake(self, st: LoopState, signature: str) -> None:
        st.mistakes = {signature: st.mistakes.get(signature, 0) + 1}  # only consecutive repeats count
        limit = self.cfg.runs.max_repeated_mistakes
        if st.mistakes[signature] > limit:
            raise RepeatedMistake(f"the model made the same mistake {st.mistakes[signature]} times in a row: {signature}")

    @staticmethod
    def _args(c: Call) -> dict[str, Any] | None:
        """The call's arguments as a JSON object, or None."""
        try:
            args = msgspec.json.decode(c.call.arguments or "{}")
        except msgspec.DecodeError:
            return None
        return args if isinstance(args, dict) else None

    @staticmethod
    def _update_working(st: LoopState, tool, args: dict[str, Any] | None) -> dict | None:
        """The run's scratchpad: what it has done so far (the argument each tool
        names in ``working_memory``), persisted with the run."""
        if args is None or tool.working_memory is None:
            return None
        bucket, arg = tool.working_memory
        value = args.get(arg)
        if value is None:
            return None
        items = st.working.setdefault(bucket, [])
        if value not in items:
            items.append(value if not isinstance(value, str) else value[:200])
            del items[:-50]
        return dict(st.working)

    # ---------------------------------------------------------------- resume
    async def _resume_pending(self, st: LoopState, pending: list[Call]) -> None:
        """Close the tool calls a crash left in flight.

        A safe tool is run again. A side-effecting one is never repeated blindly:
        if its ledger entry has an outcome (the crash came after the outcome,
        before the step's commit) that outcome becomes the observation; if it
        has an intent without outcome, the step is ``unknown`` and the model is
        told; a ledger tool (webhook, email) with no ledger entry at all never
        reached its attempt (the intent is committed first), so it is run: the
        ledger still guarantees at most one delivery."""
        rerun: list[Call] = []
        for c in pending:
            tool = self.tools.find(c.call.name)
            if c.awaiting or self.gate.holds(st.goal, c.step_no, c.call.name, c.call.arguments or ""):
                rerun.append(c)  # never handed to its tool: screened again (asked, or made if approved)
                continue
            if tool is None or not tool.side_effect:
                rerun.append(c)
                continue
            if not tool.ledger:
                await self._record_unknown(st, c)
                continue
            effect = self.effects.lookup(effect_key(self.run_id, c.step_no))
            if effect is None:
                rerun.append(c)
            elif effect["status"] in ("delivered", "failed"):
                await self._record_known(st, c, effect)
            else:
                await self._record_unknown(st, c)
        if rerun:
            await self._emit(ev.Note(message=f"re-running {len(rerun)} interrupted tool call(s) that are safe "
                                     f"to repeat"))
            await self._execute(st, rerun)
        # Tool messages must follow their assistant message: rebuild in order.
        st.messages = st.messages[:2]
        st.next_step, st.turn, st.tool_steps, st.successes = 1, 0, 0, 0
        st.sent.clear()
        st.delivered.clear()
        self._rebuild(st)

    async def _record_known(self, st: LoopState, c: Call, effect) -> None:
        ok = effect["status"] == "delivered"
        what = "delivered" if ok else "not delivered"
        text = (f"The daemon stopped right after this call; the ledger shows it was {what} "
                f"({effect['detail'] or 'no detail'}, {effect['attempts']} attempt(s)). It was not repeated.")

        def tx(conn, now):
            runs_q.complete_step(conn, self.run_id, c.step_no, status="ok" if ok else "error",
                                 observation=text if ok else None, error=None if ok else text, duration_ms=0.0)

        await self._record_tx(tx, [ev.ToolReturned(step_no=c.step_no, tool=c.call.name, ok=ok,
                                                   output=ev.short(text), duration_ms=0.0)])

    async def _record_unknown(self, st: LoopState, c: Call) -> None:
        def tx(conn, now):
            runs_q.complete_step(conn, self.run_id, c.step_no, status="unknown", observation=None,
                                 error=UNKNOWN_OUTCOME, duration_ms=0.0)

        await self._record_tx(tx, [ev.ToolReturned(step_no=c.step_no, tool=c.call.name, ok=False,
                                                   output=ev.short(UNKNOWN_OUTCOME), duration_ms=0.0)])


def _same_call(call: ToolCall) -> tuple[str, str]:
    """A call's tool and arguments in one canonical form (key order and
    spacing do not matter), to recognise a send the run already made."""
    try:
        args = json.dumps(json.loads(call.arguments or "{}"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        args = call.arguments
    return call.name, args


def _quote(text: str, limit: int = 120) -> str:
    """The start of a model answer on one line, for a failure reason."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


__all__ = ["LoopParts", "RunLoop", "RunOutcome"]
