"""Where agentd keeps things. platformdirs, app name ``agentd``.

Every path honours the XDG variables, so a test gets a private install from
four temporary directories (XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_STATE_HOME,
XDG_RUNTIME_DIR). Cheap to import: the client uses it.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "agentd"


def _dirs():
    import platformdirs

    return platformdirs.PlatformDirs(APP, appauthor=False)


def config_dir() -> Path:
    return Path(_dirs().user_config_dir)


def data_dir() -> Path:
    return Path(_dirs().user_data_dir)


def state_dir() -> Path:
    return Path(_dirs().user_state_dir)


def runtime_dir() -> Path:
    """``$XDG_RUNTIME_DIR/agentd``. Never /tmp: without XDG_RUNTIME_DIR we use
    ``/run/user/<uid>`` if it exists and belongs to us, else the state dir."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return Path(xdg) / APP
    run_user = Path(f"/run/user/{os.getuid()}")
    if run_user.is_dir() and run_user.stat().st_uid == os.getuid():
        return run_user / APP
    return state_dir() / "run"


def default_socket() -> Path:
    env = os.environ.get("AGENTD_SOCKET")
    return Path(env) if env else runtime_dir() / "agentd.sock"


def default_config_file() -> Path:
    env = os.environ.get("AGENTD_CONFIG")
    return Path(env) if env else config_dir() / "config.toml"


def default_db() -> Path:
    env = os.environ.get("AGENTD_DB")
    return Path(env) if env else data_dir() / "agentd.db"


def env_file() -> Path:
    """KEY=VALUE lines read by the systemd unit (EnvironmentFile=)."""
    return config_dir() / "env"
