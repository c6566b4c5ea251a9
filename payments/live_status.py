"""Live status of payment requests for open pay pages: one LISTEN connection per server process fans
PostgreSQL notifications out to the pages watching each reference.

Correctness never rests on this process's memory: every snapshot is read from the database, the listener
reconnects when its connection drops (and then re-reads everything watched, in case a notification was
missed), and a slow re-check reads all watched references anyway, so a lost notification delays a page by
at most one re-check. Several processes each run their own listener.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from core.appkeys import DATABASE_URL, POOL
from core.db import database_unavailable, note_unavailable
from core.tasks import cancel_and_wait
from payments.requests import STATUS_CHANNEL
from payments.vocabulary import TERMINAL_STATUSES

log = structlog.get_logger("citypay.live_status")
RECHECK_EVERY_S = 15.0  # the fallback re-check, and the listener connection's health check
RECONNECT_FIRST_S, RECONNECT_MAX_S = 0.2, 10.0
LISTENER_APPLICATION_NAME = "citypay-status-listener"
TERMINAL = TERMINAL_STATUSES

_SNAPSHOT_SQL = """
SELECT pr.reference, pr.id, pr.status, pr.amount_due, pr.amount_received, pr.expires_at, r.id AS receipt_id
  FROM payment_requests pr LEFT JOIN receipts r ON r.payment_request_id = pr.id
 WHERE pr.reference = ANY($1::text[])"""


@dataclass(frozen=True)
class StatusSnapshot:
    """What a pay page shows about its request, read from the database at one moment."""

    reference: str
    status: str
    amount_due: int
    amount_received: int
    expires_at: datetime
    receipt_id: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StatusSnapshot:
        """From a payment_requests row joined with its receipt id (as `receipt_id`)."""
        receipt_id = row["receipt_id"]
        return cls(
            row["reference"],
            row["status"],
            row["amount_due"],
            row["amount_received"],
            row["expires_at"],
            str(receipt_id) if receipt_id else None,
        )

    def shown_status(self, now: datetime) -> str:
        # Money arriving after expires_at goes to suspense (settlement.py) even before the sweeper marks the
        # request expired, so the page must not keep inviting payment.
        if self.status == "pending" and self.expires_at <= now:
            return "expired"
        return self.status

    def event(self, now: datetime) -> dict:
        status = self.shown_status(now)
        return {
            "reference": self.reference,
            "status": status,
            "amount_due": self.amount_due,
            "amount_received": self.amount_received,
            "amount_remaining": max(self.amount_due - self.amount_received, 0),
            "receipt_url": f"/receipts/{self.receipt_id}" if self.receipt_id and status == "paid" else None,
        }


async def read_snapshots(
    db: asyncpg.Connection | asyncpg.Pool, references: Iterable[str]
) -> dict[str, StatusSnapshot]:
    rows = await db.fetch(_SNAPSHOT_SQL, list(references))
    return {r["reference"]: StatusSnapshot.from_row(r) for r in rows}


class HubClosed(Exception):
    """The server is shutting down; end the stream so the browser reconnects to another process."""


_CLOSED = object()


class Subscription:
    """One watcher of one reference. A mailbox of size one: only the newest snapshot matters."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        self._box: asyncio.Queue[object] = asyncio.Queue(maxsize=1)

    def offer(self, item: object) -> None:
        if self._box.full():
            self._box.get_nowait()
        self._box.put_nowait(item)

    async def next(self, wait_s: float) -> StatusSnapshot | None:
        """The next snapshot, or None when `wait_s` seconds pass without one."""
        try:
            async with asyncio.timeout(max(wait_s, 0)):
                item = await self._box.get()
        except TimeoutError:
            return None
        if item is _CLOSED:
            raise HubClosed
        return item  # type: ignore[return-value]


