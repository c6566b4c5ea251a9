"""A collection account's opening balance: what it already held when citypay started booking it. Booked
once (Dr the bank account, Cr the opening-balances account), so the ledger's bank account can equal the
bank's statement from the first reconciled day on."""

from __future__ import annotations

from datetime import date

import asyncpg

from core.audit import record_audit
from core.errors import ValidationFailed
from ledger import JournalEntry, accounts, open_day_for, post_entry


async def record_opening_balance(
    conn: asyncpg.Connection, *, bin_: str, account_number: str, amount: int, as_of: date, actor: str
) -> JournalEntry:
    """Idempotent per account: a second call with the same amount returns the first entry; another amount is
    a conflict (a correction is an adjustment through reconciliation, with four eyes)."""
    if amount <= 0:
        raise ValidationFailed("an opening balance is a positive number of đồng", field="amount")
    async with conn.transaction():
        entry = await post_entry(
            conn,
            idempotency_key=f"opening:{bin_}:{account_number}",
            kind="opening_balance",
            business_date=await open_day_for(conn, as_of),
            lines=[
                (accounts.bank_account(bin_, account_number), amount),
                (accounts.OPENING_BALANCES, -amount),
            ],
            refs={"bin": bin_, "account": account_number[-4:]},
            memo="opening balance",
        )
        if entry.created:  # a repeat books nothing and records nothing
            await record_audit(
                conn,
                actor=actor,
                action="payments.opening_balance",
                subject=f"collection_account:{bin_}:{account_number[-4:]}",
                after={"amount": amount, "business_date": entry.business_date.isoformat()},
            )
    return entry
