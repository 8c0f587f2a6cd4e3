"""Where the client finds the daemon, without importing pathlib or platformdirs.

These mirror ``agentd.shared.paths`` for the common cases (XDG variables, ``~``) so
that a command does not import them (a large part of its run) to compute one path; anything
unusual falls back to ``agentd.shared.paths`` itself. tests/cli/test_paths.py checks
that both agree.

Socket precedence (as for the daemon): ``--socket`` > ``AGENTD_SOCKET`` >
``daemon.socket`` in the config file > the default under the runtime dir.
"""

from __future__ import annotations

import os

APP = "agentd"


def _xdg(var: str, default: str) -> str:
    path = os.environ.get(var, "")
    if path.startswith("/"):
        return path
    home = os.environ.get("HOME")
    if home is not None and not home.startswith("/"):
        raise LookupError("relative HOME")  # platformdirs has its own rules for this
    return os.path.expanduser(default)


def config_file() -> str:
    env = os.environ.get("AGENTD_CONFIG")
    if env:
        return env
    try:
        return os.path.join(_xdg("XDG_CONFIG_HOME", "~/.config"), APP, "config.toml")
    except LookupError:
        from agentd.shared.paths import default_config_file

        return str(default_config_file())


def _default_socket() -> str:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, APP, "agentd.sock")
    uid = os.getuid()
    run_user = f"/run/user/{uid}"
    try:
        st = os.stat(run_user)
        if os.path.isdir(run_user) and st.st_uid == uid:
            return os.path.join(run_user, APP, "agentd.sock")
    except OSError:
        pass
    try:
        return os.path.join(_xdg("XDG_STATE_HOME", "~/.local/state"), APP, "run", "agentd.sock")
    except LookupError:
        from agentd.shared.paths import runtime_dir

        return str(runtime_dir() / "agentd.sock")


def socket_from_config(path: str) -> str | None:
    """``daemon.socket`` from the config file, or None.

    The file is parsed only when it mentions ``socket`` at all, so the usual
    command never imports tomllib. A broken file is ignored here: the daemon
    and ``agentctl config show`` report it.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if b"socket" not in raw:
        return None
    import tomllib

    try:
        value = tomllib.loads(raw.decode("utf-8")).get("daemon", {}).get("socket")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def socket_path(flag: str | None = None, config: str | None = None) -> str:
    if flag:
        return flag
    env = os.environ.get("AGENTD_SOCKET")
    if env:
        return env
    configured = socket_from_config(config or config_file())
    return configured or _default_socket()
