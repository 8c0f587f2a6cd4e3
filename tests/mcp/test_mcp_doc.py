"""docs/mcp.md, executed as written: its ```sh blocks run in bash, in order, in a
private home with this checkout's agentctl, agentd and python on PATH, the
scripted model reached through OPENAI_BASE_URL, and mcp-server-time from PyPI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from agentd.testing.fakellm import finish_call, tool_call
from daemon_harness import base_env, write_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "mcp.md"
BIN = Path(sys.executable).parent


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", DOC.read_text(), re.S | re.M)


def test_the_config_examples_are_valid():
    from agentd.shared.config import from_data

    cfg = from_data(tomllib.loads(blocks("toml")[0]))
    assert [s.name for s in cfg.mcp.servers] == ["time", "notes"]


def test_the_example_as_written(tmp_path, fake_llm):
    fake_llm.add(tool_call("time__get_current_time", {"timezone": "Asia/Tokyo"}),
                 tool_call("write_file", {"path": "tokyo.md", "content": "It is evening in Tokyo.\n"}),
                 finish_call("Wrote tokyo.md"))
    env = base_env(tmp_path, None, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
                   OPENAI_BASE_URL=fake_llm.base_url)
    write_config(env, '[provider]\nname = "openai"\nmodel = "gpt-4o"\n[openai]\napi_key = "sk-mcp-doc-key"\n')
    out = []
    try:
        for block in blocks("sh"):
            r = subprocess.run(["bash", "-euo", "pipefail", "-c", block], env=env, cwd=env["HOME"],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, f"this block of mcp.md failed:\n{block}\n{r.stdout}\n{r.stderr}"
            out.append(r.stdout)
    finally:
        subprocess.run([str(BIN / "agentctl"), "server", "stop"], env=env, capture_output=True, timeout=60)
    text = "\n".join(out)
    assert "time: ready" in text and "time__get_current_time" in text
    assert "Asia/Tokyo" in text and "completed" in text
    assert [p.read_text() for p in Path(env["XDG_DATA_HOME"]).glob("agentd/artifacts/*/tokyo.md")]
    fake_llm.assert_complete()
