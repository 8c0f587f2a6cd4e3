"""Completion for real in bash, zsh and fish: the same command lines give the
same candidates in all three shells — commands, options, choices, timezones,
and goal ids, goal names and run ids from a live daemon (see shells.py for how
each shell is driven). A test skips, saying why, only when its shell is not
installed."""

from __future__ import annotations

import pytest

from agentctl.commands.completion import command_tree, timezone_names
from daemon_harness import base_env
from shells import PTY_SHELLS, SHELLS, missing


@pytest.fixture(params=list(SHELLS))
def shell_kind(request):
    reason = missing(request.param)
    if reason:
        pytest.skip(reason)
    return SHELLS[request.param]


def _values(line: str, got: list[str]) -> set[str]:
    """The candidates without the `--flag=` that fish puts before a value."""
    word = line.rsplit(" ", 1)[-1]
    if word.startswith("--") and "=" in word:
        flag = word.split("=", 1)[0] + "="
        return {g[len(flag):] if g.startswith(flag) else g for g in got}
    return set(got)


def _static_cases():
    tree = command_tree()
    berlin = {z for z in timezone_names() if z.startswith("Europe/Be")}
    assert "Europe/Berlin" in berlin
    return [
        ("agentctl go", {"goal"}),
        ("agentctl goal ", set(tree.subcommands["goal"].subcommands)),
        ("agentctl se", {"server"}),
        ("agentctl server ", set(tree.subcommands["server"].subcommands)),
        ("agentctl goal create 'watch the news' --timezone Europe/Be", berlin),
        ("agentctl goal edit abc --timezone=Europe/Be", berlin),
        ("agentctl goal create --timezone Etc/UT", {"Etc/UTC"}),
        ("agentctl goal create x --catch", {"--catchup", "--catchup-window"}),
        ("agentctl goal create x --overlap ", {"skip", "queue", "cancel"}),
        ("agentctl --socket /x run ls --format m", {"md"}),  # an alias (ls) and a global option first
        ("agentctl server reload --log-level ", {"trace", "debug", "info", "warning", "error"}),
        ("agentctl completion ", {"bash", "zsh", "fish"}),
        ("agentctl goal show ", set()),  # no daemon: no ids, and no error
    ]


def test_commands_options_choices_and_timezones(shell_kind, tmp_path):
    env = base_env(tmp_path, None)
    sh = shell_kind(env, tmp_path)
    try:
        for line, expected in _static_cases():
            assert _values(line, sh.complete(line)) == expected, (sh.name, line)
    finally:
        sh.close()


def test_goal_ids_names_and_run_ids_from_the_daemon(shell_kind, daemon, tmp_path):
    g1 = daemon.call("goal.create", {"objective": "collect the AI news", "name": "ai-news"})["id"]
    g2 = daemon.call("goal.create", {"objective": "count the stars"})["id"]
    g3 = daemon.call("goal.create", {"objective": "watch the weather", "name": "weather"})["id"]
    run = daemon.call("goal.run", {"id": g2})["id"]
    named = {g["name"] for g in daemon.call("goal.list")["goals"] if g.get("name")}
    assert {"ai-news", "weather"} <= named
    goals = {g1, g2, g3} | named
    unique = g1[:-1]  # a prefix of g1 only (a short one could begin a name too)
    sh = shell_kind(daemon.env, tmp_path)
    try:
        cases = [
            ("agentctl goal show ", goals),
            ("agentctl goal show ai-n", {"ai-news"}),
            ("agentctl goal next we", {"weather"}),
            ("agentctl goal run " + unique, {g1}),
            ("agentctl goal show ai-news ", set()),  # one positional only
            ("agentctl run list --goal ", goals),
            ("agentctl run ls --goal=ai", {"ai-news"}),
            ("agentctl memory add ", goals),
            ("agentctl run show ", {run}),
            ("agentctl run show " + run[:-1], {run}),
        ]
        for line, expected in cases:
            assert _values(line, sh.complete(line)) == expected, (sh.name, line)
    finally:
        sh.close()


@pytest.mark.parametrize("name", list(PTY_SHELLS))
def test_tab_in_a_terminal_inserts_the_completion(name, daemon, tmp_path):
    if missing(name):
        pytest.skip(missing(name))
    daemon.call("goal.create", {"objective": "collect the AI news", "name": "ai-news"})
    sh = PTY_SHELLS[name](daemon.env, tmp_path)
    try:
        assert sh.typed("agentctl go") == "agentctl goal"
        assert sh.typed("agentctl goal sh") == "agentctl goal show"
        assert sh.typed("agentctl goal show ai-") == "agentctl goal show ai-news"
        assert sh.typed("agentctl goal create x --timezone Europe/Berl") == \
            "agentctl goal create x --timezone Europe/Berlin"
    finally:
        sh.close()


def test_the_repl_completes_timezones_too():
    """The REPL reads the same tree and kinds (agentctl.repl.completion)."""
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from agentctl.repl.completion import IdSource, ReplCompleter

    ids = IdSource(lambda method, params: {"goals": [], "runs": []})
    completer = ReplCompleter(command_tree(), ids)
    text = "goal create x --timezone Europe/Be"
    got = {c.text for c in completer.get_completions(Document(text), CompleteEvent())}
    assert got == {z for z in timezone_names() if z.startswith("Europe/Be")}
