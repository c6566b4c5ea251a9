"""Reconciliation reports: the daily report of one collection account (counts and sums per category, matched
share, items carried) and the monthly cross-check of the service's figures (turns and fees paid, revenue the
ledger booked) against the bank's (statement credits matched to them), per fee code and per parking lot.
Each is a handful of set-based queries, whatever the number of lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

import payments
from ledger import accounts, period_balances
from reconciliation.workbench import matched_pct, resolve_account

EXCEPTION_KINDS = (
    "in_bank_not_ledger",
    "in_ledger_not_bank",
    "amount_differs",
    "duplicate",
    "reversal",
    "callback_conflict",
)
LINE_STATES = ("matched", "proposed", "unmatched", "exception")


@dataclass(frozen=True)
class Category:
    key: str  # line.matched, line.proposed, line.unmatched, line.exception, exception.<kind>, carried
    count: int
    amount: int  # đồng: lines by their amount (credits +, debits −); exceptions by their signed amount


@dataclass(frozen=True)
class CarriedItem:
    id: int
    kind: str
    business_date: date
    amount: int
    note: str | None
    resolved_by: str | None


@dataclass(frozen=True)
class DailyReport:
    code: str
    bin: str
    account_number: str
    bank_name: str
    day: date
    statements: int
    opening_balance: int | None
    closing_balance: int | None
    lines: int
    credits: int
    debits: int
    categories: list[Category]
    carried: list[CarriedItem]
    closed_by: str | None
    closed_at: datetime | None

    @property
    def matched(self) -> int:
        return next(c.count for c in self.categories if c.key == "line.matched")

    @property
    def matched_pct(self) -> float | None:
        return matched_pct(self.matched, self.lines)


async def daily_report(conn: asyncpg.Connection, account: str, day: date) -> DailyReport:
    acct = await resolve_account(conn, account)
    key = (acct.bin, acct.account_number, day)
    stmt = await conn.fetchrow(
        """SELECT count(*) AS n,
                  (array_agg(opening_balance ORDER BY from_date, id))[1] AS opening,
                  (array_agg(closing_balance ORDER BY to_date DESC, id DESC))[1] AS closing
             FROM recon_statements
            WHERE bin = $1 AND account_number = $2 AND from_date <= $3 AND to_date >= $3""",
        *key,
    )
    lines = await conn.fetch(
        """SELECT state, count(*) AS n,
                  coalesce(sum(CASE WHEN direction = 'credit' THEN amount ELSE -amount END), 0)::bigint
                      AS net,
                  coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)::bigint AS credits,
                  coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0)::bigint AS debits
             FROM recon_lines WHERE bin = $1 AND account_number = $2 AND booking_date = $3
            GROUP BY state""",
        *key,
    )
    by_state = {r["state"]: r for r in lines}
    excs = await conn.fetch(
        """SELECT kind, count(*) AS n, coalesce(sum(amount), 0)::bigint AS amount
             FROM recon_exceptions WHERE bin = $1 AND account_number = $2 AND business_date = $3
            GROUP BY kind""",
        *key,
    )
    by_kind = {r["kind"]: r for r in excs}
    carried = await conn.fetch(
        """SELECT id, kind, business_date, amount, note, resolved_by FROM recon_exceptions
            WHERE bin = $1 AND account_number = $2 AND business_date = $3 AND state = 'carried'
            ORDER BY id""",
        *key,
    )
    closed = await conn.fetchrow(
        """SELECT closed_by, closed_at FROM recon_account_days
            WHERE bin = $1 AND account_number = $2 AND business_date = $3""",
        *key,
    )
    categories = [
        Category(
            f"line.{s}", by_state[s]["n"] if s in by_state else 0, by_state[s]["net"] if s in by_state else 0
        )
        for s in LINE_STATES
    ]
    categories += [
        Category(
            f"exception.{k}",
            by_kind[k]["n"] if k in by_kind else 0,
            by_kind[k]["amount"] if k in by_kind else 0,
        )
        for k in EXCEPTION_KINDS
    ]
    categories.append(Category("carried", len(carried), sum(r["amount"] for r in carried)))
    return DailyReport(
        code=acct.code,
        bin=acct.bin,
        account_number=acct.account_number,
        bank_name=acct.bank_name,
        day=day,
        statements=stmt["n"],
        opening_balance=stmt["opening"],
        closing_balance=stmt["closing"],
        lines=sum(r["n"] for r in lines),
        credits=sum(r["credits"] for r in lines),
        debits=sum(r["debits"] for r in lines),
        categories=categories,
        carried=[CarriedItem(*r) for r in carried],
        closed_by=closed["closed_by"] if closed else None,
        closed_at=closed["closed_at"] if closed else None,
    )


@dataclass(frozen=True)
class MonthlyRow:
    revenue_account: str
    name: str
    kind: str  # fee | parking | other
    key: str  # the fee code or the lot
    paid: int  # requests (parking: turns) paid in the month
    ledger_revenue: int  # credits less debits on the revenue account in the month
    subsidies: int  # paid by the city budget, never in a bank credit
    bank_lines: int  # statement credits matched to this account's entries
    bank_amount: int

    @property
    def expected_in_bank(self) -> int:
        return self.ledger_revenue - self.subsidies

    @property
    def difference(self) -> int:
        """What the bank shows beyond what the service expects (negative: missing in the bank)."""
        return self.bank_amount - self.expected_in_bank


@dataclass(frozen=True)
class MonthlyReport:
    month: date  # its first day
    rows: list[MonthlyRow]
    unattributed_lines: int  # matched credits whose entries booked no request (suspense and the like)
    unattributed_amount: int


def month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _kind_and_key(path: str) -> tuple[str, str]:
    for kind, sample in (("fee", accounts.fee_revenue("")), ("parking", accounts.parking_revenue(""))):
        if path.startswith(sample):
            return kind, path[len(sample) :]
    return "other", path


async def monthly_report(conn: asyncpg.Connection, month: date, *, lang: str = "vi") -> MonthlyReport:
    first, last = month.replace(day=1), month_end(month)
    period = await period_balances(conn, start=first, end=last)
    revenue = {r.account: r.credits - r.debits for r in period.rows if r.type == "revenue"}
    paid = {p.revenue_account: p for p in await payments.paid_per_revenue_account(conn, first)}
    # The bank's side: each accepted match of a credit line booked this month, its amount spread over the
    # match's entries (one-to-many matches split by entry, the remainder on the first).
    matched = await conn.fetch(
        """SELECT e.entry_id,
                  sum(l.amount / cardinality(m.entry_ids)
                      + CASE WHEN e.n = 1 THEN l.amount % cardinality(m.entry_ids) ELSE 0 END)::bigint
                      AS amount
             FROM recon_lines l
             JOIN recon_matches m ON m.line_id = l.id AND m.state = 'accepted'
             CROSS JOIN LATERAL unnest(m.entry_ids) WITH ORDINALITY AS e(entry_id, n)
            WHERE l.direction = 'credit' AND NOT l.reversal AND l.booking_date BETWEEN $1 AND $2
            GROUP BY e.entry_id""",
        first,
        last,
    )
    bank = await payments.bank_amounts_per_revenue_account(
        conn, [r["entry_id"] for r in matched], [r["amount"] for r in matched]
    )
    rows = []
    for path in sorted(set(revenue) | set(paid) | {p for p in bank if p}):
        kind, key = _kind_and_key(path)
        p = paid.get(path)
        n, amount = bank.get(path, (0, 0))
        rows.append(
            MonthlyRow(
                revenue_account=path,
                name=accounts.name_of(path, lang),
                kind=kind,
                key=key,
                paid=p.paid if p else 0,
                ledger_revenue=revenue.get(path, 0),
                subsidies=p.subsidies if p else 0,
                bank_lines=n,
                bank_amount=amount,
            )
        )
    none_n, none_amount = bank.get(None, (0, 0))
    return MonthlyReport(first, rows, none_n, none_amount)
