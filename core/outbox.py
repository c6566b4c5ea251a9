"""The outbox: work that must reach another system (a callback, a payout) is recorded in the caller's own
transaction with `enqueue`, and an `OutboxWorker` delivers it afterwards — never inside an open transaction.

Each attempt is: claim with a lease and commit (the intent), call the kind's handler with no transaction open,
then record the outcome in a new transaction. A process that dies between the call and the outcome leaves the
item `sending`; when its lease runs out the item is due again and is sent again. So every handler must be
idempotent at the receiver: it passes the item's idempotency key (or a key derived from the payload) along,
and the receiver answers a repeat with the first outcome. Several workers may share one table (SKIP LOCKED).

A recurring job (a periodic sweep) is one item under a fixed key (`ensure_recurring`) whose handler answers
`again(after_s)`: the item goes back to pending for its next run instead of ending. So with several processes
only one runs each sweep, a sweep whose process died is run again when its lease runs out, and failures back
off and stay visible in the table (`attempts`, `last_error`) like any other item's.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg
import structlog

from core.db import database_unavailable
from core.errors import Conflict
from core.tasks import cancel_and_wait, report_failure

log = structlog.get_logger("citypay.outbox")
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Outcome:
    """What a handler says about one attempt: `done`, `retry` (later, with backoff), `fail` (for good) or
    `again` (done for now; a recurring item runs again after `again_s`)."""

    result: Literal["done", "retry", "fail", "again"]
    error: str | None = None
    detail: Any = None  # anything the kind's recorder wants (e.g. the HTTP answer); never stored here
    again_s: float | None = None


def done(detail: Any = None) -> Outcome:
    return Outcome("done", None, detail)


def retry(error: str, detail: Any = None) -> Outcome:
    return Outcome("retry", error, detail)


def fail(error: str, detail: Any = None) -> Outcome:
    return Outcome("fail", error, detail)


def again(after_s: float, detail: Any = None) -> Outcome:
    """This run succeeded; run the same item again in `after_s` seconds (0: at once, e.g. more is waiting).
    Its attempts go back to 0 and its last error is cleared: both describe the failures since the last
    success, so a healthy recurring item reads attempts = 0, last_error = NULL."""
    if not after_s >= 0:
        raise ValueError(f"again() needs a delay of 0 s or more, not {after_s!r}")
    return Outcome("again", None, detail, float(after_s))


@dataclass(frozen=True)
class Item:
    id: int
    kind: str
    payload: Any
    key: str  # the idempotency key: hand it to the receiver so a re-send is recognised
    attempts: int  # including this one
    claimed_at: datetime
    lease_until: datetime  # identifies this claim: the outcome is recorded only while it still holds


Handler = Callable[[Item], Awaitable[Outcome]]
# Runs inside the transaction that records the outcome, after the outbox row moved to `state`
# (pending | done | failed); lets a kind keep its own table in step (e.g. banksim's deliveries).
Recorder = Callable[[asyncpg.Connection, Item, Outcome, str], Awaitable[None]]


@dataclass(frozen=True)
class Kind:
    handler: Handler
    max_attempts: int | None = 10  # None: never give up (a recurring job retries at `cap_s` for ever)
    base_s: float = 10.0
    cap_s: float = 3600.0
    record: Recorder | None = None


class OutboxKeyConflict(Conflict):
    slug = "outbox-key-reused"
    title_vi = "Khóa idempotency của hàng đợi đã dùng cho việc khác"
    title_en = "Outbox idempotency key was used for other work"


def backoff_seconds(attempts: int, base_s: float, cap_s: float, *, jitter: bool = True) -> float:
    """Wait after `attempts` failed attempts: base, 2·base, 4·base … capped, ±20 % jitter."""
    wait = min(base_s * 2 ** max(attempts - 1, 0), cap_s)
    return wait * random.uniform(0.8, 1.2) if jitter else wait


async def enqueue(
    conn: asyncpg.Connection, kind: str, payload: Any, key: str, *, delay_s: float = 0.0
) -> int:
    """Queue work inside the caller's transaction (it is sent only if that commits). The same key with the
    same kind and payload returns the first item; with other content it is an `OutboxKeyConflict`."""
    if not conn.is_in_transaction():
        raise RuntimeError("enqueue runs inside the caller's transaction")
    item_id = await conn.fetchval(
        """INSERT INTO outbox (kind, payload, idempotency_key, next_attempt_at)
           VALUES ($1, $2, $3, now() + make_interval(secs => $4))
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
        kind,
        payload,
        key,
        float(delay_s),
    )
    if item_id is not None:
        return item_id
    row = await conn.fetchrow("SELECT id, kind, payload FROM outbox WHERE idempotency_key = $1", key)
    if row["kind"] != kind or row["payload"] != payload:
        raise OutboxKeyConflict(f"outbox key {key!r} already queued other work", field="idempotency_key")
    return row["id"]


