"""Money budgets that fail closed.

Every model call of a run goes through its ``RunBudget``:

- ``open()`` at the start of the run finds the model's price
  (``agentd.pricing``). When any money budget applies to the run and the
  price is unknown, the run does not start: ``open`` returns the reason,
  naming the model and the config key that sets its price.
- ``reserve()`` before each call prices its worst case: an upper bound of
  the prompt's tokens (``PromptMeter``) at the input price plus the answer
  cap (``max_tokens``, sent with every request) at the output price. If that
  could take any budget in force past its limit — the run's, the goal's for
  this UTC day or month, the daemon's for this UTC day — the call is not made:
  ``BudgetExhausted`` says which budget and the figures. Otherwise the worst
  case is held against the goal and the daemon until the call settles, so
  runs calling at the same time cannot together overspend.
- ``charge()`` after the call prices its real usage (prompt, cached prompt,
  completion; reasoning is part of the completion) as a ``Charge``: its row
  of the cost ledger and its ``model_cost`` event, which the agent loop writes
  in the transaction that journals the call's answer (one write per model
  call, and the cost never apart from the tokens it counts). ``settled()``
  then releases the hold, whether that write committed or failed. A server
  that reports no usage is charged the worst case (``estimated``).

Budgets come from the goal (``max_cost``, ``max_cost_per_day``,
``max_cost_per_month``) or else the configuration's ``[budgets]``; the daemon's
daily budget only from the configuration. Days and months are UTC.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import msgspec

from .messages import Completion, Message, ToolSpec
from .pricing import PriceBook, Pricing, price_hint
from .protocol import events as ev
from .protocol import methods as m
from .store import spend as spend_q

if TYPE_CHECKING:
    from .shared.config import Config
    from .store import Store

NANO = spend_q.NANO
DAY_MS = 86_400_000
# Tokens a chat template and the server add around the messages we send
# (role markers, the tool-calling preamble some templates write): generous.
PROMPT_OVERHEAD = 512
MESSAGE_OVERHEAD = 16
# The answer cap of a run's closing summary turn: a summary needs less room
# than a turn of work, and a smaller worst case fits a budget more often.
SUMMARY_MAX_TOKENS = 1024


class BudgetExhausted(Exception):
    """The next model call could take a budget past its limit. ``which`` is
    the budget's name ("the run's budget"...), ``reason`` the whole sentence
    with the figures."""

    def __init__(self, which: str, reason: str) -> None:
        super().__init__(reason)
        self.which = which
        self.reason = reason


def day_start(now_ms: int) -> int:
    return now_ms - now_ms % DAY_MS


def month_start(now_ms: int) -> int:
    t = time.gmtime(now_ms / 1000)
    return calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0)) * 1000


def day_label(now_ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now_ms / 1000))


def money(nusd: int | float | None) -> str:
    """Dollars for a person: 4 decimals below $1 (a call costs fractions of a cent), else 2."""
    if nusd is None:
        return "unknown"
    usd = nusd / NANO
    return f"${usd:.4f}" if abs(usd) < 1 else f"${usd:,.2f}"


def _nanos(usd: float | None) -> int | None:
    return None if usd is None else round(usd * NANO)


# ---------------------------------------------------------------- limits


@dataclass(frozen=True)
class Limits:
    """The budgets in force for one goal's runs, in nano-dollars (None: none)."""

    run: int | None = None
    goal_day: int | None = None
    goal_month: int | None = None
    daemon_day: int | None = None

    @classmethod
    def of(cls, config: "Config", params: m.GoalParams) -> "Limits":
        b = config.budgets
        return cls(run=_nanos(params.max_cost if params.max_cost is not None else b.run_usd),
                   goal_day=_nanos(params.max_cost_per_day if params.max_cost_per_day is not None
                                   else b.goal_per_day_usd),
                   goal_month=_nanos(params.max_cost_per_month if params.max_cost_per_month is not None
                                     else b.goal_per_month_usd),
                   daemon_day=_nanos(b.daemon_per_day_usd))

    def any(self) -> bool:
        return any(v is not None for v in (self.run, self.goal_day, self.goal_month, self.daemon_day))

    def named(self) -> list[str]:
        """The budgets in force, as a person reads them."""
        names = [("the run's budget", self.run), ("the goal's daily budget", self.goal_day),
                 ("the goal's monthly budget", self.goal_month), ("the daemon's daily budget", self.daemon_day)]
        return [f"{n} of {money(v)}" for n, v in names if v is not None]


# ---------------------------------------------------------------- holds


