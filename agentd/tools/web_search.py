"""web_search: DuckDuckGo's HTML endpoint, or a SearXNG instance's JSON API.

The backend URLs come from the user's configuration but are still reached
through net.py (a SearXNG on the LAN needs ``private_hosts_allowed``). The
goal's domain allowlist applies to results' pages, not to the search engine.
"""

from __future__ import annotations

import urllib.parse
from typing import Annotated, ClassVar

import msgspec
import trio
from selectolax.lexbor import LexborHTMLParser

from ..protocol.errors import ToolError
from .base import ToolContext
from .html import html_to_text, wrap_untrusted
from .net import NetPolicy, fetch


class WebSearchParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    query: Annotated[str, msgspec.Meta(min_length=1, max_length=400, description="The search query.")]
    limit: Annotated[int, msgspec.Meta(ge=1, le=20, description="Most results to return.")] = 5


class SearchResult(msgspec.Struct, frozen=True):
    title: str
    url: str
    snippet: str


class _SearxResult(msgspec.Struct):
    title: str = ""
    url: str = ""
    content: str = ""


class _SearxAnswer(msgspec.Struct):
    results: list[_SearxResult] = []


def unwrap_ddg(href: str) -> str:
    """DuckDuckGo links are ``//duckduckgo.com/l/?uddg=<url-encoded target>``."""
    parts = urllib.parse.urlsplit(href if "://" in href else "https:" + href if href.startswith("//") else href)
    if parts.path.startswith("/l/"):
        target = urllib.parse.parse_qs(parts.query).get("uddg")
        if target:
            return target[0]
    return href


def parse_ddg(html: str, limit: int) -> list[SearchResult]:
    tree = LexborHTMLParser(html)
    out: list[SearchResult] = []
    for block in tree.css(".result"):
        classes = (block.attributes.get("class") or "").split()
        if "result--ad" in classes:
            continue
        link = block.css_first("a.result__a")
        if link is None:
            continue
        url = unwrap_ddg(link.attributes.get("href") or "")
        if not url.startswith(("http://", "https://")):
            continue
        snippet_node = block.css_first(".result__snippet")
        snippet = " ".join(snippet_node.text().split()) if snippet_node else ""
        out.append(SearchResult(" ".join(link.text().split()), url, snippet))
        if len(out) >= limit:
            break
    return out


def parse_searxng(body: str, limit: int) -> list[SearchResult]:
    try:
        answer = msgspec.json.decode(body, type=_SearxAnswer)
    except msgspec.DecodeError as exc:
        raise ToolError(f"the SearXNG answer was not the expected JSON: {exc}") from exc
    return [
        SearchResult(r.title.strip(), r.url, html_to_text(r.content))
        for r in answer.results
        if r.url.startswith(("http://", "https://"))
    ][:limit]


def format_results(query: str, results: list[SearchResult]) -> str:
    if not results:
        return f"No results for {query!r}."
    lines = []
    for i, r in enumerate(results, 1):
        lines.append(f"{i}. {r.title}\n   URL: {r.url}\n   {r.snippet}".rstrip())
    return "\n".join(lines)


class WebSearch:
    name: ClassVar[str] = "web_search"
    description: ClassVar[str] = (
        "Search the web. Returns numbered results with title, URL and snippet; "
        "use fetch_page to read a result."
    )
    Params: ClassVar[type[msgspec.Struct]] = WebSearchParams
    timeout_s: ClassVar[float] = 30.0
    side_effect: ClassVar[bool] = False
    working_memory: ClassVar[tuple[str, str] | None] = ("searches", "query")
    read_next: ClassVar[str | None] = "fetch_page"  # results are snippets: a page is read to use it
    read_only: ClassVar[bool] = True
    idempotent: ClassVar[bool] = True
    external: ClassVar[bool] = True
    default: ClassVar[bool] = True

    async def run(self, params: WebSearchParams, ctx: ToolContext) -> str:
        results = await search(params.query, params.limit, ctx)
        text = wrap_untrusted("web_search", format_results(params.query, results))
        # Outside the untrusted block, from us: models otherwise write their answer from the snippets.
        return text + ("\nThese are snippets only: to read a result, fetch its URL with fetch_page." if results else "")


async def search(query: str, limit: int, ctx: ToolContext) -> list[SearchResult]:
    tools = ctx.tools
    # The engine itself is the user's choice, not the goal's: no domain allowlist for it.
    policy = NetPolicy(tools, ())
    if tools.search_backend == "searxng":
        if not tools.searxng_url:
            raise ToolError("search_backend is 'searxng' but [tools] searxng_url is not set")
        url = tools.searxng_url.rstrip("/") + "/search?" + urllib.parse.urlencode({"q": query, "format": "json"})
        result = await fetch(url, policy)
        _check_status(result.status, "SearXNG")
        return await trio.to_thread.run_sync(parse_searxng, result.text, limit, abandon_on_cancel=True)
    body = urllib.parse.urlencode({"q": query}).encode()
    result = await fetch(
        tools.duckduckgo_url, policy, method="POST", content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _check_status(result.status, "DuckDuckGo")
    return await trio.to_thread.run_sync(parse_ddg, result.text, limit, abandon_on_cancel=True)  # CPU: off the loop


def _check_status(status: int, engine: str) -> None:
    if status == 429 or status == 202:
        raise ToolError(f"{engine} is rate-limiting searches (HTTP {status}); try again later")
    if not 200 <= status < 300:
        raise ToolError(f"{engine} answered HTTP {status}")
