"""Background work each server process runs: expiring overdue payment requests, and finishing callbacks that
were stored but not processed. Safe with several processes (row locks; settlement is idempotent per bank
transaction), and harmless if none runs for a while (settlement treats overdue requests as late anyway)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from core.appkeys import KEYS, POOL, SETTINGS
from core.db import database_unavailable
from core.tasks import cancel_and_wait
from payments.callbacks import CallbackPolicy, reprocess_inbox
from payments.requests import expire_overdue_requests

log = structlog.get_logger("citypay.sweeper")
SWEEP_EVERY_S = 30


async def _sweep_forever(app: web.Application) -> None:
    policy = CallbackPolicy.from_settings(app[SETTINGS])
    while True:
        try:
            async with app[POOL].acquire() as conn:
                expired = await expire_overdue_requests(conn)
            if expired:
                log.info("expired_payment_requests", count=expired)
            finished = await reprocess_inbox(app[POOL], app[KEYS], policy=policy)
            if finished:
                log.info("reprocessed_callbacks", count=finished)
        except Exception as exc:  # the next sweep tries again; a sweep must never take the server down
            if not database_unavailable(exc):  # an outage is logged once by the pool, not every sweep
                log.exception("sweep_failed")
        await asyncio.sleep(SWEEP_EVERY_S)


async def expiry_sweeper(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_sweep_forever(app), name="sweeper")
    yield
    await cancel_and_wait([task])
