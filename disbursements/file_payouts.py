"""Batches the bank executes from a file (channel `file`): finance downloads the pain.001 once the batch is
approved, and the bank's statement tells what was paid.

Handing the file out is the send: in one transaction the batch starts (its funds reserved, as the worker's
batches are) and every ready item becomes `sending` with no deadline (no worker ever asks the bank about a
file batch's items: nobody sends them again). Afterwards the claimant below takes each statement debit that
carries a sent item's end-to-end id and amount, marks the item paid with the bank's transaction id, posts the
item's share of the reserve (the entry the line is matched to), and completes the batch once every item is
paid. A transfer the bank refused from the file never reaches the statement: it stays `sending`, visible on
the batch page, until the bank's status report is read (not built yet: pain.002).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import structlog

from core.audit import record_audit
from core.money import LOCAL_TZ
from disbursements.batches import HOLD_AT_SEND_SQL, Batch, batch_by_id
from ledger import Part, open_day_for, pending_by_id, release_part
from ledger import resolve_parts as resolve_reserve_parts
from reconciliation.claims import Claim, Scope

log = structlog.get_logger("disbursements.file_payouts")
ACTOR = "system:disbursements.file"


async def issue_file(conn: asyncpg.Connection, batch: Batch, actor: str) -> None:
    """The first download of a file batch's pain.001 sends it: ready items → sending, the batch marked as
    issued. Runs in the caller's transaction, with the batch row locked and already executing."""
    if batch.channel != "file" or batch.file_issued_at is not None:
        return
    # An item no longer payable (its account replaced since the batch was built, say) is held, as the API
    # channel holds it when sending: the file would otherwise name the old account. Its share of the reserve
    # is released with the batch's rest when the batch completes.
    sent, held = await conn.fetchrow(
        f"""WITH info AS (
                SELECT i.id, {HOLD_AT_SEND_SQL} AS hold
                  FROM disb_items i JOIN disb_beneficiaries b ON b.id = i.beneficiary_id
                  LEFT JOIN disb_accounts a ON a.id = i.account_id
                 WHERE i.batch_id = $1 AND i.state = 'ready'),
            s AS (UPDATE disb_items i
                     SET state = CASE WHEN info.hold IS NULL THEN 'sending' ELSE 'held' END,
                         hold_reason = info.hold,
                         lease_until = CASE WHEN info.hold IS NULL THEN 'infinity'::timestamptz END,
                         sent_at = CASE WHEN info.hold IS NULL THEN now() ELSE i.sent_at END,
                         attempts = i.attempts + CASE WHEN info.hold IS NULL THEN 1 ELSE 0 END,
                         resolved_at = CASE WHEN info.hold IS NULL THEN NULL ELSE now() END,
                         share_settled = info.hold IS NOT NULL
                    FROM info WHERE i.id = info.id RETURNING i.state)
           SELECT count(*) FILTER (WHERE state = 'sending'), count(*) FILTER (WHERE state = 'held') FROM s""",
        batch.id,
    )
    await conn.execute("UPDATE disb_batches SET file_issued_at = now() WHERE id = $1", batch.id)
    await record_audit(
        conn,
        actor=actor,
        action="disb.batch_file_issued",
        subject=f"disb-batch:{batch.id}",
        before={"state": batch.state, "file_issued_at": None},
        after={"items_sent": sent, "items_held": held},
    )


async def claim_file_payouts(conn: asyncpg.Connection, scope: Scope) -> list[Claim]:
    """Statement debits paying a file batch's sent item (same end-to-end id, amount, funding account)."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (i.id) l.line_id, l.bank_ref, i.id AS item_id, i.batch_id, i.amount,
                  i.end_to_end_id, b.reserve_id
             FROM recon_open_lines l
             JOIN disb_items i ON i.end_to_end_id = l.end_to_end_id AND i.amount = l.amount
             JOIN disb_batches b ON b.id = i.batch_id AND b.channel = 'file'
             JOIN disb_programmes p ON p.code = i.programme
            WHERE l.bin = $1 AND l.account_number = $2 AND l.booking_date BETWEEN $3 AND $4
              AND l.direction = 'debit' AND NOT l.reversal AND i.state IN ('sending', 'sent_unknown')
              AND p.funding_account = 'asset:bank:' || l.bin || ':' || l.account_number
            ORDER BY i.id, l.line_id""",
        scope.bin,
        scope.account_number,
        scope.date_from,
        scope.date_to,
    )
    # One line per item (DISTINCT ON): a second statement line for the same transfer is not a second payment;
    # it stays for the later passes and becomes a duplicate exception a person sees.
    claims: list[Claim] = []
    business_date = await open_day_for(conn, datetime.now(LOCAL_TZ).date())
    # The UPDATE locks each item and re-checks its state: only what it moved is claimed.
    moved = {
        r["id"]
        for r in await conn.fetch(
            """UPDATE disb_items i SET state = 'paid', bank_txn_id = u.txn, lease_until = NULL,
                      resolved_at = now(), share_settled = true
                 FROM unnest($1::bigint[], $2::text[]) AS u(id, txn)
                WHERE i.id = u.id AND i.state IN ('sending', 'sent_unknown')
            RETURNING i.id""",
            [r["item_id"] for r in rows],
            [r["bank_ref"] for r in rows],
        )
    }
    rows = [r for r in rows if r["item_id"] in moved]
    for reserve_id in sorted({r["reserve_id"] for r in rows}):
        mine = [r for r in rows if r["reserve_id"] == reserve_id]
        parts = await resolve_reserve_parts(
            conn,
            reserve_id,
            business_date=business_date,
            posts=[
                Part(
                    f"disb-item:{r['item_id']}",
                    r["amount"],
                    {
                        "end_to_end_id": r["end_to_end_id"],
                        "bank_txn_id": r["bank_ref"],
                        "batch": str(r["batch_id"]),
                    },
                )
                for r in mine
            ],
        )
        claims += [Claim(r["line_id"], parts.entry_ids[f"disb-item:{r['item_id']}"]) for r in mine]
    for batch_id in sorted({r["batch_id"] for r in rows}):
        await _complete_when_all_paid(conn, batch_id)
    if claims:
        log.info("disb_file_payouts_claimed", lines=len(claims))
    return claims


async def _complete_when_all_paid(conn: asyncpg.Connection, batch_id: int) -> None:
    batch = await batch_by_id(conn, batch_id, lock=True)
    if batch.state != "executing" or await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM disb_items
                           WHERE batch_id = $1 AND state IN ('ready', 'sending', 'sent_unknown'))""",
        batch_id,
    ):
        return
    released = 0
    pending = await pending_by_id(conn, batch.reserve_id) if batch.reserve_id is not None else None
    if pending is not None and pending.remaining > 0:  # nothing, when every item was paid
        released = pending.remaining
        await release_part(conn, pending.id, amount=released, idempotency_key=f"disb-batch:{batch_id}:rest")
    await conn.execute(
        "UPDATE disb_batches SET state = 'completed', completed_at = now() WHERE id = $1", batch_id
    )
    await record_audit(
        conn,
        actor=ACTOR,
        action="disb.batch_completed",
        subject=f"disb-batch:{batch_id}",
        before={"state": "executing"},
        after={"state": "completed", "channel": "file", "released_rest": released},
    )
