"""Reading the ledger for a period: opening balance, movements and closing balance per account, and the
journal entries behind one account's movements (the trial balance's drill-down)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg


@dataclass(frozen=True)
class PeriodRow:
    account: str
    type: str
    opening: int  # debits − credits before the period
    debits: int  # sum of debit postings in the period (≥ 0)
    credits: int  # sum of credit postings in the period, as a positive number

    @property
    def closing(self) -> int:
        return self.opening + self.debits - self.credits


async def period_balances(
    conn: asyncpg.Connection, *, start: date | None = None, end: date | None = None
) -> list[PeriodRow]:
    """Every account with a posting up to `end` (all history when None); the period is start..end
    inclusive, and opening is everything before `start` (0 when start is None)."""
    rows = await conn.fetch(
        """SELECT a.path, a.type,
                  coalesce(sum(p.amount) FILTER (WHERE p.business_date < $1), 0)::bigint AS opening,
                  coalesce(sum(p.amount) FILTER (WHERE p.amount > 0 AND ($1::date IS NULL
                                                  OR p.business_date >= $1)), 0)::bigint AS debits,
                  coalesce(-sum(p.amount) FILTER (WHERE p.amount < 0 AND ($1::date IS NULL
                                                   OR p.business_date >= $1)), 0)::bigint AS credits
             FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
            WHERE $2::date IS NULL OR p.business_date <= $2
            GROUP BY a.path, a.type
            ORDER BY a.path""",
        start,
        end,
    )
    return [PeriodRow(r["path"], r["type"], r["opening"], r["debits"], r["credits"]) for r in rows]


@dataclass(frozen=True)
class AccountEntry:
    entry_id: int
    business_date: date
    kind: str
    memo: str | None
    refs: dict[str, str]
    amount: int  # this account's side of the entry: > 0 debit, < 0 credit
    counter_accounts: tuple[str, ...]


async def account_entries(
    conn: asyncpg.Connection,
    path: str,
    *,
    start: date | None = None,
    end: date | None = None,
    limit: int = 500,
) -> list[AccountEntry]:
    """The entries that moved one account in start..end (inclusive), oldest first, with the other accounts
    each entry touched."""
    rows = await conn.fetch(
        """WITH acct AS (SELECT id FROM ledger_accounts WHERE path = $1),
                hits AS (
                    SELECT p.entry_id, sum(p.amount)::bigint AS amount
                      FROM postings p JOIN acct ON acct.id = p.account_id
                     WHERE ($2::date IS NULL OR p.business_date >= $2)
                       AND ($3::date IS NULL OR p.business_date <= $3)
                     GROUP BY p.entry_id
                     ORDER BY p.entry_id
                     LIMIT $4)
           SELECT e.id, e.business_date, e.kind, e.memo, e.refs, h.amount,
                  coalesce(array_agg(DISTINCT a.path ORDER BY a.path)
                           FILTER (WHERE p.account_id <> (SELECT id FROM acct)), '{}') AS counter
             FROM hits h
             JOIN journal_entries e ON e.id = h.entry_id
             JOIN postings p ON p.entry_id = e.id
             JOIN ledger_accounts a ON a.id = p.account_id
            GROUP BY e.id, h.amount
            ORDER BY e.business_date, e.id""",
        path,
        start,
        end,
        limit,
    )
    return [
        AccountEntry(
            r["id"],
            r["business_date"],
            r["kind"],
            r["memo"],
            dict(r["refs"]),
            r["amount"],
            tuple(r["counter"]),
        )
        for r in rows
    ]
