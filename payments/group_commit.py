"""Group commit of bank callbacks: the verified credits that arrive within a few milliseconds settle in one
transaction, and each bank is answered only after that transaction committed.

Handlers verify and check each callback as it arrives (in parallel), then hand the credit to the process's
`GroupCommitter` and wait. The committer takes the credits waiting since the oldest arrived `window` ago (at
most `max_size`), and in one transaction: takes the advisory lock of every bank transaction id (sorted by the
lock's hash, so two groups never wait on each other in a cycle), stores the inbox rows in one statement (a
byte-identical replay counts a delivery on the stored row, as `_store_raw` does), reads the first outcomes of
those transaction ids and locks their payment requests in one statement each (ordered by id), then settles
each credit with `settle_credit` — the same rules as alone — under a SAVEPOINT of its own, and marks the inbox
rows in one statement; the receipts of the requests it paid are numbered with one UPDATE of the series row and
stored with one INSERT at the end. What the group pays once instead of once per credit: the commit (its WAL
flush), and the wait on the receipt series row, which every settling transaction in the city takes — held
only from the group's last statements to its COMMIT.

A credit that raises inside its savepoint is rolled back alone (its inbox row stays 'received' and commits
with the group) and is then settled alone in a transaction of its own, after the group committed; if that
fails too its bank hears "retry" and the sweeper finishes it. If the group's transaction fails as a whole
(deadlock, serialization, a deferred check at COMMIT, a lost connection), nothing of it committed: every
credit of the group goes the way it went before group commits (store, then settle alone), and an unavailable
database reaches the handlers, which answer "retry".

Exactly once, within a group, across groups and across processes: every path that books a bank transaction
holds its advisory lock (bank_code:bank_txn_id) and reads its first outcome under it; payments_received is
UNIQUE on (bank_code, bank_txn_id) behind that. A second copy inside one group sees the first copy's outcome
(kept in `SettlementGroup.first` once the first copy's savepoint is released) and books nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import structlog
from aiohttp import web

from core.appkeys import KEYS, METRICS, POOL, SETTINGS
from core.db import database_unavailable
from core.keys import AppKeys
from core.metrics import Metrics
from payments.banks import BankCredit, BankProfile, IncomingCallback
from payments.callbacks import (
    CallbackPolicy,
    InboxOutcome,
    InboxRow,
    inbox_row,
    mark_inbox_rows,
    settle_inbox_credit,
    settle_stored,
    store_and_settle,
)
from payments.plain_credits import PlainCredit, choose_plain, settle_plain_credits
from payments.receipts import number_and_store_receipts
from payments.reference import find_reference_in_narrative
from payments.requests import STATUS_CHANNEL
from payments.settlement import Settlement, SettlementGroup, lock_key, settlement_of

log = structlog.get_logger("citypay.group_commit")

# The locks in one fixed order for every group: by the lock's own key (the hash), not by the text, so two
# texts with the same hash cannot order differently in two groups. The sorted subquery feeds the locking
# function row by row in that order.
_LOCK_TRANSACTIONS = """
SELECT pg_advisory_xact_lock(h)
  FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS ordered"""

# `_store_raw` for a whole group: a byte-identical replay counts its deliveries on the stored row. Identical
# copies inside the group arrive here as one row with their number of copies (one statement may not update
# a row twice), sorted by the unique key so concurrent groups take its index entries in the same order.
_STORE_INBOX = """
INSERT INTO callback_inbox (bank_code, method, content_type, headers, query, query_encrypted, raw_body,
                            bank_txn_id, status, body_hash, next_attempt_at, deliveries, last_delivery_at)
SELECT r.bank_code, r.method, r.content_type, r.headers::jsonb, '', r.query_encrypted, r.raw_body,
       r.bank_txn_id, 'received', r.body_hash, now() + interval '60 seconds', r.copies,
       CASE WHEN r.copies > 1 THEN now() END
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
              $8::text[], $9::int[])
       AS r(bank_code, method, content_type, headers, query_encrypted, raw_body, bank_txn_id, body_hash,
            copies)
ON CONFLICT (bank_code, body_hash) DO UPDATE
    SET deliveries = callback_inbox.deliveries + excluded.deliveries, last_delivery_at = now()
