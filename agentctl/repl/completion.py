"""Nested completion for the REPL: commands, their options and the option
values argparse knows (choices), and live goal and run ids from the daemon.

The command tree is the one ``agentctl completion`` generates the shell
scripts from (``agentctl.commands.completion``), read from agentctl's own
argparse parser: the completion never disagrees with what the commands accept,
and which values are goal or run ids is decided in one place. Ids come from
``goal.list`` / ``run.list`` on the REPL's own connection (a goal is offered
by its id and, when no other goal has it, by its name) and are cached for
:data:`ID_TTL_S` seconds (completion runs in a thread: the prompt never waits
for the daemon).
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from ..commands.completion import Command, Option, command_tree, option_kind, positional_kind, timezone_names

__all__ = ["IdSource", "ReplCompleter", "command_tree"]

ID_TTL_S = 5.0

BUILTINS = {"watch": "watch a run live (Ctrl-C stops watching)", "help": "list the commands",
            "exit": "leave the shell (or Ctrl-D)", "quit": "leave the shell", "clear": "clear the screen"}
# agentctl's commands that the REPL neither offers nor runs, and what to do instead.
NOT_IN_REPL = {
    "shell": "you are in it",
    "init": "run `agentctl init` in your shell (it writes the config file; `config set` changes one value here)",
    "completion": "it prints a script for your shell: run `agentctl completion bash|zsh|fish` there",
}


def _subcommands(node: Command) -> dict[str, Command]:
    """``node``'s sub-commands by name, each followed by its aliases (``ls``, ``rm``)."""
    out: dict[str, Command] = {}
    for name, sub in node.subcommands.items():
        out[name] = sub
        out.update((alias, sub) for alias, target in node.aliases.items() if target == name)
    return out


def _flags(node: Command) -> dict[str, Option]:
    return {flag: opt for opt in node.options for flag in opt.flags}


class IdSource:
    """Goal and run ids from the daemon, cached briefly. ``call(method, params)``
    is a blocking RPC (the REPL's client); errors mean "no ids now"."""

    def __init__(self, call, ttl: float = ID_TTL_S) -> None:
        self.call = call
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, list[tuple[str, str]]]] = {}
        self._names: list[tuple[str, str]] = []  # (name, goal id) of the goals whose name is unique

    def _get(self, kind: str) -> list[tuple[str, str]]:
        with self._lock:
            hit = self._cache.get(kind)
            if hit and time.monotonic() - hit[0] < self.ttl:
                return hit[1]
            try:
                if kind == "goal":
                    res = self.call("goal.list", {"limit": 500})
                    goals = res.get("goals", [])
                    items = [(g["id"], f"{g.get('status', '')}  {g.get('name') or g.get('objective', '')}")
                             for g in goals]
                    self._names = _unique_names(goals)
                else:
                    res = self.call("run.list", {"limit": 100})
                    items = [(r["id"], f"{r.get('status', '')}  goal {r.get('goal_id', '')}")
                             for r in res.get("runs", [])]
            except Exception:  # the daemon is away: no ids, no error in the prompt
                items = hit[1] if hit else []
            self._cache[kind] = (time.monotonic(), items)
            return items

    def goals(self) -> list[tuple[str, str]]:
        return self._get("goal")

    def goal_refs(self) -> list[tuple[str, str]]:
        """What may name a goal: every id, then every name that only one goal
        has (quoted for the shell when it holds spaces or quotes), with its id."""
        ids = self._get("goal")
        return ids + [(shlex.quote(name), f"name of {gid}") for name, gid in self._names]

    def runs(self) -> list[tuple[str, str]]:
        return self._get("run")

    def goal_name(self, goal_id: str) -> str | None:
        hit = self._cache.get("goal")
        for gid, meta in (hit[1] if hit else []):
            if gid == goal_id:
                name = meta.split("  ", 1)[1] if "  " in meta else ""
                return name or None
        return None

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()


def _unique_names(goals: list[dict]) -> list[tuple[str, str]]:
    """(name, id) of the named goals whose name no other goal has: a name two
    goals share resolves to neither, so it is not offered."""
    seen: dict[str, list[str]] = {}
    for g in goals:
        if g.get("name"):
            seen.setdefault(g["name"], []).append(g["id"])
    return [(name, ids[0]) for name, ids in seen.items() if len(ids) == 1]


def _split(text: str) -> tuple[list[str], str]:
    """The complete words before the cursor and the word being typed."""
    import shlex

    lexer = shlex.shlex(text, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    words: list[str] = []
    try:
        for tok in lexer:
            words.append(tok)
    except ValueError:  # an open quote: fall back to spaces
        words = text.split()
    if text and not text[-1].isspace() and words:
        return words[:-1], words[-1]
    return words, ""


class ReplCompleter(Completer):
    def __init__(self, tree: Command, ids: IdSource) -> None:
        self.tree = tree
        self.ids = ids

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        words, current = _split(document.text_before_cursor)
        for value, meta in self._candidates(words, current):
            # A quoted name matches what was typed with or without its opening quote.
            if value.startswith(current) or (value[:1] == "'" and value[1:].startswith(current)):
                yield Completion(value, start_position=-len(current), display_meta=meta)

    def _candidates(self, words: list[str], current: str) -> list[tuple[str, str]]:
        if not words:
            top = [(n, c.help) for n, c in self.tree.subcommands.items() if n not in NOT_IN_REPL]
            return top + list(BUILTINS.items()) + (self._options(self.tree) if current.startswith("-") else [])
        if words[0] == "watch":
            return self.ids.runs() if len(words) == 1 else []
        # Walk down the tree past the words that name sub-commands.
        node, rest = self.tree, list(words)
        while rest and node.subcommands:
            subs = _subcommands(node)
            if rest[0] in subs:
                node = subs[rest.pop(0)]
            elif rest[0].startswith("-"):
                break
            else:
                return []  # an unknown command: nothing sensible to offer
        if node.subcommands:
            if current.startswith("-"):
                return self._options(node)
            return [(n, c.help) for n, c in _subcommands(node).items()]
        flags = _flags(node)
        # The value of an option just typed?
        if rest:
            opt = flags.get(rest[-1])
            if opt is not None and opt.takes_value:
                return self._values(option_kind(opt), opt.choices)
        if current.startswith("-"):
            return self._options(node)
        # Which positional is this?
        index, skip = 0, False
        for w in rest:
            if skip:
                skip = False
                continue
            if w.startswith("-"):
                opt = flags.get(w)
                skip = opt is not None and opt.takes_value
                continue
            index += 1
        if index < len(node.positionals):
            pos = node.positionals[index]
            return self._values(positional_kind(node, pos), pos.choices)
        return []

    def _options(self, node: Command) -> list[tuple[str, str]]:
        return [(flag, opt.help) for opt in node.options for flag in opt.flags]

    def _values(self, kind: str, choices: list[str] | None) -> list[tuple[str, str]]:
        if kind == "goal":
            return self.ids.goal_refs()
        if kind == "run":
            return self.ids.runs()
        if kind == "timezone":
            return [(z, "") for z in timezone_names()]
        return [(c, "") for c in choices or ()]
