"""Nested completion for the REPL: commands, their options and the option
values argparse knows (choices), and live goal and run ids from the daemon.

The command tree is read from agentctl's own argparse parser, so the
completion never disagrees with what the commands accept. Ids come from
``goal.list`` / ``run.list`` on the REPL's own connection and are cached for
:data:`ID_TTL_S` seconds (completion runs in a thread: the prompt never waits
for the daemon).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

ID_TTL_S = 5.0

# Positional arguments (noun, dest) and options whose values are ids.
GOAL_IDS = {("goal", "id"), ("memory", "goal"), ("run", "--goal")}
RUN_IDS = {("run", "id")}
BUILTINS = {"watch": "watch a run live (Ctrl-C stops watching)", "help": "list the commands",
            "exit": "leave the shell (or Ctrl-D)", "quit": "leave the shell", "clear": "clear the screen"}


@dataclass
class Command:
    help: str = ""
    options: dict[str, argparse.Action] = field(default_factory=dict)
    positionals: list[argparse.Action] = field(default_factory=list)
    sub: dict[str, Command] = field(default_factory=dict)


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _command(parser: argparse.ArgumentParser, help: str = "") -> Command:
    cmd = Command(help=help)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                cmd.sub[name] = _command(sub, helps.get(name, ""))
        elif action.option_strings:
            if action.help is argparse.SUPPRESS:
                continue
            for opt in action.option_strings:
                cmd.options[opt] = action
        else:
            cmd.positionals.append(action)
    return cmd


def command_tree() -> Command:
    from ..cli import build_parser

    return _command(build_parser(None))


class IdSource:
    """Goal and run ids from the daemon, cached briefly. ``call(method, params)``
    is a blocking RPC (the REPL's client); errors mean "no ids now"."""

    def __init__(self, call, ttl: float = ID_TTL_S) -> None:
        self.call = call
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, list[tuple[str, str]]]] = {}

    def _get(self, kind: str) -> list[tuple[str, str]]:
        with self._lock:
            hit = self._cache.get(kind)
            if hit and time.monotonic() - hit[0] < self.ttl:
                return hit[1]
            try:
                if kind == "goal":
                    res = self.call("goal.list", {"limit": 500})
                    items = [(g["id"], f"{g.get('status', '')}  {g.get('name') or g.get('objective', '')}")
                             for g in res.get("goals", [])]
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
            if value.startswith(current):
                yield Completion(value, start_position=-len(current), display_meta=meta)

    def _candidates(self, words: list[str], current: str) -> list[tuple[str, str]]:
        if not words:
            top = [(n, c.help) for n, c in self.tree.sub.items()]
            return top + list(BUILTINS.items()) + (self._options(self.tree, current) if current.startswith("-") else [])
        if words[0] == "watch":
            return self.ids.runs() if len(words) == 1 else []
        # Walk down the tree past the words that name sub-commands.
        node, path, rest = self.tree, [], list(words)
        while rest:
            w = rest[0]
            if w in node.sub:
                node = node.sub[w]
                path.append(w)
                rest.pop(0)
            elif w.startswith("-") or not node.sub:
                break
            else:
                return []  # an unknown command: nothing sensible to offer
            if not node.sub:
                break
        if node.sub:
            if current.startswith("-"):
                return self._options(node, current)
            return [(n, c.help) for n, c in node.sub.items()]
        noun = path[0] if path else ""
        # The value of an option just typed?
        if rest:
            prev = rest[-1]
            action = node.options.get(prev)
            if action is not None and action.nargs != 0:
                return self._values(noun, prev, action)
        if current.startswith("-"):
            return self._options(node, current)
        # Which positional is this?
        index, skip = 0, False
        for w in rest:
            if skip:
                skip = False
                continue
            if w.startswith("-"):
                action = node.options.get(w)
                skip = action is not None and action.nargs != 0
                continue
            index += 1
        if index < len(node.positionals):
            action = node.positionals[index]
            return self._values(noun, action.dest, action)
        return []

    def _options(self, node: Command, current: str) -> list[tuple[str, str]]:
        seen = set()
        out = []
        for opt, action in node.options.items():
            if id(action) in seen and not opt.startswith("--"):
                continue
            seen.add(id(action))
            out.append((opt, action.help or ""))
        return [o for o in out if o[0].startswith("--") or current in ("-", "") or o[0].startswith(current)]

    def _values(self, noun: str, dest: str, action: argparse.Action) -> list[tuple[str, str]]:
        if (noun, dest) in GOAL_IDS:
            return self.ids.goals()
        if (noun, dest) in RUN_IDS:
            return self.ids.runs()
        if action.choices:
            return [(str(c), "") for c in action.choices]
        return []


def keywords(tree: Command) -> list[str]:
    return sorted(set(tree.sub) | set(BUILTINS))
