"""Day close per collection account: a day closes only when the bank's statement for it is in (and was
balanced when imported), every exception of the account up to that day is resolved or carried with a reason,
no line of the day waits for a person, and the ledger's bank account closing balance equals the statement's
— else it is refused, naming the difference. When every active collection account has closed the day, the
ledger's day is closed in the same transaction (ledger.close_day), so that day's trial balance cannot change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from core.audit import record_audit
from core.errors import Conflict, ValidationFailed
from core.money import format_vnd
from ledger import account_balance, close_day, last_closed_day
from ledger.accounts import bank_account
from payments import collection_accounts_to_close


class AccountDayRefused(Conflict):
    slug = "recon-day-refused"
    title_vi = "Chưa khóa được ngày của tài khoản này"
    title_en = "This account's day cannot be closed yet"

    def sentence_values(self) -> dict[str, Any]:
        """Its money as a person reads it (1.234.567 ₫); the other numbers are counts."""
        return {k: format_vnd(v) if k in _MONEY else v for k, v in self.extra.items()}


_MONEY = {"ledger_closing", "statement_closing", "difference"}


class AccountDayAlreadyClosed(Conflict):
    slug = "recon-day-already-closed"
    title_vi = "Ngày này của tài khoản đã khóa"
    title_en = "This account's day is already closed"


class NoStatement(ValidationFailed):
    slug = "recon-day-no-statement"
    title_vi = "Chưa có sao kê của ngày này"
    title_en = "No statement for this day"


@dataclass(frozen=True)
class AccountDay:
    bin: str
    account_number: str
    business_date: date
    statement_closing: int
    ledger_closing: int
    carried: int
    closed_by: str
    closed_at: datetime
    ledger_day_closed: bool  # this close was the last account's, so the ledger's day closed with it


async def close_account_day(
    conn: asyncpg.Connection,
    bin_: str,
    account_number: str,
    business_date: date,
    *,
    actor: str,
    now: datetime | None = None,
) -> AccountDay:
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"recon:day:{bin_}:{account_number}"
        )
        if await conn.fetchval(
            """SELECT true FROM recon_account_days
                WHERE bin = $1 AND account_number = $2 AND business_date = $3""",
            bin_,
            account_number,
            business_date,
        ):
            raise AccountDayAlreadyClosed(
                f"{business_date.isoformat()} is already closed for this account",
                field="business_date",
                message="recon.day.already",
            )
        statement_closing = await conn.fetchval(
            """SELECT closing_balance FROM recon_statements
                WHERE bin = $1 AND account_number = $2 AND to_date = $3 AND closing_balance IS NOT NULL
                ORDER BY id DESC LIMIT 1""",
            bin_,
            account_number,
            business_date,
        )
        if statement_closing is None:
            raise NoStatement(
                f"no statement with a closing balance for {business_date.isoformat()} has been imported",
                field="business_date",
                message="recon.day.no_statement",
            )
        open_count = await conn.fetchval(
            """SELECT count(*) FROM recon_exceptions
                WHERE bin = $1 AND account_number = $2 AND business_date <= $3 AND state = 'open'""",
            bin_,
            account_number,
            business_date,
        )
        waiting = await conn.fetchval(
            """SELECT count(*) FROM recon_lines l
                WHERE l.bin = $1 AND l.account_number = $2 AND l.booking_date = $3
                  AND l.state IN ('unmatched', 'proposed')
                  AND NOT EXISTS (SELECT 1 FROM recon_exceptions x
                                   WHERE x.line_id = l.id AND x.state <> 'open')""",
            bin_,
            account_number,
            business_date,
        )
        if open_count or waiting:
            raise AccountDayRefused(
                f"{open_count} exception(s) still open and {waiting} line(s) not reconciled up to "
                f"{business_date.isoformat()}: resolve them or carry them with a reason",
                field="business_date",
                message="recon.day.open_exceptions",
                open_exceptions=open_count,
                unreconciled_lines=waiting,
            )
        ledger_closing = await account_balance(conn, bank_account(bin_, account_number), as_of=business_date)
        difference = ledger_closing - statement_closing
        if difference:
            raise AccountDayRefused(
                f"the ledger's closing balance {format_vnd(ledger_closing)} differs from the statement's "
                f"{format_vnd(statement_closing)} by {format_vnd(difference)}",
                field="business_date",
                message="recon.day.balance_differs",
                ledger_closing=ledger_closing,
                statement_closing=statement_closing,
                difference=difference,
            )
        carried = await conn.fetchval(
            """SELECT count(*) FROM recon_exceptions
                WHERE bin = $1 AND account_number = $2 AND business_date <= $3 AND state = 'carried'""",
            bin_,
            account_number,
            business_date,
        )
        row = await conn.fetchrow(
            """INSERT INTO recon_account_days (bin, account_number, business_date, statement_closing,
                   ledger_closing, carried, closed_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING closed_at""",
            bin_,
            account_number,
            business_date,
            statement_closing,
            ledger_closing,
            carried,
            actor,
        )
        await record_audit(
            conn,
            actor=actor,
            action="recon.account_day_closed",
            subject=f"recon:day:{bin_}:{account_number}:{business_date.isoformat()}",
            after={
                "statement_closing": statement_closing,
                "ledger_closing": ledger_closing,
                "carried": carried,
            },
        )
        ledger_closed = await _close_ledger_day_when_all_closed(conn, business_date, actor=actor, now=now)
    return AccountDay(
        bin_,
        account_number,
        business_date,
        statement_closing,
        ledger_closing,
        carried,
        actor,
        row["closed_at"],
        ledger_closed,
    )


async def _close_ledger_day_when_all_closed(
    conn: asyncpg.Connection, business_date: date, *, actor: str, now: datetime | None
) -> bool:
    accounts = await collection_accounts_to_close(conn)
    if not accounts:
        return False
    closed = await conn.fetchval(
        """SELECT count(*) FROM recon_account_days d
             JOIN unnest($1::text[], $2::text[]) AS a(bin, account_number)
               ON a.bin = d.bin AND a.account_number = d.account_number
            WHERE d.business_date = $3""",
        [a[0] for a in accounts],
        [a[1] for a in accounts],
        business_date,
    )
    if closed < len(accounts):
        return False
    through = await last_closed_day(conn)
    if through is not None and through >= business_date:
        return False
    await close_day(conn, business_date, actor=actor, now=now)
    return True


async def account_days(conn: asyncpg.Connection, limit: int = 60) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT bin, account_number, business_date, statement_closing, ledger_closing, carried, closed_by,
                  closed_at
             FROM recon_account_days ORDER BY business_date DESC, bin, account_number LIMIT $1""",
        limit,
    )
