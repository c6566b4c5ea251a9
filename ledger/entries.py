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


@dataclass(frozen=True)
class EntryDraft:
    """An entry to post with `post_entries`: what `post_entry` takes, as one value."""

    idempotency_key: str
    kind: str
    business_date: date
    lines: Sequence[Line | tuple[str, int]]
    refs: Mapping[str, str] | None = None
    memo: str | None = None


@dataclass(frozen=True)
class _Checked:
    key: str
    kind: str
    business_date: date
    lines: tuple[Line, ...]
    refs: dict[str, str]
    memo: str | None
    digest: str


def _checked(draft: EntryDraft) -> _Checked:
    lines = tuple(line if isinstance(line, Line) else Line(*line) for line in draft.lines)
    refs = dict(draft.refs or {})
    _check(draft.kind, lines, refs)
    if not 1 <= len(draft.idempotency_key) <= 200:
        raise ValidationFailed("1–200 characters", field="idempotency_key")
    digest = _content_hash(draft.kind, draft.business_date, lines, refs, draft.memo)
    return _Checked(draft.idempotency_key, draft.kind, draft.business_date, lines, refs, draft.memo, digest)


async def _insert_new(conn: asyncpg.Connection, entries: Sequence[_Checked]) -> dict[str, int]:
    """Two statements for any number of entries: the entries with the accounts their lines name (only the
    missing ones: no row trigger runs for an existing path), then all of their lines at once (checked per
    statement, migrations/0022). A key that exists already (possibly committed a moment ago by a concurrent
    poster) is left out: the answer maps the keys inserted now to their ids."""
    inserted = await conn.fetch(
        """WITH accounts AS (
               INSERT INTO ledger_accounts (path)
               SELECT p FROM unnest($7::text[]) AS p
                WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts a WHERE a.path = p)
               ON CONFLICT (path) DO NOTHING)
           INSERT INTO journal_entries (idempotency_key, kind, business_date, refs, memo, content_hash)
           SELECT e.key, e.kind, e.business_date, e.refs::jsonb, e.memo, e.content_hash
             FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::text[], $6::text[])
                  WITH ORDINALITY AS e(key, kind, business_date, refs, memo, content_hash, n)
            ORDER BY e.n
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key""",
        [e.key for e in entries],
        [e.kind for e in entries],
        [e.business_date for e in entries],
        [json.dumps(e.refs) for e in entries],
        [e.memo for e in entries],
        [e.digest for e in entries],
        sorted({line.account for e in entries for line in e.lines}),
    )
    ids = {row["idempotency_key"]: row["id"] for row in inserted}
    new = [e for e in entries if e.key in ids]
    if not new:
        return ids
    lines = [(ids[e.key], line, e.business_date) for e in new for line in e.lines]
    status = await conn.execute(
        """INSERT INTO postings (entry_id, account_id, amount, business_date)
           SELECT l.entry_id, a.id, l.amount, l.business_date
             FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::date[])
                  WITH ORDINALITY AS l(entry_id, path, amount, business_date, n)
             JOIN ledger_accounts a ON a.path = l.path
            ORDER BY l.n""",
        [entry_id for entry_id, _, _ in lines],
        [line.account for _, line, _ in lines],
        [line.amount for _, line, _ in lines],
        [day for _, _, day in lines],
    )
    # A line whose account the statement could not see would be missing, not refused: never let a
    # shorter (possibly still balanced) entry through.
    if status != f"INSERT 0 {len(lines)}":
        raise RuntimeError(f"entries {sorted(ids)[:3]}…: {status} for {len(lines)} lines")
    return ids


def _posted(entry: _Checked, entry_id: int, created: bool) -> JournalEntry:
    return JournalEntry(
        entry_id, entry.key, entry.kind, entry.business_date, entry.lines, entry.refs, created
    )


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
    entry = _checked(EntryDraft(idempotency_key, kind, business_date, lines, refs, memo))
    async with own_or_joined_transaction(conn):
        ids = await _insert_new(conn, [entry])
        if entry.key in ids:
            return _posted(entry, ids[entry.key], True)
        existing = await conn.fetchrow(
            "SELECT id, content_hash FROM journal_entries WHERE idempotency_key = $1", entry.key
        )
    if existing["content_hash"] != entry.digest:
        raise EntryConflict(
            f"entry key {entry.key!r} was used for different content", field="idempotency_key"
        )
    return _posted(entry, existing["id"], False)


async def post_entries(conn: asyncpg.Connection, drafts: Sequence[EntryDraft]) -> list[JournalEntry]:
    """Post several new entries with two statements, whatever their number (a group commit's credits). Every
    key must be new and appear once: a key that exists raises EntryConflict and posts nothing of the call
    (the caller's transaction or savepoint rolls back; `post_entry` one by one is the idempotent path)."""
    entries = [_checked(draft) for draft in drafts]
    if len({e.key for e in entries}) != len(entries):
        raise EntryConflict("an idempotency key appears twice in one call", field="idempotency_key")
    if not entries:
        return []
    async with own_or_joined_transaction(conn):
        ids = await _insert_new(conn, entries)
        if len(ids) != len(entries):
            taken = sorted(e.key for e in entries if e.key not in ids)
            raise EntryConflict(f"entry keys already used: {taken[:3]}", field="idempotency_key")
    return [_posted(e, ids[e.key], True) for e in entries]


async def entry_lines(conn: asyncpg.Connection, entry_id: int) -> list[Line]:
    rows = await conn.fetch(
        """SELECT a.path, p.amount FROM postings p JOIN ledger_accounts a ON a.id = p.account_id
            WHERE p.entry_id = $1 ORDER BY p.id""",
        entry_id,
    )
    return [Line(r["path"], r["amount"]) for r in rows]