class StatusHub:
    def __init__(
        self,
        dsn: str,
        pool: asyncpg.Pool,
        *,
        recheck_every_s: float | None = None,
        connect: Callable[..., Awaitable[asyncpg.Connection]] = asyncpg.connect,
    ) -> None:
        self._dsn = dsn
        self._pool = pool
        self._connect = connect
        self.recheck_every_s = RECHECK_EVERY_S if recheck_every_s is None else recheck_every_s
        self._watchers: dict[str, set[Subscription]] = {}
        self._woken: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._closed = False
        self.listening = asyncio.Event()
        self.connections_opened = 0  # > 1 means it reconnected

    # Subscribers -------------------------------------------------------------------------------------------

    def subscribe(self, reference: str) -> contextlib.AbstractContextManager[Subscription]:
        """Watch one reference for the duration of a `with` block. Raises HubClosed during shutdown."""
        if self._closed:
            raise HubClosed
        return self._watch(Subscription(reference))

    @contextlib.contextmanager
    def _watch(self, sub: Subscription) -> Iterator[Subscription]:
        self._watchers.setdefault(sub.reference, set()).add(sub)
        try:
            yield sub
        finally:
            watchers = self._watchers.get(sub.reference)
            if watchers is not None:
                watchers.discard(sub)
                if not watchers:
                    del self._watchers[sub.reference]

    @property
    def watched(self) -> int:
        return sum(len(s) for s in self._watchers.values())

    def _publish(self, snapshots: dict[str, StatusSnapshot]) -> None:
        for reference, snapshot in snapshots.items():
            for sub in self._watchers.get(reference, ()):
                sub.offer(snapshot)

    async def recheck(self, references: Iterable[str] | None = None) -> None:
        wanted = [r for r in (self._watchers if references is None else references) if r in self._watchers]
        if not wanted:
            return
        try:
            snapshots = await read_snapshots(self._pool, wanted)
        except Exception as exc:  # the next notification or re-check tries again; never kill the loop
            if database_unavailable(exc):  # an outage: the pool logs it once
                note_unavailable(self._pool, exc)
            else:
                log.warning("status_recheck_failed", references=len(wanted), exc_info=True)
            return
        self._publish(snapshots)

    # Background tasks --------------------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="status-listener"),
            asyncio.create_task(self._fan_out_forever(), name="status-fan-out"),
            asyncio.create_task(self._recheck_forever(), name="status-recheck"),
        ]

    def end_streams(self) -> None:
        """Tell every open stream to finish (server shutdown): browsers reconnect to a live process."""
        self._closed = True
        for watchers in self._watchers.values():
            for sub in watchers:
                sub.offer(_CLOSED)

    async def stop(self, *, grace_s: float = 5.0) -> None:
        self.end_streams()
        await cancel_and_wait(self._tasks, grace_s=grace_s)
        self._tasks = []

    def _on_notify(self, connection: object, pid: int, channel: str, reference: str) -> None:
        if reference in self._watchers:
            self._woken.put_nowait(reference)

    async def _fan_out_forever(self) -> None:
        while True:
            batch = {await self._woken.get()}
            while not self._woken.empty():  # coalesce a burst into one query
                batch.add(self._woken.get_nowait())
            await self.recheck(batch)

    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(self.recheck_every_s)
            await self.recheck()

    async def _listen_forever(self) -> None:
        delay = RECONNECT_FIRST_S
        while True:
            conn = None
            try:
                conn = await self._connect(
                    self._dsn, server_settings={"application_name": LISTENER_APPLICATION_NAME}
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(STATUS_CHANNEL, self._on_notify)
                self.connections_opened += 1
                self.listening.set()
                delay = RECONNECT_FIRST_S
                if self.connections_opened > 1:
                    log.info("status_listener_reconnected")
                    await self.recheck()  # whatever changed while we were not listening
                while not lost.is_set():
                    try:
                        async with asyncio.timeout(self.recheck_every_s):
                            await lost.wait()
                    except TimeoutError:
                        # A half-open TCP connection delivers nothing and raises nothing; a ping finds out.
                        async with asyncio.timeout(5):
                            await conn.fetchval("SELECT 1")
                log.info("status_listener_lost")  # the database went away (logged once, by the pool) or
                # killed this session; either way the next query through the pool tells
            except Exception as exc:  # whatever went wrong, listen again; the re-check covers the gap
                if database_unavailable(exc):  # an outage: one warning for it (the pool's), not one per retry
                    note_unavailable(self._pool, exc)
                    log.info("status_listener_failed", retry_in_s=delay, error=type(exc).__name__)
                else:
                    log.warning("status_listener_failed", retry_in_s=delay, exc_info=True)
            finally:
                self.listening.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)


STATUS_HUB = web.AppKey("status_hub", StatusHub)


async def status_listener(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the process's status hub, after the database pool (it reads snapshots through it)."""
    hub = StatusHub(app[DATABASE_URL], app[POOL])
    app[STATUS_HUB] = hub
    # on_shutdown runs before the server waits for open requests: end the event streams there, or every
    # open pay page would hold shutdown for the whole grace period. (Signals freeze after startup.)
    app.on_shutdown.append(_end_streams)
    hub.start()
    try:  # serve once listening, so the first pages miss nothing; without it the re-check still works
        async with asyncio.timeout(5):
            await hub.listening.wait()
    except TimeoutError:
        log.warning("status_listener_not_ready")
    yield
    await hub.stop()


async def _end_streams(app: web.Application) -> None:
    app[STATUS_HUB].end_streams()