RETURNING id, bank_code, body_hash, status"""

_FIRST_OUTCOMES = """
SELECT p.* FROM payments_received p
  JOIN unnest($1::text[], $2::text[]) AS t(bank_code, bank_txn_id)
    ON p.bank_code = t.bank_code AND p.bank_txn_id = t.bank_txn_id"""

# The rows settle_credit would lock one by one (lock_request), all at once and by id.
_LOCK_REQUESTS = """
SELECT pr.*, b.short_name AS bank_name FROM payment_requests pr
  JOIN banks b ON b.bin = pr.collection_bin
 WHERE pr.reference = ANY($1::text[])
 ORDER BY pr.id FOR UPDATE OF pr"""


@dataclass(eq=False)
class _Waiting:
    """A verified credit waiting for its group, and the handler waiting for its outcome."""

    profile: BankProfile
    incoming: IncomingCallback
    credit: BankCredit
    now: datetime
    policy: CallbackPolicy
    row: InboxRow
    arrived: float
    outcome: asyncio.Future[Settlement | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def txn(self) -> tuple[str, str]:
        return self.credit.bank_code, self.credit.bank_txn_id

    def answer(self, settlement: Settlement | None) -> None:
        if not self.outcome.done():  # the handler may have gone (client closed); the credit is settled anyway
            self.outcome.set_result(settlement)

    def fail(self, exc: BaseException) -> None:
        if not self.outcome.done():
            self.outcome.set_exception(exc)


class GroupCommitter:
    """One per server process (a cleanup context of the app). `settle` returns the credit's Settlement once
    it is committed, or None when the bank should retry; it raises when the database is unavailable."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        keys: AppKeys,
        *,
        window_s: float,
        max_size: int,
        in_flight: int = 2,
        metrics: Metrics | None = None,
    ) -> None:
        if max_size < 1 or in_flight < 1:
            raise ValueError("a group holds at least one credit, and at least one group settles at a time")
        self.pool, self.keys = pool, keys
        self.window_s, self.max_size = window_s, max_size
        self.metrics = metrics
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(in_flight)
        self._groups: set[asyncio.Task[None]] = set()
        self._alone: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="callback-group-commit")

    async def stop(self) -> None:
        """Settle what is waiting, then end."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._groups:
            await asyncio.gather(*self._groups, return_exceptions=True)
        if self._alone:
            await asyncio.gather(*self._alone, return_exceptions=True)

    async def settle(
        self,
        profile: BankProfile,
        incoming: IncomingCallback,
        credit: BankCredit,
        now: datetime,
        policy: CallbackPolicy,
    ) -> Settlement | None:
        if self._closing or self._task is None:  # shutting down: alone, as before group commits
            return await store_and_settle(self.pool, self.keys, profile, incoming, credit, now, policy)
        # Encrypting and hashing the raw callback is the handler's work, done before it waits.
        row = inbox_row(self.keys, profile, incoming, bank_txn_id=credit.bank_txn_id)
        waiting = _Waiting(profile, incoming, credit, now, policy, row, asyncio.get_running_loop().time())
        self._waiting.append(waiting)
        if len(self._waiting) >= self.max_size:
            self._full.set()
        self._wake.set()
        return await waiting.outcome

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._waiting:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            # A group forms once a slot is free: while `in_flight` groups are settling, credits queue up.
            await self._slots.acquire()
            # The group closes `window` after its oldest credit arrived, or when it is full: credits that
            # queued while the previous group committed have already waited and go at once.
            delay = self._waiting[0].arrived + self.window_s - loop.time()
            if delay > 0 and len(self._waiting) < self.max_size and not self._closing:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._full.wait()
            size = min(len(self._waiting), self.max_size)
            group = [self._waiting.popleft() for _ in range(size)]
            task = asyncio.create_task(self._settle_group(group))
            self._groups.add(task)
            task.add_done_callback(self._groups.discard)

    async def _settle_group(self, group: list[_Waiting]) -> None:
        try:
            await self._commit_group(group)
        except BaseException as exc:  # never leave a handler waiting for ever
            for waiting in group:
                waiting.fail(exc)
            if not isinstance(exc, Exception):
                raise
            log.exception("callback_group_commit_crashed", size=len(group))
        finally:
            self._slots.release()

    async def _commit_group(self, group: list[_Waiting]) -> None:
        if self.metrics is not None:
            self.metrics.callback_group_size.observe(len(group))
        started = time.perf_counter()
        try:
            settled, poison = await self._settle_in_one_transaction(group)
        except Exception as exc:
            # Nothing of the group committed (or, if the connection broke during COMMIT, perhaps all of it:
            # storing again then finds the rows and answers with their first outcomes).
            log.warning(
                "callback_group_failed",
                size=len(group),
                error=type(exc).__name__,
                database_unavailable=database_unavailable(exc),
            )
            self._count_alone("group_failed", len(group))
            for waiting in group:
                self._spawn_alone(self._store_and_settle_alone(waiting))
            return
        if self.metrics is not None:
            self.metrics.callback_group_seconds.observe(time.perf_counter() - started)
        for waiting, settlement in settled:  # committed: now, and only now, the banks hear it
            waiting.answer(settlement)
        self._count_alone("poison", len(poison))
        for waiting, inbox_id in poison:
            self._spawn_alone(self._settle_stored_alone(waiting, inbox_id))

    async def _settle_in_one_transaction(
        self, group: list[_Waiting]
    ) -> tuple[list[tuple[_Waiting, Settlement]], list[tuple[_Waiting, int]]]:
        settled: list[tuple[_Waiting, Settlement]] = []
        poison: list[tuple[_Waiting, int]] = []
        marks: dict[int, InboxOutcome] = {}
        known = SettlementGroup(defer_receipts=True)
        async with self.pool.acquire() as conn, conn.transaction():
            # 1. The advisory lock of every bank transaction of the group, before anything else is written.
            lock_keys = sorted({lock_key(*w.txn) for w in group})
            await conn.execute(_LOCK_TRANSACTIONS, lock_keys)
            known.locked.update(lock_keys)
            # 2. The inbox rows.
            inbox = await self._store_inbox_rows(conn, group)
            # 3. The first outcome of each bank transaction, read under its lock.
            txns = sorted({w.txn for w in group})
            known.first = dict.fromkeys(txns)
            for row in await conn.fetch(_FIRST_OUTCOMES, [t[0] for t in txns], [t[1] for t in txns]):
                known.first[(row["bank_code"], row["bank_txn_id"])] = settlement_of(row)
            # 4. The payment requests the new credits name, locked in id order.
            references = sorted(
                {
                    reference
                    for w in group
                    if known.first[w.txn] is None
                    and (reference := find_reference_in_narrative(w.credit.narrative))
                }
            )
            if references:
                known.requests = dict.fromkeys(references)
                for request in await conn.fetch(_LOCK_REQUESTS, references):
                    known.requests[request["reference"]] = request
            # 5. The plain credits together (payments/plain_credits.py), under one savepoint.
            together = await self._settle_plain(conn, group, known)
            # 6. The others each under its own savepoint, in arrival order.
            for n, waiting in enumerate(group):
                inbox_id, status = inbox[(waiting.row.bank_code, waiting.row.body_hash)]
                if n in together:
                    settlement = together[n]
                    known.remember(waiting.credit, settlement)
                    marks.setdefault(
                        inbox_id,
                        InboxOutcome(inbox_id, "processed", settlement.outcome, settlement.payment_id),
                    )
                    settled.append((waiting, settlement))
                    continue
                first = known.first[waiting.txn]
                if status in ("processed", "conflict") and first is not None:
                    settled.append((waiting, first))  # a replay of a finished callback: counted above
                    continue
                try:
                    async with conn.transaction():
                        settlement, mark = await settle_inbox_credit(
                            conn,
                            self.keys,
                            inbox_id,
                            waiting.credit,
                            waiting.now,
                            waiting.policy,
                            group=known,
                        )
                except Exception as exc:
                    known.forget(waiting.credit)
                    if database_unavailable(exc):
                        raise
                    log.warning(
                        "callback_group_poison",
                        inbox_id=inbox_id,
                        bank_code=waiting.credit.bank_code,
                        error=f"{type(exc).__name__}: {exc}"[:300],
                    )
                    poison.append((waiting, inbox_id))
                    continue
                known.remember(waiting.credit, settlement)
                marks.setdefault(inbox_id, mark)  # identical copies share a row: the first copy marks it
                settled.append((waiting, settlement))
            # 7. The inbox rows of the settled credits, in one statement; then the receipts of the requests
            # they paid, numbered together, so the receipt series row is locked only from here to COMMIT.
            if marks:
                await mark_inbox_rows(conn, list(marks.values()))
            await number_and_store_receipts(conn, self.keys, list(known.receipts.values()))
            if known.notices:
                # payments.requests.notify_status for all of them in one statement (delivered at COMMIT)
                await conn.execute(
                    "SELECT pg_notify($1, r) FROM unnest($2::text[]) AS r",
                    STATUS_CHANNEL,
                    sorted(set(known.notices.values())),
                )
        return settled, poison

    async def _settle_plain(
        self, conn: asyncpg.Connection, group: list[_Waiting], known: SettlementGroup
    ) -> dict[int, Settlement]:
        """The group's plain credits booked together, by their position in the group; none when there are
        fewer than two, or when the set fails (its savepoint rolled back: they settle one by one)."""
        credits = [PlainCredit(w.credit, w.now, w.policy.sanity_cap, w.policy.late_tolerance) for w in group]
        plain = choose_plain(credits, known)
        if len(plain) < 2:
            return {}
        try:
            async with conn.transaction():
                settlements = await settle_plain_credits(conn, self.keys, [credits[n] for n in plain], known)
        except Exception as exc:
            if database_unavailable(exc):
                raise
            log.warning(
                "callback_group_set_failed", size=len(plain), error=f"{type(exc).__name__}: {exc}"[:300]
            )
            if self.metrics is not None:
                self.metrics.callback_group_set_failed.inc()
            return {}
        if self.metrics is not None:
            self.metrics.callback_group_together.observe(len(plain))
        return dict(zip(plain, settlements, strict=True))

    async def _store_inbox_rows(
        self, conn: asyncpg.Connection, group: list[_Waiting]
    ) -> dict[tuple[str, str], tuple[int, str]]:
        copies: dict[tuple[str, str], list[InboxRow]] = {}
        for waiting in group:
            copies.setdefault((waiting.row.bank_code, waiting.row.body_hash), []).append(waiting.row)
        rows = [(same[0], len(same)) for _, same in sorted(copies.items())]
        stored = await conn.fetch(
            _STORE_INBOX,
            [r.bank_code for r, _ in rows],
            [r.method for r, _ in rows],
            [r.content_type for r, _ in rows],
            [json.dumps(r.headers) for r, _ in rows],
            [r.query_encrypted for r, _ in rows],
            [r.raw_body for r, _ in rows],
            [r.bank_txn_id for r, _ in rows],
            [r.body_hash for r, _ in rows],
            [n for _, n in rows],
        )
        return {(s["bank_code"], s["body_hash"]): (s["id"], s["status"]) for s in stored}

    # Alone, after the group ------------------------------------------------------------------------------

    def _spawn_alone(self, work) -> None:
        task = asyncio.create_task(work)
        self._alone.add(task)
        task.add_done_callback(self._alone.discard)

    def _count_alone(self, reason: str, n: int) -> None:
        if self.metrics is not None and n:
            self.metrics.callback_group_alone.labels(reason).inc(n)

    async def _settle_stored_alone(self, waiting: _Waiting, inbox_id: int) -> None:
        """A credit that failed inside its group: its inbox row committed with the group; settle it alone."""
        try:
            waiting.answer(
                await settle_stored(
                    self.pool, self.keys, inbox_id, waiting.credit, waiting.now, waiting.policy
                )
            )
        except Exception as exc:
            waiting.fail(exc)

    async def _store_and_settle_alone(self, waiting: _Waiting) -> None:
        """A credit of a group that did not commit: the way it went before group commits."""
        try:
            waiting.answer(
                await store_and_settle(
                    self.pool,
                    self.keys,
                    waiting.profile,
                    waiting.incoming,
                    waiting.credit,
                    waiting.now,
                    waiting.policy,
                )
            )
        except Exception as exc:
            waiting.fail(exc)


GROUP_COMMITTER = web.AppKey("callback_group_committer", GroupCommitter)


async def group_committer(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the process's group committer, after the database pool; none when
    CITYPAY_CALLBACK_GROUP_MAX is 0 (each callback then settles in transactions of its own)."""
    settings = app[SETTINGS]
    if settings.callback_group_max <= 0:
        yield
        return
    committer = GroupCommitter(
        app[POOL],
        app[KEYS],
        window_s=max(settings.callback_group_window_ms, 0) / 1000,
        max_size=settings.callback_group_max,
        in_flight=max(settings.callback_groups_in_flight, 1),
        metrics=app[METRICS],
    )
    app[GROUP_COMMITTER] = committer
    committer.start()
    yield
    await committer.stop()
