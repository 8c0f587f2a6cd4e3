"""``agentctl completion bash|zsh|fish``: a completion script generated from
the argparse tree (``agentctl.cli.build_parser``), so it cannot fall behind
the commands. Goal and run ids are completed by asking the daemon
(``agentctl --json goal list`` / ``run list``) at completion time.

``command_tree()`` is also what docs/cli-reference.md and the man-page test
are generated from / checked against, and what the REPL completes from
(``agentctl.repl.completion``, with :func:`option_kind` and :func:`positional_kind`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from ..context import Context

FILE_OPTIONS = {"--socket", "--config", "--db", "--unit-dir"}


@dataclass
class Option:
    flags: list[str]
    takes_value: bool
    choices: list[str] | None
    help: str
    metavar: str | None
    default: object = None


@dataclass
class Positional:
    name: str
    choices: list[str] | None
    help: str
    nargs: object = None


@dataclass
class Command:
    path: tuple[str, ...]
    help: str
    description: str
    options: list[Option] = field(default_factory=list)
    positionals: list[Positional] = field(default_factory=list)
    subcommands: dict[str, "Command"] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> name


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...], help_text: str) -> Command:
    cmd = Command(path, help_text, parser.description or help_text)
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            helps = {c.dest: c.help or "" for c in a._choices_actions}
            seen: dict[int, str] = {}
            for name, sub in a.choices.items():
                if id(sub) in seen:
                    cmd.aliases[name] = seen[id(sub)]
                    continue
                seen[id(sub)] = name
                cmd.subcommands[name] = _walk(sub, path + (name,), helps.get(name, ""))
        elif a.option_strings:
            if a.help == argparse.SUPPRESS:
                continue
            cmd.options.append(Option(list(a.option_strings), a.nargs != 0,
                                      [str(c) for c in a.choices] if a.choices else None,
                                      a.help or "", a.metavar, a.default))
        else:
            cmd.positionals.append(Positional(a.metavar or a.dest, [str(c) for c in a.choices] if a.choices else None,
                                              a.help or "", a.nargs))
    return cmd


def command_tree() -> Command:
    from ..cli import build_parser

    return _walk(build_parser(), (), "")


def iter_commands(cmd: Command):
    yield cmd
    for sub in cmd.subcommands.values():
        yield from iter_commands(sub)


def _id_kind(cmd: Command, name: str) -> str | None:
    """'goal' or 'run' when the positional ``name`` of ``cmd`` is such an id."""
    if name == "goal":
        return "goal"
    if name == "id" and cmd.path and cmd.path[0] in ("goal", "run"):
        return cmd.path[0]
    return None


def option_kind(opt: Option) -> str:
    """What the value of ``opt`` is: ``choices:A B``, ``goal``, ``file`` or ``none``."""
    if opt.choices:
        return "choices:" + " ".join(opt.choices)
    if opt.flags[-1] == "--goal":
        return "goal"
    if set(opt.flags) & FILE_OPTIONS:
        return "file"
    return "none"


def positional_kind(cmd: Command, pos: Positional) -> str:
    """What the positional ``pos`` of ``cmd`` is: ``choices:A B``, ``goal``, ``run`` or ``none``."""
    if pos.choices:
        return "choices:" + " ".join(pos.choices)
    return _id_kind(cmd, pos.name) or "none"


def _sh(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


# The ids in `agentctl --json goal|run list` (argv[1]: "goals" or "runs"), for
# the _agentctl_ids functions below (their @IDS_PY@); nothing when agentd is down.
_IDS_PY = """import json, sys
try:
    data = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
