"""read_feed: RSS 2.0 / RSS 1.0 / Atom entries with the stdlib XML parser.

defusedxml is not available, so any DOCTYPE or ENTITY declaration is refused
before parsing: without a DTD, expat has no entities to expand.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Annotated, ClassVar

import msgspec
import trio

from ..protocol.errors import ToolError, ToolRefused
from .base import ToolContext
from .facts import HEAD
from .html import html_to_text, wrap_untrusted
from .net import fetch

_DECL = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
SUMMARY_CHARS = 400


class ReadFeedParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=4096, description="URL of an RSS or Atom feed.")]
    limit: Annotated[int, msgspec.Meta(ge=1, le=50, description="Most entries to return (newest first as the feed lists them).")] = 10


class FeedEntry(msgspec.Struct, frozen=True):
    title: str
    link: str
    published: str
    summary: str


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _child(el: ET.Element, *names: str) -> ET.Element | None:
    for name in names:
        for sub in el:
            if _local(sub.tag) == name:
                return sub
    return None


def _text(el: ET.Element | None) -> str:
    return "".join(el.itertext()).strip() if el is not None else ""


def _link(entry: ET.Element) -> str:
    fallback = ""
    for sub in entry:
        if _local(sub.tag) != "link":
            continue
        href = sub.get("href")
        if href is None:  # RSS: <link>url</link>
            return (sub.text or "").strip()
        if sub.get("rel", "alternate") == "alternate":
            return href.strip()
        fallback = fallback or href.strip()
    return fallback


def shorten(text: str, limit: int = SUMMARY_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def parse_feed(data: str | bytes, limit: int = 10) -> tuple[str, list[FeedEntry], int]:
    """Return (feed title, its first ``limit`` entries, how many entries it has).
    Raises ToolRefused for DTDs, ToolError for non-feeds."""
    if isinstance(data, str):  # already decoded: drop the declaration's (now wrong) encoding
        data = _XML_DECL.sub("", data, count=1).encode("utf-8")
    raw = data
    if _DECL.search(raw):
        raise ToolRefused("the feed contains a DOCTYPE or ENTITY declaration, which is refused for safety")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise ToolError(f"the feed is not well-formed XML: {exc}") from exc
    kind = _local(root.tag)
    if kind == "feed":  # Atom
        channel, items = root, [e for e in root if _local(e.tag) == "entry"]
    elif kind in ("rss", "rdf"):
        channel = _child(root, "channel") or root
        items = [e for e in channel if _local(e.tag) == "item"] or [e for e in root if _local(e.tag) == "item"]
    else:
        raise ToolError(f"not an RSS or Atom feed (root element <{kind}>)")
    entries = []
    for item in items[:limit]:
        summary = _text(_child(item, "summary", "description", "content", "encoded"))
        entries.append(FeedEntry(
            title=" ".join(_text(_child(item, "title")).split()) or "(untitled)",
            link=_link(item),
            published=_text(_child(item, "published", "pubdate", "updated", "date")),
            summary=shorten(html_to_text(summary)),
        ))
    return " ".join(_text(_child(channel, "title")).split()), entries, len(items)


def format_feed(title: str, entries: list[FeedEntry], total: int | None = None) -> str:
    """The entries as numbered text, closed by their exact count (the line
    models copy instead of counting; see agentd.tools.facts)."""
    total = len(entries) if total is None else total
    lines = [f"Feed: {title or '(untitled)'} — {total} entries"]
    for i, e in enumerate(entries, 1):
        lines.append(f"{i}. {e.title}\n   Link: {e.link}\n   Published: {e.published or 'unknown'}\n   {e.summary}".rstrip())
    shown = "all shown" if len(entries) == total else f"the first {len(entries)} shown (ask for more with `limit`)"
    lines.append(f"\n{HEAD} the feed has {total} entries, {shown}.")
    return "\n".join(lines)


class ReadFeed:
    name: ClassVar[str] = "read_feed"
    description: ClassVar[str] = "Read an RSS or Atom feed: each entry's title, link, date and a short summary."
    Params: ClassVar[type[msgspec.Struct]] = ReadFeedParams
    timeout_s: ClassVar[float] = 45.0
    side_effect: ClassVar[bool] = False
    working_memory: ClassVar[tuple[str, str] | None] = ("feeds", "url")
    read_only: ClassVar[bool] = True
    idempotent: ClassVar[bool] = True
    external: ClassVar[bool] = True
    default: ClassVar[bool] = True

    async def run(self, params: ReadFeedParams, ctx: ToolContext) -> str:
        result = await fetch(params.url, ctx)
        if not 200 <= result.status < 300:
            raise ToolError(f"{result.final_url} answered HTTP {result.status}")
        title, entries, total = await trio.to_thread.run_sync(parse_feed, result.text, params.limit,
                                                              abandon_on_cancel=True)
        return wrap_untrusted(result.final_url, format_feed(title, entries, total))
