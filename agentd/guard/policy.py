"""The exfiltration guard of one run: taint, then destination checks.

A run starts clean: everything in its context came from the person (the
objective, the constraints) or from agentd. The first tool result that came
from outside — a fetched page, a feed, search results, the output of an
external tool (every tool that does not declare ``external = False``, so an
MCP server's tools count unless they say otherwise) — taints the run, and the
step that brought it in is marked (``steps.guard = 'tainted'``). From then on
the model may have read instructions written by someone else, and a tool call
that sends data out may only go where the person said data may go:

- ``send_webhook``: the goal's webhook URL, or a URL on its allowed domains;
- ``send_email``: only the goal's recipients (``email_to``);
- ``fetch_page`` / ``read_feed`` (a URL is data too: its path and query reach
  the server): a URL on the goal's allowed domains (when it has some), a URL
  the person wrote in the objective or constraints, or a link that appeared
  verbatim in untrusted content earlier in the run (following links) — never
  a URL whose path or query the model composed. Links that only echo what
  the model itself sent (a search engine repeating the query, a page
  repeating its own URL) do not count as seen. Each redirect hop is checked
  too: to the same host and port (or the same host moving to https), or to a
  URL that passes the same rule;
- any other external tool: every http(s) URL in its arguments passes the
  fetch rule.

A call that breaks the rule is not made: ``check`` returns a ``Verdict``, the
loop turns it into a ``GuardRefused`` (the model's observation says what was
blocked, why, and what it may do instead), the step is marked ``blocked`` and
counted. The search engine (``web_search``'s backend) is the person's own
configuration, not a destination of the model's choosing, so a search query
is not checked. The full rule and its limits: docs/exfiltration-guard.md.

State is rebuilt from the journal after a restart (``reset`` then ``replay``
each step in order), so a resumed run is exactly as tainted as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import msgspec

from ..protocol.errors import ToolRefused
from ..tools.net import host_allowed
from .urls import MAX_URLS, harvest, host_of, origin, url_key

FETCH_TOOLS = frozenset({"fetch_page", "read_feed"})
SEARCH = "web_search"  # its query goes to the search engine the person configured: not checked
TAINTED = "tainted"
BLOCKED = "blocked"


class GuardRefused(ToolRefused):
    """A tool call the exfiltration guard did not let out."""

    kind = "guard_blocked"


@dataclass(frozen=True)
class Verdict:
    """Why a call may not be made: the tool, where it would have sent data,
    and the reason in words the model (and the person reading the log) can act on."""

    tool: str
    destination: str
    reason: str

    @property
    def message(self) -> str:
        return f"BLOCKED by the exfiltration guard: {self.tool} to {self.destination}: {self.reason}"


@dataclass
class Destinations:
    """What the person named for the goal."""

    webhook_url: str | None
    email_to: tuple[str, ...]
    allowed_domains: tuple[str, ...]
    trusted_urls: frozenset[str]  # url_key of every URL written in the objective and constraints

    @classmethod
    def of_goal(cls, goal: Any) -> "Destinations":
        params = goal.params
        texts = [goal.objective, *params.constraints, goal.webhook_url or ""]
        trusted = {k for text in texts for u in harvest(text) if (k := url_key(u)) is not None}
        return cls(webhook_url=goal.webhook_url, email_to=tuple(a.strip().lower() for a in params.email_to),
                   allowed_domains=tuple(d for d in params.allowed_domains if d.strip()),
                   trusted_urls=frozenset(trusted))

    def domain_allowed(self, host: str) -> bool:
        return bool(self.allowed_domains) and host_allowed(host, self.allowed_domains)


@dataclass
class RunGuard:
    """The guard of one run. ``is_external(name)`` says whether a tool's
    output is untrusted (the tool registry's ``external`` attribute; True when
    a tool does not say)."""

    dest: Destinations
    is_external: Callable[[str], bool]
    tainted_at: int | None = None
    source: str = ""  # the tool (and URL) that tainted the run
    seen: set[str] = field(default_factory=set)  # url_key of links read in untrusted content
    sent: list[str] = field(default_factory=list)  # every string the model put in a call's arguments
    marks: dict[int, str] = field(default_factory=dict)  # step_no -> tainted | blocked, not yet journaled

    @classmethod
    def for_goal(cls, goal: Any, is_external: Callable[[str], bool]) -> "RunGuard":
        return cls(Destinations.of_goal(goal), is_external)

    @property
    def tainted(self) -> bool:
        return self.tainted_at is not None

    # ------------------------------------------------------------ journal
    def reset(self) -> None:
        self.tainted_at, self.source = None, ""
        self.seen.clear()
        self.sent.clear()
        self.marks.clear()

    def replay(self, step_no: int, name: str | None, arguments: str | None, status: str,
               observation: str | None) -> None:
        """Take one journaled step into account, in step order (resume)."""
        if not name:
            return
        self._note_arguments(arguments)
        if status == "ok":
            self.observe(step_no, name, arguments, observation)
        self.marks.pop(step_no, None)  # already journaled

    def settle(self, step_no: int, name: str, arguments: str | None, observation: str | None,
               error: str | None) -> str | None:
        """A call ended: observe its result if it succeeded; the mark to journal
        with its step (``tainted``, ``blocked`` or None)."""
        if error is None:
            self.observe(step_no, name, arguments, observation)
        return self.marks.pop(step_no, None)

    def note(self, step_no: int, mark: str | None, error: str | None) -> str | None:
        """The line ``run logs``/``run watch`` show for a marked step, or None."""
        if mark == TAINTED:
            return (f"untrusted content entered the run at step {step_no} ({self.source}); from now on data may "
                    "leave only to the goal's webhook URL, email recipients and allowed domains")
        if mark == BLOCKED:
            return f"step {step_no}: {error}"
        return None

    # ------------------------------------------------------------ taint
    def observe(self, step_no: int, name: str, arguments: str | None, observation: str | None) -> bool:
        """A call of ``name`` succeeded with ``observation``: taint the run if the
        tool is external, and remember the links it showed. True when this step
        is the one that tainted the run."""
        if not self.is_external(name):
            return False
        first = self.tainted_at is None
        if first:
            self.tainted_at = step_no
            self.source = _describe(name, arguments)
            self.marks[step_no] = TAINTED
        for url in harvest(observation or ""):
            key = url_key(url)
            if key is None or len(self.seen) >= MAX_URLS or self._echoed(url, key):
                continue
            self.seen.add(key)
        return first

    def _echoed(self, url: str, key: str) -> bool:
        """The link only repeats something the model sent (a search engine
        echoing the query, a page quoting its own URL): not seen."""
        return any(url in s or key in s for s in self.sent)

    def _note_arguments(self, arguments: str | None) -> None:
        self.sent.extend(_strings(arguments))

    # ------------------------------------------------------------ checks
    def would_block(self, name: str, params: Any, arguments: str | None = None) -> Verdict | None:
        """What :meth:`check` would say, without recording or marking anything
        (for asking a person before the call, when the goal says so)."""
        return self._verdict(name, params, arguments) if self.tainted else None

    def check(self, step_no: int, name: str, params: Any, arguments: str | None = None, *,
              approved: Callable[[], bool] = lambda: False) -> Verdict | None:
        """Whether the call may be made. Records the call's arguments (links a
        later page merely echoes are not "seen"). None: allowed; a Verdict:
        blocked (the step is marked). ``approved``, asked only of a call the
        rule blocks: a person approved exactly this call (goal ``guard = ask``),
        so it is allowed and not marked."""
        self._note_arguments(arguments)
        if not self.tainted:
            return None
        verdict = self._verdict(name, params, arguments)
        if verdict is None or approved():
            return None
        self.marks[step_no] = BLOCKED
        return verdict

    def _verdict(self, name: str, params: Any, arguments: str | None) -> Verdict | None:
        if name == "send_webhook":
            return self._webhook(params.url)
        if name == "send_email":
            return self._email(list(params.to))
        if name in FETCH_TOOLS:
            return self._fetch(name, params.url)
        if self.is_external(name) and name != SEARCH:
            for url in [u for s in _strings(arguments) for u in harvest(s)]:
                verdict = self._fetch(name, url)
                if verdict is not None:
                    return verdict
        return None

    def check_redirect(self, step_no: int, name: str, from_url: str, to_url: str) -> None:
        """A fetch of this run is redirected: raise GuardRefused unless the hop
        stays on the same host and port (or moves the same host to https),
        or goes to a URL the fetch rule allows."""
        if not self.tainted:
            return
        a, b = origin(from_url), origin(to_url)
        if a is not None and b is not None and a[0] == b[0] and (a[1] == b[1] or (a[1], b[1]) == (80, 443)):
            return
        verdict = self._fetch(name, to_url, redirect_from=from_url)
        if verdict is not None:
            self.marks[step_no] = BLOCKED
            raise GuardRefused(verdict.message, tool=name, destination=verdict.destination)

    def _webhook(self, url: str) -> Verdict | None:
        if self.dest.webhook_url and url == self.dest.webhook_url:
            return None
        if self.dest.domain_allowed(host_of(url)):
            return None
        where = self.dest.webhook_url or "none is configured"
        return Verdict("send_webhook", url, f"{self._why()} webhooks may go only to the goal's webhook URL "
                                            f"({where}) or its allowed domains. Do not send it; go on with the "
                                            "objective.")

    def _email(self, to: list[str]) -> Verdict | None:
        refused = [a for a in to if a.strip().lower() not in self.dest.email_to]
        if not refused:
            return None
        allowed = ", ".join(self.dest.email_to) or "none are configured"
        return Verdict("send_email", ", ".join(refused), f"{self._why()} email may go only to the goal's "
                                                         f"recipients ({allowed}). Do not send it; go on with "
                                                         "the objective.")

    def _fetch(self, name: str, url: str, *, redirect_from: str | None = None) -> Verdict | None:
        key = url_key(url)
        if key is None:  # not an http(s) URL: the tool refuses it with its own message
            return None
        if self.dest.domain_allowed(host_of(url)) or key in self.dest.trusted_urls or key in self.seen:
            return None
        if redirect_from is not None:
            what = f"{redirect_from} redirected there, and that URL was neither on the goal's allowed domains " \
                   "nor a link that appeared in content read earlier."
        else:
            what = self._composed(key)
        return Verdict(name, url, f"{self._why()} {name} may open only URLs on the goal's allowed domains, URLs "
                                  f"in the objective, or links exactly as they appeared in content read earlier. "
                                  f"{what} Use a link as it was written, or go on without this page.")

    def _composed(self, key: str) -> str:
        o = origin(key)
        same_host = [s for s in self.seen if origin(s) == o]
        if not same_host:
            return "No content read in this run linked to that host."
        path = key.split("?", 1)[0]
        if any(s.split("?", 1)[0] == path for s in same_host):
            return "That page was linked, but not with this query string: the query was composed, not copied."
        return "That host was linked, but not this path: the URL was composed, not copied."

    def _why(self) -> str:
        return f"this run read untrusted content (step {self.tainted_at}: {self.source}), so"


def _describe(name: str, arguments: str | None) -> str:
    try:
        args = msgspec.json.decode(arguments or "{}")
    except msgspec.DecodeError:
        return name
    if isinstance(args, dict):
        for key in ("url", "query"):
            if isinstance(args.get(key), str):
                return f"{name} {args[key][:200]}"
    return name


def _strings(arguments: str | None) -> Iterable[str]:
    """Every string value in a call's JSON arguments (the raw text if it is not JSON)."""
    if not arguments:
        return []
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        return [arguments]
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for k, x in v.items():
                out.append(str(k))
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(value)
    return out


def registry_external(registry: Any) -> Callable[[str], bool]:
    """``is_external`` for a tool registry: a tool's ``external`` attribute
    (True when it does not say); an unknown name is not a tool and taints nothing."""
    def is_external(name: str) -> bool:
        tool = registry.find(name)
        return tool is not None and bool(tool.external)

    return is_external
