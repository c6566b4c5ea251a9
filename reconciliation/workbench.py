"""The finance workbench's figures: each collection account's day (statement in, lines, matched share, open
exceptions by age, close state), one payment's whole trail (request, bank lines, callbacks, entries,
receipt), and the money held or in suspense. Set-based SQL over reconciliation's tables; payments' and the
ledger's data only through their public functions and published views."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

import payments
from core.errors import NotFound
from ledger import account_balance, accounts, entry_lines

# Age of an open exception in days (on the day looked at): the workbench's buckets.
AGE_BUCKETS = ("0-1", "2-3", "4-7", "8+")


class UnknownAccount(NotFound):
    slug = "unknown-collection-account"
    title_vi, title_en = "Không có tài khoản thu này", "No such collection account"


@dataclass(frozen=True)
class AccountDay:
    code: str
    bin: str
    account_number: str
    bank_name: str
    statements: int  # statements covering the day
    lines: int
    matched: int
    proposed: int
    exceptions_open: dict[str, int]  # age bucket → open exceptions of this day or earlier
    closed_by: str | None
    closed_at: datetime | None
    carried: int | None

    @property
    def statement_in(self) -> bool:
        return self.statements > 0

    @property
    def matched_pct(self) -> float | None:
        return matched_pct(self.matched, self.lines)

    @property
    def open_total(self) -> int:
        return sum(self.exceptions_open.values())


def matched_pct(matched: int, lines: int) -> float | None:
    return round(100 * matched / lines, 1) if lines else None


async def resolve_account(conn: asyncpg.Connection, account: str) -> payments.CollectionAccount:
    """A collection account by its code or as `<bin>:<number>`; UnknownAccount (404) otherwise."""
    for acct in await payments.collection_accounts(conn):
        if account in (acct.code, f"{acct.bin}:{acct.account_number}"):
            return acct
    raise UnknownAccount(f"no collection account {account!r}", field="account")


async def day_picture(conn: asyncpg.Connection, day: date) -> list[AccountDay]:
    """Every collection account's state on `day`, in one query over all accounts."""
    accts = await payments.collection_accounts(conn)
    rows = await conn.fetch(
        """WITH acct AS (
               SELECT * FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS a(bin, account_number, n)),
           stmts AS (
               SELECT s.bin, s.account_number, count(*) AS n FROM recon_statements s
                WHERE s.from_date <= $3 AND s.to_date >= $3 GROUP BY 1, 2),
           lines AS (
               SELECT l.bin, l.account_number, count(*) AS n,
                      count(*) FILTER (WHERE l.state = 'matched') AS matched,
                      count(*) FILTER (WHERE l.state = 'proposed') AS proposed
                 FROM recon_lines l WHERE l.booking_date = $3 GROUP BY 1, 2),
           excs AS (
               SELECT e.bin, e.account_number,
                      count(*) FILTER (WHERE $3 - e.business_date <= 1) AS a01,
                      count(*) FILTER (WHERE $3 - e.business_date BETWEEN 2 AND 3) AS a23,
                      count(*) FILTER (WHERE $3 - e.business_date BETWEEN 4 AND 7) AS a47,
                      count(*) FILTER (WHERE $3 - e.business_date > 7) AS a8
                 FROM recon_exceptions e
                WHERE e.state = 'open' AND e.business_date <= $3 GROUP BY 1, 2)
           SELECT a.bin, a.account_number, coalesce(s.n, 0) AS statements, coalesce(l.n, 0) AS lines,
                  coalesce(l.matched, 0) AS matched, coalesce(l.proposed, 0) AS proposed,
                  coalesce(x.a01, 0) AS a01, coalesce(x.a23, 0) AS a23, coalesce(x.a47, 0) AS a47,
                  coalesce(x.a8, 0) AS a8, d.closed_by, d.closed_at, d.carried
             FROM acct a
             LEFT JOIN stmts s USING (bin, account_number)
             LEFT JOIN lines l USING (bin, account_number)
             LEFT JOIN excs x USING (bin, account_number)
             LEFT JOIN recon_account_days d
                    ON d.bin = a.bin AND d.account_number = a.account_number AND d.business_date = $3
            ORDER BY a.n""",
        [a.bin for a in accts],
        [a.account_number for a in accts],
        day,
    )
    return [
        AccountDay(
            code=a.code,
            bin=a.bin,
            account_number=a.account_number,
            bank_name=a.bank_name,
            statements=r["statements"],
            lines=r["lines"],
            matched=r["matched"],
            proposed=r["proposed"],
            exceptions_open=dict(zip(AGE_BUCKETS, (r["a01"], r["a23"], r["a47"], r["a8"]), strict=True)),
            closed_by=r["closed_by"],
            closed_at=r["closed_at"],
            carried=r["carried"],
        )
        for a, r in zip(accts, rows, strict=True)
    ]


