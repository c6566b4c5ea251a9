"""The callback outbox and its worker: deliver each queued callback to citypay until citypay acknowledges it
with a signed answer (docs/bank-protocol.md §8, §10), recording every attempt.

Deliveries live in the database, so a restart loses nothing: a row claimed by a worker that died becomes due
again when its lease runs out. Several simulator processes may share one database (SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import structlog

from banksim.config import BankSimConfig
from banksim.protocol import CityKeys, CityKeyUnavailable, check_answer, sign_callback
from core.db import database_unavailable
from core.errors import Conflict, NotFound
from core.tasks import cancel_and_wait, report_failure

log = structlog.get_logger("banksim.deliveries")
BATCH = 20
MAX_ANSWER_CHARS = 4000
# 4xx answers that only a person can fix (§10: do not retry automatically); 401 stale_timestamp is retried.
PERMANENT_STATUSES = {400, 401, 404, 413, 415, 422}


def backoff_seconds(attempts: int, config: BankSimConfig, *, jitter: bool = True) -> float:
    """Wait after `attempts` failed attempts: base, 2·base, 4·base … capped, ±20 % jitter."""
    wait = min(config.retry_base_s * 2 ** max(attempts - 1, 0), config.retry_max_s)
    return wait * random.uniform(0.8, 1.2) if jitter else wait


@dataclass(frozen=True)
class AttemptResult:
    outcome: str  # acknowledged | retry | rejected
    http_status: int | None
    answer: str | None
    error: str | None


class Deliverer:
    """Sends due deliveries. `run_due()` does one pass (tests call it directly); `run()` loops forever."""

    def __init__(self, pool: asyncpg.Pool, config: BankSimConfig, session: aiohttp.ClientSession) -> None:
        self.pool = pool
        self.config = config
        self.session = session
        self.city_keys = CityKeys(config.city_key_url, config.city_public_keys)
        self.wakeup = asyncio.Event()
        self.stopping = False
        # A claimed row not finished within the lease (the process died) becomes due again.
        self.lease_s = config.delivery_timeout_s + 30

    async def run(self) -> None:
        while not self.stopping:
            try:
                done = await self.run_due()
            except Exception as exc:  # the worker must outlive any one bad pass (database restart, a bug)
                if not database_unavailable(exc):
                    log.exception("delivery_pass_failed")
                # else: the pool logs an outage once (core.db), not once a second here
                done = 0
            if done or self.stopping:
                continue  # more may be due right away
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.poll_interval_s):
                    await self.wakeup.wait()
            self.wakeup.clear()

    async def run_due(self) -> int:
        """Claim the deliveries that are due, attempt each once (in parallel), record the outcomes."""
        # Database work is shielded: a shutdown may cancel an HTTP call, never a query half-way.
        claimed = await asyncio.shield(self._claim())
        await asyncio.gather(*(self._deliver(row) for row in claimed))
        return len(claimed)

    async def _claim(self) -> list[asyncpg.Record]:
        async with self.pool.acquire() as conn:
            return await conn.fetch(
                """UPDATE deliveries SET attempts = attempts + 1,
                          next_attempt_at = now() + make_interval(secs => $1)
                    WHERE id IN (SELECT id FROM deliveries
                                  WHERE state = 'pending' AND next_attempt_at <= now()
                                  ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
                RETURNING id, bank_txn_id, url, body, fault, attempts""",
                float(self.lease_s),
                BATCH,
            )

    async def _deliver(self, row: asyncpg.Record) -> None:
        started = datetime.now(UTC)
        result = await self.attempt(
            row["url"], bytes(row["body"]), row["bank_txn_id"], corrupt=row["fault"] == "bad_signature"
        )
        await asyncio.shield(self._record(row, started, result))

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

    async def _record(self, row: asyncpg.Record, started: datetime, result: AttemptResult) -> None:
        attempts = row["attempts"]
        if result.outcome == "retry" and attempts >= self.config.max_attempts:
            state, wait = "failed", None
        elif result.outcome == "retry":
            state, wait = "pending", backoff_seconds(attempts, self.config)
        else:
            state, wait = ("delivered" if result.outcome == "acknowledged" else "rejected"), None
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO delivery_attempts (delivery_id, attempt, started_at, key_id, http_status,
                       answer_body, outcome, error)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                row["id"],
                attempts,
                started,
                self.config.signing_key_id,
                result.http_status,
                result.answer,
                result.outcome,
                result.error,
            )
            # Only the claim we hold: a redeliver or another worker may have moved the row on meanwhile.
            await conn.execute(
                """UPDATE deliveries SET state = $2, last_error = $3,
                          next_attempt_at = CASE WHEN $2 = 'pending'
                                                 THEN now() + make_interval(secs => $4) END,
                          delivered_at = CASE WHEN $2 = 'delivered' THEN now() END
                    WHERE id = $1 AND attempts = $5 AND state = 'pending'""",
                row["id"],
                state,
                result.error,
                float(wait or 0),
                attempts,
            )
        log.info(
            "callback_attempt",
            delivery_id=row["id"],
            bank_txn_id=row["bank_txn_id"],
            attempt=attempts,
            http_status=result.http_status,
            outcome=result.outcome,
            state=state,
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
    row = await conn.fetchrow(
        """UPDATE deliveries SET state = 'pending', next_attempt_at = now(), fault = NULL
            WHERE id = $1 AND state IN ('held', 'rejected', 'failed') RETURNING id""",
        delivery_id,
    )
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
    """Run the worker while the app runs; on shutdown let the current pass finish (briefly), then cancel."""
    task = asyncio.create_task(deliverer.run(), name="banksim-deliveries")
    try:
        yield
    finally:
        deliverer.stopping = True
        deliverer.wakeup.set()
        _, late = await asyncio.wait({task}, timeout=grace_s)
        if late:
            await cancel_and_wait(late, grace_s=grace_s)
        else:
            report_failure(task)
