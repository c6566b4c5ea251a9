"""Payouts that come back: the receiving bank returns a paid item's money (the account closed after the
payment, the holder died) and the city's statement shows a credit carrying the item's end-to-end id.

Reconciliation gives such lines to this claimant (`reconciliation.claims`) before it looks for payment
references in narratives, so a return is never settled as a citizen's payment or parked in suspense as an
unknown reference. For each line the claimant credits the programme back (debit the funding bank account,
credit the benefit expense: the reverse of the payout's entry), reopens the item as `returned` with the
bank's reason, stops further payouts to the beneficiary when the reason says the account is gone (AC04) or
the holder died (MD07), and audits it. One query finds the lines; booking is per line (returns are few).
"""

from __future__ import annotations

import re

import asyncpg
import structlog

from core.audit import record_audit
from ledger import open_day_for, post_entry
from reconciliation.claims import Claim, Scope

log = structlog.get_logger("disbursements.returns")
ACTOR = "system:disbursements.returns"
RETURN_KIND = "disb.return"
_REASON = re.compile(r"\b(AC01|AC04|AC06|BE01|MD07|MS02)\b")
STOPPING = {"AC04", "MD07"}


async def claim_returns(conn: asyncpg.Connection, scope: Scope) -> list[Claim]:
    """Credit lines in `scope` that return a paid item of the same amount to the account it left from."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (i.id) l.line_id, l.bank_ref, l.booking_date, l.narrative, i.id AS item_id,
                  i.batch_id,
                  i.beneficiary_id, i.amount, i.end_to_end_id, p.funding_account, p.expense_account
             FROM recon_open_lines l
             JOIN disb_items i ON i.end_to_end_id = l.end_to_end_id AND i.amount = l.amount
             JOIN disb_programmes p ON p.code = i.programme
            WHERE l.bin = $1 AND l.account_number = $2 AND l.booking_date BETWEEN $3 AND $4
              AND l.direction = 'credit' AND NOT l.reversal AND i.state = 'paid'
              AND p.funding_account = 'asset:bank:' || l.bin || ':' || l.account_number
            ORDER BY i.id, l.line_id""",
        scope.bin,
        scope.account_number,
        scope.date_from,
        scope.date_to,
    )
    # One line per item: a second credit for the same return is not a second return (it stays for the later
    # passes and becomes an exception a person sees).
    claims = []
    for r in rows:
        entry_id = await _book_return(conn, r)
        if entry_id is not None:
            claims.append(Claim(r["line_id"], entry_id))
    if claims:
        log.info("disb_returns_claimed", lines=len(claims), account=scope.account_number[-4:])
    return claims


async def _book_return(conn: asyncpg.Connection, r: asyncpg.Record) -> int | None:
    """The return's entry, or None when the item is no longer paid (another run took it first)."""
    found = _REASON.search(r["narrative"] or "")
    reason = found.group(1) if found else None
    # The UPDATE locks the item and re-checks it is still paid before anything is booked.
    if not await conn.fetchval(
        """UPDATE disb_items SET state = 'returned', reason_code = coalesce($2, reason_code),
                  resolved_at = now()
            WHERE id = $1 AND state = 'paid' RETURNING true""",
        r["item_id"],
        reason,
    ):
        return None
    entry = await post_entry(
        conn,
        idempotency_key=f"disb-return:{r['item_id']}",
        kind=RETURN_KIND,
        business_date=await open_day_for(conn, r["booking_date"]),
        lines=[(r["funding_account"], r["amount"]), (r["expense_account"], -r["amount"])],
        refs={
            "end_to_end_id": r["end_to_end_id"],
            "bank_txn_id": r["bank_ref"],
            "batch": str(r["batch_id"]),
            "item": str(r["item_id"]),
        },
        memo=f"payout returned{f' ({reason})' if reason else ''}",
    )
    await record_audit(
        conn,
        actor=ACTOR,
        action="disb.item_returned",
        subject=f"disb-item:{r['item_id']}",
        before={"state": "paid"},
        after={"state": "returned", "reason_code": reason, "bank_txn_id": r["bank_ref"], "entry": entry.id},
    )
    if reason in STOPPING:
        stopped = await conn.fetchval(
            """UPDATE disb_beneficiaries SET payments_stopped_reason = $2, payments_stopped_at = now(),
                      updated_at = now()
                WHERE id = $1 AND payments_stopped_reason IS NULL RETURNING true""",
            r["beneficiary_id"],
            reason,
        )
        if stopped:
            await record_audit(
                conn,
                actor=ACTOR,
                action="disb.payments_stopped",
                subject=f"disb-beneficiary:{r['beneficiary_id']}",
                before={"payments_stopped_reason": None},
                after={"payments_stopped_reason": reason, "returned_item": r["item_id"]},
            )
    return entry.id
