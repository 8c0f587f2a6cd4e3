"""extract: fetch_page's HTML -> markdown (agentd.tools.html.html_to_markdown,
selectolax/lexbor + a tree walker) on generated pages of ~100 KB and ~1 MB.

The pages are realistic and deterministic (seeded): a head with scripts,
styles and meta tags, a nav bar, a cookie banner, a sidebar, then an article
of sections with nested divs, paragraphs full of links and inline markup,
lists, tables, code blocks, images and quotes, and a footer. Also timed once
per size: markdownify (html_to_markdown_slow), for comparison.
"""

from __future__ import annotations

import random
import sys
import time

from ._common import Stat, base_parser, emit_json, header, line

WORDS = ("agent daemon schedule run step tool model memory journal socket client server token budget summary "
         "report market price index growth quarter revenue cloud latency throughput python trio sqlite cron "
         "release version feature issue benchmark the a of to and in for with on by from that this is are was "
         "were be been has have had will would can could should may might").split()


def _sentence(r: random.Random, n: int) -> str:
    return " ".join(r.choice(WORDS) for _ in range(n)).capitalize() + "."


def _inline(r: random.Random) -> str:
    parts = []
    for _ in range(r.randint(3, 7)):
        x = r.random()
        s = _sentence(r, r.randint(6, 18))
        if x < 0.25:
            parts.append(f'<a href="/{r.choice(WORDS)}/{r.randint(1, 9999)}?ref=nav&amp;x={r.randint(1, 99)}" '
                         f'class="link link--inline" data-track="{r.randint(1, 10**6)}">{s}</a>')
        elif x < 0.35:
            parts.append(f"<strong>{s}</strong>")
        elif x < 0.45:
            parts.append(f"<em>{s}</em> <code>{r.choice(WORDS)}_{r.randint(1, 99)}()</code>")
        else:
            parts.append(s)
    return " ".join(parts)


def _section(r: random.Random, i: int) -> str:
    out = [f'<section id="s{i}" class="article__section"><div class="wrap"><div class="inner">',
           f'<h2 id="h{i}">{_sentence(r, 5)}</h2>']
    for _ in range(r.randint(2, 4)):
        out.append(f'<div class="para-wrap"><p class="para">{_inline(r)}</p></div>')
    kind = i % 5
    if kind == 0:
        rows = "".join(f"<tr><td>{r.choice(WORDS)}</td><td>{r.randint(1, 10**5):,}</td><td>{r.random():.2%}</td>"
                       f'<td><a href="https://example.com/{r.randint(1, 999)}">link</a></td></tr>' for _ in range(8))
        out.append(f'<div class="table-wrap"><table class="data"><thead><tr><th>Name</th><th>Value</th>'
                   f"<th>Change</th><th>Source</th></tr></thead><tbody>{rows}</tbody></table></div>")
    elif kind == 1:
        items = "".join(f"<li>{_sentence(r, 8)} <a href='/item/{r.randint(1, 999)}'>more</a>"
                        + (f"<ul><li>{_sentence(r, 5)}</li><li>{_sentence(r, 4)}</li></ul>" if r.random() < 0.3 else "")
                        + "</li>" for _ in range(6))
        out.append(f"<ul class='list'>{items}</ul>")
    elif kind == 2:
        code = "\n".join(f"    {r.choice(WORDS)} = {r.choice(WORDS)}({r.randint(1, 99)})  # {_sentence(r, 4)}"
                         for _ in range(8))
        out.append(f'<pre><code class="language-python">def f():\n{code}\n</code></pre>')
    elif kind == 3:
        out.append(f'<figure><img src="/img/{i}.png" alt="{_sentence(r, 4)}" width="600" height="400">'
                   f"<figcaption>{_sentence(r, 7)}</figcaption></figure>"
                   f"<blockquote><p>{_inline(r)}</p></blockquote>")
    else:
        out.append(f'<div class="callout" style="border:1px solid #ccc"><div><div><p>{_inline(r)}</p>'
                   f'<ol><li>{_sentence(r, 6)}</li><li>{_sentence(r, 6)}</li></ol></div></div></div>')
    if r.random() < 0.3:
        out.append(f'<script>window.dataLayer=window.dataLayer||[];dataLayer.push({{"s":{i},"v":"{"x" * 200}"}});'
                   f"</script>")
    if r.random() < 0.2:
        out.append('<div class="ad" aria-hidden="true"><iframe src="https://ads.example.com/x"></iframe></div>')
    out.append("</div></div></section>")
    return "".join(out)


def make_page(size: int, seed: int = 7) -> str:
    r = random.Random(seed)
    head = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Benchmark page: "
            + _sentence(r, 6) + "</title>"
            + "".join(f'<meta name="m{i}" content="{_sentence(r, 10)}">' for i in range(20))
            + "<style>" + ".c{color:red}" * 500 + "</style>"
            + "".join(f'<script src="/static/js/chunk{i}.js" defer></script>' for i in range(10))
            + "<script>" + "var x=1;function f(a){return a*2};" * 300 + "</script></head><body>")
    nav = ("<header class='site-header'><nav class='top'><ul>"
           + "".join(f"<li><a href='/section/{w}'>{w}</a></li>" for w in WORDS[:30]) + "</ul></nav></header>"
           + "<div id='cookie-banner' class='cookie-consent'><p>We use cookies.</p><button>Accept</button></div>"
           + "<aside class='sidebar'>" + "".join(f"<p><a href='/tag/{w}'>{w}</a></p>" for w in WORDS) + "</aside>")
    foot = ("<footer class='site-footer'>" + "".join(f"<a href='/f/{w}'>{w}</a> " for w in WORDS)
            + "</footer><script>console.log('done')</script></body></html>")
    body: list[str] = [f"<main><article><header><h1>{_sentence(r, 8)}</h1><p class='byline'>By bench</p></header>"]
    used = len(head) + len(nav) + len(foot) + 30
    i = 0
    while used < size:
        s = _section(r, i)
        body.append(s)
        used += len(s)
        i += 1
    body.append("</article></main>")
    return head + nav + "".join(body) + foot


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__, profile=False)  # nothing here runs in a daemon to profile
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--no-markdownify", action="store_true")
    a = p.parse_args(argv)
    if a.smoke:
        a.repeats, a.sizes = 2, "60000"
    from agentd.tools.html import html_to_markdown, html_to_markdown_slow

    header(f"extract: fetch_page HTML -> markdown ({a.repeats} repeats per size)")
    res: dict = {}
    for size in (int(s) for s in a.sizes.split(",")):
        page = make_page(size)
        html_to_markdown(page, "https://example.com/news/today")  # warm-up
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            title, md = html_to_markdown(page, "https://example.com/news/today")
            times.append((time.perf_counter() - t0) * 1000)
        s = Stat(times)
        label = f"{len(page.encode()) / 1e6:.2f} MB" if size >= 500_000 else f"{len(page.encode()) / 1e3:.0f} KB"
        res[str(size)] = {"ms": s, "bytes": len(page.encode()), "markdown_chars": len(md)}
        line(f"{label} page -> {len(md) / 1e3:.0f} KB markdown: html_to_markdown", s.fmt(" ms"),
             "<= 50 ms" if size >= 500_000 else "")
        if not a.no_markdownify:
            t0 = time.perf_counter()
            html_to_markdown_slow(page)
            slow = (time.perf_counter() - t0) * 1000
            res[str(size)]["markdownify_ms"] = slow
            line(f"{label} page: markdownify (once, for comparison)", f"{slow:.0f} ms = {slow / s.median:.0f}x")
    emit_json("extract", res)
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
