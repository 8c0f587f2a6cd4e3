"""Reading and writing the config file: flat TOML tables, written 0600.

The writer handles what the config holds (tables of strings, numbers,
booleans, lists and sub-tables); comments in a rewritten file are not kept.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def read(path: str) -> dict:
    """The file's tables, ``{}`` when it does not exist.

    Raises ``tomllib.TOMLDecodeError`` when it is not valid TOML, and
    ``OSError`` when it cannot be read."""
    import tomllib

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}


def _key(k: str) -> str:
    return k if _BARE_KEY.match(k) else _string(k)


def _string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007F")


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    if hasattr(v, "isoformat"):
        return v.isoformat()
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dumps_value(v: object) -> str:
    """``v`` as TOML (what follows ``key =``), e.g. ``true``, ``["a", "b"]``."""
    return _value(v)


def dumps(data: dict) -> str:
    """TOML text for ``data`` (a dict of tables)."""
    lines: list[str] = []
    _table(lines, [], data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(lines: list[str], path: list[str], table: dict) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, dict)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, dict)]
    if path and (scalars or not tables):
        lines.append("")
        lines.append("[" + ".".join(_key(p) for p in path) + "]")
    for k, v in scalars:
        lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in tables:
        _table(lines, path + [k], v)


def write_private(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600; create the
    directory 0700 if needed."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
