"""The demo recorder (docs/demo/record.py) still records a good session: the real daemon and
agentctl typed into bash in asciinema's pseudo-terminal, against loopback fixtures. The cast in
docs/ is what `make demo` wrote; this checks that re-recording works and shows what the README
promises (the run watched live, its summary, the delivered webhook)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ASCIINEMA = shutil.which("asciinema", path=str(Path(sys.executable).parent))


def screen_text(cast: Path) -> str:
    header, *events = cast.read_text().splitlines()
    assert json.loads(header)["version"] == 2
    out = "".join(json.loads(e)[2] for e in events if json.loads(e)[1] == "o")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)


@pytest.mark.skipif(ASCIINEMA is None, reason="asciinema is not installed (it is in the test extras)")
def test_the_demo_records(tmp_path):
    cast = tmp_path / "demo.cast"
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "demo" / "record.py"), "--out", str(cast)],
                       capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    text = screen_text(cast)
    for expected in ("Created goal", "Europe/Berlin", "model waiting for the first token", "completed: 6 steps",
                     "webhook", "delivered", "## Research", '"type": "run.completed"'):
        assert expected in text, expected
    for bad in ("Traceback", "error:", "command not found"):
        assert bad not in text, bad


def test_the_committed_cast_is_a_recording():
    text = screen_text(ROOT / "docs" / "demo" / "ai-news-monitor.cast")
    assert "agentctl goal run ai-news --watch" in text and "completed" in text
