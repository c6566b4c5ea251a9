"""Append-only, hash-chained audit log of staff actions: each row's hash covers its content and the previous
row's hash, so an edited or deleted row breaks every link after it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

GENESIS = "0" * 64
# Appends are serialised so the chain has one order; staff writes are rare enough for one lock.
AUDIT_LOCK_KEY = 0x41554449_54000000


def _canonical(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    before: Any,
    after: Any,
    request_id: str | None,
) -> str:
    body = _canonical(
        {
            "seq": seq,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "subject": subject,
            "before": before,
            "after": after,
            "request_id": request_id,
        }
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


async def record_audit(
    conn: asyncpg.Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    before: Any = None,
    after: Any = None,
) -> int:
    """Append one row inside the caller's transaction (so it commits or rolls back with the change)."""
    if not conn.is_in_transaction():
        raise RuntimeError("record_audit must run inside the transaction that makes the change")
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK_KEY)
    last = await conn.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
    at = datetime.now(UTC)
    # Round-trip through JSON so what we hash is what jsonb gives back.
    before = json.loads(json.dumps(before)) if before is not None else None
    after = json.loads(json.dumps(after)) if after is not None else None
    digest = row_hash(prev, seq, at, actor, action, subject, before, after, request_id)
    await conn.execute(
        """INSERT INTO audit_log (seq, at, actor, action, subject, before, after, request_id, prev_hash, hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        seq,
        at,
        actor,
        action,
        subject,
        before,
        after,
        request_id,
        prev,
        digest,
    )
    return seq


@dataclass(frozen=True)
class ChainReport:
    rows: int
    first_broken: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.first_broken is None


async def verify_audit_chain(conn: asyncpg.Connection, *, batch: int = 5000) -> ChainReport:
    """Walk the chain in order; report the first row whose link or content does not verify."""
    prev, expected_seq, count = GENESIS, 1, 0
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for r in conn.cursor("SELECT * FROM audit_log ORDER BY seq", prefetch=batch):
            count += 1
            if r["seq"] != expected_seq:
                return ChainReport(count, expected_seq, f"row {expected_seq} is missing")
            if r["prev_hash"] != prev:
                return ChainReport(count, r["seq"], "prev_hash does not match the previous row's hash")
            digest = row_hash(
                prev,
                r["seq"],
                r["at"],
                r["actor"],
                r["action"],
                r["subject"],
                r["before"],
                r["after"],
                r["request_id"],
            )
            if digest != r["hash"]:
                return ChainReport(count, r["seq"], "row content does not match its hash")
            prev, expected_seq = r["hash"], expected_seq + 1
    return ChainReport(count, None, None)
