"""``agentctl completion bash|zsh|fish``: a completion script generated from
the argparse tree (``agentctl.parser.build_parser``), so it cannot fall behind
the commands. The three scripts carry the same tables (sub-commands, options,
the kind of each option's and positional's value) and walk the command line
the same way, so they complete the same things. Values that change (goal ids
and names, run ids, timezones) come from ``agentctl completion --candidates
KIND`` at completion time: one implementation for every shell, and the daemon
is asked for ids (nothing when it is down).

``command_tree()`` is also what docs/cli-reference.md and the man-page test
are generated from / checked against, and what the REPL completes from
(``agentctl.repl.completion``, with :func:`option_kind` and :func:`positional_kind`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from ..context import Context, UsageError

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
    from ..parser import build_parser

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
    """What the value of ``opt`` is: ``choices:A B``, ``goal``, ``timezone``,
    ``file`` or ``none``."""
    if opt.choices:
        return "choices:" + " ".join(opt.choices)
    if opt.flags[-1] == "--goal":
        return "goal"
    if opt.flags[-1] == "--timezone":
        return "timezone"
    if set(opt.flags) & FILE_OPTIONS:
        return "file"
    return "none"


def positional_kind(cmd: Command, pos: Positional) -> str:
    """What the positional ``pos`` of ``cmd`` is: ``choices:A B``, ``goal``, ``run`` or ``none``."""
    if pos.choices:
        return "choices:" + " ".join(pos.choices)
    return _id_kind(cmd, pos.name) or "none"


# ---------------------------------------------------------------- candidates

CANDIDATE_KINDS = ("goal", "run", "timezone")


# Files of a tz database directory that zoneinfo lists but that name no zone.
_NOT_ZONES = {"localtime", "posixrules", "Factory"}


def timezone_names() -> list[str]:
    """Every IANA timezone name zoneinfo knows (the system's tz database or
    the tzdata package), sorted."""
    import zoneinfo

    return sorted(zoneinfo.available_timezones() - _NOT_ZONES)


def goal_candidates(goals: list[dict]) -> list[tuple[str, str]]:
    """``(value, description)`` for each goal's id, and for each name that
    names one goal only (a name is accepted wherever an id is)."""
    counts: dict[str, int] = {}
    for g in goals:
        if g.get("name"):
            counts[g["name"]] = counts.get(g["name"], 0) + 1
    out = []
    for g in goals:
        name = (g.get("name") or "").strip()
        out.append((g["id"], f"{g.get('status', '')}  {name or g.get('objective', '')}".strip()))
        if name and counts[g["name"]] == 1:
            out.append((name, f"goal {g['id']}"))
    return out


def candidates(ctx: Context, kind: str) -> list[tuple[str, str]]:
    """The values of ``kind`` (one of CANDIDATE_KINDS), each with a short
    description. Goal and run ids are asked of the daemon; when it cannot be
    reached there are none: a completion never writes an error into the
    user's command line."""
    if kind == "timezone":
        return [(z, "") for z in timezone_names()]
    from ..client import ClientError

    try:
        if kind == "goal":
            return goal_candidates(ctx.call("goal.list", {"limit": 1000}).get("goals", []))
        runs = ctx.call("run.list", {"limit": 200}).get("runs", [])
    except ClientError:
        return []
    return [(r["id"], f"{r.get('status', '')}  goal {r.get('goal_id', '')}") for r in runs]


