"""Logs on stderr: one JSON object per line, or human lines on a terminal.

The format (``setup(fmt=...)``, ``agentd --log-format``): ``json`` always;
``human`` always; ``auto`` (the default) gives JSON under systemd/journald
(``JOURNAL_STREAM`` set) and whenever stderr is not a terminal (a log file,
a pipe: tools read those lines), and human lines on a terminal (``make run``):
``15:04:05 INFO  agentd ready  socket=… pid=…``, local time, the level
coloured unless ``NO_COLOR`` is set.

Every line carries the ids bound in the current context (request id, goal id,
run id, step, tool) — ``with bind(run_id=...)`` sets them for everything logged
inside, including in child trio tasks started there (contextvars). Under
systemd (``JOURNAL_STREAM`` set, or ``journal=True``) each line starts with a
``<N>`` syslog priority prefix so the journal records the right level.

Nothing secret is ever passed here: callers log ids, sizes and statuses, never
keys, passwords or message bodies. Errors from outside (a provider's error
text, a tool's failure) may still quote a secret they were sent, so the daemon
installs its redactor (``use_redactor``) and every line is passed through it
before it is written: a last line of defence.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import msgspec

from .protocol import loglevels

TRACE = 5
logging.addLevelName(TRACE, "TRACE")
# The names are agentd.protocol.loglevels' (one vocabulary for the flag, the config and reload).
LEVELS = {"trace": TRACE, "debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}
_PRIORITY = {TRACE: 7, logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("agentd_log_context", default={})
_enc = msgspec.json.Encoder()
_redactor: Any = None  # agentd.redact.Redactor, installed by the daemon while it serves


def use_redactor(redactor: Any) -> None:
    """Pass every line logged from now on through ``redactor.redact`` (None: stop)."""
    global _redactor
    _redactor = redactor


class bind:
    """``with bind(run_id=...)``: add ids to every line logged inside (None values are left out).
    A class, not a generator: it runs on every RPC request."""

    __slots__ = ("fields", "token")

    def __init__(self, **fields: Any) -> None:
        self.fields = fields

    def __enter__(self) -> None:
        merged = dict(_context.get())
        for k, v in self.fields.items():
            if v is not None:
                merged[k] = v
        self.token = _context.set(merged)

    def __exit__(self, *exc: Any) -> None:
        _context.reset(self.token)


@contextlib.contextmanager
def fresh(**fields: Any) -> Iterator[None]:
    """Like bind, but drops the ids inherited from the spawning task (a run
    started by an RPC request must not carry that request's id forever)."""
    token = _context.set({k: v for k, v in fields.items() if v is not None})
    try:
        yield
    finally:
        _context.reset(token)


def current() -> dict[str, Any]:
    return _context.get()


class JsonFormatter(logging.Formatter):
    def __init__(self, *, journal: bool = False) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        t = record.created
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(_context.get())
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        text = _enc.encode(line).decode()
        if _redactor is not None:  # the secret's JSON-escaped spelling is one of those it hides
            text = _redactor.redact(text)
        if self.journal:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{text}"
        return text


_LEVEL_SGR = {"trace": "2", "debug": "2", "warning": "33", "error": "31", "critical": "31;1"}


class HumanFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL message  key=value …`` for a person at a terminal."""

    def __init__(self, *, color: bool = False) -> None:
        super().__init__()
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        shown = {"warning": "WARN"}.get(level, level.upper())
        head = f"{shown:<5}"
        if self.color and level in _LEVEL_SGR:
            head = f"\033[{_LEVEL_SGR[level]}m{head}\033[0m"
        fields = {**_context.get(), **(getattr(record, "fields", None) or {})}
        extra = "  ".join(f"{k}={_human_value(v)}" for k, v in fields.items() if v is not None)
        text = f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {head} {record.getMessage()}"
        if extra:
            text += f"  {extra}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return _redactor.redact(text) if _redactor is not None else text


def _human_value(v: Any) -> str:
    if isinstance(v, str):
        return v if v and not any(c.isspace() for c in v) else _enc.encode(v).decode()
    return _enc.encode(v).decode()


def human_stream(stream, fmt: str = "auto", environ=None) -> bool:
    """Whether ``fmt`` means human lines on ``stream`` (see the module docstring)."""
    import os

    env = os.environ if environ is None else environ
    if fmt != "auto":
        return fmt == "human"
    if env.get("JOURNAL_STREAM"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def setup(level: str = "info", *, stream=None, journal: bool | None = None, fmt: str = "auto") -> logging.Handler:
    """Log ``agentd.*`` at ``level`` to ``stream`` (stderr) in ``fmt`` (auto, json, human)."""
    import os

    stream = stream or sys.stderr
    if journal is None:
        journal = bool(os.environ.get("JOURNAL_STREAM"))
    handler = logging.StreamHandler(stream)
    if human_stream(stream, fmt):
        handler.setFormatter(HumanFormatter(color="NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"))
    else:
        handler.setFormatter(JsonFormatter(journal=journal))
    root = logging.getLogger("agentd")
    root.handlers[:] = [handler]
    root.propagate = False
    set_level(level)
    return handler


def set_level(level: str) -> str:
    """Set agentd's level to ``level`` (a name of agentd.protocol.loglevels, any case,
    ``warn`` for ``warning``) and return its canonical name. Raises
    ValidationFailed naming the levels when ``level`` is none of them."""
    name = loglevels.canonical(level)
    if name is None:
        from .protocol.errors import ValidationFailed

        raise ValidationFailed(f"unknown log level {level!r}; use {loglevels.HELP}",
                               field="log_level", value=level)
    logging.getLogger("agentd").setLevel(LEVELS[name])
    return name


def get_level() -> str:
    lvl = logging.getLogger("agentd").level
    return {v: k for k, v in LEVELS.items()}.get(lvl, loglevels.DEFAULT)


def get(name: str) -> "Logger":
    return Logger(logging.getLogger(name))


class Logger:
    """``log.info("run finished", status="completed")``: a message and fields."""

    __slots__ = ("_l",)

    def __init__(self, logger: logging.Logger) -> None:
        self._l = logger

    def _log(self, level: int, msg: str, exc_info: Any = None, **fields: Any) -> None:
        if self._l.isEnabledFor(level):
            self._l.log(level, msg, exc_info=exc_info, extra={"fields": fields}, stacklevel=3)

    def trace(self, msg: str, **f: Any) -> None:
        self._log(TRACE, msg, **f)

    def debug(self, msg: str, **f: Any) -> None:
        self._log(logging.DEBUG, msg, **f)

    def info(self, msg: str, **f: Any) -> None:
        self._log(logging.INFO, msg, **f)

    def warning(self, msg: str, **f: Any) -> None:
        self._log(logging.WARNING, msg, **f)

    def error(self, msg: str, exc_info: Any = None, **f: Any) -> None:
        self._log(logging.ERROR, msg, exc_info=exc_info, **f)

    def enabled(self, level: int) -> bool:
        return self._l.isEnabledFor(level)
