"""Business days and day close. Closing a day freezes it and every day before it: the database refuses any
new entry dated on or before the last closed day (migrations/0010; corrections are reversing entries in an
open day). Each close stores every account's closing balance as a snapshot, so balances read the last
snapshot plus the open days, not all history. Closing is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from core.audit import record_audit
from core.db import own_or_joined_transaction
from core.errors import Conflict, ValidationFailed, map_constraint
from core.money import LOCAL_TZ


class DayClosed(Conflict):
    slug = "ledger-day-closed"
    title_vi = "Ngày hạch toán đã khóa sổ"
    title_en = "The business day is closed"


class DayAlreadyClosed(Conflict):
    slug = "ledger-day-already-closed"
    title_vi = "Ngày này đã được khóa sổ"
    title_en = "This day is already closed"


class DayNotOver(ValidationFailed):
    slug = "ledger-day-not-over"
    title_vi = "Ngày này chưa kết thúc"
    title_en = "This day has not ended yet"


map_constraint(
    "ledger_day_closed", DayClosed, "business_date", "the day is closed; post a correction in an open day"
)


@dataclass(frozen=True)
class ClosedDay:
    business_date: date
    closed_at: datetime
    closed_by: str
    accounts: int  # how many account balances the snapshot holds


async def last_closed_day(conn: asyncpg.Connection) -> date | None:
    return await conn.fetchval("SELECT max(business_date) FROM ledger_closed_days")


async def open_day_for(conn: asyncpg.Connection, wanted: date) -> date:
    """The day to book on for something that happened on `wanted`: that day if it is open, else the first open
    day after the closed ones. A bank credit booked on a day finance has since closed is still booked — on the
    next open day (its bank booking time stays in its refs and memo) — never refused."""
    closed_through = await last_closed_day(conn)
    if closed_through is None or wanted > closed_through:
        return wanted
    return closed_through + timedelta(days=1)


async def recent_closes(conn: asyncpg.Connection, limit: int = 30) -> list[ClosedDay]:
    rows = await conn.fetch(
        """SELECT d.business_date, d.closed_at, d.closed_by,
                  (SELECT count(*) FROM ledger_balance_snapshots s WHERE s.business_date = d.business_date)
                      AS accounts
             FROM ledger_closed_days d ORDER BY d.business_date DESC LIMIT $1""",
        limit,
    )
    return [ClosedDay(r["business_date"], r["closed_at"], r["closed_by"], r["accounts"]) for r in rows]


async def close_day(
    conn: asyncpg.Connection, business_date: date, *, actor: str, now: datetime | None = None
) -> ClosedDay:
    """Close `business_date` (and so every day before it): snapshot each account's closing balance, refuse
    new entries dated up to it from now on, and audit the close. Runs in the caller's transaction when there
    is one. A day on or before the last closed day raises DayAlreadyClosed; a day that has not ended in Hà Nội
    yet (today, or later) raises DayNotOver: payments still arrive on it."""
    today = (now or datetime.now(LOCAL_TZ)).astimezone(LOCAL_TZ).date()
    if business_date >= today:
        raise DayNotOver(
            f"{business_date.isoformat()} has not ended in Hà Nội (today is {today.isoformat()})",
            field="business_date",
            message="ledger.close.not_over",
        )
    async with own_or_joined_transaction(conn):
        # SHARE conflicts with the inserts of post_entry: in-flight postings finish first, new ones wait until
        # the close commits and then meet the trigger. (Taken by an owner's function: the service role may
        # not lock the append-only journal itself; migrations/0012.)
        await conn.execute("SELECT ledger_lock_entries_for_close()")
        previous = await last_closed_day(conn)
        if previous is not None and business_date <= previous:
            raise DayAlreadyClosed(
                f"the ledger is closed through {previous.isoformat()}",
                field="business_date",
                message="ledger.close.already",
            )
        row = await conn.fetchrow(
            """INSERT INTO ledger_closed_days (business_date, closed_by) VALUES ($1, $2)
               RETURNING business_date, closed_at, closed_by""",
            business_date,
            actor,
        )
        # The previous snapshot plus the postings after it, up to the closed day.
        accounts = await conn.fetchval(
            """WITH moved AS (
                   SELECT account_id, balance FROM ledger_balance_snapshots WHERE business_date = $2
                   UNION ALL
                   SELECT account_id, sum(amount)::bigint FROM postings
                    WHERE business_date <= $1 AND ($2::date IS NULL OR business_date > $2)
                    GROUP BY account_id),
               inserted AS (
                   INSERT INTO ledger_balance_snapshots (business_date, account_id, balance)
                   SELECT $1, account_id, sum(balance)::bigint FROM moved GROUP BY account_id
                   RETURNING 1)
               SELECT count(*) FROM inserted""",
            business_date,
            previous,
        )
        await record_audit(
            conn,
            actor=actor,
            action="ledger.day_closed",
            subject=f"ledger:day:{business_date.isoformat()}",
            before={"closed_through": previous.isoformat() if previous else None},
            after={"closed_through": business_date.isoformat(), "accounts": accounts},
        )
    return ClosedDay(row["business_date"], row["closed_at"], row["closed_by"], accounts)