def _tables(tree: Command) -> dict[str, dict[str, str]]:
    """The command tree as the string tables every script reads, keyed by the
    command path (``agentctl goal create``): ``subs`` (sub-command names; the
    aliases are understood but not offered), ``opts`` (every flag),
    ``valopts`` (``PATH|FLAG`` -> the value's kind, for flags that take one),
    ``pos`` (the positionals' kinds; a space inside a kind written ``+``) and
    ``alias`` (``PATH ALIAS`` -> ``PATH NAME``)."""
    t: dict[str, dict[str, str]] = {n: {} for n in ("subs", "opts", "valopts", "pos", "alias")}
    for cmd in iter_commands(tree):
        key = " ".join(("agentctl", *cmd.path))
        t["subs"][key] = " ".join(cmd.subcommands)
        t["opts"][key] = " ".join(f for o in cmd.options for f in o.flags)
        for o in cmd.options:
            if o.takes_value:
                for f in o.flags:
                    t["valopts"][f"{key}|{f}"] = option_kind(o)
        t["pos"][key] = " ".join(positional_kind(cmd, p).replace(" ", "+") for p in cmd.positionals)
        for alias, name in cmd.aliases.items():
            t["alias"][f"{key} {alias}"] = f"{key} {name}"
    return t


def _sh(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


# ---------------------------------------------------------------- bash

_BASH_FUNC = r'''
_agentctl_values() {
    # $1: goal|run|timezone. What `agentctl completion --candidates` prints
    # (value<TAB>description lines): the values that start with $cur, quoted.
    local line
    while IFS= read -r line; do
        line="${line%%$'\t'*}"
        [[ -n "$line" && "$line" == "$cur"* ]] && COMPREPLY+=("$(printf '%q' "$line")")
    done < <("${COMP_WORDS[0]}" completion --candidates "$1" 2>/dev/null)
}

_agentctl_kind() {
    # complete "$cur" as a value of kind $1
    case "$1" in
        choices:*) COMPREPLY=($(compgen -W "${1#choices:}" -- "$cur")) ;;
        goal|run|timezone) _agentctl_values "$1" ;;
        file) COMPREPLY=($(compgen -f -- "$cur")) ;;
    esac
}

_agentctl() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    local cmdpath="agentctl" w i pending="" npos=0 key
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        if [[ -n "$pending" ]]; then
            # bash splits --flag=value at the "=": the "=" is not the value
            [[ "$w" == "=" ]] || pending=""
            continue
        fi
        if [[ "$w" == -* ]]; then
            [[ "$w" == *=* ]] && continue
            key="${cmdpath}|${w}"
            [[ -n "${_agentctl_valopts[$key]+x}" ]] && pending="$key"
            continue
        fi
        key="$cmdpath $w"
        if [[ -n "${_agentctl_alias[$key]+x}" ]]; then key="${_agentctl_alias[$key]}"; fi
        if [[ -n "${_agentctl_opts[$key]+x}" ]]; then
            cmdpath="$key"; npos=0
        else
            npos=$((npos + 1))
        fi
    done
    if [[ -n "$pending" ]]; then
        [[ "$cur" == "=" ]] && cur=""
        _agentctl_kind "${_agentctl_valopts[$pending]}"
        return 0
    fi
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "${_agentctl_opts[$cmdpath]}" -- "$cur"))
        return 0
    fi
    if [[ -n "${_agentctl_subs[$cmdpath]}" ]]; then
        COMPREPLY=($(compgen -W "${_agentctl_subs[$cmdpath]}" -- "$cur"))
        return 0
    fi
    local -a kinds
    read -r -a kinds <<< "${_agentctl_pos[$cmdpath]}"
    if ((npos < ${#kinds[@]})); then
        _agentctl_kind "${kinds[$npos]//+/ }"
    fi
    return 0
}
complete -F _agentctl agentctl
'''


def bash_script(tree: Command) -> str:
    lines = ["# bash completion for agentctl (generated by `agentctl completion bash`)",
             "# Install: agentctl completion bash > ~/.local/share/bash-completion/completions/agentctl",
             "declare -gA _agentctl_subs _agentctl_opts _agentctl_valopts _agentctl_pos _agentctl_alias"]
    for name, table in _tables(tree).items():
        lines += [f"_agentctl_{name}[{_sh(k)}]={_sh(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n" + _BASH_FUNC


# ---------------------------------------------------------------- zsh

# zsh keeps the quotes of a quoted subscript in an assignment (a['k']=v makes
# the key 'k' with its quotes), so the tables are filled by list assignment;
# and no local may be called `path`: zsh ties it to $PATH.
_ZSH_FUNC = r'''
_agentctl_values() {
    # $1: goal|run|timezone. What `agentctl completion --candidates` prints
    # (value<TAB>description lines), added with their descriptions.
    local -a lines vals shown
    local line v
    lines=(${(f)"$(${words[1]} completion --candidates $1 2>/dev/null)"})
    for line in $lines; do
        v="${line%%$'\t'*}"
        vals+=("$v")
        if [[ "$line" == *$'\t'?* ]]; then
            shown+=("$v  -- ${line#*$'\t'}")
        else
            shown+=("$v")
        fi
    done
    (( $#vals )) && compadd -l -d shown -a vals
}

_agentctl_kind() {
    case "$1" in
        choices:*) compadd -- ${=${1#choices:}} ;;
        goal|run|timezone) _agentctl_values "$1" ;;
        file) _files ;;
    esac
}

_agentctl() {
    local cmdpath="agentctl" w i pending="" key
    integer npos=0
    for ((i = 2; i < CURRENT; i++)); do
        w="${words[i]}"
        if [[ -n "$pending" ]]; then pending=""; continue; fi
        if [[ "$w" == -* ]]; then
            [[ "$w" == *=* ]] && continue
            key="${cmdpath}|${w}"
            (( ${+_agentctl_valopts[$key]} )) && pending="$key"
            continue
        fi
        key="$cmdpath $w"
        (( ${+_agentctl_alias[$key]} )) && key="${_agentctl_alias[$key]}"
        if (( ${+_agentctl_opts[$key]} )); then
            cmdpath="$key"; npos=0
        else
            npos=$((npos + 1))
        fi
    done
    if [[ -n "$pending" ]]; then
        _agentctl_kind "${_agentctl_valopts[$pending]}"
        return
    fi
    if [[ "${words[CURRENT]}" == --*=* ]]; then
        # --flag=value: complete the value after the "="
        key="${cmdpath}|${words[CURRENT]%%=*}"
        if (( ${+_agentctl_valopts[$key]} )); then
            compset -P '*='
            _agentctl_kind "${_agentctl_valopts[$key]}"
        fi
        return
    fi
    if [[ "${words[CURRENT]}" == -* ]]; then
        compadd -- ${=_agentctl_opts[$cmdpath]}
        return
    fi
    if [[ -n "${_agentctl_subs[$cmdpath]}" ]]; then
        compadd -- ${=_agentctl_subs[$cmdpath]}
        return
    fi
    local -a kinds
    kinds=(${=_agentctl_pos[$cmdpath]})
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
             "# Install: agentctl completion zsh > ~/.zfunc/_agentctl with fpath=(~/.zfunc $fpath)",
             "# before compinit in ~/.zshrc, or `source <(agentctl completion zsh)` after compinit.",
             "typeset -gA _agentctl_subs _agentctl_opts _agentctl_valopts _agentctl_pos _agentctl_alias"]
    for name, table in _tables(tree).items():
        pairs = "".join(f"\n    {_sh(k)} {_sh(v)}" for k, v in table.items())
        lines.append(f"_agentctl_{name}=({pairs}\n)")
    return "\n".join(lines) + "\n" + _ZSH_FUNC


# ---------------------------------------------------------------- fish

# The same tables (fish has no associative arrays: a list of keys and a list
# of values, looked up by index), the same walk, and descriptions.
_FISH_FUNC = r'''
function __agentctl_get
    # $argv[1]: a table, $argv[2]: a key. Prints the value; fails when absent.
    set -l keys __agentctl_$argv[1]_k
    set -l vals __agentctl_$argv[1]_v
    set -l i (contains -i -- "$argv[2]" $$keys); or return 1
    printf '%s\n' $$vals[1][$i]
end

function __agentctl_state
    # The words before the cursor: prints the command path, the number of
    # positionals given, and the option whose value comes next (or "").
    set -l cmdpath agentctl
    set -l pending ""
    set -l npos 0
    for w in (commandline -opc)[2..-1]
        if test -n "$pending"
            set pending ""
            continue
        end
        if string match -q -- '-*' $w
            string match -q -- '*=*' $w; and continue
            if __agentctl_get valopts "$cmdpath|$w" >/dev/null
                set pending "$cmdpath|$w"
            end
            continue
        end
        set -l key "$cmdpath $w"
        set -l canon (__agentctl_get alias $key); and set key $canon
        if __agentctl_get opts $key >/dev/null
            set cmdpath $key
            set npos 0
        else
            set npos (math $npos + 1)
        end
    end
    printf '%s\n' $cmdpath $npos "$pending"
end

function __agentctl_kind
    # The candidates of kind $argv[1] (value<TAB>description lines).
    switch $argv[1]
        case 'choices:*'
            string split ' ' -- (string replace 'choices:' '' -- $argv[1])
        case goal run timezone
            set -l cmd (commandline -opc)[1]
            $cmd completion --candidates $argv[1] 2>/dev/null
        case file
            __fish_complete_path (commandline -ct)
    end
end

function __agentctl_complete
    set -l state (__agentctl_state)
    set -l cmdpath $state[1]
    set -l cur (commandline -ct)
    if test -n "$state[3]"
        __agentctl_kind (__agentctl_get valopts $state[3])
        return
    end
    if string match -q -- '--*=*' $cur
        # --flag=value: the values, each after the flag and its "="
        set -l flag (string split -m1 '=' -- $cur)[1]
        set -l kind (__agentctl_get valopts "$cmdpath|$flag"); or return
        for v in (__agentctl_kind $kind)
            printf '%s=%s\n' $flag $v
        end
        return
    end
    if string match -q -- '-*' $cur
        for f in (string split ' ' -- (__agentctl_get opts $cmdpath))
            printf '%s\t%s\n' $f (__agentctl_get help "$cmdpath|$f")
        end
        return
    end
    set -l subs (__agentctl_get subs $cmdpath)
    if test -n "$subs"
        for s in (string split ' ' -- $subs)
            printf '%s\t%s\n' $s (__agentctl_get help "$cmdpath $s")
        end
        return
    end
    set -l kinds (string split -n ' ' -- (__agentctl_get pos $cmdpath))
    set -l n (math $state[2] + 1)
    if test $n -le (count $kinds)
        __agentctl_kind (string replace -a '+' ' ' -- $kinds[$n])
    end
end

complete -c agentctl -f -a '(__agentctl_complete)'
'''


def _fish_q(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_script(tree: Command) -> str:
    out = ["# fish completion for agentctl (generated by `agentctl completion fish`)",
           "# Install: agentctl completion fish > ~/.config/fish/completions/agentctl.fish"]
    tables = _tables(tree)
    helps: dict[str, str] = {}  # the descriptions fish shows beside candidates
    for cmd in iter_commands(tree):
        key = " ".join(("agentctl", *cmd.path))
        for name, sub in cmd.subcommands.items():
            helps[f"{key} {name}"] = sub.help
        for o in cmd.options:
            helps.update((f"{key}|{f}", o.help.split(";")[0]) for f in o.flags)
    tables["help"] = helps
    for name, table in tables.items():
        out.append(f"set -g __agentctl_{name}_k " + " ".join(_fish_q(k) for k in table))
        out.append(f"set -g __agentctl_{name}_v " + " ".join(_fish_q(v) for v in table.values()))
    return "\n".join(out) + "\n" + _FISH_FUNC


SCRIPTS = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}


def script(shell: str) -> str:
    return SCRIPTS[shell](command_tree())


def cmd_completion(ctx: Context) -> int | None:
    if ctx.args.candidates:
        for value, desc in candidates(ctx, ctx.args.candidates):
            sys.stdout.write(f"{value}\t{desc}\n" if desc else f"{value}\n")
        return None
    if not ctx.args.shell:
        raise UsageError("name a shell (bash, zsh or fish), or give --candidates KIND")
    sys.stdout.write(script(ctx.args.shell))
    return None