class Holds:
    """Worst cases of the model calls in flight, held against their goal and
    the daemon until they settle (one per daemon, on the App)."""

    def __init__(self) -> None:
        self.by_goal: dict[str, int] = {}
        self.total = 0

    def hold(self, goal_id: str, nusd: int) -> None:
        self.by_goal[goal_id] = self.by_goal.get(goal_id, 0) + nusd
        self.total += nusd

    def release(self, goal_id: str, nusd: int) -> None:
        left = self.by_goal.get(goal_id, 0) - nusd
        if left > 0:
            self.by_goal[goal_id] = left
        else:
            self.by_goal.pop(goal_id, None)
        self.total -= nusd


# ---------------------------------------------------------------- prompt size


def _message_bytes(msg: Message) -> int:
    n = len((msg.content or "").encode())
    for c in msg.tool_calls:
        n += len(c.name.encode()) + len(c.arguments.encode()) + len(c.id.encode())
    return n + len((msg.tool_call_id or "").encode()) + len((msg.name or "").encode())


class PromptMeter:
    """An upper bound of the next prompt's tokens, without a tokenizer.

    Every tokenizer of today's chat models (byte-level BPE, SentencePiece with
    byte fallback) spends at least one byte of text per token, so the bytes of
    what we send bound its tokens; the template's own tokens are covered by
    ``PROMPT_OVERHEAD`` and ``MESSAGE_OVERHEAD``. After a call, the server's
    real count of that prompt replaces the bound of everything it covered, so
    the bound stays close: real tokens so far plus the bytes of what was added.
    """

    def __init__(self) -> None:
        self._last: tuple[Message, int, int, int] | None = None  # (last message, count, prompt tokens, tools bytes)
        self._tools: tuple[tuple[int, ...], int] = ((), 0)

    def _tools_bytes(self, specs: Sequence[ToolSpec]) -> int:
        key = tuple(map(id, specs))
        if key != self._tools[0]:
            self._tools = (key, len(msgspec.json.encode(list(specs))) if specs else 0)
        return self._tools[1]

    def bound(self, messages: Sequence[Message], specs: Sequence[ToolSpec]) -> int:
        tools = self._tools_bytes(specs)
        last = self._last
        if last is not None and last[2] > 0 and len(messages) >= last[1] and messages[last[1] - 1] is last[0]:
            added = messages[last[1]:]
            return (last[2] + max(0, tools - last[3]) + sum(map(_message_bytes, added))
                    + MESSAGE_OVERHEAD * len(added))
        return PROMPT_OVERHEAD + tools + sum(map(_message_bytes, messages)) + MESSAGE_OVERHEAD * len(messages)

    def observed(self, messages: Sequence[Message], specs: Sequence[ToolSpec], prompt_tokens: int) -> None:
        """The server counted ``prompt_tokens`` for ``messages`` with ``specs``."""
        if messages and prompt_tokens > 0:
            self._last = (messages[-1], len(messages), prompt_tokens, self._tools_bytes(specs))


# ---------------------------------------------------------------- one run


@dataclass
class Ticket:
    """One model call in flight: its worst case, held until it settles."""

    worst: int
    prompt_bound: int
    messages: Sequence[Message]
    specs: Sequence[ToolSpec]
    held: bool = False


@dataclass(frozen=True)
class Charge:
    """One model call priced (``RunBudget.charge``), to be recorded: its row
    of the cost ledger (``write``, inside a journal transaction) and its
    ``model_cost`` event."""

    ticket: Ticket
    at: int
    row: dict[str, Any]
    event: ev.ModelCost

    def write(self, conn: Any) -> None:
        spend_q.insert_call(conn, self.at, **self.row)


class Money:
    """The daemon-wide side of money: model prices as looked up (per
    configuration and model) and the holds of the calls in flight. One per
    daemon (``App.money``), shared by every run's ``RunBudget``."""

    def __init__(self) -> None:
        self.prices = PriceBook()
        self.holds = Holds()


