"""Callbacks to citypay, sent through the core outbox (core/outbox.py): deliver each queued callback until
citypay acknowledges it with a signed answer (docs/bank-protocol.md §8, §10), recording every attempt.

`deliveries` is the bank's own record (state, fault, every attempt) that the API and pages show; one outbox
item of kind `banksim.callback` per delivery drives the sending, and its outcome updates the delivery in the
same transaction. A restart loses nothing: a claim whose process died is due again when its lease runs out,
and citypay recognises the re-sent callback by its bank transaction id. Several simulator processes may share
one database (SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import structlog

from banksim.config import BankSimConfig
from banksim.protocol import CityKeys, CityKeyUnavailable, check_answer, sign_callback
from core.errors import Conflict, NotFound
from core.outbox import Item, Kind, OutboxWorker, Outcome, done, enqueue, fail, requeue, retry

log = structlog.get_logger("banksim.deliveries")
CALLBACK = "banksim.callback"
MAX_ANSWER_CHARS = 4000
# 4xx answers that only a person can fix (§10: do not retry automatically); 401 stale_timestamp is retried.
PERMANENT_STATUSES = {400, 401, 404, 413, 415, 422}


def outbox_key(delivery_id: int) -> str:
    return f"banksim-delivery-{delivery_id}"


async def queue_delivery(conn: asyncpg.Connection, delivery_id: int, *, delay_s: float = 0.0) -> None:
    """Queue a pending delivery for sending, in the booking's transaction."""
    await enqueue(conn, CALLBACK, {"delivery_id": delivery_id}, outbox_key(delivery_id), delay_s=delay_s)


@dataclass(frozen=True)
class AttemptResult:
    outcome: str  # acknowledged | retry | rejected
    http_status: int | None
    answer: str | None
    error: str | None


