"""The tools the frameworks get: the same names, descriptions and JSON Schemas
as agentd's built-ins (the harness passes agentd's own specs in), implemented
here with the standard library only, because this module runs inside the
frameworks' venv, which does not have agentd. One exception, so that the
comparison is of the agent loops and not of the tools: the line of exact
counts agentd's data tools add (``agentd/tools/facts.py``, standard library
only) is loaded from its file and added here in the same places — after a
fetched page (its tables, JSON or column of numbers), after a file, after a
feed's entries.

They reach the same fixture servers as agentd's tools, work in the same kind
of sandbox directory (a goal's files; no absolute paths, no ``..``), and
answer in the same shapes (numbered search results, feed entries, the page
as text). A tool's failure is returned as an ``Error: ...`` string, which is
how every framework hands a tool failure back to its model. Each call is
recorded in ``Toolkit.calls``.
"""

from __future__ import annotations

import html.parser
import importlib.util
import json
import sys
import smtplib
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Callable

def _load_facts() -> Any:
    path = Path(__file__).resolve().parents[2] / "agentd" / "tools" / "facts.py"
    spec = importlib.util.spec_from_file_location("agentd_facts", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


facts = _load_facts()

SKIP_TAGS = {"script", "style", "nav", "footer", "iframe", "noscript", "head", "svg", "form"}
HEADINGS = {"h1": "# ", "h2": "## ", "h3": "### ", "h4": "#### "}
BLOCKS = {"p", "div", "li", "tr", "br", "article", "section", "main", "ul", "ol", "table", "h5", "h6", "pre"}


class _Text(html.parser.HTMLParser):
    """Page text: scripts, styles, navigation and footers left out; headings
    as markdown; list items as bullets."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.tables: list[list[list[str]]] = []  # each table's rows of cells, for the facts line
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in SKIP_TAGS:
            self.skip += 1
        elif not self.skip:
            if tag in HEADINGS:
                self.out.append("\n\n" + HEADINGS[tag])
            elif tag == "li":
                self.out.append("\n- ")
            elif tag == "table":
                self.tables.append([])
            elif tag == "tr" and self.tables:
                self.tables[-1].append([])
                self.out.append("\n|")
            elif tag in ("td", "th"):
                self.cell = []
                self.out.append(" ")
            elif tag in BLOCKS:
                self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif not self.skip and tag in ("td", "th") and self.cell is not None:
            if self.tables and self.tables[-1]:
                self.tables[-1][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
            self.out.append(" |")
        if not self.skip and (tag in HEADINGS or tag in BLOCKS):
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(" ".join(data.split()) if data.strip() else "")
            if self.cell is not None:
                self.cell.append(data)


def html_to_text(page: str) -> str:
    return _html(page)[0]


def _html(page: str) -> tuple[str, str | None]:
    """The page's text, and the facts line of its tables (as agentd's fetch_page
    gives them: each table as markdown, counted by agentd.tools.facts)."""
    p = _Text()
    p.feed(page)
    lines = [" ".join(ln.split()) for ln in "".join(p.out).splitlines()]
    text = "\n".join(ln for ln in lines if ln)
    md = "\n\n".join("\n".join(["| " + " | ".join(t[0]) + " |", "| " + " | ".join("---" for _ in t[0]) + " |"]
                                 + ["| " + " | ".join(r) + " |" for r in t[1:]]) for t in p.tables if t and t[0])
    return text.replace("\n#", "\n\n#").strip(), facts.data_facts(md) if md else None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _child_text(el: ET.Element, *names: str) -> str:
    for name in names:
        for sub in el:
            if _local(sub.tag) == name:
                return " ".join("".join(sub.itertext()).split())
    return ""


def _entry_link(el: ET.Element) -> str:
    for sub in el:
        if _local(sub.tag) == "link":
            return (sub.get("href") or sub.text or "").strip()
    return ""


class ToolError(Exception):
    pass


class Toolkit:
    """The tool implementations for one goal run: ``sandbox`` is the goal's
    directory, ``search_url`` the fixture search engine, ``smtp`` (host,
    port, sender) the loopback mail server."""

    def __init__(self, sandbox: Path, search_url: str, smtp: tuple[str, int, str], timeout: float = 30.0) -> None:
        self.sandbox = Path(sandbox)
        self.search_url = search_url
        self.smtp = smtp
        self.timeout = timeout
        self.calls: list[dict[str, Any]] = []
        self.impl: dict[str, Callable[..., str]] = {
            "web_search": self.web_search, "fetch_page": self.fetch_page, "read_feed": self.read_feed,
            "read_file": self.read_file, "write_file": self.write_file, "send_webhook": self.send_webhook,
            "send_email": self.send_email,
        }

    def call(self, name: str, args: dict[str, Any]) -> str:
        """Run tool ``name``; a failure comes back as 'Error: ...' (recorded too)."""
        record: dict[str, Any] = {"tool": name, "args": args}
        self.calls.append(record)
        try:
            if name not in self.impl:
                raise ToolError(f"there is no tool named {name!r}")
            out = self.impl[name](**args)
        except TypeError as exc:
            out = f"Error: invalid arguments for {name}: {exc}"
        except (ToolError, OSError, ValueError, smtplib.SMTPException, ET.ParseError) as exc:
            out = f"Error: {exc}"
        record["ok"] = not out.startswith("Error:")
        return out

    # ---------------------------------------------------------------- web

    def _get(self, url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> str:
        if not url.startswith(("http://", "https://")):
            raise ToolError(f"{url!r} is not an absolute http(s) URL")
        req = urllib.request.Request(url, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.read(2_000_000).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            raise ToolError(f"{url} answered HTTP {exc.code}") from None

    def web_search(self, query: str, limit: int = 5) -> str:
        body = urllib.parse.urlencode({"q": query}).encode()
        page = self._get(self.search_url, body, {"Content-Type": "application/x-www-form-urlencoded"})
        results = _parse_results(page)[:limit]
        if not results:
            return f"No results for {query!r}."
        return "\n".join(f"{i}. {t}\n   URL: {u}\n   {s}".rstrip() for i, (t, u, s) in enumerate(results, 1))

    def fetch_page(self, url: str) -> str:
        text = self._get(url)
        if text.lstrip().startswith("<"):
            text, found = _html(text)
        else:
            found = facts.data_facts(text)
        return facts.with_facts(text, found, 12000)

    def read_feed(self, url: str, limit: int = 10) -> str:
        root = ET.fromstring(self._get(url).encode())
        if _local(root.tag) == "feed":
            title, items = _child_text(root, "title"), [e for e in root if _local(e.tag) == "entry"]
        else:
            channel = next((e for e in root if _local(e.tag) == "channel"), root)
            title, items = _child_text(channel, "title"), [e for e in channel if _local(e.tag) == "item"]
        lines = [f"Feed: {title or '(untitled)'} — {len(items)} entries"]
        for i, it in enumerate(items[:limit], 1):
            summary = html_to_text(_child_text(it, "summary", "description", "content"))
            lines.append(f"{i}. {_child_text(it, 'title') or '(untitled)'}\n   Link: {_entry_link(it)}\n"
                         f"   Published: {_child_text(it, 'published', 'pubdate', 'updated') or 'unknown'}\n"
                         f"   {summary}".rstrip())
        shown = "all shown" if len(items) <= limit else f"the first {limit} shown (ask for more with `limit`)"
        lines.append(f"\n{facts.HEAD} the feed has {len(items)} entries, {shown}.")
        return "\n".join(lines)

    # ---------------------------------------------------------------- files

    def _path(self, rel: str) -> Path:
        if not rel or rel.startswith(("/", "~")) or "\\" in rel or ".." in rel.split("/"):
            raise ToolError(f"{rel!r}: give a path relative to the goal's directory, without '..'")
        return self.sandbox / rel

    def read_file(self, path: str, offset: int = 0, max_chars: int | None = None) -> str:
        p = self._path(path)
        if not p.is_file():
            raise ToolError(f"{path}: no such file")
        whole = p.read_text(errors="replace")
        text = whole[offset:]
        part = text[:max_chars] if max_chars else text[:12000]
        return facts.with_facts(part, facts.data_facts(whole) if offset == 0 else None, 12000)

    def write_file(self, path: str, content: str, append: bool = False) -> str:
        p = self._path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "a" if append else "w") as f:
            f.write(content)
        return f"Wrote {len(content.encode())} bytes to {path}."

    # ---------------------------------------------------------------- deliveries

    def send_webhook(self, url: str, payload: dict[str, Any]) -> str:
        if not isinstance(payload, dict):
            raise ToolError("payload must be a JSON object")
        self._get(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        return "Webhook delivered (HTTP 200)."

    def send_email(self, to: list[str], subject: str, body: str) -> str:
        if isinstance(to, str):
            to = [to]
        host, port, sender = self.smtp
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = sender, ", ".join(to), " ".join(subject.split())
        msg.set_content(body)
        with smtplib.SMTP(host, port, timeout=self.timeout) as s:
            s.send_message(msg, to_addrs=to)
        return f"Email sent to {', '.join(to)}."


class _Results(html.parser.HTMLParser):
    """DuckDuckGo-style result blocks: ``a.result__a`` and ``.result__snippet``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.results: list[list[str]] = []
        self.field: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "a" and "result__a" in cls:
            href = a.get("href") or ""
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query).get("uddg")
            self.results.append(["", q[0] if q else href, ""])
            self.field = "title"
        elif "result__snippet" in cls and self.results:
            self.field = "snippet"

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self.field = None

    def handle_data(self, data: str) -> None:
        if self.field and self.results:
            i = 0 if self.field == "title" else 2
            self.results[-1][i] = " ".join((self.results[-1][i] + " " + data).split())


def _parse_results(page: str) -> list[tuple[str, str, str]]:
    p = _Results()
    p.feed(page)
    return [(t, u, s) for t, u, s in p.results if u.startswith(("http://", "https://"))]
