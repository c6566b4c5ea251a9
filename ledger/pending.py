"""Pending → post / void (TigerBeetle's two-phase transfers) for money reserved before it moves.

`reserve` records one debit/credit pair that is not yet in any balance; `post_pending` books it (in full or
in part) as a journal entry, `void_pending` releases it; either happens at most once (the database refuses a
second resolution). A reserve may not take a guarded account below zero (`guard_account`): the database
checks the posted balance less the other open reserves, with the account row locked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

import asyncpg

from core.db import own_or_joined_transaction
from core.errors import Conflict, NotFound, ValidationFailed, map_constraint
from ledger.accounts import ACCOUNT_PATH
from ledger.entries import KIND, JournalEntry, post_entry

Guard = Literal["debits_must_not_exceed_credits", "credits_must_not_exceed_debits"]


class InsufficientFunds(Conflict):
    slug = "ledger-insufficient-funds"
    title_vi = "Tài khoản không đủ số dư khả dụng"
    title_en = "Not enough available on the account"


class ReserveConflict(Conflict):
    slug = "ledger-reserve-conflict"
    title_vi = "Khóa giữ chỗ đã dùng cho nội dung khác"
    title_en = "Reserve idempotency key already used with other content"


class PendingResolved(Conflict):
    slug = "ledger-pending-resolved"
    title_vi = "Khoản giữ chỗ đã được hạch toán hoặc hủy"
    title_en = "The reserve was already posted or voided"


map_constraint(
    "ledger_insufficient_funds", InsufficientFunds, "amount", "the reserve exceeds what is available"
)
map_constraint("ledger_pending_resolved", PendingResolved, None, "a reserve is posted or voided once")


@dataclass(frozen=True)
class Pending:
    id: int
    idempotency_key: str
    debit: str
    credit: str
    amount: int
    state: str
    posted_amount: int | None
    entry_id: int | None


async def guard_account(conn: asyncpg.Connection, path: str, guard: Guard) -> None:
    """Mark an account so that no reserve takes it below zero on that side."""
    if not ACCOUNT_PATH.match(path):
        raise ValidationFailed(f"account path {path!r} is not type:segment[:segment…]", field="account")
    await conn.execute(
        """INSERT INTO ledger_accounts (path, guard) VALUES ($1, $2)
           ON CONFLICT (path) DO UPDATE SET guard = EXCLUDED.guard""",
        path,
        guard,
    )


async def _get(
    conn: asyncpg.Connection, where: str, value: object, *, lock: bool = False
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""SELECT p.*, d.path AS debit, c.path AS credit FROM ledger_pending p
              JOIN ledger_accounts d ON d.id = p.debit_account_id
              JOIN ledger_accounts c ON c.id = p.credit_account_id
             WHERE p.{where} = $1{" FOR UPDATE OF p" if lock else ""}""",
        value,
    )


async def _insert_reserve(conn: asyncpg.Connection, sql: str, *args: object) -> int | None:
    try:
        return await conn.fetchval(sql, *args)
    except asyncpg.CheckViolationError as exc:
        if exc.constraint_name == "ledger_insufficient_funds":
            raise InsufficientFunds(exc.message, field="amount") from None
        raise


def _pending(r: asyncpg.Record) -> Pending:
    return Pending(
        r["id"],
        r["idempotency_key"],
        r["debit"],
        r["credit"],
        r["amount"],
        r["state"],
        r["posted_amount"],
        r["entry_id"],
    )


async def reserve(
    conn: asyncpg.Connection,
    *,
    idempotency_key: str,
    kind: str,
    business_date: date,
    debit: str,
    credit: str,
    amount: int,
    refs: Mapping[str, str] | None = None,
    memo: str | None = None,
) -> Pending:
    """Reserve `amount` đồng to move from `credit` to `debit` later. The same key with the same content
    returns the original reserve; other content raises ReserveConflict (409)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed("a reserve is a positive integer of đồng", field="amount")
    for field, path in (("debit", debit), ("credit", credit)):
        if not ACCOUNT_PATH.match(path) or len(path) > 200:
            raise ValidationFailed(f"account path {path!r} is not type:segment[:segment…]", field=field)
    if debit == credit:
        raise ValidationFailed("a reserve moves money between two accounts", field="credit")
    if not KIND.match(kind):
        raise ValidationFailed(
            f"kind {kind!r} must be lower-case letters, digits, dots, underscores", field="kind"
        )
    refs = dict(refs or {})
    body = [kind, business_date.isoformat(), debit, credit, amount, dict(sorted(refs.items())), memo]
    digest = hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()
    async with own_or_joined_transaction(conn):
        await conn.execute(
            "INSERT INTO ledger_accounts (path) SELECT unnest($1::text[]) ON CONFLICT (path) DO NOTHING",
            sorted({debit, credit}),
        )
        pending_id = await _insert_reserve(
            conn,
            """INSERT INTO ledger_pending (idempotency_key, kind, business_date, debit_account_id,
                   credit_account_id, amount, refs, memo, content_hash)
               SELECT $1, $2, $3, d.id, c.id, $6, $7, $8, $9
                 FROM ledger_accounts d, ledger_accounts c WHERE d.path = $4 AND c.path = $5
               ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
            idempotency_key,
            kind,
            business_date,
            debit,
            credit,
            amount,
            refs,
            memo,
            digest,
        )
        row = await _get(conn, "id" if pending_id else "idempotency_key", pending_id or idempotency_key)
    assert row is not None  # inserted now, or there under this key
    if row["content_hash"] != digest:
        raise ReserveConflict(
            f"reserve key {idempotency_key!r} was used for different content", field="idempotency_key"
        )
    return _pending(row)


async def post_pending(
    conn: asyncpg.Connection, pending_id: int, *, business_date: date, amount: int | None = None
) -> JournalEntry:
    """Book a reserve (all of it, or `amount` ≤ reserved; the rest is released) as one journal entry."""
    async with own_or_joined_transaction(conn):
        row = await _get(conn, "id", pending_id, lock=True)
        if row is None:
            raise NotFound("no such reserve", field="pending_id")
        if row["state"] != "pending":
            raise PendingResolved(f"reserve {pending_id} is already {row['state']}", field="pending_id")
        amount = row["amount"] if amount is None else amount
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= row["amount"]:
            raise ValidationFailed(f"post 1–{row['amount']} đồng of this reserve", field="amount")
        entry = await post_entry(
            conn,
            idempotency_key=f"pending-post:{pending_id}",
            kind=row["kind"],
            business_date=business_date,
            lines=[(row["debit"], amount), (row["credit"], -amount)],
            refs={**row["refs"], "pending": str(pending_id)},
            memo=row["memo"],
        )
        await conn.execute(
            """UPDATE ledger_pending SET state = 'posted', posted_amount = $2, entry_id = $3,
                      resolved_at = now()
                WHERE id = $1""",
            pending_id,
            amount,
            entry.id,
        )
    return entry


async def void_pending(conn: asyncpg.Connection, pending_id: int) -> Pending:
    """Release a reserve without moving money."""
    async with own_or_joined_transaction(conn):
        row = await _get(conn, "id", pending_id, lock=True)
        if row is None:
            raise NotFound("no such reserve", field="pending_id")
        if row["state"] != "pending":
            raise PendingResolved(f"reserve {pending_id} is already {row['state']}", field="pending_id")
        await conn.execute(
            "UPDATE ledger_pending SET state = 'voided', resolved_at = now() WHERE id = $1", pending_id
        )
        row = await _get(conn, "id", pending_id)
    return _pending(row)
