"""Settlement: "the bank credited account X with amount A for narrative N, transaction T" → one ledger entry
and the request's new state, in the caller's transaction. Every anomaly keeps the money traceable:

exact → settled · less than due → held (liability:held), request stays pending until the rest arrives ·
more → settled, excess to liability:refunds · after expiry/cancel/paid, or no known reference →
liability:suspense for refund. A repeated (bank, transaction id) returns the first outcome and books nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from core.keys import AppKeys
from payments.banks.event import BankCredit
from payments.ledger import post_entry
from payments.receipts import settling_payments, store_receipt
from payments.reference import find_reference_in_narrative
from payments.requests import bank_account_path, business_date_of, notify_status


@dataclass(frozen=True)
class Settlement:
    outcome: str  # settled | overpaid | underpaid | late | cancelled | already_paid | unknown_reference
    payment_id: int
    entry_id: int
    payment_request_id: str | None
    reference: str | None
    duplicate: bool  # True when this bank transaction had been processed before


async def _first_outcome(conn: asyncpg.Connection, credit: BankCredit) -> Settlement | None:
    row = await conn.fetchrow(
        "SELECT * FROM payments_received WHERE bank_code = $1 AND bank_txn_id = $2",
        credit.bank_code,
        credit.bank_txn_id,
    )
    if row is None:
        return None
    request_id = str(row["payment_request_id"]) if row["payment_request_id"] else None
    return Settlement(row["outcome"], row["id"], row["entry_id"], request_id, row["reference"], True)


async def settle_credit(
    conn: asyncpg.Connection, keys: AppKeys, credit: BankCredit, *, now: datetime | None = None
) -> Settlement:
    """Book one bank credit. Must be called inside the transaction that also records the callback, so the
    inbox row, the ledger entry and the request change commit together or not at all."""
    if not conn.is_in_transaction():
        raise RuntimeError("settle_credit runs inside the caller's transaction")
    now = now or datetime.now(UTC)
    # Serialise on the bank transaction id: a concurrent duplicate waits here, then sees the first outcome.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{credit.bank_code}:{credit.bank_txn_id}"
    )
    first = await _first_outcome(conn, credit)
    if first is not None:
        return first

    reference = find_reference_in_narrative(credit.narrative)
    request = None
    if reference:
        request = await conn.fetchrow(
            """SELECT pr.*, b.short_name AS bank_name FROM payment_requests pr
                 JOIN banks b ON b.bin = pr.collection_bin
                WHERE pr.reference = $1 FOR UPDATE OF pr""",
            reference,
        )
    bank = bank_account_path(credit.credited_bin, credit.credited_account)
    day = business_date_of(credit.booked_at)
    amount = credit.amount
    refs = {"bank": credit.bank_code, "bank_txn_id": credit.bank_txn_id}
    if request is not None:
        refs |= {"payment_request": str(request["id"]), "reference": request["reference"]}

    if request is None:
        outcome, lines = "unknown_reference", [(bank, amount), ("liability:suspense", -amount)]
    elif request["status"] == "pending" and request["expires_at"] <= now:
        outcome, lines = "late", [(bank, amount), ("liability:suspense", -amount)]
    elif request["status"] != "pending":
        outcome = {"expired": "late", "cancelled": "cancelled", "paid": "already_paid"}[request["status"]]
        lines = [(bank, amount), ("liability:suspense", -amount)]
    else:
        held = request["amount_received"]
        total = held + amount
        due = request["amount_due"]
        if total < due:
            outcome, lines = "underpaid", [(bank, amount), ("liability:held", -amount)]
        else:
            outcome = "settled" if total == due else "overpaid"
            lines = [(bank, amount), (request["revenue_account"], -request["fee_amount"])]
            if held:
                lines.append(("liability:held", held))
            if request["subsidy_amount"]:
                lines.append((f"expense:subsidy:{request['subsidy_code']}", request["subsidy_amount"]))
            if total > due:
                lines.append(("liability:refunds", -(total - due)))

    entry = await post_entry(
        conn,
        idempotency_key=f"credit:{credit.bank_code}:{credit.bank_txn_id}",
        kind=f"credit.{outcome}",
        business_date=day,
        lines=lines,
        refs=refs,
        memo=credit.narrative[:200],
    )
    # Returns what a receipt lists of a payment, so the receipt below needs no read-back.
    payment = await conn.fetchrow(
        """INSERT INTO payments_received (bank_code, bank_txn_id, amount, credited_bin, credited_account,
               narrative, booked_at, reference, payment_request_id, outcome, entry_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           RETURNING id, bank_code, bank_txn_id, amount, booked_at""",
        credit.bank_code,
        credit.bank_txn_id,
        amount,
        credit.credited_bin,
        credit.credited_account,
        credit.narrative,
        credit.booked_at,
        reference if request is not None else None,
        request["id"] if request is not None else None,
        outcome,
        entry.id,
    )
    if request is not None and outcome in ("underpaid", "settled", "overpaid"):
        paid = outcome != "underpaid"
        updated = await conn.fetchrow(
            """UPDATE payment_requests SET amount_received = amount_received + $2,
                   status = CASE WHEN $3 THEN 'paid' ELSE status END,
                   settled_at = CASE WHEN $3 THEN $4 ELSE settled_at END,
                   closed_at = CASE WHEN $3 THEN $4 ELSE closed_at END
             WHERE id = $1 RETURNING *""",
            request["id"],
            amount,
            paid,
            now,
        )
        if paid:
            # The request was pending under our row lock, so it has no receipt yet; without earlier part
            # payments held, this payment is the only one it lists.
            held_before = request["amount_received"]
            credits = await settling_payments(conn, request["id"]) if held_before else [payment]
            await store_receipt(conn, keys, {**updated, "bank_name": request["bank_name"]}, credits)
        await notify_status(conn, request["reference"])
    return Settlement(
        outcome,
        payment["id"],
        entry.id,
        str(request["id"]) if request else None,
        request["reference"] if request else None,
        False,
    )
