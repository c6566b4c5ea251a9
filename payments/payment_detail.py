"""What finance may read of payments' own records, for reconciliation's workbench and reports: one request by
its reference with its credits, callbacks and receipt; a search; money held or in suspense; the collection
accounts; and set-based figures per revenue account. Account numbers leave here masked; narratives only in
their redacted copy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from core.money import LOCAL_TZ
from core.pii import mask_account
from payments.reference import is_valid_reference

# Outcomes whose money went to suspense (ledger SUSPENSE) rather than to a request.
SUSPENSE_OUTCOMES = ("late", "cancelled", "already_paid", "unknown_reference", "over_cap", "wrong_account")


@dataclass(frozen=True)
class CollectionAccount:
    code: str
    bin: str
    account_number: str
    holder_name: str
    bank_name: str
    active: bool


async def collection_accounts(conn: asyncpg.Connection) -> list[CollectionAccount]:
    """Every collection account of the city (active first), with its bank's short name."""
    rows = await conn.fetch(
        """SELECT c.code, c.bin, c.account_number, c.holder_name, b.short_name, c.active
             FROM collection_accounts c JOIN banks b ON b.bin = c.bin
            ORDER BY c.active DESC, c.code"""
    )
    return [CollectionAccount(*r) for r in rows]


_REQUEST_COLUMNS = """pr.id, pr.reference, pr.kind, pr.fee_code, pr.purpose_vi, pr.purpose_en,
       pr.payer_reference, pr.channel, pr.fee_amount, pr.subsidy_code, pr.subsidy_amount, pr.amount_due,
       pr.amount_received, pr.revenue_account, pr.collection_bin, pr.collection_account, pr.status,
       pr.created_by, pr.created_at, pr.expires_at, pr.settled_at, pr.closed_at, r.id AS receipt_id"""


