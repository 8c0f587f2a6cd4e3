"""notify on_change: did this run's result change since the last successful run?

A run's *result* is its summary artifact (``runs/<id>/summary.md``) and the
files it wrote (its ``file`` outputs, read as they are when the run is
finalized). Its *fingerprint* is a SHA-256 over the normalised summary and,
per file, the normalised path and a hash of the normalised content. Two
results are the same when their fingerprints are equal.

How it decides — normalise, then compare exactly (no similarity threshold):

- Normalising removes what changes on every run without saying anything new:
  dates (``2026-12-07``, ``07/12/2026``, ``Dec 7, 2026``, ``7 December``),
  times (``16:00``, ``4:05 pm UTC``), weekday names, relative times
  (``3 hours ago``), the goal's id and the ids of its runs, and differences
  of whitespace. What is left is compared byte for byte.
- A threshold ("95 % similar is the same") would call one new headline
  among twenty, or a changed figure in a metrics file, "unchanged" — exactly
  the change the person wants to hear about — and no threshold is right for
  both a one-line metric and a long digest. An exact comparison errs the
  other way: a model that words the same news differently makes the run
  "changed", and the person gets a delivery they could have done without,
  which is what ``notify = always`` does every time. When in doubt, deliver.

Only successful runs (completed, with at least one tool step) are
fingerprinted and compared; a failed run always notifies (a failure is news).
The fingerprint is recorded for every successful run whatever the goal's
mode, so a goal switched to on_change compares from its next run on.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from .. import log
from ..store import notify as notify_q
from ..store import runs as runs_q
from ..tools.files import goal_artifacts

if TYPE_CHECKING:
    from ..core import Core

_log = log.get("agentd.notify")

MAX_NORMALISED = 1024 * 1024  # bigger files are compared as raw bytes (normalising a big file is slow)

_MONTHS = (r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
           r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?")
_ORD = r"(?:st|nd|rd|th)?"
_ZONE = r"(?:\s*(?:UTC|GMT|Z|[A-Z]{1,4}T|[+-]\d{2}:?\d{2}))?"
_RULES: list[tuple[re.Pattern[str], str]] = [
    # 2026-12-07, 2026-12-07T16:00:00.123Z, 2026-12-07 16:00+01:00
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"), "<date>"),
    # 07/12/2026, 7.12.2026, 2026/12/07
    (re.compile(r"\b(?:\d{1,2}[/.]\d{1,2}[/.]\d{4}|\d{4}/\d{1,2}/\d{1,2})\b"), "<date>"),
    # Dec 7, 2026 / December 7th / 7 December 2026 / 7th of Dec
    (re.compile(rf"\b(?:{_MONTHS})\.?\s+\d{{1,2}}{_ORD}(?:,?\s+\d{{4}})?\b", re.I), "<date>"),
    (re.compile(rf"\b\d{{1,2}}{_ORD}\s+(?:of\s+)?(?:{_MONTHS})\b\.?(?:,?\s+\d{{4}})?", re.I), "<date>"),
    (re.compile(rf"\b(?:{_MONTHS})\s+\d{{4}}\b", re.I), "<date>"),
    # 16:00, 16:00:05, 4:05 pm, 16:00 UTC
    (re.compile(rf"\b\d{{1,2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?(?:\s*[ap]\.?m\.?)?{_ZONE}\b", re.I), "<time>"),
    (re.compile(rf"\b\d{{1,2}}\s*[ap]\.?m\.?{_ZONE}(?=\W|$)", re.I), "<time>"),
    # Monday, Mon, (an abbreviation only where it reads as a date: "Mon, ..." / "Mon 7")
    (re.compile(r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", re.I), "<day>"),
    (re.compile(r"\b(?:Mon|Tue|Tues|Wed|Thu|Thurs|Fri|Sat|Sun)\b(?=,|\s+(?:<date>|\d))"), "<day>"),
    # 3 hours ago, a minute ago
    (re.compile(r"\b(?:\d+|an?)\s+(?:second|minute|hour|day|week|month|year)s?\s+ago\b", re.I), "<ago>"),
]
_HEX12 = re.compile(r"\b[0-9a-f]{12}\b")


def normalise(text: str, ids: set[str] = frozenset()) -> str:
    """``text`` without dates, times, weekday names, relative times, the
    ``ids`` given (the goal's and its runs') and whitespace differences."""
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    if ids:
        text = _HEX12.sub(lambda mt: "<id>" if mt.group(0) in ids else mt.group(0), text)
    return " ".join(text.split())


FileData = bytes | OSError


def read_files(root: Path, files: list[str]) -> dict[str, FileData]:
    """The bytes of each written file (relative to ``root``), or the error reading it."""
    out: dict[str, FileData] = {}
    for rel in dict.fromkeys(files):
        try:
            out[rel] = (root / rel).read_bytes()
        except OSError as exc:
            out[rel] = exc
    return out


def _file_part(rel: str, data: FileData, ids: set[str]) -> str:
    if isinstance(data, OSError):
        return f"{normalise(rel, ids)}\0(unreadable: {data.strerror})"
    if len(data) <= MAX_NORMALISED:
        try:
            data = normalise(data.decode("utf-8"), ids).encode()
        except UnicodeDecodeError:
            pass  # binary: compared as it is
    return f"{normalise(rel, ids)}\0{hashlib.sha256(data).hexdigest()}"


def fingerprint(summary_text: str, files: dict[str, FileData], ids: set[str]) -> str:
    """The result's fingerprint (hex SHA-256): the normalised summary, then
    each written file (sorted by path) as its normalised path and content hash."""
    h = hashlib.sha256(normalise(summary_text, ids).encode())
    for part in sorted(_file_part(rel, data, ids) for rel, data in files.items()):
        h.update(b"\1" + part.encode())
    return h.hexdigest()


def _ids_in(app: "Core", goal_id: str, texts: list[str]) -> set[str]:
    """The goal's id and the ids of its runs that appear in ``texts``."""
    found = {t for text in texts for t in _HEX12.findall(text)}
    found.discard(goal_id)
    if not found:
        return {goal_id}
    return {goal_id, *app.store.read(notify_q.run_ids_among, goal_id, found)}


