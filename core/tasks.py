"""Stopping background tasks with a bound. Python 3.11's asyncio.wait_for can swallow a cancellation (the task
then runs on), so shutdown never awaits a cancelled task without a time limit: a stuck task is logged and
left, and the process still exits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import structlog

log = structlog.get_logger("citypay.tasks")


async def cancel_and_wait(tasks: Iterable[asyncio.Task], *, grace_s: float = 5.0) -> set[asyncio.Task]:
    """Cancel the tasks and wait up to `grace_s` for them to end; returns (and logs) those that did not."""
    tasks = set(tasks)
    for task in tasks:
        task.cancel()
    if not tasks:
        return set()
    ended, stuck = await asyncio.wait(tasks, timeout=grace_s)
    for task in ended:
        report_failure(task)
    for task in stuck:
        log.error("task_did_not_stop", task=task.get_name())
    return stuck


def report_failure(task: asyncio.Task) -> None:
    """Log how an ended task failed, if it did (and mark its exception retrieved)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("task_failed", task=task.get_name(), exc_info=exc)