def _request(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    out["collection_account"] = mask_account(out["collection_account"])
    out["receipt_id"] = str(out["receipt_id"]) if out["receipt_id"] else None
    out["id"] = str(out["id"])
    return out


async def payment_by_reference(conn: asyncpg.Connection, reference: str) -> dict[str, Any] | None:
    """One request with its receipt id (None when unpaid); None for an unknown or malformed reference."""
    if not is_valid_reference(reference):
        return None
    row = await conn.fetchrow(
        f"""SELECT {_REQUEST_COLUMNS} FROM payment_requests pr
              LEFT JOIN receipts r ON r.payment_request_id = pr.id
             WHERE pr.reference = $1""",
        reference,
    )
    return _request(row) if row else None


async def credits_for_request(conn: asyncpg.Connection, request_id: str) -> list[dict[str, Any]]:
    """The bank credits booked against a request, oldest first, with the ledger entry each one posted."""
    rows = await conn.fetch(
        """SELECT id, bank_code, bank_txn_id, amount, credited_bin, credited_account, narrative, booked_at,
                  outcome, entry_id, received_at
             FROM payments_received WHERE payment_request_id = $1::uuid ORDER BY booked_at, id""",
        request_id,
    )
    return [{**r, "credited_account": mask_account(r["credited_account"])} for r in rows]


async def callbacks_for_request(conn: asyncpg.Connection, request_id: str) -> list[dict[str, Any]]:
    """The callback inbox rows that booked a credit of this request (the raw body stays encrypted; what is
    shown is the protocol's metadata and the credited account, masked)."""
    rows = await conn.fetch(
        """SELECT i.id, i.bank_code, i.bank_txn_id, i.received_at, i.status, i.outcome, i.attempts,
                  i.deliveries, i.processed_at, p.credited_account, p.amount
             FROM callback_inbox i JOIN payments_received p ON p.id = i.payment_id
            WHERE p.payment_request_id = $1::uuid
            ORDER BY i.received_at, i.id""",
        request_id,
    )
    return [{**r, "credited_account": mask_account(r["credited_account"])} for r in rows]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_payments(
    conn: asyncpg.Connection, *, text: str | None = None, amount: int | None = None, limit: int = 200
) -> tuple[list[dict[str, Any]], int]:
    """Requests whose reference or agency reference (payer_reference) contains `text`, and/or whose amount
    (fee, due or received) equals `amount`; newest first, with how many match in all."""
    pattern = f"%{_like_escape(text.strip())}%" if text and text.strip() else None
    where = """WHERE ($1::text IS NULL OR pr.reference ILIKE $1 OR pr.payer_reference ILIKE $1)
                 AND ($2::bigint IS NULL OR $2 IN (pr.fee_amount, pr.amount_due, pr.amount_received))"""
    total = await conn.fetchval(f"SELECT count(*) FROM payment_requests pr {where}", pattern, amount)
    rows = await conn.fetch(
        f"""SELECT {_REQUEST_COLUMNS} FROM payment_requests pr
              LEFT JOIN receipts r ON r.payment_request_id = pr.id
             {where} ORDER BY pr.created_at DESC, pr.id LIMIT $3""",
        pattern,
        amount,
        limit,
    )
    return [_request(r) for r in rows], total


async def held_payments(conn: asyncpg.Connection, *, limit: int = 200) -> list[dict[str, Any]]:
    """Requests holding a part payment (ledger HELD): pending with money received, and the entries that
    booked those parts."""
    rows = await conn.fetch(
        """SELECT pr.reference, pr.payer_reference, pr.amount_due, pr.amount_received, pr.created_at,
                  pr.expires_at, coalesce(array_agg(p.entry_id ORDER BY p.id)
                                          FILTER (WHERE p.entry_id IS NOT NULL), '{}') AS entry_ids
             FROM payment_requests pr
             LEFT JOIN payments_received p ON p.payment_request_id = pr.id AND p.outcome = 'underpaid'
            WHERE pr.status = 'pending' AND pr.amount_received > 0
            GROUP BY pr.id ORDER BY pr.created_at, pr.id LIMIT $1""",
        limit,
    )
    return [{**r, "entry_ids": list(r["entry_ids"])} for r in rows]


async def suspense_credits(conn: asyncpg.Connection, *, limit: int = 200) -> list[dict[str, Any]]:
    """Credits whose money was booked to suspense (late, cancelled, already paid, unknown reference, over the
    cap, to another city account), newest first."""
    rows = await conn.fetch(
        """SELECT p.id, p.bank_code, p.bank_txn_id, p.amount, p.narrative, p.outcome, p.booked_at,
                  p.entry_id, p.credited_account, pr.reference
             FROM payments_received p LEFT JOIN payment_requests pr ON pr.id = p.payment_request_id
            WHERE p.outcome = ANY($1::text[])
            ORDER BY p.booked_at DESC, p.id DESC LIMIT $2""",
        list(SUSPENSE_OUTCOMES),
        limit,
    )
    return [{**r, "credited_account": mask_account(r["credited_account"])} for r in rows]


def _month_range(first: date) -> tuple[datetime, datetime]:
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return (
        datetime.combine(first, time(0), tzinfo=LOCAL_TZ),
        datetime.combine(following, time(0), tzinfo=LOCAL_TZ),
    )


@dataclass(frozen=True)
class PaidPerRevenueAccount:
    revenue_account: str
    kind: str  # service_fee | parking
    fee_code: str | None
    paid: int  # requests (parking: turns) paid in the month
    fees: int  # what they were worth (the revenue the ledger books)
    subsidies: int  # the part the city budget paid, which no bank credit carries


async def paid_per_revenue_account(conn: asyncpg.Connection, month: date) -> list[PaidPerRevenueAccount]:
    """Requests paid in a Hà Nội calendar month (by the moment they settled), per revenue account."""
    start, end = _month_range(month.replace(day=1))
    rows = await conn.fetch(
        """SELECT revenue_account, kind, min(fee_code) AS fee_code, count(*) AS paid,
                  sum(fee_amount)::bigint AS fees, sum(subsidy_amount)::bigint AS subsidies
             FROM payment_requests
            WHERE status = 'paid' AND settled_at >= $1 AND settled_at < $2
            GROUP BY revenue_account, kind ORDER BY revenue_account""",
        start,
        end,
    )
    return [PaidPerRevenueAccount(*r) for r in rows]


async def bank_amounts_per_revenue_account(
    conn: asyncpg.Connection, entry_ids: list[int], amounts: list[int]
) -> dict[str | None, tuple[int, int]]:
    """Bank amounts attributed to ledger entries (entry_ids[i] ↔ amounts[i]), grouped by the revenue account
    of the request each entry booked a credit for: {revenue account: (entries, sum)}; entries that booked no
    request's credit are under None. One query, whatever the number of entries."""
    rows = await conn.fetch(
        """SELECT pr.revenue_account, count(*) AS n, sum(x.amount)::bigint AS total
             FROM unnest($1::bigint[], $2::bigint[]) AS x(entry_id, amount)
             LEFT JOIN payments_received p ON p.entry_id = x.entry_id
             LEFT JOIN payment_requests pr ON pr.id = p.payment_request_id
            GROUP BY pr.revenue_account""",
        entry_ids,
        amounts,
    )
    return {r["revenue_account"]: (r["n"], r["total"]) for r in rows}
