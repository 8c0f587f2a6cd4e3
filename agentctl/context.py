"""What every command gets: the parsed options, the output rules, the connection.

Commands raise :class:`UsageError` (exit 2) or :class:`Failure` (exit 1, or the
code it carries) for problems they find themselves; client errors are mapped
to exit codes by ``agentctl.cli.run``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import Client
    from .render import Out

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_NOT_READY = 4
EXIT_INTERRUPTED = 130

_DEFAULT = object()


class UsageError(Exception):
    """The command line asks for something impossible (exit 2)."""


class Failure(Exception):
    """The command ran and failed; the message goes to stderr."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class Context:
    def __init__(self, args: argparse.Namespace, *, stdout: Any = None, stderr: Any = None,
                 repl: bool = False) -> None:
        self.args = args
        self.repl = repl  # run from the REPL: hints name commands without the ``agentctl`` prefix
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.json: bool = bool(getattr(args, "json", False))
        self.quiet: bool = bool(getattr(args, "quiet", False))
        self.timeout: float = float(getattr(args, "timeout", None) or 60.0)
        self._out: Out | None = None
        self._client: Client | None = None
        self._socket: str | None = None

    # ------------------------------------------------------------ output

    @property
    def fmt(self) -> str:
        """``json`` (``--json`` or ``--format json``), ``md`` or ``table``."""
        if self.json:
            return "json"
        return getattr(self.args, "format", None) or "table"

    @property
    def out(self) -> Out:
        if self._out is None:
            from .render import Out

            self._out = Out(self.stdout)
        return self._out

    def print(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def emit_json(self, obj: Any) -> None:
        """Print a result as JSON: the daemon's shape, unchanged."""
        from .render import dumps_json

        tty = self.stdout.isatty() if hasattr(self.stdout, "isatty") else False
        self.stdout.write(dumps_json(obj, pretty=tty) + "\n")

    def info(self, message: str) -> None:
        """A message for a person (stderr); silent with ``-q`` and ``--json``."""
        if not self.quiet and not self.json:
            self.stderr.write(message + "\n")

    def command(self, text: str) -> str:
        """How to type the command ``text`` (e.g. ``run watch ID``) where the
        person is: ``agentctl run watch ID`` in a shell, ``run watch ID`` in the REPL."""
        return text if self.repl else f"agentctl {text}"

    def warn(self, message: str) -> None:
        self.stderr.write(f"agentctl: {message}\n")

    def confirm(self, question: str) -> bool:
        """Ask y/N on the terminal. Raises UsageError when stdin is not one."""
        if not sys.stdin.isatty():
            raise UsageError(f"{question.rstrip('?')}: refusing without --yes (stdin is not a terminal)")
        self.stderr.write(f"{question} [y/N] ")
        self.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        return answer in ("y", "yes")

    # ------------------------------------------------------------ daemon

    @property
    def socket_path(self) -> str:
        if self._socket is None:
            from ._paths import socket_path

            self._socket = socket_path(getattr(self.args, "socket", None),
                                       getattr(self.args, "config", None))
        return self._socket

    @property
    def client(self) -> Client:
        if self._client is None:
            from .client import Client

            self._client = Client(self.socket_path, timeout=self.timeout)
        return self._client

    def call(self, method: str, params: dict | None = None, *, timeout: Any = _DEFAULT) -> Any:
        """One RPC on the shared connection; the result as plain data."""
        if timeout is _DEFAULT:
            return self.client.call(method, params)
        return self.client.call(method, params, timeout=timeout)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def drop_none(**fields: Any) -> dict:
    """Params without the fields left at None (the daemon's defaults apply)."""
    return {k: v for k, v in fields.items() if v is not None}