for item in data.get(sys.argv[1], []):
    print(item["id"])"""


# ---------------------------------------------------------------- bash

_BASH_FUNC = r'''
_agentctl_ids() {
    # $1: goal|run. Ask the daemon; nothing when it is not running.
    local out
    out=$("${COMP_WORDS[0]}" --json "$1" list --limit 200 2>/dev/null | python3 -c '
@IDS_PY@' "$1s" 2>/dev/null)
    COMPREPLY=($(compgen -W "$out" -- "$cur"))
}

_agentctl_kind() {
    # complete "$cur" as a value of kind $1
    case "$1" in
        choices:*) COMPREPLY=($(compgen -W "${1#choices:}" -- "$cur")) ;;
        goal|run) _agentctl_ids "$1" ;;
        file) COMPREPLY=($(compgen -f -- "$cur")) ;;
        *) COMPREPLY=() ;;
    esac
}

_agentctl() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    local path="agentctl" w i pending="" npos=0 key
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        if [[ -n "$pending" ]]; then pending=""; continue; fi
        if [[ "$w" == -* ]]; then
            [[ "$w" == *=* ]] && continue
            key="${path}|${w}"
            [[ -n "${_agentctl_valopts[$key]+x}" ]] && pending="$key"
            continue
        fi
        key="$path $w"
        if [[ -n "${_agentctl_alias[$key]+x}" ]]; then key="${_agentctl_alias[$key]}"; fi
        if [[ -n "${_agentctl_opts[$key]+x}" ]]; then
            path="$key"; npos=0
        else
            npos=$((npos + 1))
        fi
    done
    COMPREPLY=()
    if [[ -n "$pending" ]]; then
        _agentctl_kind "${_agentctl_valopts[$pending]}"
        return 0
    fi
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "${_agentctl_opts[$path]}" -- "$cur"))
        return 0
    fi
    if [[ -n "${_agentctl_subs[$path]}" ]]; then
        COMPREPLY=($(compgen -W "${_agentctl_subs[$path]}" -- "$cur"))
        return 0
    fi
    local -a kinds
    read -r -a kinds <<< "${_agentctl_pos[$path]}"
    if ((npos < ${#kinds[@]})); then
        _agentctl_kind "${kinds[$npos]//+/ }"
    fi
    return 0
}
complete -F _agentctl agentctl
'''


def _assoc_tables(tree: Command) -> list[str]:
    """The command tree as the associative arrays the bash and zsh functions
    read (same syntax in both shells): subcommands, options, options that take
    a value (with the value's kind), positionals' kinds and aliases."""
    lines = []
    for cmd in iter_commands(tree):
        key = " ".join(("agentctl", *cmd.path))
        lines.append(f"_agentctl_subs[{_sh(key)}]={_sh(' '.join([*cmd.subcommands, *cmd.aliases]))}")
        flags = [f for o in cmd.options for f in o.flags]
        lines.append(f"_agentctl_opts[{_sh(key)}]={_sh(' '.join(flags))}")
        for o in cmd.options:
            if o.takes_value:
                for f in o.flags:
                    lines.append(f"_agentctl_valopts[{_sh(key + '|' + f)}]={_sh(option_kind(o))}")
        kinds = [positional_kind(cmd, p).replace(" ", "+") for p in cmd.positionals]
        lines.append(f"_agentctl_pos[{_sh(key)}]={_sh(' '.join(kinds))}")
        for alias, name in cmd.aliases.items():
            lines.append(f"_agentctl_alias[{_sh(key + ' ' + alias)}]={_sh(key + ' ' + name)}")
    return lines


def bash_script(tree: Command) -> str:
    lines = ["# bash completion for agentctl (generated by `agentctl completion bash`)",
             "# Install: agentctl completion bash > ~/.local/share/bash-completion/completions/agentctl",
             "declare -gA _agentctl_subs _agentctl_opts _agentctl_valopts _agentctl_pos _agentctl_alias"]
    lines += _assoc_tables(tree)
    return "\n".join(lines) + "\n" + _BASH_FUNC.replace("@IDS_PY@", _IDS_PY)


# ---------------------------------------------------------------- zsh

_ZSH_FUNC = r'''
_agentctl_ids() {
    local -a ids
    ids=(${(f)"$(${words[1]} --json $1 list --limit 200 2>/dev/null | python3 -c '
@IDS_PY@' "$1s" 2>/dev/null)"})
    compadd -a ids
}

_agentctl_kind() {
    case "$1" in
        choices:*) compadd -- ${=${1#choices:}} ;;
        goal|run) _agentctl_ids "$1" ;;
        file) _files ;;
    esac
}

_agentctl() {
    local path="agentctl" w i pending="" key
    integer npos=0
    for ((i = 2; i < CURRENT; i++)); do
        w="${words[i]}"
        if [[ -n "$pending" ]]; then pending=""; continue; fi
        if [[ "$w" == -* ]]; then
            [[ "$w" == *=* ]] && continue
            key="${path}|${w}"
            (( ${+_agentctl_valopts[$key]} )) && pending="$key"
            continue
        fi
        key="$path $w"
        (( ${+_agentctl_alias[$key]} )) && key="${_agentctl_alias[$key]}"
        if (( ${+_agentctl_opts[$key]} )); then
            path="$key"; npos=0
        else
            npos=$((npos + 1))
        fi
    done
    if [[ -n "$pending" ]]; then
        _agentctl_kind "${_agentctl_valopts[$pending]}"
        return
    fi
    if [[ "${words[CURRENT]}" == -* ]]; then
        compadd -- ${=_agentctl_opts[$path]}
        return
    fi
    if [[ -n "${_agentctl_subs[$path]}" ]]; then
        compadd -- ${=_agentctl_subs[$path]}
        return
    fi
    local -a kinds
    kinds=(${=_agentctl_pos[$path]})
    if (( npos < ${#kinds} )); then
        _agentctl_kind "${kinds[npos+1]//+/ }"
    fi
}

if [[ "$funcstack[1]" == "_agentctl" ]]; then
    _agentctl "$@"
else
    compdef _agentctl agentctl
fi
'''


def zsh_script(tree: Command) -> str:
    lines = ["#compdef agentctl",
             "# zsh completion for agentctl (generated by `agentctl completion zsh`)",
             "# Install: agentctl completion zsh > \"${fpath[1]}/_agentctl\", or source it after compinit",
             "typeset -gA _agentctl_subs _agentctl_opts _agentctl_valopts _agentctl_pos _agentctl_alias"]
    lines += _assoc_tables(tree)
    return "\n".join(lines) + "\n" + _ZSH_FUNC.replace("@IDS_PY@", _IDS_PY)


# ---------------------------------------------------------------- fish

_FISH_FUNC = r'''
function __agentctl_path
    set -l path
    set -l skip 0
    for t in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        if string match -q -- '-*' $t
            if contains -- "$path|$t" $__agentctl_valopts
                set skip 1
            end
            continue
        end
        set -l key (string join ' ' $path $t)
        set -l canon (__agentctl_canon "$key")
        if contains -- "$canon" $__agentctl_paths
            set path (string split ' ' -- $canon)
        end
    end
    string join ' ' $path
end

function __agentctl_is
    set -l p (__agentctl_path)
    test "$p" = "$argv[1]"
end

function __agentctl_ids
    # $argv[1]: goal|run. Ask the daemon; nothing when it is not running.
    set -l cmd (commandline -opc)[1]
    $cmd --json $argv[1] list --limit 200 2>/dev/null | python3 -c '
@IDS_PY@' "$argv[1]s" 2>/dev/null
end
'''


def _fish_q(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_script(tree: Command) -> str:
    out = ["# fish completion for agentctl (generated by `agentctl completion fish`)",
           "# Install: agentctl completion fish > ~/.config/fish/completions/agentctl.fish"]
    paths, valopts, canon = [], [], []
    for cmd in iter_commands(tree):
        key = " ".join(cmd.path)
        if key:
            paths.append(key)
        for o in cmd.options:
            if o.takes_value:
                valopts += [f"{key}|{f}" for f in o.flags]
        for alias, name in cmd.aliases.items():
            canon.append((f"{key} {alias}".strip(), f"{key} {name}".strip()))
    out.append("set -g __agentctl_paths " + " ".join(_fish_q(p) for p in paths))
    out.append("set -g __agentctl_valopts " + " ".join(_fish_q(v) for v in valopts))
    out.append("function __agentctl_canon\n    switch \"$argv[1]\"")
    for a, n in canon:
        out.append(f"        case {_fish_q(a)}\n            echo {_fish_q(n)}")
    out.append("        case '*'\n            echo $argv[1]\n    end\nend")
    out.append(_FISH_FUNC.replace("@IDS_PY@", _IDS_PY))
    out.append("complete -c agentctl -f")
    for cmd in iter_commands(tree):
        key = " ".join(cmd.path)
        cond = f"-n {_fish_q('__agentctl_is ' + _fish_q(key))}"
        for name, sub in cmd.subcommands.items():
            out.append(f"complete -c agentctl {cond} -a {_fish_q(name)} -d {_fish_q(sub.help)}")
        for o in cmd.options:
            spec = []
            for f in o.flags:
                spec += ["-l", f[2:]] if f.startswith("--") else ["-s", f[1:]]
            kind = option_kind(o) if o.takes_value else None
            if kind is None:
                pass
            elif kind.startswith("choices:"):
                spec += ["-x", "-a", _fish_q(kind[8:])]
            elif kind in ("goal", "run"):
                spec += ["-x", "-a", _fish_q(f"(__agentctl_ids {kind})")]
            elif kind == "file":
                spec += ["-r", "-F"]
            else:
                spec += ["-x"]
            out.append(f"complete -c agentctl {cond} {' '.join(spec)} -d {_fish_q(o.help.split(';')[0])}")
        for p in cmd.positionals:
            kind = positional_kind(cmd, p)
            if kind.startswith("choices:"):
                out.append(f"complete -c agentctl {cond} -a {_fish_q(kind[8:])}")
            elif kind in ("goal", "run"):
                out.append(f"complete -c agentctl {cond} -a {_fish_q(f'(__agentctl_ids {kind})')}")
    return "\n".join(out) + "\n"


SCRIPTS = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}


def script(shell: str) -> str:
    return SCRIPTS[shell](command_tree())


def cmd_completion(ctx: Context) -> int | None:
    sys.stdout.write(script(ctx.args.shell))
    return None
