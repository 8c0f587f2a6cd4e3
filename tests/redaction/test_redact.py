"""The redactor (agentd/redact.py): which secrets it learns from the
configuration, the environment and goals; the spellings it hides; what it
does with short secrets; that it leaves other text alone."""

from __future__ import annotations

import base64
import io
import json
import logging
import sqlite3

import msgspec

from agentd.shared import config as config_mod
from agentd import log
from agentd.redact import Redactor, url_secrets
from agentd.store.redacting import RedactingConnection


def _config(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return config_mod.load(path, environ={})


def test_secrets_come_from_the_config_and_the_proxy_variables(tmp_path):
    cfg = _config(tmp_path, """
[openai]
api_key = "sk-openai-0123456789"
base_url = "https://gw.example/v1?api-key=azurekey123456"
[openrouter]
api_key = "sk-or-abcdefghijkl"
[ollama]
base_url = "https://bob:ollamaPass99@ollama.example"
[smtp]
password = "correct horse battery"
[tools]
search_backend = "searxng"
searxng_url = "https://searx.example/?token=searxtoken42"
""")
    r = Redactor.from_config(cfg, {"HTTPS_PROXY": "http://proxyuser:proxyPass77@proxy.example:3128",
                                   "no_proxy": "localhost"})
    text = ("sk-openai-0123456789 sk-or-abcdefghijkl azurekey123456 ollamaPass99 correct horse battery "
            "searxtoken42 proxyPass77 " + base64.b64encode(b"proxyuser:proxyPass77").decode())
    out = r.redact(text)
    for secret in text.split(" "):
        if secret not in ("correct", "horse", "battery"):
            assert secret not in out, (secret, out)
    assert "correct horse battery" not in out
    assert "[redacted openai.api_key]" in out and "[redacted smtp.password]" in out
    assert "[redacted HTTPS_PROXY credential]" in out
    # Non-secret parts of the URLs stay.
    assert r.redact("https://gw.example/v1 bob proxyuser localhost") == "https://gw.example/v1 bob proxyuser localhost"


def test_url_credentials():
    assert url_secrets("https://user:pa%40ss@h.example/x") == ["pa%40ss", base64.b64encode(b"user:pa@ss").decode()]
    assert url_secrets("https://ghp_TOKEN1234@h.example/") == ["ghp_TOKEN1234"]
    assert url_secrets("https://admin@h.example/") == []  # an account name, not a token
    assert url_secrets("https://h.example/hook?token=abc123456&x=1&Sig=zzz999999&page=2&access_token=q") == [
        "abc123456", "zzz999999", "q"]
    assert url_secrets("https://h.example/plain?page=2") == []
    assert url_secrets(None) == [] and url_secrets("http://[::1") == []


def test_echoed_spellings_are_hidden_too():
    r = Redactor()
    r.add("k", 'sk-"quoted"/slash+plus=')
    for spelling in ('sk-"quoted"/slash+plus=', json.dumps('sk-"quoted"/slash+plus=')[1:-1],
                     "sk-%22quoted%22%2Fslash%2Bplus%3D", "sk-%22quoted%22/slash%2Bplus%3D"):
        assert r.redact(f"<{spelling}>") == "<[redacted k]>", spelling
    assert r.redact_bytes(json.dumps({"e": 'sk-"quoted"/slash+plus='}).encode()) == b'{"e": "[redacted k]"}'


def test_short_secrets_are_hidden_as_whole_words_only_and_tiny_ones_not_at_all():
    r = Redactor()
    r.add("smtp.password", "hunter")  # 6 characters
    r.add("tiny", "a1")
    assert r.redact("the password hunter2 and hunter and hunters, xhunter, HUNTER: hunter.") == (
        "the password hunter2 and [redacted smtp.password] and hunters, xhunter, HUNTER: "
        "[redacted smtp.password].")
    assert r.redact("a1 a a1b") == "a1 a a1b"
    assert r.too_short == ["tiny"]
    for placeholder in ("ollama", "EMPTY", "sk-no-key-required"):  # a local server's "no key"
        r.add("openai.api_key", placeholder)
    assert r.redact("provider ollama, key EMPTY or sk-no-key-required") == (
        "provider ollama, key EMPTY or sk-no-key-required")
    r.add("empty", "")
    r.add("blank", "   ")
    assert r.too_short == ["tiny"]


def test_goals_webhook_secrets_and_urls():
    r = Redactor()
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123").decode()
    r.add_goals([("g1", secret, "https://hooks.example/in?key=hookkey12345"), ("g2", None, None)])
    out = r.redact(f"{secret} {secret.removeprefix('whsec_')} hookkey12345")
    assert out == "[redacted goal g1 webhook secret] [redacted goal g1 webhook secret] " \
                  "[redacted goal g1 webhook_url credential]"


def test_values_are_rebuilt_only_where_something_changed():
    class Ev(msgspec.Struct, frozen=True):
        text: str
        n: int = 0
        items: list = []

    r = Redactor()
    assert r.redact_value({"a": "sk-0123456789"}) == {"a": "sk-0123456789"}  # nothing registered yet
    r.add("key", "sk-0123456789")
    clean = Ev(text="nothing", items=["x", {"y": "z"}])
    assert r.redact_value(clean) is clean
    dirty = Ev(text="got sk-0123456789", n=3, items=("sk-0123456789", {"y": ["sk-0123456789"]}))
    assert r.redact_value(dirty) == Ev(text="got [redacted key]", n=3,
                                       items=("[redacted key]", {"y": ["[redacted key]"]}))
    assert r.redact_value((None, "e: sk-0123456789", 1.5)) == (None, "e: [redacted key]", 1.5)


def test_the_redacting_connection_hides_secrets_in_every_string_parameter():
    r = Redactor()
    r.add("key", "sk-0123456789")
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a TEXT, b INTEGER, c TEXT)")
    rc = RedactingConnection(conn, r.redact)
    rc.execute("INSERT INTO t VALUES (?, ?, ?)", ("x sk-0123456789", 1, None))
    rc.execute("INSERT INTO t VALUES (:a, :b, :c)", {"a": "y", "b": 2, "c": '{"e": "sk-0123456789"}'})
    rc.executemany("INSERT INTO t VALUES (?, ?, ?)", [("sk-0123456789", 3, "ok")])
    assert conn.execute("SELECT * FROM t ORDER BY b").fetchall() == [
        ("x [redacted key]", 1, None), ("y", 2, '{"e": "[redacted key]"}'), ("[redacted key]", 3, "ok")]


def test_the_log_hides_installed_secrets():
    r = Redactor()
    r.add("openai.api_key", "sk-0123456789")
    stream = io.StringIO()
    root = logging.getLogger("agentd")
    saved = root.handlers[:], root.level, root.propagate
    log.setup("info", stream=stream, journal=False)
    log.use_redactor(r)
    try:
        try:
            raise ValueError("server said: Authorization: Bearer sk-0123456789")
        except ValueError as exc:
            log.get("agentd.test").error("provider failed", exc_info=exc, detail='{"k": "sk-0123456789"}')
    finally:
        log.use_redactor(None)
        root.handlers[:], root.level, root.propagate = saved
    line = stream.getvalue()
    assert "sk-0123456789" not in line
    assert line.count("[redacted openai.api_key]") == 3, line
    json.loads(line)  # still one valid JSON line
