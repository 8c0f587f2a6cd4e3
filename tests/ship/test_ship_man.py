"""The man pages: groff without warnings, `man -l` renders, and they document
every agentctl command and option, every RPC method and every config key."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from agentctl.commands.completion import command_tree, iter_commands
from agentd.shared.config import ENV_VARS
from scripts.docgen import config_keys
from agentd.protocol.methods import METHODS
from ship_helpers import ROOT

PAGES = ["agentctl.1", "agentd.8", "agentd.toml.5"]


def _text(name: str) -> str:
    raw = (ROOT / "man" / name).read_text()
    return re.sub(r"\\f[BIRP]", "", raw).replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")


@pytest.mark.parametrize("page", PAGES)
def test_groff_has_no_warnings(page):
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed (Debian package: groff-base)")
    r = subprocess.run(["groff", "-man", "-ww", "-z", str(ROOT / "man" / page)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("page", PAGES)
def test_man_renders(page):
    if shutil.which("man") is None:
        pytest.skip("man is not installed (Debian package: man-db)")
    r = subprocess.run(["man", "-l", str(ROOT / "man" / page)], capture_output=True, text=True,
                       env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin", "MANPAGER": "cat", "PAGER": "cat"})
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "NAME" in r.stdout and len(r.stdout.splitlines()) > 40


def test_agentctl_page_has_every_command_and_option():
    text = _text("agentctl.1")
    missing = []
    for cmd in iter_commands(command_tree()):
        if cmd.path and not cmd.subcommands and f"agentctl {' '.join(cmd.path)}" not in text:
            missing.append(" ".join(cmd.path))
        for o in cmd.options:
            for flag in o.flags:
                if not re.search(re.escape(flag) + r"(?![\w-])", text):
                    missing.append(f"{' '.join(cmd.path)} {flag}")
        for name in cmd.subcommands:
            if name not in text:
                missing.append(name)
    assert not missing, f"agentctl.1 lacks: {missing}"
    for code in ("0", "1", "2", "3", "4", "130"):
        assert re.search(rf"^\.B {code}$", text, re.M)


def test_agentd_page_has_methods_flags_and_rules():
    text = _text("agentd.8")
    assert not [m for m in METHODS if m not in text]
    from agentd.cli import parser

    for a in parser()._actions:
        for flag in a.option_strings:
            assert flag in text, flag
    for phrase in ("fires ONCE, at the first valid instant after the gap", "fires ONCE, at its first",
                   "24 times on a normal day, 23 on", "Persistent=true", "READY=1", "STOPPING=1",
                   "WATCHDOG=1", "LISTEN_FDS", "JOURNAL_STREAM", "SO_PEERCRED"):
        assert phrase in text.replace("\n", " "), phrase


def test_config_page_has_every_key_and_variable():
    text = _text("agentd.toml.5")
    for sec, key, full, _ in config_keys():
        assert f"[{sec}]" in text and re.search(rf"^{re.escape(key)} \(", text, re.M), full
    for var in ENV_VARS:
        assert var in text
    assert "WAL" in text and "synchronous=NORMAL" in text


def test_agentctl_man_shows_each_page_and_returns_to_the_repl(tmp_path):
    """`agentctl man` from the checkout (an editable install places no pages
    for man to find), and in the REPL, which gets its prompt back."""
    if shutil.which("man") is None:
        pytest.skip("man is not installed (Debian package: man-db)")
    import sys

    import pexpect

    from daemon_harness import base_env

    env = dict(base_env(tmp_path, None), MANPAGER="cat", PAGER="cat", MANWIDTH="80")
    for page, title in (("agentctl", "AGENTCTL(1)"), ("agentd", "AGENTD(8)"), ("agentd.toml", "AGENTD.TOML(5)")):
        r = subprocess.run([sys.executable, "-m", "agentctl", "man", page], env=env, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0 and title in r.stdout and "NAME" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "agentctl", "man", "--path"], env=env, capture_output=True, text=True)
    assert r.stdout.strip() == str(ROOT / "agentd" / "data" / "man" / "agentctl.1")
    child = pexpect.spawn(sys.executable, ["-m", "agentctl", "shell"], env=env, encoding="utf-8", timeout=30)
    try:
        child.expect_exact("agentd>")
        child.send("man agentd.toml\r")
        child.expect_exact("AGENTD.TOML(5)")
        child.expect_exact("agentd>")
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