class RunBudget:
    """The money side of one run's model calls (see the module docstring).
    ``parts`` are the run's loop parts (``agent.loop.LoopParts``: store,
    clock, metrics, config, provider and the daemon's ``money``)."""

    def __init__(self, parts: Any, run_id: str, goal_id: str) -> None:
        self.store, self.now, self.metrics = parts.store, parts.clock, parts.metrics
        self.config, self.provider, self.money = parts.config, parts.provider, parts.money
        self.run_id, self.goal_id = run_id, goal_id
        self.pricing: Pricing | None = None
        self.limits = Limits()
        self.spent = 0  # this run's cost so far (priced calls)
        self.meter = PromptMeter()

    @property
    def max_tokens(self) -> int:
        return getattr(self.provider, "max_tokens", None) or self.config.provider.max_tokens

    @property
    def summary_cap(self) -> int | None:
        """The answer cap of a summary turn (None: the provider's own, when smaller)."""
        return SUMMARY_MAX_TOKENS if self.max_tokens > SUMMARY_MAX_TOKENS else None

    async def open(self, goal: m.Goal) -> str | None:
        """Find the price and the budgets; the reason the run may not start
        (a budget is set and the price is unknown), or None."""
        self.limits = Limits.of(self.config, goal.params)
        self.pricing = await self.money.prices.get(self.config, self.provider)
        self.spent = self.store.read(spend_q.run_spent, self.run_id)  # a resumed run's earlier calls
        if self.pricing is None and self.limits.any():
            return unknown_price_reason(self.provider, self.limits)
        return None

    def reserve(self, messages: Sequence[Message], specs: Sequence[ToolSpec], *,
                max_tokens: int | None = None) -> Ticket:
        """Check the worst case of the next call (its answer capped at
        ``max_tokens``, else the provider's cap) against every budget in
        force and hold it; raises BudgetExhausted when it does not fit."""
        bound = self.meter.bound(messages, specs)
        if self.pricing is None:  # no budget applies (open() refused the run otherwise)
            return Ticket(0, bound, messages, specs)
        now = self.now()
        cap = max_tokens or self.max_tokens
        worst = self.pricing.cost(bound, 0, cap, now)
        if self.limits.any():
            self._check(worst, bound, cap, now)
        self.money.holds.hold(self.goal_id, worst)
        return Ticket(worst, bound, messages, specs, held=True)

    def refusal(self, messages: Sequence[Message], specs: Sequence[ToolSpec]) -> BudgetExhausted | None:
        """Why a next call would not be made now (None: it would be)."""
        try:
            self.release(self.reserve(messages, specs))
        except BudgetExhausted as exc:
            return exc
        return None

    def _check(self, worst: int, bound: int, cap: int, now: int) -> None:
        lim, holds = self.limits, self.money.holds
        day, month = day_start(now), month_start(now)
        held_goal = holds.by_goal.get(self.goal_id, 0)

        def q(conn):
            return (spend_q.goal_spent_since(conn, self.goal_id, day) if lim.goal_day is not None else 0,
                    spend_q.goal_spent_since(conn, self.goal_id, month) if lim.goal_month is not None else 0,
                    spend_q.all_spent_since(conn, day) if lim.daemon_day is not None else 0)

        goal_day, goal_month, daemon_day = self.store.read(q)
        checks = [("the run's budget", lim.run, self.spent, "spent by this run"),
                  ("the goal's daily budget", lim.goal_day, goal_day + held_goal,
                   f"spent by this goal today ({day_label(now)} UTC)"),
                  ("the goal's monthly budget", lim.goal_month, goal_month + held_goal,
                   f"spent by this goal this month ({day_label(now)[:7]} UTC)"),
                  ("the daemon's daily budget", lim.daemon_day, daemon_day + holds.total,
                   f"spent by all goals today ({day_label(now)} UTC)")]
        for which, limit, spent, what in checks:
            if limit is not None and spent + worst > limit:
                raise BudgetExhausted(which, (
                    f"{which} of {money(limit)} could be exceeded by the next model call: {money(spent)} "
                    f"{what}, and the call could cost up to {money(worst)} (a prompt of at most {bound:,} "
                    f"tokens and an answer of at most {cap:,} tokens at the price of "
                    f"{self.provider.model}); it was not made"))

    def release(self, ticket: Ticket) -> None:
        if ticket.held:
            self.money.holds.release(self.goal_id, ticket.worst)
            ticket.held = False

    def charge(self, ticket: Ticket, completion: Completion, turn: int) -> Charge:
        """Price the call's real usage: what to record for it (its hold
        stands until ``settled``)."""
        u = completion.usage
        self.meter.observed(ticket.messages, ticket.specs, u.tokens_in)
        estimated = u.tokens_in == 0 and u.tokens_out == 0
        now = self.now()
        cost: int | None = None
        if self.pricing is not None:
            cost = ticket.worst if estimated else self.pricing.cost(u.tokens_in, u.cached_in, u.tokens_out, now)
            self.spent += cost
        model = completion.model or self.provider.model
        row = dict(run_id=self.run_id, goal_id=self.goal_id, turn=turn, model=model, tokens_in=u.tokens_in,
                   cached_in=u.cached_in, tokens_out=u.tokens_out, reasoning=u.reasoning, cost_nusd=cost,
                   estimated=estimated and cost is not None)
        event = ev.ModelCost(turn=turn, model=model, tokens_in=u.tokens_in, cached_in=u.cached_in,
                             tokens_out=u.tokens_out, reasoning=u.reasoning, cost_usd=spend_q.usd(cost),
                             run_cost_usd=spend_q.usd(self.spent) if self.pricing is not None else None,
                             estimated=estimated and cost is not None)
        return Charge(ticket, now, row, event)

    def settled(self, charge: Charge, *, committed: bool) -> None:
        """The transaction carrying ``charge`` has ended (``committed``, or
        failed): release its hold, and count a committed cost in the metrics."""
        self.release(charge.ticket)
        cost = charge.row["cost_nusd"]
        if committed and self.metrics is not None and cost:
            self.metrics.inc("agentd_cost_usd_total", cost / NANO, model=charge.row["model"])


