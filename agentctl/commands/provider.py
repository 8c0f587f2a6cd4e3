"""``agentctl provider check``: can the configured model call tools?"""

from __future__ import annotations

from ..context import Context, Failure
from ..render import key_values

# A real check calls the model (and may retry): give it longer than a call.
CHECK_TIMEOUT_S = 300.0


def render_provider(ctx: Context, st: dict) -> str:
    out = ctx.out
    return key_values(out, [
        ("Provider", st.get("provider")),
        ("Model", st.get("model")),
        ("Base URL", st.get("base_url")),
        ("State", out.status(st.get("state", "ok" if st.get("ok") else "unknown"))),
        ("Checked", out.time(st.get("checked_at")) if st.get("checked_at") else None),
        ("Message", st.get("message") or None),
    ])


def cmd_check(ctx: Context) -> int | None:
    st = ctx.call("provider.check", {}, timeout=max(ctx.timeout, CHECK_TIMEOUT_S))
    if ctx.json:
        ctx.emit_json(st)
    else:
        ctx.print(render_provider(ctx, st))
    if not st.get("ok"):
        if not ctx.json:
            raise Failure(f"the {st.get('provider')} model {st.get('model')!r} cannot be used: "
                          f"{st.get('message') or st.get('state')}")
        return 1
    return None