async def ensure_recurring(conn: asyncpg.Connection, kind: str, key: str, payload: Any = None) -> int:
    """Make sure the recurring item `key` exists (its handler answers `again(...)`); a new one is due now.
    An existing one keeps its schedule and any claim on it, so every process may call this at start. One that
    ended (`done`, or `failed` by a `fail` outcome or `max_attempts`) is made due now with its attempts reset:
    a recurring job does not stay stopped across a restart. The same key with another kind or payload is an
    `OutboxKeyConflict`."""
    payload = {} if payload is None else payload
    async with conn.transaction():
        item_id = await enqueue(conn, kind, payload, key)
        await conn.execute(
            """UPDATE outbox SET state = 'pending', next_attempt_at = now(), attempts = 0, done_at = NULL
                WHERE id = $1 AND state IN ('done', 'failed')""",
            item_id,
        )
    return item_id


async def requeue(conn: asyncpg.Connection, key: str) -> bool:
    """Make a failed item due now (someone fixed the cause). Its attempts keep counting. False: no such
    failed item."""
    return (
        await conn.fetchval(
            """UPDATE outbox SET state = 'pending', next_attempt_at = now()
                WHERE idempotency_key = $1 AND state = 'failed' RETURNING true""",
            key,
        )
        or False
    )


