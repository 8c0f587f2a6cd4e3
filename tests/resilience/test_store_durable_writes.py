"""Ledger intents are committed with synchronous=FULL even on a NORMAL store."""

from __future__ import annotations

import pytest
import trio

from agentd.store import Store

LEVELS = {0: "off", 1: "normal", 2: "full", 3: "extra"}


def level(conn) -> str:
    return LEVELS[conn.execute("PRAGMA synchronous").fetchone()[0]]


def test_durable_write_is_full_and_the_store_goes_back_to_normal(tmp_path):
    store = Store(tmp_path / "s.db", synchronous="normal")
    try:
        assert store.write_sync(level) == "normal"
        assert store.write_sync(level, durable=True) == "full"
        assert store.write_sync(level) == "normal"

        async def main():
            assert await store.write(level, durable=True) == "full"
            assert await store.write(level) == "normal"

        trio.run(main)
    finally:
        store.close()


def test_a_failed_durable_write_still_restores_the_level(tmp_path):
    store = Store(tmp_path / "s.db", synchronous="normal")
    try:
        def boom(conn):
            raise RuntimeError("fails inside the transaction")

        with pytest.raises(RuntimeError, match="fails inside"):
            store.write_sync(boom, durable=True)
        assert store.write_sync(level) == "normal"
    finally:
        store.close()
