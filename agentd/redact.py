"""Hiding the secrets agentd holds from text it did not write itself.

A model server, a proxy or a web page may echo what it was sent: an
``Authorization: Bearer sk-…`` header in an error text, a request URL with its
``?key=`` in a page. Such text is foreign: it is stored, logged, shown and sent
on (completion webhook, email), so every secret agentd knows is replaced in it
by ``[redacted <where the secret is configured>]`` before any of that happens.

What counts as a secret (``Redactor.from_config`` and ``add_goal``):

- the providers' API keys, the SMTP password and the alert webhook secret;
- credentials inside configured URLs (provider base URLs, the search
  backends, the alert webhook, proxy variables ``HTTP(S)_PROXY``/``ALL_PROXY``, each goal's
  webhook URL): the password of ``user:pass@`` (or the user part alone when it
  is a bare token, ``https://TOKEN@host``), ``user:pass`` in base64 (a Basic
  authorization header), and the values of query parameters whose name says
  secret (``key``, ``api_key``, ``token``, ``access_token``, ``secret``,
  ``password``, ``sig``, ``auth``, …);
- each goal's webhook signing secret (``whsec_…``, and its base64 part).

Each secret is also matched in the spellings it takes when echoed: percent
-encoded (a URL), JSON-escaped (a JSON body or log line).

Short secrets: a secret of 8 characters or more is replaced wherever it
appears. One of 4 to 7 characters is replaced only as a whole word (not
inside a longer run of letters and digits), so a 5-letter SMTP password does
not blank out every word that contains it. One of 1 to 3 characters cannot be
hidden without destroying ordinary text: it is not redacted, and
``too_short`` names it so that start-up can warn about it. The placeholders
people give a local server that wants no key (``ollama``, ``EMPTY``,
``sk-no-key-required``, ...) are not secrets and are left alone, and so is a
URL's user name shorter than 8 characters when it has no password (``admin@``
is an account, ``ghp_…@`` a token).

Where it is applied: at the entry of foreign text (the agent loop passes
provider answers and tool observations through ``redact_value``; the executor
its run outcome), on every row a run journals (``App.journal`` hands the
transaction a ``store.redacting.RedactingConnection``), on the log formatter (a last line of
defence), and on the RPC replies and notifications of views that can carry
foreign text (runs, events, memories, daemon status). Failure: none —
redaction is string replacement; a secret that is not registered is not
hidden.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import msgspec

MIN_ANYWHERE = 8  # a secret this long is replaced wherever it appears
MIN_WORD = 4  # shorter than MIN_ANYWHERE: replaced only as a whole word; shorter than this: not at all

# Query parameter names whose value is a credential (matched case-insensitively, as a part of the name).
_SECRET_PARAM = re.compile(r"key|token|secret|passw|pwd|auth|sig|credential|session", re.IGNORECASE)
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_WORD = "A-Za-z0-9"
# What people put in api_key for a local server that wants none: not a secret, and hiding it
# would blank out the word wherever it appears (a provider named "ollama").
_PLACEHOLDERS = frozenset({"ollama", "lm-studio", "lmstudio", "llama", "local", "empty", "none", "null",
                           "dummy", "test", "placeholder", "changeme", "sk-no-key-required", "no-key", "nokey",
                           "not-needed", "unused", "anything", "key", "secret", "password", "api_key", "apikey"})


def url_secrets(url: str | None) -> list[str]:
    """The credentials inside ``url``: userinfo password (or a bare-token
    user), base64 ``user:pass``, secret-named query values. [] for None or a
    URL without any."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        username, password = parts.username, parts.password
    except ValueError:  # not a URL we can read: nothing to take from it
        return []
    found: list[str] = []
    if password:
        found.append(password)
        found.append(base64.b64encode(f"{unquote(username or '')}:{unquote(password)}".encode()).decode())
    elif username and len(username) >= MIN_ANYWHERE:
        found.append(username)  # https://TOKEN@host: a token-like user part is the credential
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if _SECRET_PARAM.search(name):
            found.append(value)
    return found


def _spellings(secret: str) -> set[str]:
    """The secret as it may appear when echoed: raw, percent-encoded, JSON-escaped."""
    forms = {secret, quote(secret, safe=""), quote(secret, safe="/:"), json.dumps(secret)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1], unquote(secret)}
    return {f for f in forms if f}


