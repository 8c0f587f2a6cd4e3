"""Behaviour on a terminal (pexpect): the delete confirmation. (`agentctl`
alone on a terminal starts the REPL: tests/repl.)"""

from __future__ import annotations

import sys

import pexpect
from cli_support import ROOT, ctl_env

from agentd.protocol.methods import Deleted


def spawn(*args: str, env: dict | None = None) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-m", "agentctl", *args], env=ctl_env(env), cwd=str(ROOT),
                         encoding="utf-8", timeout=15)


def test_goal_delete_asks_on_a_terminal(fake):
    child = spawn("goal", "delete", "g_0")
    child.expect(r"Delete goal g_0123456789 .*\[y/N\] ")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert not any(meth == "goal.delete" for meth, _ in fake.requests)

    fake.handlers["goal.delete"] = lambda p: Deleted(id=p.id)
    child = spawn("goal", "delete", "g_0")
    child.expect(r"\[y/N\] ")
    child.sendline("y")
    child.expect("Deleted goal g_0123456789")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert ("goal.delete", {"id": "g_0123456789"}) in fake.requests
