"""The core outbox on a real PostgreSQL: enqueue in the caller's transaction, delivery, retries with backoff,
permanent failure, SKIP LOCKED between workers, bounded shutdown, and a worker killed between "sent" and
"outcome recorded" whose item is resolved on restart and reaches an idempotent receiver once as new; recurring
items (a periodic job) and an outcome recorded after its claim was lost."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from core.db import create_pool
from core.outbox import (
    Item,
    Kind,
    OutboxKeyConflict,
    OutboxWorker,
    again,
    backoff_seconds,
    done,
    enqueue,
    ensure_recurring,
    fail,
    requeue,
    retry,
)


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(db_url, min_size=1, max_size=10)
    yield pool
    await pool.close()


async def _enqueue(pool: asyncpg.Pool, kind: str, payload, key: str, **kw) -> int:
    async with pool.acquire() as conn, conn.transaction():
        return await enqueue(conn, kind, payload, key, **kw)


async def _ensure(pool: asyncpg.Pool, kind: str, key: str, payload=None) -> int:
    async with pool.acquire() as conn:
        return await ensure_recurring(conn, kind, key, payload)


async def _item(pool: asyncpg.Pool, item_id: int) -> asyncpg.Record:
    return await pool.fetchrow(
        """SELECT *, extract(epoch FROM next_attempt_at - now()) AS due_in FROM outbox WHERE id = $1""",
        item_id,
    )


class IdempotentReceiver:
    """A receiver that recognises a repeat by the idempotency key, as a bank does."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.new: list[str] = []

    def receive(self, key: str) -> str:
        self.calls.append(key)
        if key in self.new:
            return "duplicate"
        self.new.append(key)
        return "accepted"


async def test_enqueued_in_the_callers_transaction_and_delivered_once(pool):
    seen: list[Item] = []

    async def handler(item: Item):
        seen.append(item)
        return done()

    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            await enqueue(conn, "test.send", {"n": 1}, "outside")  # no transaction: refused
        tx = conn.transaction()
        await tx.start()
        await enqueue(conn, "test.send", {"n": 0}, "rolled-back")
        await tx.rollback()
    item_id = await _enqueue(pool, "test.send", {"n": 1}, "k-1")
    assert await _enqueue(pool, "test.send", {"n": 1}, "k-1") == item_id  # same key, same work: one item
    with pytest.raises(OutboxKeyConflict):
        await _enqueue(pool, "test.send", {"n": 2}, "k-1")

    worker = OutboxWorker(pool, {"test.send": Kind(handler)})
    assert await worker.run_due() == 1
    assert await worker.run_due() == 0
    assert [(i.id, i.key, i.payload, i.attempts) for i in seen] == [(item_id, "k-1", {"n": 1}, 1)]
    row = await _item(pool, item_id)
    assert (row["state"], row["attempts"], row["lease_until"], row["next_attempt_at"]) == (
        "done",
        1,
        None,
        None,
    )
    assert row["done_at"] is not None
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 1  # the rolled-back one never existed


async def test_a_worker_takes_only_its_own_kinds_and_waits_for_a_delay(pool):
    async def handler(item: Item):
        return done()

    mine = await _enqueue(pool, "test.mine", {}, "mine", delay_s=30)
    other = await _enqueue(pool, "test.other", {}, "other")
    worker = OutboxWorker(pool, {"test.mine": Kind(handler)})
    assert await worker.run_due() == 0  # not due yet, and the other kind is someone else's
    await pool.execute("UPDATE outbox SET next_attempt_at = now() WHERE id = $1", mine)
    assert await worker.run_due() == 1
    assert (await _item(pool, other))["state"] == "pending"


def test_backoff_doubles_from_the_base_up_to_the_cap_with_twenty_percent_jitter():
    assert [backoff_seconds(n, 10, 100, jitter=False) for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]
    for n in range(1, 12):
        exact = backoff_seconds(n, 10, 100, jitter=False)
        waits = {backoff_seconds(n, 10, 100) for _ in range(200)}
        assert all(0.8 * exact <= w <= 1.2 * exact for w in waits)
        assert len(waits) > 1  # jittered, so failed items do not retry in lockstep


async def test_retries_back_off_then_succeed(pool):
    answers = [retry("503 from the receiver"), retry("timed out"), done()]

    async def handler(item: Item):
        return answers[item.attempts - 1]

    item_id = await _enqueue(pool, "test.flaky", {}, "flaky")
    worker = OutboxWorker(pool, {"test.flaky": Kind(handler, max_attempts=5, base_s=100, cap_s=1000)})
    for attempt, base in ((1, 100), (2, 200)):
        assert await worker.run_due() == 1
        row = await _item(pool, item_id)
        assert (row["state"], row["attempts"]) == ("pending", attempt)
        assert 0.8 * base - 1 <= row["due_in"] <= 1.2 * base  # backed off 2^(n-1)·base ±20 %
        assert await worker.run_due() == 0  # not due before its time
        await pool.execute("UPDATE outbox SET next_attempt_at = now() WHERE id = $1", item_id)
    assert await worker.run_due() == 1
    row = await _item(pool, item_id)
    assert (row["state"], row["attempts"], row["last_error"]) == ("done", 3, "timed out")


