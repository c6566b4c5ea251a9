"""Helpers for the per-process caches that a NOTIFY keeps fresh (core/notified_cache.py)."""

from __future__ import annotations

import asyncio


async def cut_listener(conn, cache) -> None:
    """End the cache's LISTEN connection from the server side and wait until the cache knows it is deaf."""
    await conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        cache.application_name,
    )
    for _ in range(200):
        if not cache.listening:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the cache still says it listens")
