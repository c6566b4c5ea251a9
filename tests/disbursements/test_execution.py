"""Executing a batch against the real simulated bank over HTTP: each refusal code's effect (AC01, AC04, AC06,
BE01, MD07, AM05), a beneficiary whose account changed after verification held at send time, payout timeouts
(booked but 504) resolved by status inquiry, an item left `sending` by a dead worker resolved by inquiry and
re-sent under the same key; the ledger's reserve posted and released item by item."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

import asyncpg
import pytest

from banksim.app import create_banksim_app
from banksim.config import BankSimConfig
from core.db import connect, create_pool
from core.demo_bank_key import ensure_demo_bank_key
from core.money import LOCAL_TZ
from disbursements.batches import approve_batch, batch_summary, build_batch
from disbursements.execution import ExecutionConfig, claim_items, execution_worker
from ledger import account_balance, trial_balance
from payments import record_opening_balance
from payments.demo import load_payments_demo
from tests.banksim.conftest import banksim_db  # noqa: F401  (a fixture)
from tests.disbursements.test_batches import add_account, add_beneficiary

CITY_BIN, CITY_ACCOUNT = "970436", "0011001234567"
FAST = ExecutionConfig(
    chunk=10,
    loops=2,
    item_lease_s=2.0,
    bank_timeout_s=2.0,
    turn_s=5.0,
    unknown_first_wait_s=0.1,
    idle_wait_s=0.05,
)


@pytest.fixture
async def bank(banksim_db, db_url, settings, keys, aiohttp_server, aiohttp_client):  # noqa: F811
    """The simulated bank on a port, the city's collection account and bank profile, the ledger funded."""
    conn = await connect(db_url)
    try:
        await load_payments_demo(conn, settings, keys)
        await record_opening_balance(
            conn,
            bin_=CITY_BIN,
            account_number=CITY_ACCOUNT,
            amount=2_000_000_000,
            as_of=datetime.now(LOCAL_TZ).date(),
            actor="test",
        )
    finally:
        await conn.close()
    key_id, key = ensure_demo_bank_key(settings.var_dir)
    server = await aiohttp_server(
        create_banksim_app(
            database_url=banksim_db,
            config=BankSimConfig(signing_key=key, signing_key_id=key_id, worker=False),
        )
    )
    sim = await aiohttp_client(server)
    return sim, str(server.make_url("")).rstrip("/"), banksim_db


@pytest.fixture
async def pool(service_db_url):
    pool = await create_pool(service_db_url, min_size=1, max_size=8)
    yield pool
    await pool.close()


async def execute(pool, keys, settings, batch_id: int, config: ExecutionConfig = FAST, within: float = 30.0):
    """Run this test's own execution worker until the batch completes."""
    deadline = asyncio.get_running_loop().time() + within
    async with execution_worker(pool, keys, settings, config) as worker:
        while True:
            await worker.run_due()
            state = await pool.fetchval("SELECT state FROM disb_batches WHERE id = $1", batch_id)
            if state == "completed":
                return
            assert asyncio.get_running_loop().time() < deadline, f"batch still {state}"
            await asyncio.sleep(0.05)


