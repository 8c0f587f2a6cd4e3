"""The systemd user units: where they go, what ExecStart says, whether a user
manager runs. Used by ``agentctl server install|uninstall|start|stop|status``.

The unit templates ship inside the package (``agentd/data/systemd/``, copied
from the repository's ``systemd/`` by ``python -m scripts.docgen``), so
``server install`` works from a wheel, a venv, pipx or a system install.

``AGENTCTL_SYSTEMCTL`` names the systemctl binary to run (default
``systemctl``); the tests point it at a recording fake.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

SERVICE = "agentd.service"
SOCKET = "agentd.socket"
UNITS = (SERVICE, SOCKET)
MANAGER_STATES = ("running", "degraded", "starting", "initializing", "maintenance")


def default_unit_dir() -> str:
    base = os.environ.get("XDG_CONFIG_HOME", "")
    if not base.startswith("/"):
        base = os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "systemd", "user")


def template(name: str) -> str:
    """The unit file ``name`` as shipped in the package."""
    from importlib.resources import files

    return files("agentd").joinpath("data", "systemd", name).read_text(encoding="utf-8")


def _systemd_quote(word: str) -> str:
    """One ExecStart= word: ``%`` and ``$`` escaped, quoted if it has spaces."""
    word = word.replace("%", "%%").replace("$", "$$")
    if any(c in word for c in " \t\"'\\;"):
        word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def agentd_command() -> list[str]:
    """How this installation starts agentd: the ``agentd`` console script next
    to this interpreter (a venv's or pipx's ``bin/``), else ``python -m agentd``
    with this interpreter (a system or ``--user`` install). The interpreter's
    path is kept as it is (a venv's ``bin/python`` is a symlink that must not
    be resolved out of the venv)."""
    exe = sys.executable or "python3"
    script = os.path.join(os.path.dirname(exe), "agentd")
    if os.path.isfile(script) and os.access(script, os.X_OK):
        return [script]
    return [exe, "-m", "agentd"]


def exec_start() -> str:
    return " ".join(_systemd_quote(w) for w in agentd_command())


def render(name: str) -> str:
    """The unit as installed: the template with this installation's ExecStart."""
    from agentd import __version__

    out = []
    for line in template(name).splitlines():
        if line.startswith("ExecStart="):
            line = f"ExecStart={exec_start()}"
        out.append(line)
    header = (f"# Installed by `agentctl server install` (agentd {__version__}). "
              f"Change it with `systemctl --user edit {name}`;\n"
              f"# `agentctl server install` rewrites this file.\n")
    return header + "\n".join(out) + "\n"


def installed(unit_dir: str | None = None) -> bool:
    return os.path.isfile(os.path.join(unit_dir or default_unit_dir(), SERVICE))


def socket_installed(unit_dir: str | None = None) -> bool:
    return os.path.isfile(os.path.join(unit_dir or default_unit_dir(), SOCKET))


def systemctl_binary() -> str:
    return os.environ.get("AGENTCTL_SYSTEMCTL") or "systemctl"


def systemctl(*args: str, timeout: float = 90.0) -> subprocess.CompletedProcess:
    """``systemctl --user ARGS``; never raises for a failed command."""
    import subprocess  # here, not at the top: `server status` and `stop` without units never need it

    try:
        return subprocess.run([systemctl_binary(), "--user", *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return subprocess.CompletedProcess(args, 127, "", f"{systemctl_binary()}: not found")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"systemctl --user {' '.join(args)}: timed out")


def manager_state() -> str | None:
    """The user manager's state (``running``, ``degraded``, …), or None when
    none is reachable (no systemctl, no $XDG_RUNTIME_DIR, ``offline``)."""
    if not os.environ.get("AGENTCTL_SYSTEMCTL"):
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if not runtime or not os.path.exists(os.path.join(runtime, "systemd", "private")):
            return None
    r = systemctl("is-system-running", timeout=10.0)
    state = (r.stdout or "").strip().splitlines()[-1:] or [""]
    return state[0] if state[0] in MANAGER_STATES else None


def use_systemd() -> bool:
    """``server start|stop|status`` go through systemctl: the units are
    installed in the user's directory and a user manager runs."""
    return installed() and manager_state() is not None
