"""Interactive forms (only on a terminal): ``goal create`` without an
objective, and ``agentctl init``.

The schedule is checked as it is typed with the daemon's own cron parser
(``agentd.scheduling``, imported here lazily — never on the non-interactive
path): the toolbar under the prompt shows what it means in plain English and
its next three fire times; a typo shows the parser's message and Enter is
refused until it is fixed. Ctrl-C (or Ctrl-D) abandons the form.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.application import Application
from prompt_toolkit.completion import WordCompleter
from prompt_toolkit.formatted_text import HTML
from prompt_toolkit.key_binding import KeyBindings
from prompt_toolkit.layout import HSplit, Layout, Window
from prompt_toolkit.layout.controls import FormattedTextControl
from prompt_toolkit.validation import ValidationError, Validator


class Abandoned(Exception):
    """The user left the form (Ctrl-C / Ctrl-D)."""


def _ask(message: str, session: PromptSession | None = None, **kw: Any) -> str:
    """One question. A new session each time: prompt() options stick to a session."""
    session = session or PromptSession()
    try:
        return session.prompt(HTML(f"<b>{message}</b> "), **kw)
    except (KeyboardInterrupt, EOFError):
        raise Abandoned() from None


def _validator(check) -> Validator:
    """A Validator from ``check(text) -> error message | None``."""

    class V(Validator):
        def validate(self, document) -> None:
            error = check(document.text)
            if error:
                raise ValidationError(message=error, cursor_position=len(document.text))

    return V()


# ---------------------------------------------------------------- schedule


def schedule_error(expr: str, tz: str) -> str | None:
    expr = expr.strip()
    if not expr:
        return None
    from agentd.protocol.errors import AgentdError
    from agentd.shared.cron import validate

    try:
        validate(expr, tz)
    except AgentdError as exc:
        return exc.message
    return None


def schedule_preview(expr: str, tz: str, count: int = 3) -> str:
    """"at 09:00 on weekdays (Mon-Fri) — next: Mon 3 Jun 09:00, …" or ""."""
    expr = expr.strip()
    if not expr:
        return "no schedule: the goal runs only when started (`goal run`)"
    from agentd.protocol.errors import AgentdError
    from agentd.shared.cron import next_fires, zone
    from agentd.shared.describe import describe

    try:
        text = describe(expr)
        fires = next_fires(expr, tz, int(time.time() * 1000), count)
    except AgentdError:
        return ""
    from datetime import datetime

    z = zone(tz)
    when = ", ".join(datetime.fromtimestamp(ms / 1000, z).strftime("%a %d %b %H:%M") for ms in fires)
    return f"{text} — next: {when} ({tz})"


def timezone_error(tz: str) -> str | None:
    tz = tz.strip()
    if not tz:
        return None
    from agentd.protocol.errors import AgentdError
    from agentd.shared.cron import zone

    try:
        zone(tz)
    except AgentdError as exc:
        return exc.message
    return None


def _url_error(url: str) -> str | None:
    url = url.strip()
    if url and not url.startswith(("http://", "https://")):
        return "a webhook URL starts with http:// or https://"
    return None


def _emails_error(text: str) -> str | None:
    for addr in _split(text):
        if "@" not in addr or addr.startswith("@") or addr.endswith("@") or " " in addr:
            return f"not an email address: {addr!r}"
    return None


def _budget_error(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        return "a whole number of steps between 1 and 1000"
    return None


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]


# ---------------------------------------------------------------- multi-select


def multi_select(title: str, items: list[tuple[str, str]], selected: set[str]) -> list[str]:
    """An inline checkbox list: ↑/↓ move, Space toggles, a toggles all, Enter accepts."""
    cursor = [0]
    chosen = set(selected)
    kb = KeyBindings()

    @kb.add("up")
    @kb.add("k")
    def _up(event) -> None:
        cursor[0] = (cursor[0] - 1) % len(items)

    @kb.add("down")
    @kb.add("j")
    def _down(event) -> None:
        cursor[0] = (cursor[0] + 1) % len(items)

    @kb.add(" ")
    def _toggle(event) -> None:
        name = items[cursor[0]][0]
        chosen.symmetric_difference_update({name})

    @kb.add("a")
    def _all(event) -> None:
        if len(chosen) == len(items):
            chosen.clear()
        else:
            chosen.update(n for n, _ in items)

    @kb.add("enter")
    def _done(event) -> None:
        event.app.exit(result=[n for n, _ in items if n in chosen])

    @kb.add("c-c")
    @kb.add("c-d")
    def _abort(event) -> None:
        event.app.exit(exception=Abandoned())

    def render() -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = [("bold", title + "\n"),
                                      ("italic", "  ↑/↓ move · Space toggles · a all/none · Enter accepts\n")]
        for i, (name, desc) in enumerate(items):
            mark = "[x]" if name in chosen else "[ ]"
            style = "reverse" if i == cursor[0] else ""
            out.append((style, f" {mark} {name}"))
            out.append(("", f"  {desc}\n" if desc else "\n"))
        return out

    app: Application = Application(layout=Layout(HSplit([Window(FormattedTextControl(render, focusable=True),
                                                                 dont_extend_height=True)])),
                                   key_bindings=kb, full_screen=False, erase_when_done=True)
    result = app.run()
    print(f"{title} {', '.join(result) if result else '(none)'}")
    return result


# ---------------------------------------------------------------- goal create


def goal_form(ctx: Any, local_tz: str) -> dict:
    """Ask for a goal's settings; returns goal.create params."""
    session: PromptSession = PromptSession()
    objective = _ask("Objective:", validator=_validator(
        lambda t: None if t.strip() else "say what the agent should achieve"))
    tz_holder = [local_tz]
    schedule = _ask(
        "Schedule (cron, empty for none):", session,
        validator=_validator(lambda t: schedule_error(t, tz_holder[0])),
        validate_while_typing=True,
        bottom_toolbar=lambda: " " + (schedule_preview(session.default_buffer.text, tz_holder[0])
                                      or "…") + " ",
        placeholder=HTML("<style fg='ansibrightblack'>e.g. 0 9 * * 1-5</style>"))
    params: dict[str, Any] = {"objective": objective.strip()}
    if schedule.strip():
        tz = _ask(f"Timezone [{local_tz}]:", validator=_validator(timezone_error)).strip() or local_tz
        tz_holder[0] = tz
        preview = schedule_preview(schedule, tz)
        if preview:
            print(f"  {preview}")
        params["schedules"] = [{"cron": schedule.strip(), "timezone": tz}]
    webhook = _ask("Webhook URL (empty for none):", validator=_validator(_url_error)).strip()
    if webhook:
        params["webhook_url"] = webhook
    emails = _ask("Email the summary to (comma-separated, empty for none):",
                  validator=_validator(_emails_error))
    budget = _ask("Step budget [20]:", validator=_validator(_budget_error)).strip()
    run_params: dict[str, Any] = {}
    if _split(emails):
        run_params["email_to"] = _split(emails)
    if budget:
        run_params["step_budget"] = int(budget)
    tools = ctx.call("tool.list").get("tools", [])
    items = [(t["name"], (t.get("description") or "").split(".")[0][:60]) for t in tools]
    defaults = {t["name"] for t in tools if t.get("default", True)}
    if items:
        picked = multi_select("Tools:", items, defaults)
        if set(picked) != defaults:
            run_params["allowed_tools"] = picked
    if run_params:
        params["params"] = run_params
    return params


