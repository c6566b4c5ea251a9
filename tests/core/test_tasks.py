"""Bounded stopping of background tasks."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from core.tasks import cancel_and_wait


async def test_cancel_and_wait_ends_tasks_and_returns_the_stuck_one():
    release = asyncio.Event()

    async def polite() -> None:
        await asyncio.sleep(60)

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue  # a swallowed cancellation, as Python 3.11's wait_for can cause

    async def failing() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    tasks = [asyncio.create_task(f(), name=f.__name__) for f in (polite, stubborn, failing)]
    await asyncio.sleep(0.05)
    with capture_logs() as logs:
        stuck = await cancel_and_wait(tasks, grace_s=0.3)
    assert {t.get_name() for t in stuck} == {"stubborn"}
    assert tasks[0].cancelled()
    assert {(e["event"], e["task"]) for e in logs} == {
        ("task_did_not_stop", "stubborn"),
        ("task_failed", "failing"),
    }
    release.set()
    await tasks[1]


async def test_cancel_and_wait_with_nothing_to_stop():
    assert await cancel_and_wait([]) == set()