@dataclass
class PaymentTrail:
    request: dict[str, Any]
    credits: list[dict[str, Any]]
    callbacks: list[dict[str, Any]]
    bank_lines: list[dict[str, Any]]
    entries: list[dict[str, Any]] = field(default_factory=list)


async def payment_trail(conn: asyncpg.Connection, reference: str, *, lang: str = "vi") -> PaymentTrail:
    """Everything finance needs to see of one payment; NotFound for an unknown reference."""
    request = await payments.payment_by_reference(conn, reference)
    if request is None:
        raise NotFound(f"no payment request {reference!r}", field="reference")
    credits = await payments.credits_for_request(conn, request["id"])
    callbacks = await payments.callbacks_for_request(conn, request["id"])
    entry_ids = sorted({c["entry_id"] for c in credits})
    # Its bank lines: accepted matches that point at one of its entries, or a narrative naming the reference.
    bank_lines = await conn.fetch(
        """SELECT l.id, l.bin, l.account_number, l.bank_ref, l.booking_date, l.direction, l.amount,
                  l.reversal, l.narrative, l.state, m.rule, m.entry_ids
             FROM recon_lines l
             LEFT JOIN recon_matches m ON m.line_id = l.id AND m.state = 'accepted'
            WHERE m.entry_ids && $1::bigint[] OR strpos(upper(l.narrative), $2) > 0
            ORDER BY l.booking_date, l.id""",
        entry_ids,
        reference,
    )
    entries = []
    for entry_id in entry_ids:  # one per credit of this request: a handful
        lines = await entry_lines(conn, entry_id)
        entries.append(
            {
                "id": entry_id,
                "lines": [
                    {"account": ln.account, "name": accounts.name_of(ln.account, lang), "amount": ln.amount}
                    for ln in lines
                ],
            }
        )
    return PaymentTrail(
        request=request,
        credits=credits,
        callbacks=callbacks,
        bank_lines=[dict(r) for r in bank_lines],
        entries=entries,
    )


async def exceptions_for_entries(conn: asyncpg.Connection, entry_ids: list[int]) -> dict[int, list[int]]:
    """Open or carried exceptions that concern these entries (directly, or through a line matched to them):
    entry id → exception ids, so held and suspense money links to the action that resolves it."""
    rows = await conn.fetch(
        # One pass over the matches that touch any of these entries, then the exceptions by entry or line.
        """WITH wanted AS (SELECT DISTINCT unnest($1::bigint[]) AS entry_id),
                via_line AS (
                    SELECT w.entry_id, m.line_id
                      FROM recon_matches m
                      CROSS JOIN LATERAL unnest(m.entry_ids) AS u(entry_id)
                      JOIN wanted w ON w.entry_id = u.entry_id
                     WHERE m.state IN ('accepted', 'proposed') AND m.entry_ids && $1::bigint[]),
                hits AS (
                    SELECT w.entry_id, e.id FROM wanted w
                      JOIN recon_exceptions e ON e.entry_id = w.entry_id
                    UNION
                    SELECT v.entry_id, e.id FROM via_line v
                      JOIN recon_exceptions e ON e.line_id = v.line_id)
           SELECT h.entry_id, array_agg(h.id ORDER BY h.id) AS ids
             FROM hits h JOIN recon_exceptions e ON e.id = h.id AND e.state <> 'resolved'
            GROUP BY h.entry_id""",
        entry_ids,
    )
    return {r["entry_id"]: list(r["ids"]) for r in rows}


@dataclass(frozen=True)
class MoneyHeld:
    held_balance: int  # ledger HELD, as a positive amount owed
    suspense_balance: int  # ledger SUSPENSE, likewise
    held: list[dict[str, Any]]
    suspense: list[dict[str, Any]]


async def money_held(conn: asyncpg.Connection, *, limit: int = 200) -> MoneyHeld:
    held = await payments.held_payments(conn, limit=limit)
    suspense = await payments.suspense_credits(conn, limit=limit)
    links = await exceptions_for_entries(
        conn, [e for h in held for e in h["entry_ids"]] + [s["entry_id"] for s in suspense]
    )
    for h in held:
        h["exceptions"] = sorted({x for e in h["entry_ids"] for x in links.get(e, [])})
    for s in suspense:
        s["exceptions"] = links.get(s["entry_id"], [])
    return MoneyHeld(
        held_balance=-await account_balance(conn, accounts.HELD),
        suspense_balance=-await account_balance(conn, accounts.SUSPENSE),
        held=held,
        suspense=suspense,
    )
