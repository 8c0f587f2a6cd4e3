"""The desktop notification of a waiting call, through a real session bus: a
private ``dbus-daemon --session`` and a notification server on it (the
org.freedesktop.Notifications name, served with jeepney), the real daemon
pointed at the bus by DBUS_SESSION_BUS_ADDRESS. Without a bus the daemon
skips the desktop quietly (also tested)."""

from __future__ import annotations

import shutil
import subprocess
import threading

import pytest
import trio

from agentd.approvals import desktop
from agentd.testing.fakellm import finish_call, tool_call
from e2e_servers import WebhookReceiver

pytestmark = pytest.mark.timeout(60)

WAIT = 20.0


class NotificationServer:
    """Owns org.freedesktop.Notifications on ``address`` and records each Notify call's arguments."""

    def __init__(self, address: str) -> None:
        from jeepney import HeaderFields, MessageType, new_method_return
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection

        self.calls: list[tuple] = []
        self.got = threading.Event()
        self.conn = open_dbus_connection(bus=address)
        reply = self.conn.send_and_get_reply(message_bus.RequestName(desktop.SERVICE, 4))  # DO_NOT_QUEUE
        assert reply.body == (1,), reply.body  # primary owner: served from now on
        self._types = (HeaderFields, MessageType, new_method_return)
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        HeaderFields, MessageType, new_method_return = self._types
        while not self._stop:
            try:
                msg = self.conn.receive(timeout=0.5)
            except TimeoutError:
                continue
            except (OSError, ValueError):
                return
            h = msg.header
            if h.message_type == MessageType.method_call and h.fields.get(HeaderFields.member) == "Notify":
                self.calls.append(msg.body)
                self.conn.send(new_method_return(msg, "u", (len(self.calls),)))
                self.got.set()

    def close(self) -> None:
        self._stop = True
        self.thread.join(5)
        self.conn.close()


@pytest.fixture
def session_bus(tmp_path):
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed (make test installs it in CI: SYSTEM_TOOLS)")
    address = f"unix:path={tmp_path / 'bus'}"
    proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address={address}",
                             "--print-address=1"], stdout=subprocess.PIPE, text=True)
    try:
        printed = proc.stdout.readline().strip()  # printed once it listens
        assert printed.startswith("unix:path="), printed
        yield printed
    finally:
        proc.terminate()
        proc.wait(10)


def test_waiting_call_shows_a_desktop_notification(make_daemon, fake_llm, session_bus):
    server = NotificationServer(session_bus)
    try:
        with WebhookReceiver() as hook:
            d = make_daemon(config='[tools]\nprivate_hosts_allowed = ["127.0.0.1"]\n',
                            env={"DBUS_SESSION_BUS_ADDRESS": session_bus})
            fake_llm.add(tool_call("send_webhook", {"url": hook.url, "payload": {"a": 1}}), finish_call("done"))
            r = d.ctl("--json", "goal", "create", "post it", "--name", "poster", "--webhook", hook.url,
                      "--ask", "send_webhook")
            assert r.returncode == 0, r.stderr
            import json

            goal = json.loads(r.stdout)
            run = d.call("goal.run", {"id": goal["id"]})
            assert server.got.wait(WAIT), "no Notify call reached the notification server"
            app_name, _, _, summary, body, _, _, _ = server.calls[0]
            assert app_name == "agentd" and summary == "agentd: poster waits for approval"
            assert "send_webhook" in body and f"agentctl run approve {run['id']}" in body
            d.call("run.deny", {"id": run["id"]})
            assert d.wait_run(run["id"])["status"] == "completed"
    finally:
        server.close()


def test_no_session_bus_is_skipped_quietly(tmp_path):
    async def main():
        assert desktop.session_bus({"XDG_RUNTIME_DIR": str(tmp_path)}) is None
        assert await desktop.notify("s", "b", env={"XDG_RUNTIME_DIR": str(tmp_path)}) is False
        gone = f"unix:path={tmp_path / 'no-bus-here'}"
        assert await desktop.notify("s", "b", env={"DBUS_SESSION_BUS_ADDRESS": gone}) is False

    trio.run(main)


def test_a_bus_without_a_notification_server_is_skipped_quietly(session_bus):
    async def main():
        assert await desktop.notify("s", "b", env={"DBUS_SESSION_BUS_ADDRESS": session_bus}) is False

    trio.run(main)
