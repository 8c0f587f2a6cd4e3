"""Record docs/demo/ai-news-monitor.cast: the AI news monitor end to end in a real terminal.

    make demo                                        # or: .venv/bin/python docs/demo/record.py [--out FILE]

What runs is real: the `agentd` daemon on private XDG directories, `agentctl` typed into a bash
shell in a pseudo-terminal that asciinema records. What stands in for the outside world runs on
127.0.0.1: the scripted model (agentd.testing.fakellm), a news site with a feed and a search
endpoint, and a webhook receiver that verifies and keeps what it receives. Re-run it when the output
changes; the cast is written only when the session ended well.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from agentd.testing.env import daemon_env, write_config
from agentd.testing.fakellm import FakeLLM, tool_call, tool_calls
from agentd.testing.loopback import LoopbackServer, serve_in_thread, stop
from agentd.testing.ready import spawn_ready

HERE = Path(__file__).resolve().parent
CAST = HERE / "ai-news-monitor.cast"

ARTICLES = {
    "/news/open-model": ("Open model tops reasoning benchmarks",
                         "A 30B open-weights model beat larger closed models on three reasoning suites.", "research"),
    "/news/eu-ai-act": ("EU AI Act duties start for general-purpose models",
                        "Providers of general-purpose models must now publish training summaries.", "policy"),
    "/news/assistant-agents": ("Assistant app adds background agents",
                               "The app can now run scheduled tasks while you are away.", "product"),
}
FEED_ITEMS = [("Chip maker unveils AI accelerator", "product"), ("Diffusion models forecast weather", "research")]


class _Site(BaseHTTPRequestHandler):
    """The pretend internet: articles, an RSS feed, SearXNG-style JSON search, a webhook receiver."""

    received: list[dict] = []
    base = ""

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: str, ctype: str = "text/html; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if path in ARTICLES:
            title, text, _ = ARTICLES[path]
            return self._send(200, f"<html><head><title>{title}</title></head><body><nav>Home</nav>"
                                   f"<article><h1>{title}</h1><p>{text}</p></article></body></html>")
        if path == "/feed.xml":
            items = "".join(f"<item><title>{t}</title><link>{self.base}/feed/{i}</link>"
                            f"<description>{t}.</description></item>" for i, (t, _) in enumerate(FEED_ITEMS))
            return self._send(200, f'<?xml version="1.0"?><rss version="2.0"><channel><title>AI Weekly</title>'
                                   f"{items}</channel></rss>", "application/rss+xml")
        if path == "/search":
            results = [{"title": t, "url": self.base + p, "content": text} for p, (t, text, _) in ARTICLES.items()]
            return self._send(200, json.dumps({"results": results}), "application/json")
        self._send(404, "not found")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if urllib.parse.urlsplit(self.path).path != "/hook":
            return self._send(404, "not found")
        _Site.received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": json.loads(body)})
        self._send(200, "ok", "text/plain")


def _script(site: str, week: str) -> list:
    by = {"research": [], "product": [], "policy": []}
    for p, (t, _, cat) in ARTICLES.items():
        by[cat].append(f"- {t} ({site}{p})")
    for t, cat in FEED_ITEMS:
        by[cat].append(f"- {t} (AI Weekly feed)")
    summary = f"# AI news, week {week}\n" + "".join(
        f"\n## {cat.capitalize()}\n" + "\n".join(lines) + "\n" for cat, lines in by.items())
    return [
        tool_call("web_search", {"query": "AI news this week", "limit": 5}, tokens_in=812, tokens_out=31),
        tool_calls(("fetch_page", {"url": site + "/news/open-model"}), ("fetch_page", {"url": site + "/news/eu-ai-act"}),
                   tokens_in=1090, tokens_out=64),
        tool_call("read_feed", {"url": site + "/feed.xml", "limit": 10}, tokens_in=1544, tokens_out=29),
        tool_call("write_file", {"path": f"summaries/{week}.md", "content": summary}, tokens_in=1788, tokens_out=190),
        tool_call("finish", {"summary": f"Collected 5 AI news items (3 articles, 2 feed items), summarised them by "
                                        f"category in summaries/{week}.md."}, tokens_in=2010, tokens_out=38),
    ]


SESSION = r"""
PS1='$ '
type_run() {  # show the command as if typed, then run it
  local s="$1" i
  printf '$ '
  for ((i = 0; i < ${#s}; i++)); do printf '%s' "${s:i:1}"; sleep 0.02; done
  printf '\n'; sleep 0.4
  eval "$s"
  sleep 1.2
}
clear
type_run 'agentctl server status'
type_run 'agentctl goal create "Every Friday collect the week'"'"'s AI news (search, and the feed $FEED), summarise it by category (research, product, policy) and save it as summaries/<week>.md" --name ai-news --schedule "0 16 * * 5" --timezone Europe/Berlin --webhook "$HOOK" --tools web_search,fetch_page,read_feed,write_file'
type_run 'agentctl goal next ai-news -n 2'
type_run 'agentctl goal run ai-news --watch'
RID=$(agentctl --json run list --goal ai-news | python3 -c 'import json,sys; r = json.load(sys.stdin); print((r["runs"] if isinstance(r, dict) else r)[0]["id"][:8])')
type_run "agentctl run show $RID"
type_run 'cat "$ARTIFACTS"/*/summaries/*.md'
type_run 'cat "$RECEIVED" | python3 -m json.tool | head -20'
"""


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Record the AI news monitor demo as an asciinema cast.")
    ap.add_argument("--out", type=Path, default=CAST, help=f"where to write the cast (default {CAST})")
    cast = ap.parse_args(argv).out
    asciinema = shutil.which("asciinema", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if asciinema is None:
        print("record.py: asciinema is not installed; `make demo` installs it into the venv", file=sys.stderr)
        return 2
    week = "{}-W{:02d}".format(*dt.date.today().isocalendar()[:2])
    with tempfile.TemporaryDirectory(prefix="agentd-demo-") as tmp, FakeLLM(latency=1.5) as llm:
        base = Path(tmp)
        site_server = LoopbackServer(("127.0.0.1", 0), _Site)
        serve_in_thread(site_server)
        site = f"http://127.0.0.1:{site_server.server_address[1]}"
        _Site.base = site
        llm.add(*_script(site, week))
        env = daemon_env(base, llm.base_url)
        env.pop("NO_COLOR", None)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        write_config(env, '[tools]\nprivate_hosts_allowed = ["127.0.0.1"]\nsearch_backend = "searxng"\n'
                          f'searxng_url = "{site}"\n')
        daemon, _ = spawn_ready([str(Path(sys.executable).parent / "agentd")], env=env,
                                cwd=base, log_path=base / "agentd.log", timeout=30)
        try:
            received = base / "webhook.json"
            env.update(HOOK=f"{site}/hook", FEED=f"{site}/feed.xml", RECEIVED=str(received), TERM="xterm-256color",
                       ARTIFACTS=str(Path(env["XDG_DATA_HOME"]) / "agentd" / "artifacts"))
            watcher = threading.Event()

            def dump_hook() -> None:  # the receiver's last delivery, for the session to show
                while not watcher.wait(0.2):
                    if _Site.received:
                        received.write_text(json.dumps(_Site.received[-1]["body"]))

            t = threading.Thread(target=dump_hook, daemon=True)
            t.start()
            session = base / "session.sh"
            session.write_text(SESSION)
            out = base / "demo.cast"
            subprocess.run([asciinema, "rec", "--overwrite", "-q", "--cols", "110", "--rows", "32",
                            "-t", "agentd: the AI news monitor", "-c", f"bash --norc --noprofile {session}",
                            str(out)], env=env, check=True, timeout=300)
            watcher.set()
            llm.assert_complete()
            if not _Site.received:
                print("record.py: the webhook never arrived; the cast is not kept", file=sys.stderr)
                return 1
            shutil.copyfile(out, cast)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
            stop(site_server)
    print(f"wrote {cast}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
