"""Executing an approved batch (outbox kind `disbursements.execute`, one item per lane so several worker
processes share a batch): reserve the programme's funds once (`ledger.reserve`, key `disb-batch:<id>`), then
pay the items in chunks. Any worker may be killed at any point; nothing is ever paid twice:

- claim: items are taken with FOR UPDATE SKIP LOCKED and re-checked (still the beneficiary's active verified
  account, payments not stopped: else held), and the intent is recorded — state `sending`, attempts + 1, a
  lease — and committed before any call;
- call: each payout goes out under the item's end-to-end id as the bank's Idempotency-Key; an item whose
  outcome is unknown (a timeout, a 5xx, a worker that died while `sending`: its lease ran out) is asked about
  with a status inquiry first, and sent again only when the bank says it never received it — under the SAME
  key;
- outcome: recorded in one statement per chunk, only for claims still held (state sending, same attempts);
  AC04 / MD07 stop further payouts to the beneficiary;
- shares: paid items post their share of the reserve (a journal entry each, refs end_to_end_id /
  bank_txn_id / batch: one line per line of the bank's statement), failed and held ones release it — in
  groups of thousands per transaction after the outcomes (`settle_shares`), so the lanes never queue on the
  reserve's row; idempotent by the item's part key, and completion waits for every share.

When every item is final the batch is completed and whatever remains of the reserve is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from core.appkeys import KEYS, POOL, SETTINGS
from core.audit import record_audit
from core.db import database_unavailable
from core.keys import AppKeys
from core.money import LOCAL_TZ
from core.outbox import Item, Kind, OutboxWorker, Outcome, again, done, retry
from core.pii import decrypt_pii
from core.settings import Settings
from disbursements.batches import EXECUTE_KIND, EXECUTION_LANES, HOLD_AT_SEND_SQL, Batch, batch_by_id
from disbursements.payouts import (
    REQUEST_REFUSED_CODE,
    NoPayoutRoute,
    PayoutClient,
    PayoutRoute,
    payout_client,
    payout_route,
    refusal,
)
from ledger import InsufficientFunds, Part, guard_account, open_day_for, pending_by_id, release_part, reserve
from ledger import resolve_parts as resolve_reserve_parts

log = structlog.get_logger("citypay.disbursements")
ACTOR = "system:disbursements"
ACCOUNT_CONTEXT, NAME_CONTEXT = "disb.account", "disb.name"  # core.pii contexts of disb_accounts / names


@dataclass(frozen=True)
class ExecutionConfig:
    chunk: int = 20  # items claimed (and sent concurrently) at once by one loop
    loops: int = 1  # claim–send–record loops per lane, each with its own chunk in flight
    item_lease_s: float = 30.0  # a claim's life: longer than a bank call may take (bank_timeout_s)
    bank_timeout_s: float = 10.0
    turn_s: float = 20.0  # a lane works this long, then hands its outbox item back (again) to renew its lease
    outbox_lease_s: float = 60.0
    unknown_first_wait_s: float = 2.0  # before the first status inquiry of an unknown outcome; doubles …
    unknown_max_wait_s: float = 60.0  # … up to this
    idle_wait_s: float = 1.0  # a lane with nothing to claim while others still hold items waits this long
    poll_interval_s: float = 1.0

    @property
    def concurrency(self) -> int:
        return self.chunk * self.loops


# Starting: the reserve -------------------------------------------------------------------------------------


class NotFunded(Exception):
    """The funding account does not hold the batch's control sum (InsufficientFunds): try again later."""


