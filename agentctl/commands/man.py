"""``agentctl man [PAGE]``: show a man page from the copies in the installed
package (``agentd/data/man``, which ``python -m scripts.docgen`` keeps equal to
``man/``).

A wheel also installs the pages under PREFIX/share/man, where ``man`` finds
them when PREFIX/bin is on $PATH; this command works without that (an
editable install, pipx without its man directory on the path, a MANPATH set
by hand)."""

from __future__ import annotations

import os
import shutil
import sys

from ..context import Context, Failure

PAGES = {"agentctl": "agentctl.1", "agentd": "agentd.8", "agentd.toml": "agentd.toml.5"}


def page_path(page: str) -> str:
    """The file of ``page`` (a key of PAGES) in the installed package."""
    from importlib.resources import files

    return str(files("agentd") / "data" / "man" / PAGES[page])


def cmd_man(ctx: Context) -> int | None:
    path = page_path(ctx.args.page)
    if not os.path.isfile(path):
        raise Failure(f"this installation has no {PAGES[ctx.args.page]} (looked for {path})")
    if ctx.json:
        return ctx.emit_json({"page": ctx.args.page, "path": path})
    if ctx.args.path:
        return ctx.print(path)
    man = shutil.which("man")
    if man is None:
        raise Failure(f"man is not installed (Debian/Ubuntu: apt install man-db); the page is {path}")
    import subprocess

    sys.stdout.flush()
    # A child, not exec: in the REPL the prompt comes back when the pager ends.
    return subprocess.run([man, "-l", path]).returncode or None
