"""The crash test (issue 11, point 8): a 2,000-item batch executed by a worker in a separate OS process
(`python main.py disbursements-worker`) that is killed with SIGKILL at random points at least five times and
restarted each time; then, from the simulated bank's own database, every item was booked exactly once (one
payout and one transfer per end-to-end id, one payout per beneficiary account), every item is final, and the
ledger balances (trial balance sums to zero; the reserve's posted + released = reserved; an entry per paid
item). The same again with payout timeouts injected after the bank booked (the bank answers 504)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from banksim.app import create_banksim_app
from banksim.config import BankSimConfig
from core.db import connect
from core.demo_bank_key import ensure_demo_bank_key
from core.keys import keys_as_env
from core.money import LOCAL_TZ
from core.pii import encrypt_pii, lookup_hash, mask_account, mask_citizen_id
from disbursements.batches import approve_batch, build_batch
from ledger import trial_balance
from payments import record_opening_balance
from payments.demo import load_payments_demo
from tests.banksim.conftest import banksim_db  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[2]
ITEMS = 2_000
KILLS = 5
AMOUNT = 100_000
WORKER_ARGS = [
    "--chunk", "25", "--loops", "2", "--item-lease", "2", "--bank-timeout", "1.5", "--turn", "1.5",
    "--outbox-lease", "4", "--unknown-wait", "0.2", "--poll", "0.2",
]  # fmt: skip
STALL_S = 45  # no claim or settlement for this long: the worker is stuck
pytestmark = pytest.mark.timeout(420)


async def enrol_many(
    conn: asyncpg.Connection, keys, n: int, programmes: tuple[str, ...]
) -> list[tuple[str, str]]:
    """n verified beneficiaries (names and accounts as the bank holds them), enrolled in `programmes`."""
    people = [
        (f"00120{i:07d}", f"Nguyễn Văn Thử {i:05d}", f"NGUYEN VAN THU {i:05d}", f"88{i:010d}")
        for i in range(n)
    ]
    ids = await conn.fetch(
        """INSERT INTO disb_beneficiaries (national_id_enc, national_id_hash, national_id_masked,
               full_name_enc,
               full_name_masked, birth_date)
           SELECT e, h, m, n, 'N***', '1955-01-01'
             FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[]) AS t(e, h, m, n) RETURNING id""",
        [encrypt_pii(keys, c, context="disb.national_id") for c, _, _, _ in people],
        [lookup_hash(keys, c, context="disb.national_id") for c, _, _, _ in people],
        [mask_citizen_id(c) for c, _, _, _ in people],
        [encrypt_pii(keys, name, context="disb.name") for _, name, _, _ in people],
    )
    ben = [r["id"] for r in ids]
    for programme in programmes:
        await conn.execute(
            """INSERT INTO disb_enrolments (programme, beneficiary_id, monthly_amount)
               SELECT $1, b, $2 FROM unnest($3::bigint[]) AS t(b)""",
            programme,
            AMOUNT,
            ben,
        )
    await conn.execute(
        """INSERT INTO disb_accounts (beneficiary_id, bank_bin, account_enc, account_hash, account_masked,
               state,
               checked_at, verified_until)
           SELECT b, '970436', e, h, m, 'verified', now(), now() + interval '90 days'
             FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::text[]) AS t(b, e, h, m)""",
        ben,
        [encrypt_pii(keys, a, context="disb.account") for _, _, _, a in people],
        [lookup_hash(keys, a, context="disb.account") for _, _, _, a in people],
        [mask_account(a) for _, _, _, a in people],
    )
    return [(holder, account) for _, _, holder, account in people]


@pytest.fixture
async def world(banksim_db, db_url, settings, keys, aiohttp_server):  # noqa: F811
    """The simulated bank on a port with 2,000 citizens' accounts, the city's profile and funds, 2,000
    beneficiaries enrolled in two programmes."""
    conn = await connect(db_url)
    try:
        await load_payments_demo(conn, settings, keys)
        await record_opening_balance(
            conn,
            bin_="970436",
            account_number="0011001234567",
            amount=2_000_000_000,
            as_of=datetime.now(LOCAL_TZ).date(),
            actor="test",
        )
        accounts = await enrol_many(conn, keys, ITEMS, ("pension", "social_assistance"))
    finally:
        await conn.close()
    key_id, key = ensure_demo_bank_key(settings.var_dir)
    server = await aiohttp_server(
        create_banksim_app(
            database_url=banksim_db,
            config=BankSimConfig(signing_key=key, signing_key_id=key_id, worker=False),
        )
    )
    sim = await asyncpg.connect(banksim_db)
    try:
        await sim.execute(
            """INSERT INTO accounts (bin, account_number, holder_name, kind, initial_balance, balance)
               SELECT '970436', a, h, 'citizen', 0, 0 FROM unnest($1::text[], $2::text[]) AS t(h, a)""",
            [h for h, _ in accounts],
            [a for _, a in accounts],
        )
    finally:
        await sim.close()
    return str(server.make_url("")).rstrip("/"), banksim_db


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "main.py", "disbursements-worker", *WORKER_ARGS],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def progress(pool_conn: asyncpg.Connection, batch_id: int) -> tuple[str, int]:
    state = await pool_conn.fetchval("SELECT state FROM disb_batches WHERE id = $1", batch_id)
    final = await pool_conn.fetchval(
        "SELECT count(*) FROM disb_items WHERE batch_id = $1 AND state IN ('paid', 'failed', 'held')",
        batch_id,
    )
    return state, final


async def activity(conn: asyncpg.Connection, batch_id: int) -> tuple:
    """Changes whenever a worker claims or settles anything in the batch."""
    return tuple(
        await conn.fetchrow(
            "SELECT sum(attempts), count(*) FILTER (WHERE state IN ('paid', 'failed', 'held')) "
            "FROM disb_items WHERE batch_id = $1",
            batch_id,
        )
    )


async def run_with_kills(conn: asyncpg.Connection, batch_id: int, env: dict[str, str]) -> list[int]:
    """Start the worker, SIGKILL it at a random moment, restart … KILLS times; then let it finish."""
    rng = random.Random(batch_id)
    seen: list[int] = []
    for _ in range(KILLS):
        before = await activity(conn, batch_id)
        worker = start_worker(env)
        try:
            # Wait until this worker is at work (start-up takes a few seconds on a busy machine), then let it
            # run a random while: the kill lands between any two of claim, call and record.
            deadline = time.monotonic() + 30
            while await activity(conn, batch_id) == before and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # another process's progress: polled
            await asyncio.sleep(rng.uniform(0.0, 1.5))
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
        seen.append((await progress(conn, batch_id))[1])
    worker = start_worker(env)
    try:
        # Fail on a stall, not on a slow machine: under the full suite on 2 cores the last worker can need
        # well over 90 s, but it keeps settling items. No new claim or settlement for STALL_S is a hang.
        last, stalled_since = await activity(conn, batch_id), time.monotonic()
        while (await progress(conn, batch_id))[0] != "completed":
            now = await activity(conn, batch_id)
            if now != last:
                last, stalled_since = now, time.monotonic()
            assert time.monotonic() - stalled_since < STALL_S, f"stalled: {await progress(conn, batch_id)}"
            assert worker.poll() is None, "the worker died on its own"
            await asyncio.sleep(0.25)
    finally:
        worker.terminate()
        worker.wait(timeout=10)
    return seen


async def assert_paid_exactly_once(conn: asyncpg.Connection, sim_db: str, batch_id: int, prefix: str) -> None:
    items = await conn.fetch(
        "SELECT state, end_to_end_id, bank_txn_id, amount FROM disb_items WHERE batch_id = $1", batch_id
    )
    assert len(items) == ITEMS and {i["state"] for i in items} == {"paid"}
    sim = await asyncpg.connect(sim_db)
    try:
        payouts = await sim.fetch(
            """SELECT p.idempotency_key, p.status, t.bank_txn_id,
                      (SELECT count(*) FROM transfers x WHERE x.end_to_end_id = p.idempotency_key)
                          AS transfers
                 FROM payouts p LEFT JOIN transfers t ON t.id = p.transfer_id
                WHERE p.idempotency_key LIKE $1""",
            prefix + "%",
        )
        per_account = await sim.fetchval(
            """SELECT max(n) FROM (SELECT count(*) AS n FROM transfers t
                                    JOIN accounts a ON a.id = t.credit_account_id
                                    WHERE t.kind = 'payout' AND t.end_to_end_id LIKE $1 GROUP BY a.id) s""",
            prefix + "%",
        )
        city_paid = await sim.fetchval(
            "SELECT coalesce(sum(amount), 0) FROM transfers WHERE kind = 'payout' AND end_to_end_id LIKE $1",
            prefix + "%",
        )
    finally:
        await sim.close()
    # The bank's own books: one booked payout and one transfer per item, one payout per beneficiary account.
    assert len(payouts) == ITEMS and {p["status"] for p in payouts} == {"booked"}
    assert {p["transfers"] for p in payouts} == {1} and per_account == 1 and city_paid == ITEMS * AMOUNT
    booked = {p["idempotency_key"]: p["bank_txn_id"] for p in payouts}
    assert {i["end_to_end_id"]: i["bank_txn_id"] for i in items} == booked
    # The ledger: an entry per paid item, the reserve fully posted, nothing left, a balanced trial balance.
    reserve = await conn.fetchrow(
        "SELECT state, amount, posted_total, released_total FROM ledger_pending WHERE idempotency_key = $1",
        f"disb-batch:{batch_id}",
    )
    assert tuple(reserve) == ("settled", ITEMS * AMOUNT, ITEMS * AMOUNT, 0)
    entries = await conn.fetchval(
        "SELECT count(*) FROM journal_entries WHERE kind = 'disbursement.payout' AND refs->>'batch' = $1",
        str(batch_id),
    )
    assert entries == ITEMS
    assert sum(r.balance for r in await trial_balance(conn)) == 0


async def test_killed_workers_never_pay_twice(world, conn, keys, settings, service_db_url):
    url, sim_db = world
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CITYPAY_", "DATABASE_URL"))},
        **keys_as_env(keys),
        "DATABASE_URL": service_db_url,
        "CITYPAY_BANKSIM_URL": url,
        "CITYPAY_LOG_LEVEL": "warning",
    }
    pension = await build_batch(conn, "pension", "2026-01", maker="staff:maker")
    assistance = await build_batch(conn, "social_assistance", "2026-01", maker="staff:maker")
    assert pension.control_count == assistance.control_count == ITEMS

    await approve_batch(conn, pension.id, checker="staff:checker")
    seen = await run_with_kills(conn, pension.id, env)
    assert any(0 < n < ITEMS for n in seen), f"no kill landed while paying: {seen}"
    await assert_paid_exactly_once(conn, sim_db, pension.id, f"P202601-{pension.id}-")

    # Again, with the bank timing out (504) after booking for the next 400 payouts.
    sim = await asyncpg.connect(sim_db)
    try:
        await sim.execute(
            "UPDATE fault_mode SET fault = 'payout_timeout', remaining = 400, updated_at = now()"
        )
    finally:
        await sim.close()
    await approve_batch(conn, assistance.id, checker="staff:checker")
    seen = await run_with_kills(conn, assistance.id, env)
    assert any(0 < n < ITEMS for n in seen), f"no kill landed while paying: {seen}"
    await assert_paid_exactly_once(conn, sim_db, assistance.id, f"A202601-{assistance.id}-")
    sim = await asyncpg.connect(sim_db)
    try:
        timed_out = await sim.fetchval("SELECT count(*) FROM payouts WHERE fault = 'payout_timeout'")
    finally:
        await sim.close()
    assert timed_out == 400
    inquired = await conn.fetchval(
        "SELECT count(*) FROM disb_items WHERE batch_id = $1 AND last_error LIKE '%504%'", assistance.id
    )
    assert inquired > 0  # settled by status inquiry (a kill between the 504 and its record loses the trace)
    assert replace(settings) is not None