async def start_execution(pool: asyncpg.Pool, batch_id: int) -> Batch:
    """approved → executing, with the reserve of the control sum (idempotent: every lane calls it)."""
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                batch = await batch_by_id(conn, batch_id, lock=True)
                if batch.state != "approved":
                    return batch
                programme = await conn.fetchrow(
                    "SELECT funding_account, expense_account FROM disb_programmes WHERE code = $1",
                    batch.programme,
                )
                reserve_id = None
                if batch.control_sum > 0:
                    await guard_account(conn, programme["funding_account"], "credits_must_not_exceed_debits")
                    held = await reserve(
                        conn,
                        idempotency_key=f"disb-batch:{batch_id}",
                        kind="disbursement.payout",
                        business_date=await open_day_for(conn, datetime.now(LOCAL_TZ).date()),
                        debit=programme["expense_account"],
                        credit=programme["funding_account"],
                        amount=batch.control_sum,
                        refs={"batch": str(batch_id), "programme": batch.programme, "period": batch.period},
                        memo=f"{batch.programme} {batch.period}",
                    )
                    reserve_id = held.id
                await conn.execute(
                    """UPDATE disb_batches SET state = 'executing', reserve_id = $2, started_at = now(),
                              last_error = NULL WHERE id = $1""",
                    batch_id,
                    reserve_id,
                )
                await record_audit(
                    conn,
                    actor=ACTOR,
                    action="disb.batch_started",
                    subject=f"disb-batch:{batch_id}",
                    before={"state": "approved"},
                    after={"state": "executing", "reserve_id": reserve_id, "reserved": batch.control_sum},
                )
                return await batch_by_id(conn, batch_id)
        except InsufficientFunds as exc:
            await conn.execute(
                "UPDATE disb_batches SET last_error = $2 WHERE id = $1", batch_id, str(exc)[:2000]
            )
            raise NotFunded(str(exc)) from None


# Claiming ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    id: int
    was: str  # ready (never sent) | sending | sent_unknown (may have been sent: inquire first)
    attempts: int  # this claim's attempt number: the outcome is recorded only while it still holds
    amount: int
    end_to_end_id: str
    beneficiary_id: int
    bank_bin: str
    account_enc: str
    full_name_enc: str


_CLAIM = (
    """
WITH unknown AS (  -- unknown outcomes first (disb_items_claimable), then never-sent items (disb_items_ready)
    SELECT id, state AS was FROM disb_items
     WHERE batch_id = $1 AND state IN ('sending', 'sent_unknown') AND lease_until <= now()
     ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED
), ready AS (
    SELECT id, state AS was FROM disb_items
     WHERE batch_id = $1 AND state = 'ready'
     ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
), c AS (
    SELECT * FROM unknown UNION ALL SELECT * FROM ready LIMIT $2
), info AS (
    SELECT c.id, c.was, a.bank_bin, a.account_enc, b.full_name_enc,
           CASE WHEN c.was = 'ready' THEN """
    + HOLD_AT_SEND_SQL
    + """ END AS hold
      FROM c JOIN disb_items i ON i.id = c.id
      JOIN disb_beneficiaries b ON b.id = i.beneficiary_id
      LEFT JOIN disb_accounts a ON a.id = i.account_id
)
UPDATE disb_items i
   SET state = CASE WHEN info.hold IS NULL THEN 'sending' ELSE 'held' END,
       hold_reason = info.hold,
       attempts = i.attempts + CASE WHEN info.hold IS NULL THEN 1 ELSE 0 END,
       lease_until = CASE WHEN info.hold IS NULL THEN now() + make_interval(secs => $3) END,
       sent_at = CASE WHEN info.hold IS NULL THEN coalesce(i.sent_at, now()) ELSE i.sent_at END,
       resolved_at = CASE WHEN info.hold IS NULL THEN NULL ELSE now() END
  FROM info WHERE i.id = info.id
RETURNING i.id, info.was, i.state, i.attempts, i.amount, i.end_to_end_id, i.beneficiary_id, info.bank_bin,
          info.account_enc, info.full_name_enc, info.hold"""
)


