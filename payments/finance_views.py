"""Finance's views of money in: payment requests to review (underpaid ones held) and credits whose money the
city holds for somebody, filtered by Hà Nội calendar days."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import asyncpg

from core.money import LOCAL_TZ
from core.sql_filters import where_set

# Outcomes whose money the city holds for somebody: in suspense (late, cancelled, already paid, unknown)
# or in refunds (the excess of an over-payment).
REFUND_OUTCOMES = (
    "late",
    "cancelled",
    "already_paid",
    "unknown_reference",
    "over_cap",
    "wrong_account",
    "overpaid",
)
REQUEST_STATUSES = ("pending", "paid", "expired", "cancelled")


def local_day_start(day: date) -> datetime:
    """The first moment of a Hà Nội calendar day."""
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ)


def local_day_range(day_from: date | None, day_to: date | None) -> tuple[datetime | None, datetime | None]:
    """[start of day_from, start of the day after day_to) in Hà Nội time; either end may be open."""
    start = local_day_start(day_from) if day_from else None
    end = local_day_start(day_to + timedelta(days=1)) if day_to else None
    return start, end


async def payment_requests_for_review(
    conn: asyncpg.Connection,
    *,
    status: str | None = None,
    fee_code: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    underpaid_only: bool = False,
    limit: int = 200,
) -> tuple[list[asyncpg.Record], int]:
    """Requests newest first, and how many match in all. "Underpaid" = pending and holding a part payment."""
    where, args = where_set(  # only the filters set (core/sql_filters.py: a date range then uses its index)
        [
            ("status = {}", status),
            ("fee_code = {}", fee_code),
            ("created_at >= {}", created_from),
            ("created_at < {}", created_to),
            ("(status = 'pending' AND amount_received > 0) = {}", True if underpaid_only else None),
        ]
    )
    total = await conn.fetchval(f"SELECT count(*) FROM payment_requests {where}", *args)
    rows = await conn.fetch(
        f"""SELECT id, reference, kind, fee_code, purpose_vi, purpose_en, subsidy_amount, amount_due,
                   amount_received, status, created_at, expires_at, cancelled_by, cancel_reason
              FROM payment_requests {where}
             ORDER BY created_at DESC, id LIMIT ${len(args) + 1}""",
        *args,
        limit,
    )
    return rows, total


async def money_to_refund(
    conn: asyncpg.Connection,
    *,
    booked_from: datetime | None = None,
    booked_to: datetime | None = None,
    limit: int = 200,
) -> list[asyncpg.Record]:
    """Credits whose money sits in suspense or refunds. For an over-payment only the excess is owed back: the
    request was settled by one credit, so the excess is what it received beyond what was due."""
    return await conn.fetch(
        """SELECT p.id, p.bank_code, p.bank_txn_id, p.amount, p.narrative, p.outcome, p.booked_at,
                  p.received_at, pr.reference,
                  CASE WHEN p.outcome = 'overpaid' THEN pr.amount_received - pr.amount_due ELSE p.amount END
                      AS to_refund
             FROM payments_received p LEFT JOIN payment_requests pr ON pr.id = p.payment_request_id
            WHERE p.outcome = ANY($1::text[])
              AND ($2::timestamptz IS NULL OR p.booked_at >= $2)
              AND ($3::timestamptz IS NULL OR p.booked_at < $3)
            ORDER BY p.booked_at DESC, p.id DESC LIMIT $4""",
        list(REFUND_OUTCOMES),
        booked_from,
        booked_to,
        limit,
    )
