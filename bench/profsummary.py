"""Summarise a py-spy ``--format raw`` (collapsed stacks) profile:
``python -m bench.profsummary FILE [--top 30] [--focus SUBSTR]``.

Prints, for the samples of the file, the functions with the largest
inclusive share (on the stack) and self share (top of the stack)."""

from __future__ import annotations

import argparse
import collections
import re


def frames(stack: str) -> list[str]:
    out = []
    for f in stack.split(";"):
        f = f.strip()
        # "func (path/to/file.py:123)" -> "file.py:func"
        m = re.match(r"(.*) \((.*?):(\d+)\)$", f)
        if m:
            func, path, _ = m.groups()
            parts = path.split("/")
            short = "/".join(parts[-2:]) if len(parts) > 1 else path
            out.append(f"{short}:{func}")
        else:
            out.append(f)
    return out


def summarise(path: str, top: int = 30, focus: str | None = None) -> str:
    incl: collections.Counter[str] = collections.Counter()
    selfc: collections.Counter[str] = collections.Counter()
    total = 0
    for raw in open(path, encoding="utf-8", errors="replace"):
        raw = raw.rstrip("\n")
        if not raw:
            continue
        stack, _, n = raw.rpartition(" ")
        try:
            count = int(n)
        except ValueError:
            continue
        fs = frames(stack)
        if focus and not any(focus in f for f in fs):
            continue
        total += count
        for f in set(fs):
            incl[f] += count
        if fs:
            selfc[fs[-1]] += count
    lines = [f"{path}: {total} samples" + (f" (stacks through {focus!r})" if focus else "")]
    lines.append("  inclusive:")
    for f, c in incl.most_common(top):
        lines.append(f"    {100 * c / total:5.1f}%  {f}")
    lines.append("  self:")
    for f, c in selfc.most_common(top):
        lines.append(f"    {100 * c / total:5.1f}%  {f}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--focus")
    a = p.parse_args()
    print(summarise(a.file, a.top, a.focus))


if __name__ == "__main__":
    main()
