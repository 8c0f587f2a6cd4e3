"""A goal's expected outputs: the files (relative to its artifacts directory)
that a run must have written before it may end ``completed``.

A model's word that it wrote a file is not checked here; the file is. A file
that is missing, empty, not a regular file, or outside the artifacts directory
(``goal.create`` refuses such paths; this is the second guard) is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def missing_outputs(artifacts: Path, expect: Sequence[str]) -> list[str]:
    """The paths of ``expect`` that are not a non-empty file under ``artifacts``,
    in the goal's order. Never raises: an unreadable path counts as missing."""
    root = artifacts.resolve()
    missing = []
    for rel in expect:
        try:
            path = (root / rel).resolve()
            ok = path.is_relative_to(root) and path.is_file() and path.stat().st_size > 0
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop
            ok = False
        if not ok:
            missing.append(rel)
    return missing


def missing_reason(missing: Sequence[str]) -> str:
    """Why a run failed, for a person: which declared outputs it did not write."""
    if len(missing) == 1:
        return f"expected output {missing[0]} was not written (missing or empty)"
    return f"expected outputs {', '.join(missing)} were not written (missing or empty)"
