"""Shared set-up for the workbench and report tests: real payment requests paid by real signed callbacks
over HTTP, and reconciliation rows (statements, lines, matches, exceptions, day closes) inserted as the
importer and the matcher would leave them."""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from datetime import UTC, date, datetime, timedelta

from core.db import connect
from core.demo_bank_key import DEMO_BANK_CODE
from core.money import LOCAL_TZ
from ledger import accounts
from payments.banks import sign_v1_headers
from payments.requests import NewRequest, issue_payment_request
from tests.payments.conftest import BANK_ACCOUNT, BANK_BIN

CALLBACK_URL = f"/api/v1/bank-callbacks/{DEMO_BANK_CODE}"
ACCOUNT = f"{BANK_BIN}:{BANK_ACCOUNT}"
_n = itertools.count(1)


def today() -> date:
    return datetime.now(LOCAL_TZ).date()


async def new_request(db_url, keys, fee_code="LLTP", *, payer_reference=None, parking_lot=None):
    conn = await connect(db_url)
    try:
        if parking_lot:
            new = NewRequest(
                kind="parking",
                fee_code=None,
                amount=30_000,
                purpose_vi="Phí trông giữ xe",
                purpose_en="Parking fee",
                revenue_account=accounts.parking_revenue(parking_lot),
                collection_account_code="hanoi-treasury",
                payer_reference=str(uuid.uuid4()),
            )
        else:
            new = NewRequest(kind="service_fee", fee_code=fee_code, payer_reference=payer_reference)
        return await issue_payment_request(
            conn, keys, new, created_by="test", amount_cap=10**9, default_expiry=timedelta(days=1)
        )
    finally:
        await conn.close()


async def pay(client, bank_key, narrative: str, amount: int, txn: str | None = None) -> dict:
    """A signed citypay-bank-v1 callback, as the bank sends it; returns the bank's view of the answer."""
    txn = txn or f"FTWB{next(_n):08d}"
    body = json.dumps(
        {
            "bank_txn_id": txn,
            "credited_bin": BANK_BIN,
            "credited_account": BANK_ACCOUNT,
            "amount": amount,
            "currency": "VND",
            "booked_at": datetime.now(UTC).isoformat(),
            "narrative": narrative,
            "payer_name": "NGUYEN VAN AN",
            "payer_account_masked": "****6789",
        }
    ).encode()
    kid, key = bank_key
    headers = {**sign_v1_headers(key, kid, body, now=datetime.now(UTC)), "Content-Type": "application/json"}
    resp = await client.post(CALLBACK_URL, data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return {"txn": txn}


async def entry_of(pool, reference: str) -> int:
    return await pool.fetchval(
        """SELECT entry_id FROM payments_bank_credits WHERE reference = $1
            ORDER BY payment_id DESC LIMIT 1""",
        reference,
    )


async def statement(pool, day: date, *, opening=0, closing=0, ref=None) -> int:
    """One statement of the demo collection account covering `day` (and its file)."""
    ref = ref or f"STMT-{next(_n)}"
    file_id = await pool.fetchval(
        """INSERT INTO recon_files (sha256, filename, format, size_bytes, source, imported_by)
           VALUES ($1, $2, 'camt.053.001.02', 100, 'upload', 'test') RETURNING id""",
        hashlib.sha256(ref.encode()).digest(),
        f"{ref}.xml",
    )
    return await pool.fetchval(
        """INSERT INTO recon_statements (file_id, bin, account_number, statement_ref, sequence, from_date,
               to_date, opening_balance, closing_balance, line_count, new_lines)
           VALUES ($1, $2, $3, $4, 1, $5, $5, $6, $7, 0, 0) RETURNING id""",
        file_id,
        BANK_BIN,
        BANK_ACCOUNT,
        ref,
        day,
        opening,
        closing,
    )


async def line(
    pool,
    statement_id: int,
    day: date,
    amount: int,
    *,
    state="unmatched",
    narrative="",
    direction="credit",
    match_entries: list[int] | None = None,
    match_state="accepted",
) -> int:
    line_id = await pool.fetchval(
        """INSERT INTO recon_lines (statement_id, bin, account_number, bank_ref, booking_date, direction,
               amount, narrative, narrative_encrypted, state)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'k1:not-used-here', $9) RETURNING id""",
        statement_id,
        BANK_BIN,
        BANK_ACCOUNT,
        f"BR{next(_n):08d}",
        day,
        direction,
        amount,
        narrative,
        state,
    )
    if match_entries:
        await pool.execute(
            """INSERT INTO recon_matches (line_id, rule, entry_ids, state)
               VALUES ($1, 'reference', $2, $3)""",
            line_id,
            match_entries,
            match_state,
        )
    return line_id


async def exception(
    pool, kind: str, day: date, amount: int, *, line_id=None, entry_id=None, state="open", note=None
) -> int:
    resolution = {"open": None, "carried": "carried", "resolved": "linked"}[state]
    return await pool.fetchval(
        """INSERT INTO recon_exceptions (kind, bin, account_number, business_date, line_id, entry_id, amount,
               state, resolution, note, resolved_by, resolved_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                   CASE WHEN $8 <> 'open' THEN 'staff:test' END, CASE WHEN $8 <> 'open' THEN now() END)
           RETURNING id""",
        kind,
        BANK_BIN,
        BANK_ACCOUNT,
        day,
        line_id,
        entry_id if entry_id is not None else (None if line_id else next(_n) + 10_000_000),
        amount,
        state,
        resolution,
        note,
    )


async def close_account_day(pool, day: date, balance: int, carried: int = 0) -> None:
    await pool.execute(
        """INSERT INTO recon_account_days (bin, account_number, business_date, statement_closing,
               ledger_closing, carried, closed_by) VALUES ($1, $2, $3, $4, $4, $5, 'staff:closer')""",
        BANK_BIN,
        BANK_ACCOUNT,
        day,
        balance,
        carried,
    )


async def counts(pool) -> tuple:
    return tuple(
        [
            await pool.fetchval(f"SELECT count(*) FROM {table}")
            for table in (
                "payment_requests",
                "payments_received",
                "journal_entries",
                "recon_lines",
                "recon_exceptions",
            )
        ]
    )
