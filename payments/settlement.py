"""Settlement: "the bank credited account X with amount A for narrative N, transaction T" → one ledger entry
and the request's new state, in the caller's transaction. Every anomaly keeps the money traceable:

exact → settled · less than due → held (accounts.HELD), request stays pending until the rest arrives ·
more → settled, excess to accounts.REFUNDS_DUE · paid (by the bank's booking time) after expiry/cancel/paid,
or no known reference → accounts.SUSPENSE for refund · above the inbound sanity cap, or to a city account
other than the request's → accounts.SUSPENSE, held for finance, never settles anything. A repeated (bank,
transaction id) returns the first outcome and books nothing.

The journal memo carries no personal data; the narrative is stored encrypted, with a redacted copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from core.keys import AppKeys
from core.money import LOCAL_TZ
from core.pii import encrypt_pii
from ledger import accounts, open_day_for, post_entry
from payments.banks.event import BankCredit
from payments.narrative import NARRATIVE_CONTEXT, redact_narrative
from payments.receipts import settling_payments, store_receipt
from payments.reference import find_reference_in_narrative
from payments.requests import business_date_of, notify_status

DEFAULT_LATE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Settlement:
    outcome: str  # settled | overpaid | underpaid | late | cancelled | already_paid | unknown_reference
    payment_id: int
    entry_id: int
    payment_request_id: str | None
    reference: str | None
    duplicate: bool  # True when this bank transaction had been processed before


async def first_outcome(conn: asyncpg.Connection, bank_code: str, bank_txn_id: str) -> Settlement | None:
    """What became of a bank transaction the first time it was booked, or None if it never was."""
    row = await conn.fetchrow(
        "SELECT * FROM payments_received WHERE bank_code = $1 AND bank_txn_id = $2", bank_code, bank_txn_id
    )
    if row is None:
        return None
    request_id = str(row["payment_request_id"]) if row["payment_request_id"] else None
    return Settlement(row["outcome"], row["id"], row["entry_id"], request_id, row["reference"], True)


async def _reopen_expired(conn: asyncpg.Connection, request: asyncpg.Record) -> bool:
    """A request the sweeper expired although the citizen paid in time: take its subsidy back (it was given
    back at expiry) and make it pending again, so the payment settles it. False when that cannot be done
    honestly — money was held and already moved to suspense, or the subsidy budget is gone."""
    if request["amount_received"]:
        return False
    if request["subsidy_amount"]:
        taken = await conn.fetchval(
            """UPDATE subsidy_programmes SET budget_used = budget_used + $2
                WHERE code = $1 AND budget_used + $2 <= budget_cap RETURNING true""",
            request["subsidy_code"],
            request["subsidy_amount"],
        )
        if not taken:
            return False
    await conn.execute(
        "UPDATE payment_requests SET status = 'pending', closed_at = NULL WHERE id = $1", request["id"]
    )
    return True


async def settle_credit(
    conn: asyncpg.Connection,
    keys: AppKeys,
    credit: BankCredit,
    *,
    now: datetime | None = None,
    sanity_cap: int | None = None,
    late_tolerance: timedelta = DEFAULT_LATE_TOLERANCE,
) -> Settlement:
    """Book one bank credit. Must be called inside the transaction that also records the callback, so the
    inbox row, the ledger entry and the request change commit together or not at all.

    Lateness is judged by the bank's booking time (plus `late_tolerance` for clocks), never by when the
    callback arrived: a citizen who paid in time is settled even after an outage delayed the callback."""
    if not conn.is_in_transaction():
        raise RuntimeError("settle_credit runs inside the caller's transaction")
    now = now or datetime.now(UTC)
    # Serialise on the bank transaction id: a concurrent duplicate waits here, then sees the first outcome.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{credit.bank_code}:{credit.bank_txn_id}"
    )
    first = await first_outcome(conn, credit.bank_code, credit.bank_txn_id)
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
    bank = accounts.bank_account(credit.credited_bin, credit.credited_account)
    day = await open_day_for(conn, business_date_of(credit.booked_at))  # a closed day books on the next
    amount = credit.amount
    refs = {"bank": credit.bank_code, "bank_txn_id": credit.bank_txn_id}
    if request is not None:
        refs |= {"payment_request": str(request["id"]), "reference": request["reference"]}
    on_time = request is not None and credit.booked_at <= request["expires_at"] + late_tolerance
    reopen = request is not None and request["status"] == "expired" and on_time
    if reopen and request is not None and await _reopen_expired(conn, request):
        request = {**request, "status": "pending"}

    parked = [(bank, amount), (accounts.SUSPENSE, -amount)]
    if sanity_cap is not None and amount > sanity_cap:
        outcome, lines = "over_cap", parked
    elif request is None:
        outcome, lines = "unknown_reference", parked
    elif (request["collection_bin"], request["collection_account"]) != (
        credit.credited_bin,
        credit.credited_account,
    ):
        outcome, lines = "wrong_account", parked
    elif request["status"] == "pending" and not on_time:
        outcome, lines = "late", parked
    elif request["status"] != "pending":
        outcome = {"expired": "late", "cancelled": "cancelled", "paid": "already_paid"}[request["status"]]
        lines = parked
    else:
        held = request["amount_received"]
        total = held + amount
        due = request["amount_due"]
        if total < due:
            outcome, lines = "underpaid", [(bank, amount), (accounts.HELD, -amount)]
        else:
            outcome = "settled" if total == due else "overpaid"
            lines = [(bank, amount), (request["revenue_account"], -request["fee_amount"])]
            if held:
                lines.append((accounts.HELD, held))
            if request["subsidy_amount"]:
                lines.append((accounts.subsidy_expense(request["subsidy_code"]), request["subsidy_amount"]))
            if total > due:
                lines.append((accounts.REFUNDS_DUE, -(total - due)))

    entry = await post_entry(
        conn,
        idempotency_key=f"credit:{credit.bank_code}:{credit.bank_txn_id}",
        kind=f"credit.{outcome}",
        business_date=day,
        lines=lines,
        refs=refs,
        memo=f"{credit.bank_code} {credit.bank_txn_id} {outcome}",  # no narrative: it holds personal data
    )
    # Returns what a receipt lists of a payment, so the receipt below needs no read-back.
    payment = await conn.fetchrow(
        """INSERT INTO payments_received (bank_code, bank_txn_id, amount, credited_bin, credited_account,
               narrative, narrative_encrypted, booked_at, reference, payment_request_id, outcome, entry_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           RETURNING id, bank_code, bank_txn_id, amount, booked_at""",
        credit.bank_code,
        credit.bank_txn_id,
        amount,
        credit.credited_bin,
        credit.credited_account,
        redact_narrative(credit.narrative),
        encrypt_pii(keys, credit.narrative, context=NARRATIVE_CONTEXT),
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
            await store_receipt(
                conn,
                keys,
                {**updated, "bank_name": request["bank_name"]},
                credits,
                payer_name=credit.payer_name,  # the bank said it: no need to decrypt the stored callback
            )
        await notify_status(conn, request["reference"])
    return Settlement(
        outcome,
        payment["id"],
        entry.id,
        str(request["id"]) if request else None,
        request["reference"] if request else None,
        False,
    )


# The bank's statement as a source of credits ----------------------------------------------------------------


async def settle_statement_credit(
    conn: asyncpg.Connection,
    keys: AppKeys,
    *,
    credited_bin: str,
    credited_account: str,
    bank_ref: str,
    amount: int,
    booked_on: date,
    narrative: str,
    now: datetime | None = None,
    sanity_cap: int | None = None,
    late_tolerance: timedelta = DEFAULT_LATE_TOLERANCE,
) -> Settlement | None:
    """A credit the bank's statement shows but no callback brought (a lost callback): settle it exactly as the
    callback would have — the same `settle_credit`, with the account's bank profile as `bank_code` and the
    statement's bank reference as `bank_txn_id`, so a callback that arrives later is a duplicate and books
    nothing. Booked as of the start of the booking day in Hà Nội (a statement gives a date, not a time; a
    request still open that day is settled). Runs in the caller's transaction.

    None when there is nothing to settle by: the narrative names no payment request we issued, or no bank
    profile serves the account's bank (finance then sees the line as "in bank, not in ledger")."""
    reference = find_reference_in_narrative(narrative)
    if reference is None:
        return None
    if not await conn.fetchval("SELECT true FROM payment_requests WHERE reference = $1", reference):
        return None
    bank_code = await conn.fetchval(
        "SELECT code FROM bank_profiles WHERE bin = $1 ORDER BY active DESC, code LIMIT 1", credited_bin
    )
    if bank_code is None:
        return None
    credit = BankCredit(
        bank_code=bank_code,
        bank_txn_id=bank_ref,
        credited_bin=credited_bin,
        credited_account=credited_account,
        amount=amount,
        currency="VND",
        booked_at=datetime.combine(booked_on, time.min, LOCAL_TZ),
        narrative=narrative,
        payer_name=None,
        payer_account_masked=None,
    )
    return await settle_credit(
        conn, keys, credit, now=now, sanity_cap=sanity_cap, late_tolerance=late_tolerance
    )


async def collection_accounts_to_close(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """(BIN, account number) of every active collection account: reconciliation closes the ledger's day once
    each of them has closed it."""
    rows = await conn.fetch(
        "SELECT bin, account_number FROM collection_accounts WHERE active ORDER BY bin, account_number"
    )
    return [(r["bin"], r["account_number"]) for r in rows]