class OutboxWorker:
    """Sends due items of the kinds it was given. `run_due()` does one pass (tests call it); `run()` loops."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        kinds: Mapping[str, Kind],
        *,
        lease_s: float = 60.0,
        batch: int = 20,
        poll_interval_s: float = 1.0,
        name: str = "outbox",
    ) -> None:
        self.pool = pool
        self.kinds = dict(kinds)
        # A claim not resolved within the lease (the process died) is due again; a handler that runs longer
        # is cut off before that, so one live worker never overlaps another's re-send of the same item.
        self.lease_s = lease_s
        self.batch = batch
        self.poll_interval_s = poll_interval_s
        self.name = name
        self.wakeup = asyncio.Event()
        self.stopping = False

    async def run(self) -> None:
        while not self.stopping:
            try:
                handled = await self.run_due()
            except Exception as exc:  # the worker must outlive any one bad pass (database restart, a bug)
                if not database_unavailable(exc):
                    log.exception("outbox_pass_failed", worker=self.name)
                handled = 0
            if handled or self.stopping:
                continue  # more may be due right away
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval_s):
                    await self.wakeup.wait()
            self.wakeup.clear()

    async def run_due(self) -> int:
        """Claim the due items, attempt each once (in parallel), record the outcomes."""
        # Database work is shielded: a shutdown may cancel a handler's call, never a query half-way.
        claimed = await asyncio.shield(self._claim())
        await asyncio.gather(*(self._process(item) for item in claimed))
        return len(claimed)

    async def _claim(self) -> list[Item]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """UPDATE outbox SET state = 'sending', attempts = attempts + 1, next_attempt_at = NULL,
                          lease_until = now() + make_interval(secs => $1)
                    WHERE id IN (SELECT id FROM outbox
                                  WHERE kind = ANY($3::text[])
                                    AND ((state = 'pending' AND next_attempt_at <= now())
                                         OR (state = 'sending' AND lease_until <= now()))
                                  ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
                RETURNING id, kind, payload, idempotency_key, attempts, now() AS claimed_at, lease_until""",
                float(self.lease_s),
                self.batch,
                list(self.kinds),
            )
        return [
            Item(
                r["id"],
                r["kind"],
                r["payload"],
                r["idempotency_key"],
                r["attempts"],
                r["claimed_at"],
                r["lease_until"],
            )
            for r in rows
        ]

    async def _process(self, item: Item) -> None:
        kind = self.kinds[item.kind]
        try:
            async with asyncio.timeout(self.lease_s * 0.8):
                outcome = await kind.handler(item)
        except TimeoutError:
            outcome = retry(f"the handler took longer than {self.lease_s * 0.8:.0f} s")
        except Exception as exc:  # a handler bug is one failed attempt, not a dead worker
            log.exception("outbox_handler_failed", worker=self.name, item_id=item.id, kind=item.kind)
            outcome = retry(f"handler raised {exc!r}")
        await asyncio.shield(self._record(item, kind, outcome))

    async def _record(self, item: Item, kind: Kind, outcome: Outcome) -> None:
        gave_up = kind.max_attempts is not None and item.attempts >= kind.max_attempts
        if outcome.result == "again":
            state, wait = "pending", outcome.again_s or 0.0
        elif outcome.result == "retry" and gave_up:
            state, wait = "failed", 0.0
        elif outcome.result == "retry":
            state, wait = "pending", backoff_seconds(item.attempts, kind.base_s, kind.cap_s)
        else:
            state, wait = ("done" if outcome.result == "done" else "failed"), 0.0
        error = outcome.error[:MAX_ERROR_CHARS] if outcome.error else None
        async with self.pool.acquire() as conn, conn.transaction():
            # Only the claim we hold: if our lease ran out, another worker owns the item now. The lease's end
            # tells claims apart even when attempts repeat (`again` resets them for the next run).
            ours = await conn.fetchval(
                """UPDATE outbox SET state = $2, lease_until = NULL,
                          last_error = CASE WHEN $6 THEN NULL ELSE coalesce($3, last_error) END,
                          attempts = CASE WHEN $6 THEN 0 ELSE attempts END,
                          next_attempt_at = CASE WHEN $2 = 'pending'
                                                 THEN now() + make_interval(secs => $4) END,
                          done_at = CASE WHEN $2 = 'done' THEN now() END
                    WHERE id = $1 AND state = 'sending' AND attempts = $5 AND lease_until = $7
                    RETURNING true""",
                item.id,
                state,
                error,
                wait,
                item.attempts,
                outcome.result == "again",
                item.lease_until,
            )
            if ours and kind.record is not None:
                await kind.record(conn, item, outcome, state)
        if not ours:
            log.warning("outbox_claim_lost", worker=self.name, item_id=item.id, attempt=item.attempts)
            return
        log.info(
            "outbox_attempt",
            worker=self.name,
            item_id=item.id,
            kind=item.kind,
            attempt=item.attempts,
            result=outcome.result,
            state=state,
        )

    @contextlib.asynccontextmanager
    async def running(self, *, grace_s: float = 2.0) -> AsyncIterator[None]:
        """Run while the app runs; on shutdown let the current pass finish (briefly), then cancel with a
        bound. An item cancelled mid-call stays `sending` and is sent again when its lease runs out."""
        task = asyncio.create_task(self.run(), name=self.name)
        try:
            yield
        finally:
            self.stopping = True
            self.wakeup.set()
            _, late = await asyncio.wait({task}, timeout=grace_s)
            if late:
                await cancel_and_wait(late, grace_s=grace_s)
            else:
                report_failure(task)


SCHEDULE_RETRY_S = 5.0  # how often a process retries ensuring its recurring items while the database is down


@contextlib.asynccontextmanager
async def running_with_recurring(
    pool: asyncpg.Pool, worker: OutboxWorker, keys: Mapping[str, str], *, name: str
) -> AsyncIterator[None]:
    """Run `worker` for as long as the block lasts, after making sure each recurring item exists
    (`keys`: idempotency key → kind). If the database is down at start, the items are ensured as soon as it
    is back (the worker meanwhile runs the items that already exist). Shutdown is bounded."""

    async def ensure() -> bool:
        try:
            async with pool.acquire() as conn:
                for key, kind in keys.items():
                    await ensure_recurring(conn, kind, key)
        except Exception as exc:
            if not database_unavailable(exc):
                log.exception("recurring_items_not_ensured", worker=name)
            return False
        return True

    async def ensure_until_done() -> None:
        while True:
            await asyncio.sleep(SCHEDULE_RETRY_S)
            if await ensure():
                worker.wakeup.set()  # due now: no need to wait for the next poll
                return

    retrying: list[asyncio.Task] = []
    if not await ensure():
        retrying.append(asyncio.create_task(ensure_until_done(), name=f"{name}-schedule"))
    try:
        async with worker.running():
            yield
    finally:
        await cancel_and_wait(retrying)
