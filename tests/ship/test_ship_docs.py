"""The generated docs are current, and the README/getting-started snippets
for other languages work against a real daemon with independent clients."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys

import pytest

from scripts import docgen
from ship_helpers import ROOT


def test_generated_files_are_current():
    stale = [str(p.relative_to(ROOT)) for p in docgen.stale()]
    assert not stale, f"run `python -m scripts.docgen`: {stale}"


def test_rpc_reference_covers_every_method_and_event():
    from agentd.protocol.events import EVENT_TYPES
    from agentd.protocol.methods import METHODS

    text = (ROOT / "docs" / "rpc-reference.md").read_text()
    for name in METHODS:
        assert f"### {name}\n" in text
    for cls in EVENT_TYPES:
        assert f"### {cls.__struct_config__.tag}\n" in text


def test_readme_links_exist():
    readme = (ROOT / "README.md").read_text()
    assert readme.startswith("# agentd\n\n```sh\nmake run")
    for link in re.findall(r"\]\((docs/[^)#]+)\)", readme):
        if link.startswith("docs/examples/"):
            continue  # written by the examples' owner
        assert (ROOT / link).exists(), link


def _snippet(lang: str) -> str:
    text = (ROOT / "docs" / "getting-started.md").read_text()
    section = text.split("## Talking to the socket from other languages", 1)[1]
    return re.search(rf"```{lang}\n(.*?)```", section, re.S).group(1)


def test_python_snippet_runs_against_the_daemon(daemon):
    daemon.call("goal.create", {"objective": "collect news"})
    r = subprocess.run([sys.executable, "-c", _snippet("python")], env=daemon.env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("collect news")


def test_socat_one_liner(daemon):
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (the asyncio client below covers the protocol)")
    r = subprocess.run(["sh", "-c", _snippet("sh").strip()], env=daemon.env, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    reply = json.loads(r.stdout)
    assert reply["id"] == 1 and reply["result"]["pid"] > 0


def test_independent_asyncio_client(daemon):
    async def talk():
        reader, writer = await asyncio.open_unix_connection(str(daemon.socket))
        batch = [{"jsonrpc": "2.0", "id": "a", "method": "daemon.status"},
                 {"jsonrpc": "2.0", "id": "b", "method": "no.such"},
                 {"jsonrpc": "2.0", "method": "daemon.status"}]
        writer.write(json.dumps(batch).encode() + b"\n")
        await writer.drain()
        reply = json.loads(await asyncio.wait_for(reader.readline(), 10))
        writer.close()
        return reply

    reply = asyncio.run(talk())
    by_id = {r["id"]: r for r in reply}
    assert set(by_id) == {"a", "b"}  # the notification gets no reply
    assert by_id["a"]["result"]["version"]
    assert by_id["b"]["error"]["code"] == -32601