async def test_permanent_failure_exhausted_retries_and_a_raising_handler(pool):
    async def refuse(item: Item):
        return fail("422 malformed")

    async def unavailable(item: Item):
        return retry("503")

    async def broken(item: Item):
        raise KeyError("a bug")

    refused = await _enqueue(pool, "test.refuse", {}, "refused")
    exhausted = await _enqueue(pool, "test.unavailable", {}, "exhausted")
    raised = await _enqueue(pool, "test.broken", {}, "raised")
    worker = OutboxWorker(
        pool,
        {
            "test.refuse": Kind(refuse),
            "test.unavailable": Kind(unavailable, max_attempts=2, base_s=0),
            "test.broken": Kind(broken, base_s=0),
        },
    )
    assert await worker.run_due() == 3
    assert await worker.run_due() == 2  # the unavailable one and the broken one are retried
    row = await _item(pool, refused)
    assert (row["state"], row["attempts"], row["last_error"]) == ("failed", 1, "422 malformed")
    row = await _item(pool, exhausted)
    assert (row["state"], row["attempts"], row["last_error"]) == ("failed", 2, "503")
    row = await _item(pool, raised)
    assert row["state"] == "pending" and "KeyError" in row["last_error"]

    async with pool.acquire() as conn:  # someone fixed the cause: a failed item can be made due again
        assert await requeue(conn, "refused") is True
        assert await requeue(conn, "raised") is False  # not failed
    assert (await _item(pool, refused))["state"] == "pending"


async def test_two_workers_never_take_the_same_item(pool):
    handled: Counter[int] = Counter()

    async def slow(item: Item):
        handled[item.id] += 1
        await asyncio.sleep(0.01)
        return done()

    ids = [await _enqueue(pool, "test.race", {"i": i}, f"race-{i}") for i in range(60)]
    # SKIP LOCKED, shown directly: rows another transaction holds are passed over, not waited for.
    async with pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM outbox WHERE id = ANY($1::bigint[]) FOR UPDATE", ids[:10])
        lone = OutboxWorker(pool, {"test.race": Kind(slow)}, batch=5)
        async with asyncio.timeout(5):
            assert await lone.run_due() == 5
        assert set(handled) == set(ids[10:15])

    workers = [OutboxWorker(pool, {"test.race": Kind(slow)}, batch=7) for _ in range(2)]
    while await pool.fetchval("SELECT count(*) FROM outbox WHERE state <> 'done'"):
        await asyncio.gather(*(w.run_due() for w in workers))
    assert sorted(handled) == ids and set(handled.values()) == {1}
    assert await pool.fetchval("SELECT max(attempts) FROM outbox") == 1