# ---------------------------------------------------------------- init

MODELS = {"openai": "gpt-4o-mini", "openrouter": "openai/gpt-4o-mini", "ollama": "llama3.1"}


def init_form() -> dict:
    """Ask for provider, model, key (and Ollama's URL); returns the answers."""
    from agentd.shared.config import API_KEY_VARS

    providers = list(MODELS)
    provider = _ask("Provider (openai, openrouter, ollama) [openai]:",
                    completer=WordCompleter(providers),
                    validator=_validator(lambda t: None if t.strip() in ("", *providers)
                                         else "one of openai, openrouter, ollama"),
                    validate_while_typing=False).strip() or "openai"
    model = _ask(f"Model [{MODELS[provider]}]:").strip() or MODELS[provider]
    answers: dict[str, Any] = {"provider": provider, "model": model, "api_key": None, "base_url": None}
    if provider == "ollama":
        answers["base_url"] = _ask("Ollama URL [http://127.0.0.1:11434]:").strip() or None
    else:
        env = API_KEY_VARS[provider]
        hint = f" (empty: use ${env})" if os.environ.get(env) else " (empty: set it later)"
        answers["api_key"] = _ask(f"API key{hint}:", is_password=True).strip() or None
    return answers


def confirm(question: str, default: bool = False) -> bool:
    suffix = "[Y/n]" if default else "[y/N]"
    answer = _ask(f"{question} {suffix}").strip().lower()
    if not answer:
        return default
    return answer in ("y", "yes")