async def sim_payouts(dsn: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(
            """SELECT p.idempotency_key, p.status, p.reason_code, p.fault, p.amount,
                      (SELECT count(*) FROM transfers t
                        WHERE t.end_to_end_id = left(p.idempotency_key, 35)) AS transfers
                 FROM payouts p ORDER BY p.idempotency_key"""
        )
    finally:
        await conn.close()


async def _approved(conn, programme: str, period: str) -> int:
    batch = await build_batch(conn, programme, period, maker="staff:maker")
    await approve_batch(conn, batch.id, checker="staff:checker")
    return batch.id


async def test_each_refusal_code_and_a_changed_account(bank, conn, pool, keys, settings):
    sim, url, sim_db = bank
    settings = replace(settings, banksim_url=url)
    ids = {
        "an": await add_beneficiary(
            conn, keys, name="Nguyễn Văn An", account="0011000456789", amount=3_000_000
        ),
        "ngoc": await add_beneficiary(
            conn, keys, name="Ngọc Trần Thị Bích", account="0011000567890", amount=2_000_000
        ),
        "mai": await add_beneficiary(
            conn, keys, name="Đỗ Thị Mai", account="101876543210", bin_="970415", amount=1_000_000
        ),
        "closed": await add_beneficiary(
            conn, keys, name="Hoàng Minh Đức", account="0011000890123", amount=1_100_000
        ),
        "blocked": await add_beneficiary(
            conn, keys, name="Vũ Quang Huy", account="0011000901234", amount=1_200_000
        ),
        "deceased": await add_beneficiary(
            conn, keys, name="Đặng Văn Bình", account="1500205123456", bin_="970405", amount=1_300_000
        ),
        "wrong": await add_beneficiary(
            conn, keys, name="Cao Văn Sai", account="0011999999999", amount=1_400_000
        ),
        "name": await add_beneficiary(
            conn, keys, name="Trần Văn Bê", account="0011000789012", amount=1_500_000
        ),
        "dup": await add_beneficiary(
            conn, keys, name="Lê Đức Thắng", account="0011000678901", amount=1_600_000
        ),
        "moved": await add_beneficiary(
            conn, keys, name="Ngô Thị Lan", account="0987654321", bin_="970422", amount=1_700_000
        ),
    }
    batch_id = await _approved(conn, "pension", "2026-01")
    # The same payment already booked by the bank under another key (a parallel run elsewhere): AM05.
    resp = await sim.post(
        "/sim/api/payouts",
        json={
            "to_bin": "970436",
            "to_account": "0011000678901",
            "amount": 1_600_000,
            "narrative": "CITYPAY PENSION 2026-01",
        },
        headers={"Idempotency-Key": "ELSEWHERE-1"},
    )
    assert resp.status == 200 and (await resp.json())["status"] == "booked"
    # After approval, before execution: Lan's account is changed (new, unverified): her item is held.
    await add_account(conn, keys, ids["moved"], account="0987650000", bin_="970422", state="unverified")

    await execute(pool, keys, settings, batch_id)

    summary = await batch_summary(conn, batch_id)
    assert summary.state == "completed"
    assert summary.counts["paid"] == 3 and summary.counts["failed"] == 6 and summary.counts["held"] == 1
    assert summary.failed_by_reason == {"AC01": 1, "AC04": 1, "AC06": 1, "AM05": 1, "BE01": 1, "MD07": 1}
    assert summary.held_by_reason == {"account_changed": 1}
    items = {
        r["beneficiary_id"]: r
        for r in await conn.fetch("SELECT * FROM disb_items WHERE batch_id = $1", batch_id)
    }
    assert items[ids["blocked"]]["retryable"] is True and not items[ids["blocked"]]["needs_review"]
    assert items[ids["dup"]]["needs_review"] and items[ids["dup"]]["retryable"] is False
    assert items[ids["name"]]["needs_review"]
    stopped = {
        r["id"]: r["payments_stopped_reason"]
        for r in await conn.fetch("SELECT id, payments_stopped_reason FROM disb_beneficiaries")
    }
    assert stopped[ids["closed"]] == "AC04" and stopped[ids["deceased"]] == "MD07"
    assert sum(1 for v in stopped.values() if v) == 2
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'disb.payments_stopped'") == 2

    # The ledger: each paid item posted its share (an entry with the bank's ids), the rest released.
    paid = 3_000_000 + 2_000_000 + 1_000_000
    assert await account_balance(conn, "expense:benefit:pension") == paid
    reserve = await conn.fetchrow(
        "SELECT * FROM ledger_pending WHERE idempotency_key = $1", f"disb-batch:{batch_id}"
    )
    assert reserve["state"] == "settled" and reserve["amount"] == summary.control_sum
    assert reserve["posted_total"] == paid and reserve["released_total"] == summary.control_sum - paid
    assert not await conn.fetchval(
        "SELECT count(*) FROM ledger_pending_parts WHERE idempotency_key LIKE '%:rest'"
    )
    entries = await conn.fetch("SELECT refs FROM journal_entries WHERE kind = 'disbursement.payout'")
    assert len(entries) == 3
    booked = {r["idempotency_key"]: r for r in await sim_payouts(sim_db)}
    for e in entries:
        refs = e["refs"]
        item = next(i for i in items.values() if i["end_to_end_id"] == refs["end_to_end_id"])
        assert item["bank_txn_id"] == refs["bank_txn_id"] and refs["batch"] == str(batch_id)
        assert booked[refs["end_to_end_id"]]["transfers"] == 1
    assert sum(r.balance for r in await trial_balance(conn)) == 0
    # Never sent: the held item; sent once each: the others (the AM05 one refused, the first booking stands).
    assert items[ids["moved"]]["end_to_end_id"] not in booked
    assert booked[items[ids["dup"]]["end_to_end_id"]]["reason_code"] == "AM05"
    assert len(booked) == 10  # 9 of ours + the one made elsewhere

    # The stopped beneficiaries are held out of the next period's batch.
    nxt = await build_batch(conn, "pension", "2026-02", maker="staff:maker")
    held = dict(
        await conn.fetch(
            "SELECT beneficiary_id, hold_reason FROM disb_items WHERE batch_id = $1 AND state = 'held'",
            nxt.id,
        )
    )
    assert held[ids["closed"]] == "stopped_ac04" and held[ids["deceased"]] == "stopped_md07"


async def test_payout_timeouts_after_booking_are_resolved_by_inquiry(bank, conn, pool, keys, settings):
    sim, url, sim_db = bank
    settings = replace(settings, banksim_url=url)
    await add_beneficiary(conn, keys, name="Nguyễn Văn An", account="0011000456789", amount=3_000_000)
    await add_beneficiary(conn, keys, name="Trần Thị Bích Ngọc", account="0011000567890", amount=2_000_000)
    await add_beneficiary(conn, keys, name="Lê Đức Thắng", account="0011000678901", amount=1_000_000)
    batch_id = await _approved(conn, "pension", "2026-01")
    resp = await sim.post("/sim/api/faults", json={"fault": "payout_timeout", "count": 2})
    assert resp.status == 200

    await execute(pool, keys, settings, batch_id)

    summary = await batch_summary(conn, batch_id)
    assert summary.counts["paid"] == 3 and summary.paid_sum == 6_000_000
    payouts = await sim_payouts(sim_db)
    assert len(payouts) == 3 and all(p["transfers"] == 1 and p["status"] == "booked" for p in payouts)
    assert sum(1 for p in payouts if p["fault"] == "payout_timeout") == 2
    # the two that timed out were settled by asking, not by sending under a new key
    unknown = await conn.fetch(
        "SELECT attempts, last_error FROM disb_items WHERE batch_id = $1 AND last_error IS NOT NULL", batch_id
    )
    assert len(unknown) == 2 and all("504" in r["last_error"] for r in unknown)
    assert await account_balance(conn, "expense:benefit:pension") == 6_000_000


async def test_an_item_left_sending_by_a_dead_worker_is_asked_about_then_sent_once(
    bank, conn, pool, keys, settings
):
    _sim, url, sim_db = bank
    settings = replace(settings, banksim_url=url)
    await add_beneficiary(conn, keys, name="Nguyễn Văn An", account="0011000456789", amount=3_000_000)
    batch_id = await _approved(conn, "pension", "2026-01")
    # A worker starts, records its intent (sending, committed) … and dies before calling the bank.
    async with execution_worker(pool, keys, settings, FAST):
        from disbursements.execution import start_execution

        batch = await start_execution(pool, batch_id)
        claimed = await claim_items(pool, batch, FAST)
    assert len(claimed) == 1 and claimed[0].was == "ready"
    assert await conn.fetchval("SELECT state FROM disb_items WHERE id = $1", claimed[0].id) == "sending"
    await conn.execute(
        "UPDATE disb_items SET lease_until = now() - interval '1 second' WHERE id = $1", claimed[0].id
    )

    await execute(pool, keys, settings, batch_id)

    item = await conn.fetchrow("SELECT * FROM disb_items WHERE id = $1", claimed[0].id)
    assert item["state"] == "paid" and item["attempts"] == 2
    payouts = await sim_payouts(sim_db)
    assert [(p["idempotency_key"], p["transfers"]) for p in payouts] == [(item["end_to_end_id"], 1)]


async def test_not_funded_batch_waits_and_pays_nothing(bank, conn, pool, keys, settings):
    _sim, url, sim_db = bank
    settings = replace(settings, banksim_url=url)
    for name, account in (
        ("Nguyễn Văn An", "0011000456789"),
        ("Trần Thị Bích Ngọc", "0011000567890"),
        ("Lê Đức Thắng", "0011000678901"),
    ):  # 3,000,000,000 ₫ against 2,000,000,000 ₫ in the funding account
        await add_beneficiary(conn, keys, name=name, account=account, amount=1_000_000_000)
    batch_id = await _approved(conn, "pension", "2026-01")
    async with execution_worker(pool, keys, settings, FAST) as worker:
        await worker.run_due()
    batch = await conn.fetchrow(
        "SELECT state, last_error, reserve_id FROM disb_batches WHERE id = $1", batch_id
    )
    assert (
        batch["state"] == "approved" and "below zero" in batch["last_error"] and batch["reserve_id"] is None
    )
    assert await sim_payouts(sim_db) == []