async def test_killed_between_sent_and_outcome_recorded_the_item_is_resolved_on_restart(pool):
    receiver = IdempotentReceiver()
    sent = asyncio.Event()

    async def dies_after_sending(item: Item):
        receiver.receive(item.key)  # the receiver has it ...
        sent.set()
        await asyncio.Event().wait()  # ... and the process dies before the outcome is recorded
        return done()

    async def sends(item: Item):
        answer = receiver.receive(item.key)
        return done() if answer in ("accepted", "duplicate") else retry(answer)

    item_id = await _enqueue(pool, "test.payout", {"amount": 500_000}, "payout-2026-0001")
    first = OutboxWorker(pool, {"test.payout": Kind(dies_after_sending)}, lease_s=0.6)
    task = asyncio.create_task(first.run_due())
    await asyncio.wait_for(sent.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    row = await _item(pool, item_id)
    assert (row["state"], row["attempts"]) == ("sending", 1)  # intent recorded, outcome not

    restarted = OutboxWorker(pool, {"test.payout": Kind(sends)}, lease_s=0.6)
    assert await restarted.run_due() == 0  # the lease still holds: no second sender meanwhile
    await asyncio.sleep(0.7)
    assert await restarted.run_due() == 1  # the lease ran out: due again, sent again
    row = await _item(pool, item_id)
    assert (row["state"], row["attempts"]) == ("done", 2)
    assert receiver.calls == ["payout-2026-0001", "payout-2026-0001"]  # sent twice ...
    assert receiver.new == ["payout-2026-0001"]  # ... but new to the receiver once


async def test_a_recurring_item_runs_again_backs_off_and_never_gives_up(pool):
    answers: list = []

    async def sweep(item: Item):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    item_id = await _ensure(pool, "test.sweep", "sweep-1")
    assert await _ensure(pool, "test.sweep", "sweep-1") == item_id  # every process may ensure it: one item
    with pytest.raises(OutboxKeyConflict):
        await _ensure(pool, "test.other", "sweep-1")
    worker = OutboxWorker(pool, {"test.sweep": Kind(sweep, max_attempts=None, base_s=100, cap_s=400)})

    answers.append(again(30))
    assert await worker.run_due() == 1
    row = await _item(pool, item_id)
    assert (row["state"], row["attempts"], row["last_error"], row["done_at"]) == ("pending", 0, None, None)
    assert 29 <= row["due_in"] <= 30  # exactly the interval asked for: no jitter on a healthy schedule
    assert await worker.run_due() == 0
    await _ensure(pool, "test.sweep", "sweep-1")  # a process starting meanwhile does not move the schedule
    assert 29 <= (await _item(pool, item_id))["due_in"] <= 30

    # Failing runs back off like any item's and are visible; with max_attempts=None it never ends as failed.
    answers.extend([RuntimeError("disk full"), retry("503"), RuntimeError("disk full"), retry("503")])
    for attempt, wait in ((1, 100), (2, 200), (3, 400), (4, 400)):
        await pool.execute("UPDATE outbox SET next_attempt_at = now() WHERE id = $1", item_id)
        assert await worker.run_due() == 1
        row = await _item(pool, item_id)
        assert (row["state"], row["attempts"]) == ("pending", attempt)
        assert 0.8 * wait - 1 <= row["due_in"] <= 1.2 * wait
    assert row["last_error"] == "503"
    # The next success resets the streak: attempts and last_error describe failures since the last success.
    answers.append(again(0))  # e.g. more work is waiting: due again at once
    await pool.execute("UPDATE outbox SET next_attempt_at = now() WHERE id = $1", item_id)
    assert await worker.run_due() == 1
    row = await _item(pool, item_id)
    assert (row["state"], row["attempts"], row["last_error"]) == ("pending", 0, None)
    assert row["due_in"] <= 0
    with pytest.raises(ValueError):
        again(-1)


async def test_ensuring_a_recurring_item_revives_one_that_ended(pool):
    async def ends(item: Item):
        return done() if item.payload["how"] == "done" else fail("misconfigured")

    ended = [await _ensure(pool, "test.ends", f"ends-{how}", {"how": how}) for how in ("done", "fail")]
    worker = OutboxWorker(pool, {"test.ends": Kind(ends)})
    assert await worker.run_due() == 2
    assert [(await _item(pool, i))["state"] for i in ended] == ["done", "failed"]
    for i, how in zip(ended, ("done", "fail"), strict=True):
        assert await _ensure(pool, "test.ends", f"ends-{how}", {"how": how}) == i
        row = await _item(pool, i)
        assert (row["state"], row["attempts"], row["done_at"]) == ("pending", 0, None)
        assert row["due_in"] <= 0
    assert (await _item(pool, ended[1]))["last_error"] == "misconfigured"  # kept until a run succeeds


async def test_an_outcome_recorded_after_the_claim_was_lost_is_dropped_even_when_attempts_repeat(pool):
    """A worker paused (not dead) past its lease must not record over a later claim, although `again` reset
    the attempts so the later claim has the same attempt number: the lease's end tells the claims apart."""

    async def tick(item: Item):
        return again(0)

    kinds = {"test.tick": Kind(tick, max_attempts=None)}
    item_id = await _ensure(pool, "test.tick", "tick")
    paused = OutboxWorker(pool, kinds, lease_s=0.3)
    [stale] = await paused._claim()  # claimed and called; then the process stalls before recording
    await asyncio.sleep(0.4)
    assert await OutboxWorker(pool, kinds, lease_s=0.3).run_due() == 1  # lease ran out: run by another
    [current] = await OutboxWorker(pool, kinds, lease_s=30)._claim()  # the next run, in progress
    assert (current.id, current.attempts) == (stale.id, stale.attempts) == (item_id, 1)
    await paused._record(stale, kinds["test.tick"], done())  # the stalled worker wakes up
    row = await _item(pool, item_id)
    assert (row["state"], row["lease_until"], row["done_at"]) == ("sending", current.lease_until, None)


async def test_shutdown_is_bounded_even_with_a_hanging_handler(pool):
    started = asyncio.Event()

    async def hangs(item: Item):
        started.set()
        await asyncio.Event().wait()
        return done()

    item_id = await _enqueue(pool, "test.hang", {}, "hang")
    worker = OutboxWorker(pool, {"test.hang": Kind(hangs)}, poll_interval_s=0.05)
    async with asyncio.timeout(3):
        async with worker.running(grace_s=0.2):
            await asyncio.wait_for(started.wait(), 2)
    assert (await _item(pool, item_id))["state"] == "sending"  # left for its lease, sent again after it


def test_the_simulated_bank_keeps_the_same_outbox_table():
    """banksim has its own database, so its migrations hold a copy of the table; the copy must not drift."""
    root = Path(__file__).resolve().parents[2]

    def table(path: Path) -> str:
        text = path.read_text(encoding="utf-8")
        return text[text.index("CREATE TABLE outbox") :]

    [ours] = (root / "migrations").glob("*_outbox.sql")
    assert table(ours) == table(root / "banksim" / "migrations" / "0002_outbox.sql")
