"""URLs as the exfiltration guard compares them.

``url_key`` gives two spellings of the same request one key (scheme and host
in lower case, the default port dropped, an empty path as ``/``, the fragment
dropped: a fragment never leaves the machine). Nothing else is normalised: a
path or a query that differs by one character is a different URL, because a
different character is exactly how data would be smuggled out.

``harvest`` finds the absolute http(s) URLs in a text (markdown links, bare
URLs, search results' ``URL:`` lines), each cut at the first character that
cannot end a URL in running text.
"""

from __future__ import annotations

import re
import urllib.parse

_URL = re.compile(r"""https?://[^\s<>"'`()\[\]{}|\\^]+""", re.I)
_TRAILING = ".,;:!?*_~"
MAX_URLS = 5000  # per run: a page cannot make the guard hold an unbounded set


def url_key(url: str) -> str | None:
    """The comparable form of ``url``; None when it is not an absolute http(s) URL."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    default = 443 if scheme == "https" else 80
    netloc = host if port in (None, default) else f"{host}:{port}"
    path = parts.path or "/"
    return f"{scheme}://{netloc}{path}" + (f"?{parts.query}" if parts.query else "")


def origin(url: str) -> tuple[str, int] | None:
    """(host, port) of ``url``, the default port filled in; None if it has none."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower().rstrip("."), port or (443 if parts.scheme.lower() == "https" else 80)


def host_of(url: str) -> str:
    found = origin(url)
    return found[0] if found else ""


def harvest(text: str) -> list[str]:
    """The absolute http(s) URLs written in ``text``, in order, without repeats."""
    out: dict[str, None] = {}
    for match in _URL.finditer(text or ""):
        url = match.group(0).rstrip(_TRAILING)
        if url_key(url) is not None:
            out[url] = None
    return list(out)