class Deliverer:
    """The callback kind of the outbox: `send` makes one attempt (outside any transaction), `_record` keeps
    `deliveries` and `delivery_attempts` in step inside the outcome's transaction."""

    def __init__(self, pool: asyncpg.Pool, config: BankSimConfig, session: aiohttp.ClientSession) -> None:
        self.pool = pool
        self.config = config
        self.session = session
        self.city_keys = CityKeys(config.city_key_url, config.city_public_keys)
        kind = Kind(
            handler=self.send,
            max_attempts=config.max_attempts,
            base_s=config.retry_base_s,
            cap_s=config.retry_max_s,
            record=self._record,
        )
        self.worker = OutboxWorker(
            pool,
            {CALLBACK: kind},
            lease_s=config.delivery_timeout_s + 30,
            poll_interval_s=config.poll_interval_s,
            name="banksim-deliveries",
        )

    @property
    def wakeup(self) -> asyncio.Event:
        """Set it to send a newly queued callback now rather than at the next poll."""
        return self.worker.wakeup

    async def run_due(self) -> int:
        return await self.worker.run_due()

    async def send(self, item: Item) -> Outcome:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT bank_txn_id, url, body, fault FROM deliveries WHERE id = $1",
                item.payload["delivery_id"],
            )
        if row is None:
            return fail(f"no delivery {item.payload['delivery_id']}")
        result = await self.attempt(
            row["url"], bytes(row["body"]), row["bank_txn_id"], corrupt=row["fault"] == "bad_signature"
        )
        if result.outcome == "acknowledged":
            return done(result)
        if result.outcome == "rejected":
            return fail(result.error or f"HTTP {result.http_status}", result)
        return retry(result.error or "not acknowledged", result)

    async def attempt(
        self, url: str, body: bytes, bank_txn_id: str, *, corrupt: bool = False
    ) -> AttemptResult:
        headers = sign_callback(self.config.signing_key, self.config.signing_key_id, body, corrupt=corrupt)
        try:
            async with self.session.post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.config.delivery_timeout_s),
                allow_redirects=False,
            ) as resp:
                answer = await resp.read()
                status, answer_headers = resp.status, resp.headers
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return AttemptResult("retry", None, None, f"no answer: {exc!r}"[:500])
        text = answer.decode("utf-8", "replace")[:MAX_ANSWER_CHARS]
        if status >= 500 or status == 429:
            return AttemptResult("retry", status, text, f"HTTP {status}")
        key_problem = None
        try:
            keys = await self.city_keys.get(self.session, want=answer_headers.get("X-Citypay-Key-Id"))
        except CityKeyUnavailable as exc:
            keys, key_problem = {}, f"cannot check the answer: {exc}"
        check = check_answer(
            status,
            answer_headers,
            answer,
            city_keys=keys,
            bank_txn_id=bank_txn_id,
            tolerance_s=self.config.answer_tolerance_s,
        )
        if check.acknowledged:
            return AttemptResult("acknowledged", status, text, None)
        problem = key_problem or check.problem
        if status in PERMANENT_STATUSES and not (status == 401 and check.reason == "stale_timestamp"):
            # A 4xx is final whether or not its signature checks out: only someone fixing the cause helps.
            return AttemptResult("rejected", status, text, problem)
        log.warning("callback_answer_not_acknowledged", bank_txn_id=bank_txn_id, problem=problem)
        return AttemptResult("retry", status, text, problem)

    async def _record(self, conn: asyncpg.Connection, item: Item, outcome: Outcome, state: str) -> None:
        result = outcome.detail if isinstance(outcome.detail, AttemptResult) else None
        if state == "failed":
            delivery_state = "rejected" if outcome.result == "fail" else "failed"
        else:
            delivery_state = {"done": "delivered", "pending": "pending"}[state]
        delivery_id = item.payload["delivery_id"]
        await conn.execute(
            """INSERT INTO delivery_attempts (delivery_id, attempt, started_at, key_id, http_status,
                   answer_body, outcome, error)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            delivery_id,
            item.attempts,
            item.claimed_at,
            self.config.signing_key_id,
            result.http_status if result else None,
            result.answer if result else None,
            result.outcome if result else "retry",
            outcome.error,
        )
        await conn.execute(
            """UPDATE deliveries SET state = $2, last_error = $3, attempts = $4,
                      next_attempt_at = CASE WHEN $2 = 'pending'
                                             THEN (SELECT next_attempt_at FROM outbox WHERE id = $5) END,
                      delivered_at = CASE WHEN $2 = 'delivered' THEN now() END
                WHERE id = $1""",
            delivery_id,
            delivery_state,
            outcome.error,
            item.attempts,
            item.id,
        )
        log.info(
            "callback_attempt",
            delivery_id=delivery_id,
            attempt=item.attempts,
            http_status=result.http_status if result else None,
            outcome=result.outcome if result else None,
            state=delivery_state,
        )


# Queries and operator actions ----------------------------------------------------------------------------


def delivery_json(row: asyncpg.Record, attempts: list[asyncpg.Record] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"],
        "bank_txn_id": row["bank_txn_id"],
        "url": row["url"],
        "state": row["state"],
        "fault": row["fault"],
        "attempts": row["attempts"],
        "next_attempt_at": row["next_attempt_at"].isoformat() if row["next_attempt_at"] else None,
        "last_error": row["last_error"],
        "created_at": row["created_at"].isoformat(),
        "delivered_at": row["delivered_at"].isoformat() if row["delivered_at"] else None,
        "body": bytes(row["body"]).decode("utf-8"),
    }
    if attempts is not None:
        out["attempt_log"] = [
            {
                "attempt": a["attempt"],
                "started_at": a["started_at"].isoformat(),
                "finished_at": a["finished_at"].isoformat(),
                "key_id": a["key_id"],
                "http_status": a["http_status"],
                "answer": a["answer_body"],
                "outcome": a["outcome"],
                "error": a["error"],
            }
            for a in attempts
        ]
    return out


async def list_deliveries(
    conn: asyncpg.Connection, *, state: str | None = None, bank_txn_id: str | None = None, limit: int = 50
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT * FROM deliveries
            WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR bank_txn_id = $2)
            ORDER BY id DESC LIMIT $3""",
        state,
        bank_txn_id,
        limit,
    )


async def delivery_with_attempts(conn: asyncpg.Connection, delivery_id: int) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM deliveries WHERE id = $1", delivery_id)
    if row is None:
        raise NotFound(f"no delivery {delivery_id}", field="delivery_id")
    attempts = await conn.fetch(
        "SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id", delivery_id
    )
    return delivery_json(row, attempts)


async def redeliver(conn: asyncpg.Connection, delivery_id: int) -> dict[str, Any]:
    """Send a held, rejected or failed callback again now, correctly signed (the operator fixed the cause)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """UPDATE deliveries SET state = 'pending', next_attempt_at = now(), fault = NULL
                WHERE id = $1 AND state IN ('held', 'rejected', 'failed') RETURNING id""",
            delivery_id,
        )
        # A held delivery was never queued; a rejected or failed one has a failed outbox item.
        if row is not None and not await requeue(conn, outbox_key(delivery_id)):
            await queue_delivery(conn, delivery_id)
    if row is None:
        exists = await conn.fetchval("SELECT state FROM deliveries WHERE id = $1", delivery_id)
        if exists is None:
            raise NotFound(f"no delivery {delivery_id}", field="delivery_id")
        raise Conflict(
            f"delivery {delivery_id} is {exists}; only held, rejected or failed ones are redelivered"
        )
    return await delivery_with_attempts(conn, delivery_id)


@contextlib.asynccontextmanager
async def running(deliverer: Deliverer, *, grace_s: float = 2.0) -> AsyncIterator[None]:
    """Run the outbox worker while the app runs; shutdown is bounded (core.outbox)."""
    async with deliverer.worker.running(grace_s=grace_s):
        yield
