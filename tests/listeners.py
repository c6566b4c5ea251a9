"""Helpers for the per-process caches that a NOTIFY keeps fresh (core/notified_cache.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from core.keys import keys_as_env

ROOT = Path(__file__).resolve().parents[1]


async def cut_listener(conn, cache) -> None:
    """End the cache's LISTEN connection from the server side and wait until the cache knows it is deaf."""
    await conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = $1 AND datname = current_database()",
        cache.application_name,
    )
    for _ in range(200):
        if not cache.listening:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the cache still says it listens")


def run_in_another_process(script: str, *args: str, keys) -> None:
    """Run `script` (python -c) as another OS process of the service (its keys, the checkout on its path): a
    change it commits reaches this process's caches only through the database's notifications."""
    env = {**os.environ, **keys_as_env(keys), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
