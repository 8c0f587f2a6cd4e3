"""Fixtures for the end-to-end suite: the pretend web, a webhook receiver, an SMTP sink."""

from __future__ import annotations

import pytest

from e2e_servers import SmtpSink, WebhookReceiver, WebServer


@pytest.fixture
def web():
    with WebServer() as w:
        yield w


@pytest.fixture
def receiver():
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def smtp():
    with SmtpSink() as s:
        yield s
