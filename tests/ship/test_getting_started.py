"""docs/getting-started.md, executed as written.

Every ```sh block of the guide is run by bash, in order, exactly as it stands in the file, in a
private home (its own XDG directories) with this checkout's `agentctl` and `agentd` on PATH. The
world outside is on loopback: the model is the scripted fake, reached through OPENAI_BASE_URL
(the guide says environment variables override the config file). A block the test cannot run is
named in SKIPPED with the reason and where else it is tested; a block that is neither run nor named
fails the test, so the guide and the test cannot drift apart. The ```python block (a client on the
raw socket) runs too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


from agentd.testing.fakellm import tool_call
from daemon_harness import base_env

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
BIN = Path(sys.executable).parent

# first line of a block -> why it is not run here
SKIPPED = {
    "pipx install .": "installing from the checkout is tested offline by tests/ship/test_ship_wheel.py; "
                      "here the checkout's own agentctl is on PATH",
    "agentctl server install --now": "needs a systemd user manager; the units are checked by "
                                     "tests/ship/test_ship_systemd.py",
}
STDIN = {"agentctl init": "sk-getting-started-key\n"}  # `--api-key -` reads the key from stdin


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", GUIDE.read_text(), re.S | re.M)


def run_block(block: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    stdin = next((v for k, v in STDIN.items() if block.startswith(k)), "")
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", block], env=env, cwd=cwd, input=stdin,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"this block of getting-started.md failed ({r.returncode}):\n{block}\n" \
                              f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r


def test_every_block_is_run_or_named():
    firsts = [b.splitlines()[0].split("#")[0].strip() for b in blocks("sh")]
    named = [f for f in firsts if any(f.startswith(k) for k in SKIPPED)]
    assert len(named) == len(SKIPPED), f"SKIPPED names blocks the guide no longer has: {SKIPPED}, {firsts}"


def test_the_guide_as_written(tmp_path, fake_llm):
    fake_llm.add(
        tool_call("web_search", {"query": "AI news this week"}),
        tool_call("write_file", {"path": "summaries/week.md",
                                 "content": "# AI news\n\n## Research\n- an open model\n\n## Policy\n- an AI act\n"}),
        tool_call("finish", {"summary": "Wrote summaries/week.md with the week's AI news by category."}),
    )
    env = base_env(tmp_path, None, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
                   OPENAI_BASE_URL=fake_llm.base_url)
    env.pop("NO_COLOR", None)
    home = Path(env["HOME"])
    outputs: list[str] = []
    try:
        for block in blocks("sh"):
            first = block.splitlines()[0]
            if any(first.startswith(k) for k in SKIPPED):
                continue
            if "socat" in block and shutil.which("socat") is None:
                continue  # make test installs socat in CI; tests/daemon covers the socket itself
            outputs.append(run_block(block, env, home).stdout)
        for block in blocks("python"):
            r = subprocess.run([sys.executable, "-c", block], env=env, cwd=home, capture_output=True, text=True,
                               timeout=60)
            assert r.returncode == 0, r.stderr
            outputs.append(r.stdout)
    finally:
        subprocess.run([str(BIN / "agentctl"), "server", "stop"], env=env, capture_output=True, timeout=60)

    text = "\n".join(outputs)
    config = Path(env["XDG_CONFIG_HOME"]) / "agentd" / "config.toml"
    assert config.stat().st_mode & 0o777 == 0o600 and "sk-getting-started-key" in config.read_text()
    assert "Europe/Berlin" in text  # goal next shows the schedule's zone
    summary = Path(env["XDG_DATA_HOME"]).glob("agentd/artifacts/*/summaries/week.md")
    assert [p.read_text() for p in summary] and "completed" in text and "summaries/week.md" in text
    completions = [home / ".local/share/bash-completion/completions/agentctl", home / ".zfunc/_agentctl",
                   home / ".config/fish/completions/agentctl.fish"]
    assert all(p.stat().st_size > 1000 for p in completions)
    fake_llm.assert_complete()
