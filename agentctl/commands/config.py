"""``agentctl config …``: show, set, unset, path.

These read the config file themselves (they work without a daemon). The keys
and their types are those of ``agentd.config.Config``; ``set`` checks both
before it writes, and writes the file 0600.
"""

from __future__ import annotations

import os
import sys

from .. import tomlfile
from ..context import Context, Failure, UsageError
from ..render import Column, table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_NONE_WORDS = ("none", "null", "")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


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
        from agentd import paths

        return ctx.emit_json({"config": path, "exists": os.path.exists(path), "socket": ctx.socket_path,
                              "env_file": str(paths.env_file()), "data_dir": str(paths.data_dir()),
                              "state_dir": str(paths.state_dir())})
    ctx.print(path)


# ---------------------------------------------------------------- show


def _sources(file_data: dict, cfg_dict: dict) -> dict[str, str]:
    from agentd.config import ENV_VARS

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

    from agentd import config as cfgmod
    from agentd.errors import ConfigError

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


def _field_type(section: str, key: str):
    """The msgspec type info of ``section.key`` in Config; UsageError if unknown."""
    import msgspec

    from agentd.config import Config

    info = msgspec.inspect.type_info(Config)
    sections = {f.name: f.type for f in info.fields if isinstance(f.type, msgspec.inspect.StructType)}
    if section not in sections:
        raise UsageError(f"unknown section {section!r}; sections: {', '.join(sorted(sections))}")
    fields = {f.name: f.type for f in sections[section].fields}
    if key not in fields:
        raise UsageError(f"unknown key {section}.{key}; keys of [{section}]: {', '.join(sorted(fields))}")
    return fields[key]


def _parse(text: str, t: Any, name: str) -> Any:
    """The value of ``text`` for type info ``t``; raises UsageError."""
    import msgspec.inspect as mi

    if isinstance(t, mi.UnionType):
        if text.strip().lower() in _NONE_WORDS and any(isinstance(x, mi.NoneType) for x in t.types):
            return None
        errors = []
        for sub in t.types:
            if isinstance(sub, mi.NoneType):
                continue
            try:
                return _parse(text, sub, name)
            except UsageError as exc:
                errors.append(str(exc))
        raise UsageError("; ".join(errors) or f"{name}: bad value {text!r}")
    if isinstance(t, mi.BoolType):
        low = text.strip().lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise UsageError(f"{name} takes true or false, not {text!r}")
    if isinstance(t, mi.IntType):
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"{name} takes an integer, not {text!r}") from None
    if isinstance(t, mi.FloatType):
        try:
            return float(text)
        except ValueError:
            raise UsageError(f"{name} takes a number, not {text!r}") from None
    if isinstance(t, mi.LiteralType):
        if text in t.values:
            return text
        raise UsageError(f"{name} takes one of {', '.join(map(str, t.values))}, not {text!r}")
    if isinstance(t, mi.StrType):
        return text
    if isinstance(t, mi.ListType):
        return [_parse(x.strip(), t.item_type, name) for x in text.split(",") if x.strip()]
    if isinstance(t, mi.DictType):
        out = {}
        for pair in (p for p in text.split(",") if p.strip()):
            k, sep, v = pair.partition("=")
            if not sep:
                raise UsageError(f"{name} takes name=value pairs separated by commas, not {text!r}")
            out[k.strip()] = _parse(v.strip(), t.value_type, name)
        return out
    if isinstance(t, mi.AnyType):
        return text
    raise UsageError(f"{name} cannot be set from the command line")


def _split_key(dotted: str) -> tuple[str, str]:
    section, sep, key = dotted.partition(".")
    if not sep or not section or not key or "." in key:
        raise UsageError(f"keys look like section.key (e.g. provider.model), not {dotted!r}")
    return section, key


def _validate(data: dict, path: str) -> None:
    import msgspec

    from agentd.config import Config

    try:
        msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        raise UsageError(f"the new value is not valid: {exc}") from exc


def cmd_set(ctx: Context) -> None:
    section, key = _split_key(ctx.args.key)
    t = _field_type(section, key)
    text = sys.stdin.readline().rstrip("\n") if ctx.args.value == "-" else ctx.args.value
    value = _parse(text, t, f"{section}.{key}")
    path = config_path(ctx)
    data = _read(path)
    table_ = data.setdefault(section, {})
    if not isinstance(table_, dict):
        raise Failure(f"{path}: {section} is not a table")
    if value is None:
        table_.pop(key, None)  # TOML has no null: the default applies
        if not table_:
            data.pop(section)
    else:
        table_[key] = value
    _validate(data, path)
    tomlfile.write_private(path, tomlfile.dumps(data))
    if ctx.json:
        return ctx.emit_json({"file": path, "key": f"{section}.{key}", "value": value})
    from agentd.config import SECRET_KEYS

    shown = "***" if key in SECRET_KEYS and value else value
    ctx.info(f"Set {section}.{key} = {shown!r} in {path}. "
             "A running agentd reads it on `agentctl server reload` or restart.")


def cmd_unset(ctx: Context) -> None:
    section, key = _split_key(ctx.args.key)
    _field_type(section, key)
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
