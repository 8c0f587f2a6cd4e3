"""A goal's expected outputs: the files (relative to its artifacts directory)
that a run must have written, and the deliveries (a webhook, an email) it must
have made, before it may end ``completed``.

A model's word that it wrote a file is not checked here; the file is. A file
that is missing, empty, not a regular file, or outside the artifacts directory
(``goal.create`` refuses such paths; this is the second guard) is missing.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from pathlib import Path

# A delivery kind a goal may expect (``params.expect_sent``) -> the tool that makes it.
SEND_TOOLS = {"webhook": "send_webhook", "email": "send_email"}


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


def misplaced(artifacts: Path, missing: Sequence[str], *, limit: int = 2000) -> dict[str, str]:
    """For each path of ``missing``, a file of the same name that was written
    elsewhere under ``artifacts`` (``artifacts/report.md`` for ``report.md``:
    models often repeat the folder's name in the path). Looks at ``limit``
    entries at most; links are not followed; never raises."""
    want = {Path(rel).name: rel for rel in missing}
    found: dict[str, str] = {}
    root = artifacts.resolve()
    stack, seen = [root], 0
    try:
        while stack and seen < limit and len(found) < len(want):
            for entry in sorted(stack.pop().iterdir()):
                seen += 1
                if entry.is_dir() and not entry.is_symlink():
                    stack.append(entry)
                elif entry.name in want and entry.is_file() and not entry.is_symlink():
                    rel = entry.relative_to(root).as_posix()
                    if rel != want[entry.name]:
                        found.setdefault(want[entry.name], rel)
    except OSError:
        pass
    return found


def missing_sent(expect_sent: Sequence[str], sent: Set[str]) -> list[str]:
    """The kinds of ``expect_sent`` whose tool has no delivered call in
    ``sent`` (the tools with a successful call in this run, or one a crash
    left ``unknown``: it may have been delivered, and asking for a resend
    could deliver twice), in the goal's order."""
    return [k for k in dict.fromkeys(expect_sent) if SEND_TOOLS.get(k) not in sent]


def missing_reason(missing: Sequence[str], unsent: Sequence[str] = ()) -> str:
    """Why a run failed, for a person: which declared outputs it did not
    write and which declared deliveries it did not make."""
    parts = []
    if len(missing) == 1:
        parts.append(f"expected output {missing[0]} was not written (missing or empty)")
    elif missing:
        parts.append(f"expected outputs {', '.join(missing)} were not written (missing or empty)")
    if unsent:
        parts.append(f"expected delivery not made: {', '.join(unsent)}")
    return "; ".join(parts)
