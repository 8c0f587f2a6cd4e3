"""Drive bash, zsh and fish to complete an `agentctl` command line, each with
the script `agentctl completion SHELL` prints, and return the candidates.

- bash: its completion API. ``complete -p agentctl`` names the function; it
  is called with COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT split the way
  readline splits (COMP_WORDBREAKS), and COMPREPLY is the answer.
- zsh: an interactive zsh in a pseudo-terminal with compinit and the script on
  $fpath, and TAB typed for real (bash too, in BashPty, for what TAB inserts). ``compadd`` is wrapped to record the
  matches it is given (``compadd -O``: the matches for the word being
  completed), then it adds them as usual.
- fish: ``complete -C LINE``, fish's own completion engine.

Every shell runs with PATH starting at this environment's bin directory, so
the scripts call this checkout's ``agentctl``. Every wait has a timeout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect

BIN = Path(sys.executable).parent
WAIT = 30


def script(env: dict, shell: str) -> str:
    r = subprocess.run([sys.executable, "-m", "agentctl", "completion", shell], env=env,
                       capture_output=True, text=True, timeout=WAIT)
    assert r.returncode == 0, r.stderr
    return r.stdout


def shell_env(env: dict) -> dict:
    return dict(env, PATH=f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}", TERM="dumb")


class Bash:
    name = "bash"

    def __init__(self, env: dict, tmp: Path) -> None:
        self.env = shell_env(env)
        self.path = tmp / "agentctl.bash"
        self.path.write_text(script(env, "bash"))

    def complete(self, line: str) -> list[str]:
        # readline's split: words at blanks, and "=" (in COMP_WORDBREAKS) a word of its own
        words = [w for w in re.split(r"\s+|(=)", line) if w]
        if line.endswith((" ", "=")) or not words:
            words.append("")
        prog = (f'source "{self.path}"\n'
                "fn=$(complete -p agentctl | sed -n 's/.* -F \\([^ ]*\\) .*/\\1/p')\n"
                'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$LINE"; COMP_POINT=${#LINE}\n'
                'COMPREPLY=()\n'
                '"$fn" agentctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
                'for c in "${COMPREPLY[@]}"; do printf "%s\\n" "$c"; done\n')
        r = subprocess.run(["bash", "--norc", "-c", prog, "bash", *words], capture_output=True, text=True,
                           env=dict(self.env, LINE=line), timeout=WAIT)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        return r.stdout.splitlines()

    def close(self) -> None:
        pass


ZSHRC = r"""
PS1='zsh%# '
unsetopt beep
LISTMAX=100000
fpath=({fdir} $fpath)
autoload -U compinit && compinit -u -d {tmp}/zcompdump
compadd() {{
    local -a __seen
    builtin compadd -O __seen "$@"
    (( $#__seen )) && print -rl -- $__seen >> {capture}
    builtin compadd "$@"
}}
"""


class PtyShell:
    """An interactive shell in a pseudo-terminal, TAB typed for real."""

    def __init__(self, argv: list[str], env: dict, setup: str = "") -> None:
        self.child = pexpect.spawn(argv[0], argv[1:], env=env, encoding="utf-8", timeout=WAIT,
                                   dimensions=(50, 200))
        self.n = 0
        if setup:
            self.child.sendline(setup)
        self._sync()

    def _sync(self) -> None:
        """Wait until the shell has read everything typed so far (it prints a
        marker that is not in the typed text)."""
        self.n += 1
        self.child.sendline(f"echo SYNC$((1000+{self.n}))")
        self.child.expect_exact(f"SYNC{1000 + self.n}")

    def typed(self, line: str) -> str:
        """The line as it reads after TAB: Ctrl-A, then `echo MARK` before it."""
        self.n += 1
        self.child.send(line + "\t")
        self.child.sendcontrol("a")
        self.child.sendline(f"echo TYPED$((1000+{self.n})) ")
        self.child.expect(rf"TYPED{1000 + self.n} (.*?)\r?\n")
        return self.child.match.group(1).rstrip()

    def close(self) -> None:
        self.child.sendcontrol("u")
        self.child.sendline("exit")
        self.child.expect(pexpect.EOF)
        self.child.close()


class Zsh(PtyShell):
    name = "zsh"

    def __init__(self, env: dict, tmp: Path) -> None:
        fdir = tmp / "zfunc"
        fdir.mkdir()
        (fdir / "_agentctl").write_text(script(env, "zsh"))
        self.capture = tmp / "zsh-capture"
        zdot = tmp / "zdot"
        zdot.mkdir()
        (zdot / ".zshrc").write_text(ZSHRC.format(fdir=fdir, tmp=tmp, capture=self.capture))
        super().__init__(["zsh", "-i"], dict(shell_env(env), ZDOTDIR=str(zdot)))

    def complete(self, line: str) -> list[str]:
        self.capture.write_text("")
        self.child.send(line + "\t")
        self.child.sendcontrol("u")  # kill the line: the TAB's matches are in the capture
        self._sync()
        return self.capture.read_text().splitlines()


class BashPty(PtyShell):
    """bash with readline in a pseudo-terminal (for what TAB inserts)."""

    name = "bash"

    def __init__(self, env: dict, tmp: Path) -> None:
        path = tmp / "agentctl-pty.bash"
        path.write_text(script(env, "bash"))
        super().__init__(["bash", "--norc", "--noprofile", "-i"], dict(shell_env(env), PS1="bash$ "),
                         setup=f'source "{path}"')


class Fish:
    name = "fish"

    def __init__(self, env: dict, tmp: Path) -> None:
        self.env = shell_env(env)
        self.path = tmp / "agentctl.fish"
        self.path.write_text(script(env, "fish"))

    def complete(self, line: str) -> list[str]:
        r = subprocess.run(["fish", "--no-config", "-c", f"source {self.path}; complete -C $argv[1]", line],
                           capture_output=True, text=True, env=self.env, timeout=WAIT)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        return [c.split("\t", 1)[0] for c in r.stdout.splitlines()]

    def close(self) -> None:
        pass


SHELLS = {"bash": Bash, "zsh": Zsh, "fish": Fish}
PTY_SHELLS = {"bash": BashPty, "zsh": Zsh}


def missing(shell: str) -> str | None:
    if shutil.which(shell) is None:
        return f"{shell} is not installed (Debian package: {shell}; `make test` installs it in CI)"
    return None
