"""A desktop notification over the session bus (org.freedesktop.Notifications).

Sent only when a session bus is there: ``DBUS_SESSION_BUS_ADDRESS``, else the
systemd user bus at ``$XDG_RUNTIME_DIR/bus``. No bus, or no notification
server on it, is the normal case for a headless machine: ``notify`` returns
False quietly. Uses jeepney (pure Python D-Bus, with a trio transport).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import trio

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
TIMEOUT_S = 5.0


def session_bus(env: Mapping[str, str]) -> str | None:
    """The session bus address, or None when there is none."""
    address = env.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and (Path(runtime) / "bus").is_socket():
        return f"unix:path={Path(runtime) / 'bus'}"
    return None


async def notify(summary: str, body: str, *, env: Mapping[str, str] | None = None) -> bool:
    """Show one notification; True if a notification server took it.

    Raises nothing for a missing bus or server (False); an unexpected failure
    of the bus library propagates (the caller logs it)."""
    address = session_bus(os.environ if env is None else env)
    if address is None:
        return False
    from jeepney import DBusAddress, MessageType, new_method_call
    from jeepney.io.trio import open_dbus_router

    target = DBusAddress(PATH, bus_name=SERVICE, interface=SERVICE)
    call = new_method_call(target, "Notify", "susssasa{sv}i",
                           ("agentd", 0, "dialog-question", summary, body, [], {}, -1))
    with trio.move_on_after(TIMEOUT_S):
        try:
            async with open_dbus_router(bus=address) as router:
                reply = await router.send_and_get_reply(call)
        except (OSError, ValueError):  # no such socket, refused, a bad address
            return False
        return reply.header.message_type == MessageType.method_return
    return False