async def check(app: "Core", goal_id: str, run_id: str, summary_text: str) -> str | None:
    """Fingerprint the finished, successful run ``run_id`` and record it.
    Returns the id of the run its result is unchanged since (the first of an
    unbroken line of same results), or None when it changed or nothing
    earlier compares. A finalize resumed after a crash gets the decision
    recorded the first time."""
    recorded = app.store.read(notify_q.result_of, run_id)
    if recorded is not None:
        return recorded["unchanged_since"]
    root = goal_artifacts(app.config.artifacts_root, goal_id)
    files = [o.path_or_payload for o in app.store.read(runs_q.outputs_of, run_id) if o.kind == "file"]

    data = await trio.to_thread.run_sync(read_files, root, files)
    texts = [summary_text, *files, *(d[:MAX_NORMALISED].decode("utf-8", "replace") for d in data.values()
                                      if isinstance(d, bytes))]
    ids = _ids_in(app, goal_id, texts)  # on the loop: the store's reader is this thread's
    digest = await trio.to_thread.run_sync(fingerprint, summary_text, data, ids)
    prev = app.store.read(notify_q.previous_result, goal_id, run_id)
    since = (prev["unchanged_since"] or prev["run_id"]) if prev is not None and prev["digest"] == digest else None
    await app.store.write(notify_q.record_result, app.now(), run_id, goal_id, digest, since)
    _log.info("run result compared", run_id=run_id, goal_id=goal_id,
              previous=prev["run_id"] if prev is not None else None, unchanged_since=since)
    return since