def unknown_price_reason(provider: Any, limits: Limits) -> str:
    model = provider.model
    where = getattr(provider, "base_url", None)
    at = f" at {where}" if where else ""
    return (f"no price is known for the model {model!r} ({provider.name}{at}), and a money budget applies "
            f"({'; '.join(limits.named())}): the run was not started. Either {price_hint(model)}, or remove the "
            f"budget")


# ---------------------------------------------------------------- RPC side


async def refuse_unpriced(money: Money, config: "Config", provider: Any, goal: m.Goal) -> None:
    """Before ``goal.run`` creates a run: raise ConfigError when a money
    budget applies to the goal and ``provider``'s model has no known price
    (fail closed)."""
    from .protocol.errors import ConfigError

    limits = Limits.of(config, goal.params)
    if not limits.any() or provider is None:
        return
    if await money.prices.get(config, provider) is None:
        raise ConfigError(unknown_price_reason(provider, limits), key=f'prices."{provider.model}"',
                          model=provider.model)


def goal_spend(conn, goals: list[m.Goal], config: "Config", now: int) -> list[m.Goal]:
    """``goals`` with their ``spend``: today's and this month's cost (UTC)
    and the budgets in force (read on ``conn``)."""
    day, month = day_start(now), month_start(now)
    spent = spend_q.goals_spent_since(conn, [g.id for g in goals], day, month)
    out = []
    for g in goals:
        lim = Limits.of(config, g.params)
        d, mo = spent.get(g.id, (0, 0))
        out.append(msgspec.structs.replace(g, spend=m.GoalSpend(
            day=day_label(now), today_usd=d / NANO, month_usd=mo / NANO, per_run_budget_usd=spend_q.usd(lim.run),
            per_day_budget_usd=spend_q.usd(lim.goal_day), per_month_budget_usd=spend_q.usd(lim.goal_month))))
    return out


def daemon_spend(store: "Store", config: "Config", now: int) -> m.DaemonSpend:
    def q(conn):
        return spend_q.all_spent_since(conn, day_start(now)), spend_q.all_spent_since(conn, month_start(now))

    today, month = store.read(q)
    return m.DaemonSpend(day=day_label(now), today_usd=today / NANO, month_usd=month / NANO,
                         per_day_budget_usd=config.budgets.daemon_per_day_usd)


def gauges(store: "Store", config: "Config", now: int) -> dict[str, float]:
    """Spend gauges for the metrics: today's and this month's cost (UTC) of the whole daemon."""
    s = daemon_spend(store, config, now)
    out = {"agentd_spend_today_usd": s.today_usd, "agentd_spend_month_usd": s.month_usd}
    if s.per_day_budget_usd is not None:
        out["agentd_budget_daily_usd"] = s.per_day_budget_usd
    return out


def run_with_cost(conn, run: m.Run, *, detail: bool) -> m.Run:
    """``run`` with the cost side of its usage (and, with ``detail``, its model calls)."""
    cached, reasoning, cost = spend_q.run_usage(conn, run.id)
    usage = msgspec.structs.replace(run.usage, cached_in=cached, reasoning=reasoning, cost_usd=spend_q.usd(cost))
    calls = spend_q.calls_of(conn, run.id) if detail else []
    return msgspec.structs.replace(run, usage=usage, model_calls=calls)


def steps_with_cost(conn, run_id: str, steps: list[m.Step]) -> list[m.Step]:
    """``steps`` with the cost of their turn's model call on the turn's first step (like its tokens)."""
    costs = spend_q.turn_costs(conn, run_id)
    seen: set[int] = set()
    out = []
    for s in steps:
        if s.turn in costs and s.turn not in seen:
            seen.add(s.turn)
            s = msgspec.structs.replace(s, cost_usd=spend_q.usd(costs[s.turn]))
        out.append(s)
    return out
