"""Reconciliation fixtures: the demo collection account, statements written straight into the tables (as the
importer stores them), credits booked as a callback would book them, and payment requests."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import asyncpg
import pytest

from core.keys import AppKeys
from core.money import LOCAL_TZ
from core.pii import encrypt_pii
from payments import NewRequest, issue_payment_request, redact_narrative
from payments.banks.event import BankCredit
from payments.settlement import settle_credit
from tests.payments.conftest import BANK_ACCOUNT, BANK_BIN, BANK_PATH, bank_key, catalogue  # noqa: F401

_seq = itertools.count(1)
__all__ = ["BANK_ACCOUNT", "BANK_BIN", "BANK_PATH"]


def yesterday() -> date:
    return datetime.now(LOCAL_TZ).date() - timedelta(days=1)


@dataclass(frozen=True)
class Line:
    bank_ref: str
    amount: int
    narrative: str = "CHUYEN TIEN"
    direction: str = "credit"
    reversal: bool = False
    end_to_end_id: str | None = None
    booking_date: date | None = None


async def add_statement(
    conn: asyncpg.Connection,
    keys: AppKeys,
    day: date,
    lines: Sequence[Line],
    *,
    opening: int = 0,
    closing: int | None = None,
) -> int:
    """One statement of the demo account for `day`, with its lines, as the importer stores them."""
    n = next(_seq)
    net = sum(x.amount if x.direction == "credit" else -x.amount for x in lines)
    file_id = await conn.fetchval(
        """INSERT INTO recon_files (sha256, filename, format, size_bytes, source, imported_by)
           VALUES ($1, 'test.xml', 'camt.053.001.02', 1, 'cli', 'test') RETURNING id""",
        hashlib.sha256(f"file-{n}-{day}".encode()).digest(),
    )
    statement_id = await conn.fetchval(
        """INSERT INTO recon_statements (file_id, bin, account_number, statement_ref, sequence, from_date,
               to_date, opening_balance, closing_balance, line_count, new_lines)
           VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $9) RETURNING id""",
        file_id,
        BANK_BIN,
        BANK_ACCOUNT,
        f"STMT-{n}",
        n,
        day,
        opening,
        opening + net if closing is None else closing,
        len(lines),
    )
    await conn.executemany(
        """INSERT INTO recon_lines (statement_id, bin, account_number, bank_ref, end_to_end_id, booking_date,
               value_date, direction, amount, reversal, narrative, narrative_encrypted)
           VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9, $10, $11)""",
        [
            (
                statement_id,
                BANK_BIN,
                BANK_ACCOUNT,
                x.bank_ref,
                x.end_to_end_id,
                x.booking_date or day,
                x.direction,
                x.amount,
                x.reversal,
                redact_narrative(x.narrative),
                encrypt_pii(keys, x.narrative, context="recon_lines.narrative"),
            )
            for x in lines
        ],
    )
    return statement_id


def at_noon(day: date) -> datetime:
    return datetime.combine(day, time(12), LOCAL_TZ)


async def book_credit(
    conn: asyncpg.Connection, keys: AppKeys, narrative: str, amount: int, txn: str, day: date
):
    """A credit booked as a callback books it (bank vcb-sim, the demo account)."""
    async with conn.transaction():
        return await settle_credit(
            conn,
            keys,
            BankCredit(
                bank_code="vcb-sim",
                bank_txn_id=txn,
                credited_bin=BANK_BIN,
                credited_account=BANK_ACCOUNT,
                amount=amount,
                currency="VND",
                booked_at=at_noon(day),
                narrative=narrative,
                payer_name="NGUYEN VAN A",
                payer_account_masked="****1234",
            ),
        )


async def new_request(conn: asyncpg.Connection, keys: AppKeys, fee: str = "LLTP") -> dict:
    return await issue_payment_request(
        conn,
        keys,
        NewRequest(kind="service_fee", fee_code=fee),
        created_by="test",
        amount_cap=10**9,
        default_expiry=timedelta(days=2),
    )


@pytest.fixture
async def rconn(db_url, catalogue):  # noqa: F811
    from core.db import connect

    conn = await connect(db_url)
    try:
        yield conn
    finally:
        await conn.close()
