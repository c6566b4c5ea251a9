"""Pending → post / void (TigerBeetle's two-phase transfers) for money reserved before it moves.

`reserve` records one debit/credit pair that is not yet in any balance; `post_pending` books it (in full or
in part) as a journal entry, `void_pending` releases it; either happens at most once (the database refuses a
second resolution). A reserve may not take a guarded account below zero (`guard_account`): the database
checks the posted balance less the unresolved remainder of the other open reserves, with the account row
locked.

A reserve may instead be resolved in parts (a disbursement batch reserves once; each paid item posts its
share, each failed one releases it): `post_part` / `release_part`, or `resolve_parts` for many at once (one
journal entry per posted part, written in a few statements). Each part is idempotent by its own key; the
reserve stays open while posted + released < amount and is `settled` when they meet; the database keeps the
totals (a trigger on `ledger_pending_parts`) and refuses more than remains.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import asyncpg

from core.db import own_or_joined_transaction
from core.errors import Conflict, NotFound, ValidationFailed, map_constraint
from ledger.accounts import ACCOUNT_PATH
from ledger.entries import KIND, EntryConflict, JournalEntry, Line, _content_hash, post_entry

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


class ReserveExceeded(Conflict):
    slug = "ledger-reserve-exceeded"
    title_vi = "Vượt quá phần còn lại của khoản giữ chỗ"
    title_en = "More than remains of the reserve"


class PartConflict(Conflict):
    slug = "ledger-part-conflict"
    title_vi = "Khóa của phần hạch toán đã dùng cho nội dung khác"
    title_en = "Reserve part idempotency key already used with other content"


map_constraint(
    "ledger_pending_over_resolved", ReserveExceeded, "amount", "posted + released cannot exceed the reserve"
)


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
    posted_total: int = 0  # parts posted so far (a reserve resolved in parts)
    released_total: int = 0  # parts released so far

    @property
    def remaining(self) -> int:
        """What is still reserved: nothing once posted, voided or settled."""
        return self.amount - self.posted_total - self.released_total if self.state == "pending" else 0


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
        r["posted_total"],
        r["released_total"],
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
        _whole(row)
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
        _whole(row)
        await conn.execute(
            "UPDATE ledger_pending SET state = 'voided', resolved_at = now() WHERE id = $1", pending_id
        )
        row = await _get(conn, "id", pending_id)
    return _pending(row)


def _whole(row: asyncpg.Record) -> None:
    if row["posted_total"] or row["released_total"]:
        raise PendingResolved(
            f"reserve {row['id']} is partly resolved; resolve the rest with post_part/release_part",
            field="pending_id",
        )


# Resolution in parts ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One share of a reserve: posted (a journal entry with `refs`) or released, idempotent by its key."""

    idempotency_key: str
    amount: int
    refs: Mapping[str, str] | None = None


@dataclass(frozen=True)
class PartsResult:
    pending: Pending
    entry_ids: dict[str, int]  # posted part key → its journal entry (new or found)
    new_parts: int  # parts recorded now (the rest were repeats)


def _check_part(part: Part) -> None:
    if isinstance(part.amount, bool) or not isinstance(part.amount, int) or part.amount <= 0:
        raise ValidationFailed("a part is a positive integer of đồng", field="amount")
    if not 1 <= len(part.idempotency_key) <= 200:
        raise ValidationFailed("1–200 characters", field="idempotency_key")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in (part.refs or {}).items()):
        raise ValidationFailed("refs map names to strings", field="refs")


async def resolve_parts(
    conn: asyncpg.Connection,
    pending_id: int,
    *,
    business_date: date,
    posts: Sequence[Part] = (),
    releases: Sequence[Part] = (),
) -> PartsResult:
    """Post and release parts of an open reserve in one go: a journal entry per posted part (debit and credit
    as reserved, the reserve's kind and memo, its refs plus the part's and `pending`), each under the part's
    key. A key seen before with the same content is a repeat (nothing changes); with other content it is a
    PartConflict. More than remains is ReserveExceeded (the database refuses it too)."""
    wanted = [("post", p) for p in posts] + [("release", p) for p in releases]
    for _, part in wanted:
        _check_part(part)
    keys = [p.idempotency_key for _, p in wanted]
    if len(set(keys)) != len(keys):
        raise ValidationFailed("each part has its own key", field="idempotency_key")
    async with own_or_joined_transaction(conn):
        row = await _get(conn, "id", pending_id, lock=True)
        if row is None:
            raise NotFound("no such reserve", field="pending_id")
        seen = {
            r["idempotency_key"]: r
            for r in await conn.fetch(
                """SELECT idempotency_key, pending_id, action, amount, entry_id FROM ledger_pending_parts
                    WHERE idempotency_key = ANY($1::text[])""",
                keys,
            )
        }
        entry_ids: dict[str, int] = {}
        new: list[tuple[str, Part]] = []
        for action, part in wanted:
            old = seen.get(part.idempotency_key)
            if old is None:
                new.append((action, part))
            elif (old["pending_id"], old["action"], old["amount"]) != (pending_id, action, part.amount):
                raise PartConflict(
                    f"part key {part.idempotency_key!r} was used for other content", field="idempotency_key"
                )
            elif old["entry_id"] is not None:
                entry_ids[part.idempotency_key] = old["entry_id"]
        if new:
            if row["state"] != "pending":
                raise PendingResolved(f"reserve {pending_id} is already {row['state']}", field="pending_id")
            remaining = row["amount"] - row["posted_total"] - row["released_total"]
            if sum(p.amount for _, p in new) > remaining:
                raise ReserveExceeded(f"reserve {pending_id} has {remaining} đồng left", field="amount")
            new_posts = [p for action, p in new if action == "post"]
            if new_posts:
                entry_ids.update(await _post_entries(conn, row, business_date, new_posts))
            await conn.execute(
                """INSERT INTO ledger_pending_parts (pending_id, idempotency_key, action, amount, entry_id)
                   SELECT $1, k, a, n, e FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[])
                       AS t(k, a, n, e)""",
                pending_id,
                [p.idempotency_key for _, p in new],
                [a for a, _ in new],
                [p.amount for _, p in new],
                [entry_ids.get(p.idempotency_key) if a == "post" else None for a, p in new],
            )
            row = await _get(conn, "id", pending_id)
    assert row is not None
    return PartsResult(_pending(row), entry_ids, len(new))