async def claim_items(pool: asyncpg.Pool, batch: Batch, config: ExecutionConfig) -> list[Claimed]:
    """Claim up to a chunk of due items and commit the intent; items no longer payable are held here (and
    their share released) in the same transaction."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_CLAIM, batch.id, config.chunk, config.item_lease_s)
        held = [r for r in rows if r["state"] == "held"]
    if held:
        log.info("disb_items_held_at_send", batch_id=batch.id, held=len(held))
    return [
        Claimed(
            r["id"],
            r["was"],
            r["attempts"],
            r["amount"],
            r["end_to_end_id"],
            r["beneficiary_id"],
            r["bank_bin"],
            r["account_enc"],
            r["full_name_enc"],
        )
        for r in rows
        if r["state"] == "sending"
    ]


# Calling ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    item: Claimed
    state: str  # paid | failed | sent_unknown
    bank_txn_id: str | None = None
    reason_code: str | None = None
    retryable: bool | None = None
    review: bool = False
    stop: bool = False
    error: str | None = None


def narrative(batch: Batch) -> str:
    """What the beneficiary's statement says (no end-to-end id: the bank's duplicate check (AM05) compares
    narratives, and the same person paid twice for one period under two keys must look the same)."""
    return f"CITYPAY {batch.programme.upper().replace('_', ' ')} {batch.period}"


def _result(item: Claimed, answer: dict[str, Any]) -> Result:
    status = answer.get("status")
    if status == "booked":
        return Result(item, "paid", bank_txn_id=answer["bank_txn_id"])
    if status == "rejected":
        code = answer["reason_code"]
        meaning = refusal(code)
        return Result(
            item,
            "failed",
            reason_code=code,
            retryable=meaning.retryable,
            review=meaning.review,
            stop=meaning.stop,
        )
    if status == "refused":
        return Result(
            item,
            "failed",
            reason_code=REQUEST_REFUSED_CODE,
            retryable=False,
            review=True,
            error=answer.get("error"),
        )
    return Result(item, "sent_unknown", error=answer.get("error") or f"no answer ({status})")


async def pay_item(
    client: PayoutClient, route: PayoutRoute, keys: AppKeys, batch: Batch, item: Claimed
) -> Result:
    try:
        return await _pay_item(client, route, keys, batch, item)
    except Exception as exc:  # one bad item (say, a value that no longer decrypts) must not stall its chunk
        log.exception("disb_item_failed_locally", batch_id=batch.id, item_id=item.id)
        return Result(item, "sent_unknown", error=f"{type(exc).__name__}: {exc}"[:300])


async def _pay_item(
    client: PayoutClient, route: PayoutRoute, keys: AppKeys, batch: Batch, item: Claimed
) -> Result:
    if item.was != "ready":
        # It may have reached the bank: ask under its key; only "never received" allows sending it again.
        answer = await client.status(route, item.end_to_end_id)
        if answer.get("status") != "not_received":
            return _result(item, answer)
    body = {
        "to_bin": item.bank_bin,
        "to_account": decrypt_pii(keys, item.account_enc, context=ACCOUNT_CONTEXT),
        "amount": item.amount,
        "narrative": narrative(batch),
        "beneficiary_name": decrypt_pii(keys, item.full_name_enc, context=NAME_CONTEXT),
    }
    return _result(item, await client.send(route, body, item.end_to_end_id))


# Recording --------------------------------------------------------------------------------------------------


def _unknown_wait(attempts: int, config: ExecutionConfig) -> float:
    return min(config.unknown_first_wait_s * 2 ** max(attempts - 1, 0), config.unknown_max_wait_s)


async def record_results(
    pool: asyncpg.Pool, batch: Batch, results: list[Result], config: ExecutionConfig
) -> None:
    """One transaction: the outcomes of the claims still held, their ledger parts, and the stops."""
    if not results:
        return
    async with pool.acquire() as conn, conn.transaction():
        owned = {
            r["id"]
            for r in await conn.fetch(
                """UPDATE disb_items i
                      SET state = u.state, bank_txn_id = u.txn, reason_code = u.code, retryable = u.retryable,
                          needs_review = u.review, last_error = coalesce(left(u.err, 500), i.last_error),
                          lease_until = CASE WHEN u.state = 'sent_unknown'
                                             THEN now() + make_interval(secs => u.wait) END,
                          resolved_at = CASE WHEN u.state IN ('paid', 'failed') THEN now() END
                     FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], $6::bool[],
                                 $7::bool[], $8::text[], $9::float8[])
                          AS u(id, attempts, state, txn, code, retryable, review, err, wait)
                    WHERE i.id = u.id AND i.state = 'sending' AND i.attempts = u.attempts
                RETURNING i.id""",
                [r.item.id for r in results],
                [r.item.attempts for r in results],
                [r.state for r in results],
                [r.bank_txn_id for r in results],
                [r.reason_code for r in results],
                [r.retryable for r in results],
                [r.review for r in results],
                [r.error for r in results],
                [_unknown_wait(r.item.attempts, config) for r in results],
            )
        }
        mine = [r for r in results if r.item.id in owned]
        for r in mine:
            if r.stop:
                await _stop_payments(conn, r, batch)
    lost = len(results) - len(owned)
    if lost:
        log.warning("disb_claims_lost", batch_id=batch.id, lost=lost)


async def _stop_payments(conn: asyncpg.Connection, result: Result, batch: Batch) -> None:
    stopped = await conn.fetchval(
        """UPDATE disb_beneficiaries SET payments_stopped_reason = $2, payments_stopped_at = now(),
                  updated_at = now()
            WHERE id = $1 AND payments_stopped_reason IS NULL RETURNING true""",
        result.item.beneficiary_id,
        result.reason_code,
    )
    if stopped:
        await record_audit(
            conn,
            actor=ACTOR,
            action="disb.payments_stopped",
            subject=f"disb-beneficiary:{result.item.beneficiary_id}",
            before={"payments_stopped_reason": None},
            after={
                "payments_stopped_reason": result.reason_code,
                "batch": batch.id,
                "end_to_end_id": result.item.end_to_end_id,
            },
        )


# The ledger: shares -----------------------------------------------------------------------------------------

SETTLE_GROUP = 2_000  # items whose shares one transaction posts or releases


async def settle_shares(pool: asyncpg.Pool, batch: Batch, *, group: int = SETTLE_GROUP) -> int:
    """Post the reserve's share of each paid item (a journal entry each: refs end_to_end_id, bank_txn_id,
    batch — one line per line of the bank's statement) and release the share of each failed item and of each
    held at send time, in groups: outcomes are recorded a chunk at a time without touching the reserve, so
    lanes never queue on its row; the shares follow here, thousands per transaction. Idempotent (the part's
    key is the item's) and safe to run from every lane at once (SKIP LOCKED). Returns the items settled."""
    if batch.reserve_id is None:
        return 0
    settled = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT id, state, amount, end_to_end_id, bank_txn_id FROM disb_items
                    WHERE batch_id = $1 AND NOT share_settled AND resolved_at IS NOT NULL
                      AND state IN ('paid', 'failed', 'held')
                    ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED""",
                batch.id,
                group,
            )
            if not rows:
                return settled
            posts = [
                Part(
                    f"disb-item:{r['id']}",
                    r["amount"],
                    {
                        "end_to_end_id": r["end_to_end_id"],
                        "bank_txn_id": r["bank_txn_id"],
                        "batch": str(batch.id),
                    },
                )
                for r in rows
                if r["state"] == "paid"
            ]
            releases = [Part(f"disb-item:{r['id']}", r["amount"]) for r in rows if r["state"] != "paid"]
            await resolve_reserve_parts(
                conn,
                batch.reserve_id,
                business_date=await open_day_for(conn, datetime.now(LOCAL_TZ).date()),
                posts=posts,
                releases=releases,
            )
            await conn.execute(
                "UPDATE disb_items SET share_settled = true WHERE id = ANY($1::bigint[])",
                [r["id"] for r in rows],
            )
        settled += len(rows)
        if len(rows) < group:
            return settled


# Completing -------------------------------------------------------------------------------------------------


async def complete_if_final(pool: asyncpg.Pool, batch_id: int) -> bool:
    """executing → completed once no item is ready, sending or unknown and every share is settled; the
    reserve's remainder (nothing, when the shares add up) released."""
    async with pool.acquire() as conn:
        batch = await batch_by_id(conn, batch_id)
    if batch.state != "executing":
        return batch.state in ("completed", "cancelled")
    await settle_shares(pool, batch)
    async with pool.acquire() as conn, conn.transaction():
        batch = await batch_by_id(conn, batch_id, lock=True)
        if batch.state != "executing":
            return batch.state in ("completed", "cancelled")
        if await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM disb_items WHERE batch_id = $1
                                AND (state IN ('ready', 'sending', 'sent_unknown')
                                     OR (NOT share_settled AND resolved_at IS NOT NULL
                                         AND state IN ('paid', 'failed', 'held'))))""",
            batch_id,
        ):
            return False
        released = 0
        if batch.reserve_id is not None:
            pending = await pending_by_id(conn, batch.reserve_id)
            if pending is not None and pending.remaining > 0:
                released = pending.remaining
                await release_part(
                    conn, batch.reserve_id, amount=released, idempotency_key=f"disb-batch:{batch_id}:rest"
                )
        await conn.execute(
            "UPDATE disb_batches SET state = 'completed', completed_at = now() WHERE id = $1", batch_id
        )
        counts = {
            r["state"]: r["n"]
            for r in await conn.fetch(
                "SELECT state, count(*) AS n FROM disb_items WHERE batch_id = $1 GROUP BY state", batch_id
            )
        }
        await record_audit(
            conn,
            actor=ACTOR,
            action="disb.batch_completed",
            subject=f"disb-batch:{batch_id}",
            before={"state": "executing"},
            after={"state": "completed", "counts": counts, "released_rest": released},
        )
    log.info("disb_batch_completed", batch_id=batch_id, counts=counts)
    return True


# The outbox kind --------------------------------------------------------------------------------------------


async def run_lane(
    pool: asyncpg.Pool,
    keys: AppKeys,
    settings: Settings,
    client: PayoutClient,
    batch_id: int,
    config: ExecutionConfig,
) -> Outcome:
    """One turn of one lane: start (reserve), then claim → pay → record until nothing is due or the turn is
    over; complete the batch when every item is final."""
    try:
        batch = await start_execution(pool, batch_id)
    except NotFunded as exc:
        return retry(f"not funded: {exc}")
    if batch.state in ("completed", "cancelled"):
        return done()
    if batch.state != "executing":
        return retry(f"batch {batch_id} is {batch.state}")
    try:
        async with pool.acquire() as conn:
            funding = await conn.fetchval(
                "SELECT funding_account FROM disb_programmes WHERE code = $1", batch.programme
            )
            route = await payout_route(conn, keys, settings, funding)
    except NoPayoutRoute as exc:
        async with pool.acquire() as conn:
            await conn.execute(
                "UPDATE disb_batches SET last_error = $2 WHERE id = $1", batch_id, str(exc)[:2000]
            )
        return retry(str(exc))
    deadline = time.monotonic() + config.turn_s

    async def loop() -> None:
        while time.monotonic() < deadline:
            claimed = await claim_items(pool, batch, config)
            if not claimed:
                return
            results = await asyncio.gather(*(pay_item(client, route, keys, batch, item) for item in claimed))
            await asyncio.shield(record_results(pool, batch, list(results), config))

    await asyncio.gather(*(loop() for _ in range(config.loops)))
    await settle_shares(pool, batch)
    if await complete_if_final(pool, batch_id):
        return done()
    # Items still open: claimed by another worker, or waiting for their next status inquiry.
    return again(0 if time.monotonic() >= deadline else config.idle_wait_s)


def execution_kind(
    pool: asyncpg.Pool, keys: AppKeys, settings: Settings, client: PayoutClient, config: ExecutionConfig
) -> Kind:
    async def handler(item: Item) -> Outcome:
        try:
            return await run_lane(pool, keys, settings, client, int(item.payload["batch_id"]), config)
        except Exception as exc:
            if database_unavailable(exc):
                return retry(f"database unavailable: {type(exc).__name__}")
            raise

    return Kind(handler, max_attempts=None, base_s=5.0, cap_s=300.0)


@contextlib.asynccontextmanager
async def execution_worker(
    pool: asyncpg.Pool, keys: AppKeys, settings: Settings, config: ExecutionConfig | None = None
) -> AsyncIterator[OutboxWorker]:
    """An outbox worker for batch execution with its pooled bank session (closed with it)."""
    config = config or ExecutionConfig()
    async with payout_client(concurrency=config.concurrency * 4, timeout_s=config.bank_timeout_s) as client:
        yield OutboxWorker(
            pool,
            {EXECUTE_KIND: execution_kind(pool, keys, settings, client, config)},
            lease_s=config.outbox_lease_s,
            batch=4,
            poll_interval_s=config.poll_interval_s,
            name="disbursements",
        )


async def batch_executor(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context (serving processes only): this process's share of batch execution."""
    async with execution_worker(app[POOL], app[KEYS], app[SETTINGS]) as worker, worker.running():
        yield


def with_overrides(config: ExecutionConfig, **overrides: Any) -> ExecutionConfig:
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})


async def run_worker(dsn: str, keys: AppKeys, settings: Settings, config: ExecutionConfig) -> int:
    """`python main.py disbursements-worker`: this process only executes batches (no HTTP), until SIGTERM or
    SIGINT. Killing it at any moment is safe: see the module's docstring."""
    import signal

    from core.db import create_pool

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pool = await create_pool(dsn, min_size=1, max_size=max(4, config.loops * EXECUTION_LANES + 2))
    try:
        async with execution_worker(pool, keys, settings, config) as worker, worker.running():
            log.info("disbursements_worker_started", chunk=config.chunk, loops=config.loops)
            await stop.wait()
    finally:
        await pool.close()
    return 0
