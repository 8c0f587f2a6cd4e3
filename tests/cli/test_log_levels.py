"""One log-level vocabulary: agentd's --log-level, AGENTD_LOG_LEVEL, the config
file's daemon.log_level, `config set`, the daemon.reload RPC and `agentctl
server reload --log-level` all take trace, debug, info, warning, error (and
warn for warning), and the daemon reports the canonical name."""

from __future__ import annotations

import subprocess
import sys

from agentd.protocol import loglevels
from daemon_harness import base_env, write_config

LEVELS = ["trace", "debug", "info", "warning", "error"]


def _choices(parser, flag):
    return list(next(a for a in parser._actions if flag in a.option_strings).choices)


def test_every_place_lists_the_same_levels():
    import msgspec.inspect as mi

    from agentctl.commands.completion import command_tree
    from agentd.cli import parser
    from agentd.shared.config import DaemonConfig
    from agentd.protocol.methods import DaemonStatus

    assert list(loglevels.LEVELS) == LEVELS
    assert _choices(parser(), "--log-level") == LEVELS
    reload = command_tree().subcommands["server"].subcommands["reload"]
    assert next(o for o in reload.options if "--log-level" in o.flags).choices == LEVELS
    fields = {f.name: f.type for f in mi.type_info(DaemonConfig).fields}
    assert set(fields["log_level"].values) == set(LEVELS)
    status = {f.name: f.type for f in mi.type_info(DaemonStatus).fields}
    assert set(status["log_level"].values) == set(LEVELS)


def test_agentd_refuses_an_unknown_level_naming_the_levels(tmp_path):
    env = base_env(tmp_path, None)
    r = subprocess.run([sys.executable, "-m", "agentd", "--log-level", "loud"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "unknown log level 'loud'" in r.stderr and "trace, debug, info, warning or error" in r.stderr


def test_agentd_refuses_an_unknown_level_in_the_config_file(tmp_path):
    env = base_env(tmp_path, None)
    write_config(env, '[daemon]\nlog_level = "loud"\n')
    r = subprocess.run([sys.executable, "-m", "agentd"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 3 and "daemon.log_level" in r.stderr, r.stderr


def test_levels_through_the_real_daemon_and_agentctl(make_daemon):
    d = make_daemon(config='[daemon]\nlog_level = "Warn"\n')  # the old name, any case
    assert d.call("daemon.status")["log_level"] == "warning"
    for given, shown in (("trace", "trace"), ("warn", "warning"), ("error", "error"), ("warning", "warning")):
        r = d.ctl("server", "reload", "--log-level", given)
        assert r.returncode == 0, r.stderr
        assert d.call("daemon.status")["log_level"] == shown
    r = d.ctl("server", "reload", "--log-level", "loud")
    assert r.returncode == 2 and "trace, debug, info, warning or error" in r.stderr
    r = d.ctl("server", "status")
    assert "warning" in r.stdout
    # the config file's value is read by a plain reload
    write_config(d.env, '[daemon]\nlog_level = "debug"\n')
    assert d.ctl("server", "reload").returncode == 0
    assert d.call("daemon.status")["log_level"] == "debug"


def test_agentd_takes_the_level_from_the_flag_and_the_environment(make_daemon):
    d = make_daemon(args=["--log-level", "warn"])
    assert d.call("daemon.status")["log_level"] == "warning"
    d = make_daemon(env={"AGENTD_LOG_LEVEL": "trace"})
    assert d.call("daemon.status")["log_level"] == "trace"
