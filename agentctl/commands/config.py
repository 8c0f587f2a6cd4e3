"""``agentctl config …``: show, set, unset, path.

These read the config file themselves (they work without a daemon). The keys
and their types are those of ``agentd.shared.config.Config``; ``set`` reads the value
as TOML of the key's type and checks it against the schema before it writes
(``agentctl.configvalue``), then writes the file atomically, 0600.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .. import tomlfile
from ..context import Context, Failure, UsageError
from ..render import Column, table


def config_path(ctx: Context) -> str:
    from .._paths import config_file

    return getattr(ctx.args, "config", None) or config_file()


def _read(path: str) -> dict:
    import tomllib

    try:
        return tomlfile.read(path)
    except tomllib.TOMLDecodeError as exc:
        raise Failure(f"{path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise Failure(f"cannot read {path}: {exc.strerror}") from exc


# ---------------------------------------------------------------- path


def cmd_path(ctx: Context) -> None:
    path = config_path(ctx)
    if ctx.json:
        from agentd.shared import paths

        return ctx.emit_json({"config": path, "exists": os.path.exists(path), "socket": ctx.socket_path,
                              "env_file": str(paths.env_file()), "data_dir": str(paths.data_dir()),
                              "state_dir": str(paths.state_dir())})
    ctx.print(path)


# ---------------------------------------------------------------- show


def _sources(file_data: dict, cfg_dict: dict) -> dict[str, str]:
    from agentd.shared.config import ENV_VARS

    by_key = {f"{s}.{k}": var for var, (s, k) in ENV_VARS.items()}
    out = {}
    for section, values in cfg_dict.items():
        if not isinstance(values, dict):
            continue
        for key in values:
            dotted = f"{section}.{key}"
            var = by_key.get(dotted)
            if var and os.environ.get(var):
                out[dotted] = f"env {var}"
            elif key in (file_data.get(section) or {}):
                out[dotted] = "file"
            else:
                out[dotted] = "default"
    return out


def effective(path: str, secrets: bool) -> dict:
    """``{"file", "exists", "values", "sources"}``: the config as the daemon
    would load it from this file and this environment (flags aside)."""
    import msgspec
    from pathlib import Path

    from agentd.shared import config as cfgmod
    from agentd.protocol.errors import ConfigError

    file_data = _read(path)
    try:
        cfg = cfgmod.load(Path(path))
    except ConfigError as exc:
        raise Failure(exc.message) from exc
    values = cfgmod.redacted(cfg) if not secrets else msgspec.to_builtins(cfg)
    values.pop("config_file", None)
    return {"file": path, "exists": os.path.exists(path), "values": values,
            "sources": _sources(file_data, values)}


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ", ".join(str(x) for x in v) or "[]"
    if isinstance(v, dict):
        return ", ".join(f"{k}={x}" for k, x in v.items()) or "{}"
    return str(v)


def cmd_show(ctx: Context) -> None:
    eff = effective(config_path(ctx), ctx.args.secrets)
    if ctx.json:
        return ctx.emit_json(eff)
    out = ctx.out
    rows = []
    for section, values in eff["values"].items():
        for key, v in values.items():
            dotted = f"{section}.{key}"
            rows.append([dotted, _cell(v), eff["sources"].get(dotted, "default")])
    src_paint = lambda s: s if s == "default" else out.paint(s, "36")  # noqa: E731
    ctx.print(table(out, [Column("KEY"), Column("VALUE", flex=True), Column("SOURCE", paint=src_paint)], rows))
    ctx.info(f"(file: {eff['file']}{'' if eff['exists'] else ', not created yet'})")


# ---------------------------------------------------------------- set, unset


def _key(dotted: str):
    """The schema's key ``SECTION.KEY`` (agentctl.configvalue.Key); UsageError if none."""
    from .. import configvalue

    section, key = _split_key(dotted)
    try:
        return configvalue.find(section, key)
    except configvalue.BadValue as exc:
        raise UsageError(str(exc)) from None


def _split_key(dotted: str) -> tuple[str, str]:
    section, sep, key = dotted.partition(".")
    if not sep or not section or not key or "." in key:
        raise UsageError(f"keys look like section.key (e.g. provider.model), not {dotted!r}")
    return section, key


def cmd_set(ctx: Context) -> None:
    from .. import configvalue

    k = _key(ctx.args.key)
    section, key, full = k.section, k.name, k.full
    text = sys.stdin.readline().rstrip("\n") if ctx.args.value == "-" else ctx.args.value
    try:
        value = configvalue.parse(k, text)
    except configvalue.BadValue as exc:
        raise UsageError(str(exc)) from None
    path = config_path(ctx)
    data = _read(path)
    table_ = data.setdefault(section, {})
    if not isinstance(table_, dict):
        raise Failure(f"{path}: {section} is not a table")
    if value is None:
        table_.pop(key, None)  # TOML has no null: the default (none) applies
        if not table_:
            data.pop(section)
    else:
        table_[key] = value
    _validate_file(data, path)
    tomlfile.write_private(path, tomlfile.dumps(data))
    if ctx.json:
        return ctx.emit_json({"file": path, "key": full, "value": value})
    from agentd.shared.config import SECRET_KEYS

    if value is None:
        ctx.info(f"Removed {full} from {path} (it is empty by default).")
    else:
        shown = '"***"' if key in SECRET_KEYS and value else tomlfile.dumps_value(value)
        ctx.info(f"Set {full} = {shown} in {path}.")
    ctx.info("A running agentd reads it on `agentctl server reload` or restart.")


def _validate(data: dict, path: str) -> None:
    """New config data (``agentctl init``) as the daemon will read it;
    UsageError saying what is wrong."""
    import msgspec

    from agentd.shared.config import from_data

    try:
        from_data(data)
    except msgspec.ValidationError as exc:
        raise UsageError(f"the new value is not valid: {exc}") from exc


def _validate_file(data: dict, path: str) -> None:
    """The whole file as the daemon will read it; Failure naming the file
    when another of its values is wrong (the new one was checked already)."""
    import msgspec

    from agentd.shared.config import from_data

    try:
        from_data(data)
    except msgspec.ValidationError as exc:
        raise Failure(f"{path} is not valid ({exc}); fix that value first "
                      "(`agentctl config unset KEY` restores a default)") from exc


def cmd_unset(ctx: Context) -> None:
    k = _key(ctx.args.key)
    section, key = k.section, k.name
    path = config_path(ctx)
    data = _read(path)
    removed = isinstance(data.get(section), dict) and data[section].pop(key, None) is not None
    if removed:
        if not data[section]:
            data.pop(section)
        tomlfile.write_private(path, tomlfile.dumps(data))
    if ctx.json:
        return ctx.emit_json({"file": path, "key": f"{section}.{key}", "removed": bool(removed)})
    ctx.info(f"Removed {section}.{key} from {path}." if removed else f"{section}.{key} was not set in {path}.")