async def _post_entries(
    conn: asyncpg.Connection, reserve_row: asyncpg.Record, business_date: date, parts: Sequence[Part]
) -> dict[str, int]:
    """One two-line entry per part, in two statements whatever their number (entries, then postings)."""
    kind, memo = reserve_row["kind"], reserve_row["memo"]
    debit, credit = reserve_row["debit"], reserve_row["credit"]
    base_refs = {**reserve_row["refs"], "pending": str(reserve_row["id"])}
    refs = [{**base_refs, **(p.refs or {})} for p in parts]
    hashes = {
        p.idempotency_key: _content_hash(
            kind, business_date, (Line(debit, p.amount), Line(credit, -p.amount)), r, memo
        )
        for p, r in zip(parts, refs, strict=True)
    }
    rows = await conn.fetch(
        """INSERT INTO journal_entries (idempotency_key, kind, business_date, refs, memo, content_hash)
           SELECT k, $2, $3, r::jsonb, $4, h FROM unnest($1::text[], $5::text[], $6::text[]) AS t(k, r, h)
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key""",
        [p.idempotency_key for p in parts],
        kind,
        business_date,
        memo,
        [json.dumps(r, ensure_ascii=False) for r in refs],
        list(hashes.values()),
    )
    created = {r["idempotency_key"]: r["id"] for r in rows}
    ids = dict(created)
    if len(ids) != len(parts):  # an entry under the key but no part: a repeat only if the content is ours
        for r in await conn.fetch(
            "SELECT id, idempotency_key, content_hash FROM journal_entries WHERE idempotency_key = ANY($1)",
            [k for k in hashes if k not in ids],
        ):
            if r["content_hash"] != hashes[r["idempotency_key"]]:
                raise EntryConflict(
                    f"entry key {r['idempotency_key']!r} was used for different content",
                    field="idempotency_key",
                )
            ids[r["idempotency_key"]] = r["id"]
    if created:
        amount = {p.idempotency_key: p.amount for p in parts}
        entries = [(entry_id, amount[key]) for key, entry_id in created.items()]
        accounts = (reserve_row["debit_account_id"], reserve_row["credit_account_id"])
        await conn.execute(
            """INSERT INTO postings (entry_id, account_id, amount, business_date)
               SELECT e, a, n, $4 FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS t(e, a, n)""",
            [e for e, _ in entries for _ in accounts],
            [a for _ in entries for a in accounts],
            [n for _, amt in entries for n in (amt, -amt)],
            business_date,
        )
    return ids


async def post_part(
    conn: asyncpg.Connection,
    pending_id: int,
    *,
    amount: int,
    business_date: date,
    idempotency_key: str,
    refs: Mapping[str, str] | None = None,
) -> JournalEntry:
    """Book `amount` of an open reserve as one journal entry under `idempotency_key` (a repeat returns it)."""
    async with own_or_joined_transaction(conn):
        result = await resolve_parts(
            conn, pending_id, business_date=business_date, posts=[Part(idempotency_key, amount, refs)]
        )
        entry_id = result.entry_ids[idempotency_key]
        row = await conn.fetchrow(
            "SELECT kind, business_date, refs FROM journal_entries WHERE id = $1", entry_id
        )
    p = result.pending
    return JournalEntry(
        entry_id,
        idempotency_key,
        row["kind"],
        row["business_date"],
        (Line(p.debit, amount), Line(p.credit, -amount)),
        row["refs"],
        result.new_parts == 1,
    )


async def release_part(
    conn: asyncpg.Connection, pending_id: int, *, amount: int, idempotency_key: str
) -> Pending:
    """Release `amount` of an open reserve without moving money (a repeat of the key changes nothing)."""
    result = await resolve_parts(
        conn, pending_id, business_date=date.today(), releases=[Part(idempotency_key, amount)]
    )
    return result.pending


async def pending_by_id(conn: asyncpg.Connection, pending_id: int) -> Pending | None:
    row = await _get(conn, "id", pending_id)
    return _pending(row) if row else None
