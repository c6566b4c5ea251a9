"""Append-only, keyed hash chain of staff actions, and signed checkpoints of its head kept outside the table.

Each row's hash covers its content and the previous row's hash. Rows written since migration 0007 are
HMAC-SHA256 under the audit key (core/keys.py), which the database never holds: someone who can write SQL can
still delete or rewrite rows, but cannot recompute hashes that verify. Rows from before (alg 'sha256', up to
`audit_chain_meta.legacy_until`) are verified the old, unkeyed way; the first keyed row chains onto them, so
rewriting them breaks it.

The legacy boundary is not taken on the database's word (a superuser can raise it, then re-chain the tail
unkeyed): every signed checkpoint records it ("none" = 0 for a database created after 0007, whose first
checkpoint the server writes at start, before any row), verify uses the checkpoints' value and reports a
different `audit_chain_meta` as tampering, and whatever the boundary says, an unkeyed row after a keyed one
and a keyed row inside the legacy range are refused.

Deleting the newest rows (truncating the tail) leaves a chain that still verifies; a checkpoint catches it:
the head's sequence and hash, signed with the city's Ed25519 key, appended to var/audit-checkpoints.jsonl and
logged, every few minutes and by `python main.py audit checkpoint`. `audit verify` then requires every
checkpoint's row to be in the table with the same hash.

The key is process-wide (`use_audit_key`), not an argument: record_audit is called from every capability,
and a row written with no key configured must fail loudly rather than fall back to an unkeyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

if TYPE_CHECKING:
    pass

log = structlog.get_logger("citypay.audit")

GENESIS = "0" * 64
ALG_LEGACY = "sha256"
ALG_KEYED = "hmac-sha256"
CHECKPOINT_FILE = "audit-checkpoints.jsonl"
# Appends are serialised so the chain has one order; staff writes are rare enough for one lock.
AUDIT_LOCK_KEY = 0x41554449_54000000

_audit_key: bytes | None = None
_audit_key_loader: Callable[[], bytes] | None = None


def use_audit_key(key: bytes) -> None:
    """Set the key every later record_audit in this process uses (create_app and the tests call it)."""
    global _audit_key
    if len(key) < 32:
        raise ValueError("the audit key must be at least 32 bytes")
    _audit_key = key


def use_audit_key_loader(loader: Callable[[], bytes]) -> None:
    """For command-line tools: load the key only if something records an audit row."""
    global _audit_key_loader
    _audit_key_loader = loader


def current_audit_key() -> bytes:
    if _audit_key is None and _audit_key_loader is not None:
        use_audit_key(_audit_key_loader())
    if _audit_key is None:
        raise RuntimeError("no audit key loaded: call core.audit.use_audit_key first (create_app does)")
    return _audit_key


def audit_key_id(key: bytes) -> str:
    """Names a key without revealing it (a hash of a 32-byte random key)."""
    return "ak-" + hashlib.sha256(b"citypay audit key id\0" + key).hexdigest()[:12]


def _canonical(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _row_body(seq, at, actor, action, subject, before, after, request_id) -> str:
    return _canonical(
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
    """The unkeyed hash of rows written before migration 0007 (alg 'sha256')."""
    body = _row_body(seq, at, actor, action, subject, before, after, request_id)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def keyed_row_hash(
    key: bytes,
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
    """HMAC-SHA256 under the audit key of the previous hash and the row's canonical JSON ('hmac-sha256')."""
    body = _row_body(seq, at, actor, action, subject, before, after, request_id)
    return hmac.new(key, (prev_hash + body).encode(), hashlib.sha256).hexdigest()


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
    key = current_audit_key()
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK_KEY)
    last = await conn.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    seq, prev = (last["seq"] + 1, last["hash"]) if last else (1, GENESIS)
    at = datetime.now(UTC)
    # Round-trip through JSON so what we hash is what jsonb gives back.
    before = json.loads(json.dumps(before)) if before is not None else None
    after = json.loads(json.dumps(after)) if after is not None else None
    digest = keyed_row_hash(key, prev, seq, at, actor, action, subject, before, after, request_id)
    await conn.execute(
        """INSERT INTO audit_log (seq, at, actor, action, subject, before, after, request_id, prev_hash, hash,
               alg, key_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
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
        ALG_KEYED,
        audit_key_id(key),
    )
    return seq


# Verifying ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    rows: int
    first_broken: int | None
    reason: str | None
    head_seq: int = 0
    head_hash: str = GENESIS
    checkpoints_checked: int = 0
    legacy_until: int = 0  # the seq of the last unkeyed row the walk accepted as legacy (0 = none)

    @property
    def ok(self) -> bool:
        return self.first_broken is None


async def _legacy_until(conn: asyncpg.Connection) -> int:
    if not await conn.fetchval("SELECT to_regclass('audit_chain_meta') IS NOT NULL"):
        return 2**62  # a database from before 0007: every row is unkeyed
    return await conn.fetchval("SELECT legacy_until FROM audit_chain_meta") or 0


def legacy_label(legacy_until: int) -> str:
    return "none" if legacy_until == 0 else f"row {legacy_until}"


def trusted_legacy_until(checkpoints: list[Checkpoint]) -> tuple[int | None, str | None]:
    """The legacy boundary the signed checkpoints record (None if there are none), or a reason why they
    disagree among themselves (each was signed by this service: only a moved boundary makes them differ)."""
    values = {c.legacy_until for c in checkpoints if c.legacy_until is not None}
    if not values:
        return None, None
    if len(values) > 1:
        listed = ", ".join(legacy_label(v) for v in sorted(values))
        return None, f"the signed checkpoints record different legacy boundaries ({listed}): it was moved"
    return values.pop(), None


async def verify_audit_chain(
    conn: asyncpg.Connection,
    *,
    key: bytes | None = None,
    checkpoints: list[Checkpoint] | None = None,
    start: tuple[int, str] | None = None,
    batch: int = 5000,
) -> ChainReport:
    """Walk the chain in order; report the first row whose link, content or key does not verify, or the first
    checkpoint the table no longer reaches with the same hash. `start` = (seq, hash) of a row already known
    good (a checkpoint): the walk begins there instead of at the genesis."""
    key = current_audit_key() if key is None else key
    kid = audit_key_id(key)
    trusted, disagree = trusted_legacy_until(checkpoints or [])
    if disagree:
        return ChainReport(0, 0, disagree)
    first_seq, prev = (start[0] + 1, start[1]) if start else (1, GENESIS)
    # checkpoints of rows this walk covers (the start row itself is checked on its own below)
    expected = {c.seq: c.hash for c in (checkpoints or []) if c.seq >= first_seq}
    reached = len(expected)
    expected_seq, count, head = first_seq, 0, (first_seq - 1, prev)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        in_database = await _legacy_until(conn)
        if trusted is not None and in_database != trusted:
            return ChainReport(
                0,
                min(in_database, trusted) + 1,
                f"audit_chain_meta.legacy_until says {legacy_label(in_database)} but the signed checkpoints "
                f"record {legacy_label(trusted)}: the legacy (unkeyed) boundary was changed in the database",
            )
        legacy_until = in_database if trusted is None else trusted
        seen_keyed = first_seq - 1 > legacy_until  # the start row is past the legacy range: it was keyed
        if start and start[0] > 0:
            at_start = await conn.fetchval("SELECT hash FROM audit_log WHERE seq = $1", start[0])
            if at_start != start[1]:
                why = "is missing" if at_start is None else "was rewritten since it was checkpointed"
                return ChainReport(0, start[0], f"checkpointed row {start[0]} {why}")
        async for r in conn.cursor(
            "SELECT * FROM audit_log WHERE seq >= $1 ORDER BY seq", first_seq, prefetch=batch
        ):
            count += 1
            seq = r["seq"]
            if seq != expected_seq:
                return ChainReport(count, expected_seq, f"row {expected_seq} is missing")
            if r["prev_hash"] != prev:
                return ChainReport(count, seq, "prev_hash does not match the previous row's hash")
            content = (
                r["at"],
                r["actor"],
                r["action"],
                r["subject"],
                r["before"],
                r["after"],
                r["request_id"],
            )
            if r["alg"] == ALG_KEYED:
                if seq <= legacy_until:
                    return ChainReport(
                        count,
                        seq,
                        f"a keyed row inside the legacy range (unkeyed rows up to "
                        f"{legacy_label(legacy_until)}): the legacy boundary was moved",
                    )
                seen_keyed = True
                if r["key_id"] != kid:
                    return ChainReport(
                        count, seq, f"row is keyed with audit key {r['key_id']}, not this service's key {kid}"
                    )
                digest = keyed_row_hash(key, prev, seq, *content)
            elif seen_keyed:
                return ChainReport(count, seq, "an unkeyed row after a keyed one (downgraded row)")
            elif seq <= legacy_until:
                digest = row_hash(prev, seq, *content)
            else:
                return ChainReport(
                    count,
                    seq,
                    f"an unkeyed row after the legacy range ({legacy_label(legacy_until)}) (downgraded row)",
                )
            if not hmac.compare_digest(digest, r["hash"]):
                return ChainReport(count, seq, "row content does not match its hash")
            if seq in expected and expected.pop(seq) != r["hash"]:
                return ChainReport(
                    count, seq, f"row {seq} differs from the checkpoint taken of it (rewritten)"
                )
            prev, expected_seq = r["hash"], expected_seq + 1
            head = (seq, r["hash"])
    if expected:
        lost = max(expected)
        return ChainReport(
            count,
            head[0] + 1,
            f"the table ends at row {head[0]} but a checkpoint recorded row {lost}: "
            f"rows {head[0] + 1}–{lost} were deleted (the tail was truncated)",
            *head,
        )
    return ChainReport(count, None, None, head[0], head[1], reached, legacy_until)


# Checkpoints ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    database: str
    seq: int
    hash: str
    at: str
    audit_key_id: str
    public_key: str  # base64 of the Ed25519 key that signed it
    signature: str
    # seq of the last unkeyed (pre-0007) row, 0 = none; None in lines signed before it was recorded (v1)
    legacy_until: int | None = None

    def payload(self) -> bytes:
        if self.legacy_until is None:
            return _canonical(
                {
                    "v": 1,
                    "database": self.database,
                    "seq": self.seq,
                    "hash": self.hash,
                    "at": self.at,
                    "audit_key_id": self.audit_key_id,
                }
            ).encode()
        return _canonical(
            {
                "v": 2,
                "database": self.database,
                "seq": self.seq,
                "hash": self.hash,
                "at": self.at,
                "audit_key_id": self.audit_key_id,
                "legacy_until": self.legacy_until,
            }
        ).encode()

    def as_line(self) -> str:
        return _canonical(self.__dict__)


async def owner_rights(conn: asyncpg.Connection) -> str | None:
    """The connected role's name if it is a superuser or may act as the audit log's owner (then it could
    disable the triggers that guard the table), else None. `serve` warns about it."""
    row = await conn.fetchrow(
        """SELECT current_user AS role, r.rolsuper
                  OR pg_has_role(current_user, c.relowner, 'USAGE') AS owner
           FROM pg_roles r, pg_class c
           WHERE r.rolname = current_user AND c.oid = 'audit_log'::regclass"""
    )
    return row["role"] if row and row["owner"] else None