class Redactor:
    """Replaces the registered secrets in text. Thread-safe (log lines may be
    written from worker threads); adding a secret swaps in a new pattern."""

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}  # secret spelling -> label
        self._too_short: dict[str, str] = {}  # label -> "" (the secret itself is not kept)
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        self._bpattern: re.Pattern[bytes] | None = None
        # The spellings again, for a plain substring check first: most text holds no secret, and
        # ``in`` finds that out many times faster than the regular expression would.
        self._forms: tuple[str, ...] = ()
        self._bforms: tuple[bytes, ...] = ()

    # ---------------------------------------------------------------- building
    @classmethod
    def from_config(cls, config: Any, environ: Mapping[str, str]) -> "Redactor":
        """Every secret of the configuration and of the proxy variables."""
        r = cls()
        r.add_config(config)
        for var in _PROXY_VARS:
            r.add_url(var, environ.get(var))
        return r

    def add_config(self, config: Any) -> None:
        """Every secret of ``config`` (at start, and again when daemon.reload
        reads a new one; the earlier secrets stay registered)."""
        for name in ("openai", "openrouter", "ollama"):
            section = getattr(config, name)
            self.add(f"{name}.api_key", section.api_key)
            self.add_url(f"{name}.base_url", section.base_url)
        self.add("smtp.password", config.smtp.password)
        secret = config.alerts.webhook_secret
        self.add("alerts.webhook_secret", secret)
        if secret and secret.startswith("whsec_"):
            self.add("alerts.webhook_secret", secret[len("whsec_"):])
        self.add_url("alerts.webhook_url", config.alerts.webhook_url)
        self.add_url("tools.searxng_url", config.tools.searxng_url)
        self.add_url("tools.duckduckgo_url", config.tools.duckduckgo_url)
        from .shared.mcp import secrets

        for label, value in secrets(config.mcp):  # env and header values (short ones are not secrets)
            if len(value.strip()) >= 8:
                self.add(label, value)

    def add(self, label: str, secret: str | None) -> None:
        """Register ``secret`` (ignored when empty) under ``label``, a name
        that says where it is configured and appears in its place."""
        if not secret or not secret.strip():
            return
        secret = secret.strip()
        if secret.lower() in _PLACEHOLDERS:
            return
        if len(secret) < MIN_WORD:
            self._too_short[label] = ""
            return
        with self._lock:
            new = {form: label for form in _spellings(secret) if form not in self._secrets and len(form) >= MIN_WORD}
            if not new:
                return
            self._secrets.update(new)
            self._compile()

    def add_url(self, label: str, url: str | None) -> None:
        for secret in url_secrets(url):
            self.add(f"{label} credential", secret)

    def add_goal(self, goal_id: str, webhook_secret: str | None, webhook_url: str | None) -> None:
        """A goal's webhook signing secret and the credentials in its webhook URL."""
        if webhook_secret:
            self.add(f"goal {goal_id} webhook secret", webhook_secret)
            if webhook_secret.startswith("whsec_"):
                self.add(f"goal {goal_id} webhook secret", webhook_secret[len("whsec_"):])
        self.add_url(f"goal {goal_id} webhook_url", webhook_url)

    def add_goals(self, rows: Iterable[tuple[str, str | None, str | None]]) -> None:
        for goal_id, secret, url in rows:
            self.add_goal(goal_id, secret, url)

    @property
    def too_short(self) -> list[str]:
        """Labels of secrets too short to redact (1-3 characters)."""
        return sorted(self._too_short)

    def _compile(self) -> None:
        alternatives = []
        for form in sorted(self._secrets, key=len, reverse=True):  # longest first: a key inside a longer one
            text = re.escape(form)
            if len(form) < MIN_ANYWHERE:
                text = f"(?<![{_WORD}]){text}(?![{_WORD}])"
            alternatives.append(text)
        source = "|".join(alternatives)
        self._forms = tuple(self._secrets)
        self._bforms = tuple(form.encode() for form in self._forms)
        self._pattern = re.compile(source)
        self._bpattern = re.compile(source.encode())

    # ---------------------------------------------------------------- using
    def _label(self, match: re.Match) -> str:
        return f"[redacted {self._secrets.get(match.group(0), 'secret')}]"

    def redact(self, text: str | None) -> str | None:
        """``text`` with every registered secret replaced (None stays None)."""
        pattern, forms = self._pattern, self._forms
        if pattern is None or not text or not any(form in text for form in forms):
            return text
        return pattern.sub(self._label, text)

    def redact_bytes(self, data: bytes) -> bytes:
        """The same for UTF-8 bytes (an encoded JSON-RPC line)."""
        pattern, forms = self._bpattern, self._bforms
        if pattern is None or not data or not any(form in data for form in forms):
            return data
        secrets = self._secrets
        return pattern.sub(lambda m: f"[redacted {secrets.get(m.group(0).decode(), 'secret')}]".encode(), data)

    def redact_value(self, value: Any) -> Any:
        """``value`` with the secrets replaced in every string inside it:
        strings, lists, tuples, dicts, msgspec structs and dataclasses (a new
        object where something changed; the same object otherwise)."""
        if self._pattern is None:
            return value
        return self._value(value)

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if value is None or isinstance(value, (int, float)):  # most fields of an event or a step
            return value
        if isinstance(value, (list, tuple)):
            items = [self._value(v) for v in value]
            if all(a is b for a, b in zip(items, value)):
                return value
            return type(value)(items) if isinstance(value, list) else tuple(items)
        if isinstance(value, dict):
            out = {k: self._value(v) for k, v in value.items()}
            return value if all(out[k] is value[k] for k in value) else out
        if isinstance(value, msgspec.Struct):
            changes = {}
            for name in value.__struct_fields__:
                old = getattr(value, name)
                new = self._value(old)
                if new is not old:
                    changes[name] = new
            return msgspec.structs.replace(value, **changes) if changes else value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {}
            for f in dataclasses.fields(value):
                old = getattr(value, f.name)
                new = self._value(old)
                if new is not old:
                    changes[f.name] = new
            return dataclasses.replace(value, **changes) if changes else value
        return value
