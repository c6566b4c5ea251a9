"""The double-entry ledger: every money movement is one balanced, immutable journal entry posted through
`post_entry`. Amounts are integer đồng; a positive posting is a debit, a negative one a credit.

The database is the last guard (migrations/0001, 0022): it refuses unbalanced entries and any change to posted
rows. Balances are sums over postings, so they can never disagree with them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg

from core.db import own_or_joined_transaction
from core.errors import Conflict, ValidationFailed, map_constraint
from ledger.accounts import ACCOUNT_PATH

KIND = re.compile(r"^[a-z][a-z0-9_.]{0,62}$")


class UnbalancedEntry(ValidationFailed):
    slug = "unbalanced-entry"
    title_vi, title_en = "Bút toán không cân", "Journal entry does not balance"


class EntryConflict(Conflict):
    slug = "journal-entry-conflict"
    title_vi = "Khóa bút toán đã dùng cho nội dung khác"
    title_en = "Entry idempotency key already used with other content"


# The database's last guards, should code ever reach them: a clear 409/422, never a 500.
map_constraint("immutable_rows", Conflict, None, "posted rows are immutable; record a correction instead")
map_constraint("journal_entry_balanced", UnbalancedEntry, "lines", "debits and credits must balance")


@dataclass(frozen=True)
class Line:
    account: str
    amount: int  # > 0 debit, < 0 credit


@dataclass(frozen=True)
class JournalEntry:
    id: int
    idempotency_key: str
    kind: str
    business_date: date
    lines: tuple[Line, ...]
    refs: dict[str, str]
    created: bool  # False when an identical entry already existed under this key


def _check(kind: str, lines: Sequence[Line], refs: Mapping[str, str]) -> None:
    if not KIND.match(kind):
        raise ValidationFailed(
            f"kind {kind!r} must be lower-case letters, digits, dots, underscores", field="kind"
        )
    if len(lines) < 2:
        raise UnbalancedEntry("an entry needs at least two lines", field="lines")
    for line in lines:
        if isinstance(line.amount, bool) or not isinstance(line.amount, int):
            raise ValidationFailed("amounts are integer đồng", field="lines.amount")
        if line.amount == 0:
            raise ValidationFailed("a line of 0 đồng moves nothing", field="lines.amount")
        if not ACCOUNT_PATH.match(line.account) or len(line.account) > 200:
            raise ValidationFailed(
                f"account path {line.account!r} is not type:segment[:segment…]", field="lines.account"
            )
    total = sum(line.amount for line in lines)
    if total != 0:
        raise UnbalancedEntry(f"debits and credits differ by {total} đồng", field="lines")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in refs.items()):
        raise ValidationFailed("refs map names to strings", field="refs")


def _content_hash(
    kind: str, business_date: date, lines: Sequence[Line], refs: Mapping[str, str], memo: str | None
) -> str:
    body = {
        "kind": kind,
        "business_date": business_date.isoformat(),
        "lines": sorted([line.account, line.amount] for line in lines),
        "refs": dict(sorted(refs.items())),
        "memo": memo,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


async def post_entry(
    conn: asyncpg.Connection,
    *,
    idempotency_key: str,
    kind: str,
    business_date: date,
    lines: Sequence[Line | tuple[str, int]],
    refs: Mapping[str, str] | None = None,
    memo: str | None = None,
) -> JournalEntry:
    """Post one balanced entry. The same key with the same content returns the original entry; the same key
    with other content raises EntryConflict. Runs in the caller's transaction when there is one."""
    checked = tuple(line if isinstance(line, Line) else Line(*line) for line in lines)
    refs = dict(refs or {})
    _check(kind, checked, refs)
    if not 1 <= len(idempotency_key) <= 200:
        raise ValidationFailed("1–200 characters", field="idempotency_key")
    digest = _content_hash(kind, business_date, checked, refs, memo)
    paths = sorted({line.account for line in checked})
    async with own_or_joined_transaction(conn):
        # Two statements: the entry with the accounts its lines name (only the missing ones: no row trigger
        # runs for an existing path), then all of its lines at once (checked per statement, migrations/0022).
        entry_id = await conn.fetchval(
            """WITH accounts AS (
                   INSERT INTO ledger_accounts (path)
                   SELECT p FROM unnest($7::text[]) AS p
                    WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.path = p)
                   ON CONFLICT (path) DO NOTHING)
               INSERT INTO journal_entries (idempotency_key, kind, business_date, refs, memo, content_hash)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
            idempotency_key,
            kind,
            business_date,
            refs,
            memo,
            digest,
            paths,
        )
        if entry_id is None:  # the key exists (possibly committed a moment ago by a concurrent poster)
            existing = await conn.fetchrow(
                "SELECT id, content_hash FROM journal_entries WHERE idempotency_key = $1", idempotency_key
            )
            if existing["content_hash"] != digest:
                raise EntryConflict(
                    f"entry key {idempotency_key!r} was used for different content", field="idempotency_key"
                )
            return JournalEntry(existing["id"], idempotency_key, kind, business_date, checked, refs, False)
        status = await conn.execute(
            """INSERT INTO postings (entry_id, account_id, amount, business_date)
               SELECT $1, a.id, l.amount, $4
                 FROM unnest($2::text[], $3::bigint[]) WITH ORDINALITY AS l(path, amount, n)
                 JOIN ledger_accounts a ON a.path = l.path
                ORDER BY l.n""",
            entry_id,
            [line.account for line in checked],
            [line.amount for line in checked],
            business_date,
        )
        # A line whose account the statement could not see would be missing, not refused: never let a
        # shorter (possibly still balanced) entry through.
        if status != f"INSERT 0 {len(checked)}":
            raise RuntimeError(f"entry {idempotency_key!r}: {status} for {len(checked)} lines")
    return JournalEntry(entry_id, idempotency_key, kind, business_date, checked, refs, True)


async def entry_lines(conn: asyncpg.Connection, entry_id: int) -> list[Line]:
    rows = await conn.fetch(
        """SELECT a.path, p.amount FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
            WHERE p.entry_id = $1 ORDER BY p.id""",
        entry_id,
    )
    return [Line(r["path"], r["amount"]) for r in rows]
