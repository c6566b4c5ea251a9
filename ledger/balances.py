"""Reading the ledger: balances, the trial balance for a period (opening balance, movements, closing balance
per account) and the journal entries behind one account's movements (the trial balance's drill-down).
Balances start from the last day-close snapshot (ledger/days.py) and add the open days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import asyncpg


async def _last_closed(conn: asyncpg.Connection, *, before: date | None, through: date | None) -> date | None:
    """The last closed day strictly before `before`, or on or before `through` (the latest when both None)."""
    return await conn.fetchval(
        """SELECT max(business_date) FROM ledger_closed_days
            WHERE ($1::date IS NULL OR business_date < $1) AND ($2::date IS NULL OR business_date <= $2)""",
        before,
        through,
    )


async def account_balance(conn: asyncpg.Connection, path: str, *, as_of: date | None = None) -> int:
    """Signed balance (debits − credits) of one account, optionally as of a business date: the last
    snapshot on or before that day plus the postings of the open days after it."""
    return await conn.fetchval(
        """WITH acct AS (SELECT id FROM ledger_accounts WHERE path = $1),
                base AS (SELECT max(business_date) AS d FROM ledger_closed_days
                          WHERE $2::date IS NULL OR business_date <= $2)
           SELECT (coalesce((SELECT s.balance FROM ledger_balance_snapshots s, acct, base
                              WHERE s.business_date = base.d AND s.account_id = acct.id), 0)
                 + coalesce((SELECT sum(p.amount) FROM postings p, acct, base
                              WHERE p.account_id = acct.id
                                AND (base.d IS NULL OR p.business_date > base.d)
                                AND ($2::date IS NULL OR p.business_date <= $2)), 0))::bigint""",
        path,
        as_of,
    )


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


@dataclass(frozen=True)
class Period:
    start: date | None  # None: from the beginning
    end: date | None  # None: up to the last posting
    rows: list[PeriodRow]


async def period_balances(
    conn: asyncpg.Connection, *, start: date | None = None, end: date | None = None
) -> Period:
    """Opening balance, movements and closing balance of every account for start..end (inclusive).

    Reads the last snapshot before the period plus the postings after it, not all history. Without a start,
    the period begins the day after the last closed day on or before `end` (its snapshot is the opening
    balance), or at the beginning when no day is closed yet."""
    base = await _last_closed(conn, before=start, through=end if start is None else None)
    if start is None and base is not None:
        start = base + timedelta(days=1)
    rows = await conn.fetch(
        """WITH parts AS (
               SELECT account_id, balance AS opening, 0::bigint AS debits, 0::bigint AS credits
                 FROM ledger_balance_snapshots WHERE business_date = $1
               UNION ALL
               SELECT account_id,
                      coalesce(sum(amount) FILTER (WHERE business_date < $2), 0)::bigint,
                      coalesce(sum(amount) FILTER (WHERE amount > 0 AND ($2::date IS NULL
                                                   OR business_date >= $2)), 0)::bigint,
                      coalesce(-sum(amount) FILTER (WHERE amount < 0 AND ($2::date IS NULL
                                                    OR business_date >= $2)), 0)::bigint
                 FROM postings
                WHERE ($1::date IS NULL OR business_date > $1) AND ($3::date IS NULL OR business_date <= $3)
                GROUP BY account_id)
           SELECT a.path, a.type, sum(opening)::bigint AS opening, sum(debits)::bigint AS debits,
                  sum(credits)::bigint AS credits
             FROM parts JOIN ledger_accounts a ON a.id = parts.account_id
            GROUP BY a.path, a.type
            ORDER BY a.path""",
        base,
        start,
        end,
    )
    return Period(
        start, end, [PeriodRow(r["path"], r["type"], r["opening"], r["debits"], r["credits"]) for r in rows]
    )


@dataclass(frozen=True)
class BalanceRow:
    account: str
    type: str
    balance: int  # debits − credits

    @property
    def debit(self) -> int:
        return self.balance if self.balance > 0 else 0

    @property
    def credit(self) -> int:
        return -self.balance if self.balance < 0 else 0


async def trial_balance(conn: asyncpg.Connection, *, as_of: date | None = None) -> list[BalanceRow]:
    """Every account's balance as of a business date (all history when None)."""
    period = await period_balances(conn, end=as_of)
    return [BalanceRow(r.account, r.type, r.closing) for r in period.rows]


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
