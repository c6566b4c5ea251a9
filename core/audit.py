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

Streams (migration 0025): rows are chained per stream, so concurrent appends of unrelated actions do not
queue on one another. Staff administration (rare) stays on the one "main" stream; the parking session actions
of the field (every check-in and check-out) go to FIELD_STREAMS streams chosen by subject, so one session's
rows stay in order in one chain. Each row's hash covers its stream and its position in it (1, 2, 3 …); a
missing row is a gap in positions, a truncated stream disagrees with the checkpoints, which record the head of
every stream. `seq` stays the global order (from a sequence: rolled-back appends leave gaps there, never in a
stream). Rows from before 0025 have no stream: they are "main", position = seq.

An append takes no lock before it writes: it reads its stream's head, hashes the row onto it and inserts it
at the next position, which the unique index on (stream, position) gives to one writer; a writer that lost
the position reads the head again (`record_audit`). A position is held only from the insert to the commit,
so a hot path can insert its row in the statement that makes its change.

The key is process-wide (`use_audit_key`), not an argument: record_audit is called from every capability,
and a row written with no key configured must fail loudly rather than fall back to an unkeyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
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
MAIN_STREAM = "main"
# 256: an append reads its stream's head, hashes in Python, then inserts; an action of another session on the
# same stream in that window (a few ms under load) takes the position and the append is redone. With 16
# streams a third of the check-ins under 32 attendants were redone (bench/parking.py --explain). Raised from
# 16 with 3-digit names (the "field:NN" rows stay chains of their own): a session open at the change has its
# later rows in another stream than its check-in; every chain stays whole and `seq` still orders them.
FIELD_STREAMS = 256
assert FIELD_STREAMS <= 1000  # the names have 3 digits
# Actions of the parking hot path; everything else is staff administration on the main stream.
FIELD_ACTIONS = (
    "parking.check_in",
    "parking.check_out",
    "parking.close_",
    "parking.correct",
    "parking.cancel",
    "parking.void",
)

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


def audit_stream(action: str, subject: str) -> str:
    """The stream a row goes to: a field stream by subject for the parking session actions, else main."""
    if not action.startswith(FIELD_ACTIONS):
        return MAIN_STREAM
    shard = int.from_bytes(hashlib.sha256(subject.encode()).digest()[:4], "big") % FIELD_STREAMS
    return f"field:{shard:03d}"


def field_stream_sql(subject: str, streams: str) -> str:
    """audit_stream of a parking session action in SQL: the field stream of the subject `subject` (an SQL text
    expression) among `streams` (an SQL integer expression: pass FIELD_STREAMS as a parameter). For a
    statement that reads a stream's head before it knows the subject's id in Python."""
    digest = f"encode(sha256(convert_to({subject}, 'UTF8')), 'hex')"
    shard = f"(('x' || left({digest}, 8))::bit(32)::bigint % {streams})"  # its first 4 bytes, big-endian
    return f"('field:' || lpad({shard}::text, 3, '0'))"  # lpad cuts a longer text: 3 digits hold 0–255


def _row_body(
    seq, at, actor, action, subject, before, after, request_id, stream=None, stream_seq=None
) -> str:
    body = {
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "subject": subject,
        "before": before,
        "after": after,
        "request_id": request_id,
    }
    if stream is not None:  # rows from 0025 on; older rows keep the body they were hashed with
        body["stream"], body["stream_seq"] = stream, stream_seq
    return _canonical(body)


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
    stream: str | None = None,
    stream_seq: int | None = None,
) -> str:
    """HMAC-SHA256 under the audit key of the previous hash and the row's canonical JSON ('hmac-sha256')."""
    body = _row_body(seq, at, actor, action, subject, before, after, request_id, stream, stream_seq)
    return hmac.new(key, (prev_hash + body).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuditAppend:
    """One audit row ready to insert: hashed onto the stream head read beforehand. Its position is claimed by
    the insert itself (the unique index on stream and position): if another append took the position since the
    head was read, the insert conflicts and the caller reads the head again and retries."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    before: Any
    after: Any
    request_id: str | None
    prev_hash: str
    hash: str
    key_id: str
    stream: str
    stream_seq: int

    def params(self) -> list[Any]:
        """The values for AUDIT_COLUMNS, in order."""
        return [
            self.seq,
            self.at,
            self.actor,
            self.action,
            self.subject,
            self.before,
            self.after,
            self.request_id,
            self.prev_hash,
            self.hash,
            ALG_KEYED,
            self.key_id,
            self.stream,
            self.stream_seq,
        ]


AUDIT_COLUMNS = (
    "seq, at, actor, action, subject, before, after, request_id, prev_hash, hash, alg, key_id, "
    "stream, stream_seq"
)
AUDIT_PARAMS = len(AUDIT_COLUMNS.split(","))  # how many values an AuditAppend gives its insert


def audit_insert_sql(first: int) -> str:
    """`INSERT INTO audit_log …` of one AuditAppend whose params() start at ${first}, to run alone or as a CTE
    of the statement that makes the change (then the row and the change commit in one round trip)."""
    values = ", ".join(f"${i}" for i in range(first, first + AUDIT_PARAMS))
    return f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ({values})"


def audit_insert_when_sql(first: int, condition: str) -> str:
    """`audit_insert_sql` for a CTE of the statement that makes the change: the row is inserted only when
    `condition` holds (e.g. "EXISTS (SELECT 1 FROM added)") and its position is still free; it RETURNING seq.
    No row back (position taken since the head was read): the caller appends with record_audit instead."""
    values = ", ".join(f"${i}" for i in range(first, first + AUDIT_PARAMS))
    return (
        f"INSERT INTO audit_log ({AUDIT_COLUMNS}) SELECT {values} WHERE {condition} "
        "ON CONFLICT (stream, stream_seq) DO NOTHING RETURNING seq"
    )


def audit_head_sql(stream_param: str) -> str:
    """A one-row subquery: the next seq and the head (audit_pos, audit_hash) of the stream named by the
    parameter `stream_param` (e.g. "$5"); a caller folds it into a statement it runs anyway."""
    return _HEAD_SQL.replace("$1", stream_param)


def position_taken(exc: BaseException) -> bool:
    """An append lost the race for its stream position (someone appended since the head was read)."""
    return isinstance(exc, asyncpg.UniqueViolationError) and exc.constraint_name == _POSITION_INDEX


def prepare_audit(
    head: Any,
    *,
    actor: str,
    action: str,
    subject: str,
    before: Any = None,
    after: Any = None,
) -> AuditAppend:
    """The row that follows `head` (a record with audit_seq, audit_pos, audit_hash, from audit_head_sql)."""
    key = current_audit_key()
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    stream = audit_stream(action, subject)
    seq, pos, prev = head["audit_seq"], (head["audit_pos"] or 0) + 1, head["audit_hash"] or GENESIS
    at = datetime.now(UTC)
    # Round-trip through JSON so what we hash is what jsonb gives back.
    before = json.loads(json.dumps(before)) if before is not None else None
    after = json.loads(json.dumps(after)) if after is not None else None
    digest = keyed_row_hash(
        key, prev, seq, at, actor, action, subject, before, after, request_id, stream, pos
    )
    return AuditAppend(
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
        audit_key_id(key),
        stream,
        pos,
    )


async def read_audit_head(conn: asyncpg.Connection, stream: str) -> asyncpg.Record:
    return await conn.fetchrow(_HEAD_SQL, stream)


async def record_audit(
    conn: asyncpg.Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    before: Any = None,
    after: Any = None,
) -> int:
    """Append one row inside the caller's transaction (so it commits or rolls back with the change).

    No lock is taken before the row is written: the head is read, the row hashed onto it, and the insert
    claims the next position; a concurrent append of the same position makes the insert wait for it, and if
    it committed, this one reads the new head and tries again. The position is held from the insert to the
    commit only, never across the caller's other statements."""
    if not conn.is_in_transaction():
        raise RuntimeError("record_audit must run inside the transaction that makes the change")
    stream = audit_stream(action, subject)
    for _ in range(_APPEND_TRIES):
        # A statement of its own after any conflict: its snapshot includes the append that won.
        head = await conn.fetchrow(_HEAD_SQL, stream)
        row = prepare_audit(head, actor=actor, action=action, subject=subject, before=before, after=after)
        seq = await conn.fetchval(
            f"{audit_insert_sql(1)} ON CONFLICT (stream, stream_seq) DO NOTHING RETURNING seq", *row.params()
        )
        if seq is not None:
            return seq
    raise RuntimeError(f"audit stream {stream}: no free position after {_APPEND_TRIES} tries")


# Each try fails only because another append to the stream committed meanwhile: the stream moved on.
_APPEND_TRIES = 100
_POSITION_INDEX = "audit_log_stream_positions"

# The next seq and the stream's head (position, hash); the main stream's head may be a row from before 0025.
# nextval is taken in the statement that reads the head, so within a stream seq grows with the position: the
# row at the head committed before this statement began, hence took its seq before this one does.
_HEAD_SQL = """
SELECT nextval('audit_log_seq') AS audit_seq, h.pos AS audit_pos, h.hash AS audit_hash
  FROM (SELECT 1) AS one
  LEFT JOIN LATERAL (
      SELECT pos, hash FROM (
          (SELECT stream_seq AS pos, hash FROM audit_log WHERE stream = $1 ORDER BY stream_seq DESC LIMIT 1)
          UNION ALL
          (SELECT seq, hash FROM audit_log WHERE $1 = 'main' AND stream IS NULL ORDER BY seq DESC LIMIT 1)
      ) AS c ORDER BY pos DESC LIMIT 1) AS h ON true"""


# Verifying ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """A stream's newest row: its position in the stream, its global seq and its hash."""

    pos: int
    seq: int
    hash: str


@dataclass(frozen=True)
class ChainReport:
    rows: int
    first_broken: int | None
    reason: str | None
    head_seq: int = 0  # the newest row of all streams
    head_hash: str = GENESIS
    checkpoints_checked: int = 0
    legacy_until: int = 0  # the seq of the last unkeyed row the walk accepted as legacy (0 = none)
    heads: dict[str, Head] = field(default_factory=dict)  # every stream's head (when ok)

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


# The rows after known stream heads: each stream from its head on (a loose index scan finds the streams, one
# index range per stream), and the main stream's rows from before 0025 (stream NULL, position = seq).
_ROWS_AFTER_HEADS = """
WITH RECURSIVE streams(s) AS (
    SELECT min(stream) FROM audit_log
    UNION ALL
    SELECT (SELECT min(stream) FROM audit_log WHERE stream > streams.s)
      FROM streams WHERE streams.s IS NOT NULL
), after_head AS (
    SELECT streams.s, coalesce(known.pos, 0) AS pos
      FROM streams
      LEFT JOIN unnest($1::text[], $2::bigint[]) AS known(stream, pos) ON known.stream = streams.s
     WHERE streams.s IS NOT NULL
)
SELECT a.* FROM after_head h
 CROSS JOIN LATERAL (  -- ORDER BY keeps it a per-stream index range (not flattened into one scan)
     SELECT * FROM audit_log a WHERE a.stream = h.s AND a.stream_seq > h.pos ORDER BY a.stream_seq) AS a
UNION ALL
SELECT * FROM audit_log
 WHERE stream IS NULL
   AND seq > coalesce(
       (SELECT pos FROM unnest($1::text[], $2::bigint[]) AS k(stream, pos) WHERE k.stream = 'main'), 0)
ORDER BY seq"""


def checkpointed_heads(checkpoints: list[Checkpoint]) -> list[tuple[str, Head]]:
    """Every (stream, head) the checkpoints signed; lines from before 0025 signed the main stream's head."""
    found: list[tuple[str, Head]] = []
    for c in checkpoints:
        if c.heads is not None:
            found += [(stream, Head(*h)) for stream, h in c.heads.items()]
        elif c.seq > 0:
            found.append((MAIN_STREAM, Head(c.seq, c.seq, c.hash)))
    return found


def latest_heads(checkpoints: list[Checkpoint]) -> dict[str, Head]:
    latest: dict[str, Head] = {}
    for stream, head in checkpointed_heads(checkpoints):
        if stream not in latest or head.pos > latest[stream].pos:
            latest[stream] = head
    return latest


async def verify_audit_chain(
    conn: asyncpg.Connection,
    *,
    key: bytes | None = None,
    checkpoints: list[Checkpoint] | None = None,
    start: dict[str, Head] | None = None,
    batch: int = 5000,
) -> ChainReport:
    """Walk every stream in order; report the first row (by seq) whose link, position, content or key does
    not verify, or the first checkpointed head the table no longer reaches with the same hash. `start` = the
    heads of streams already known good (the latest checkpoint of each): the walk then reads only the rows
    after them, instead of every row from the genesis."""
    key = current_audit_key() if key is None else key
    kid = audit_key_id(key)
    trusted, disagree = trusted_legacy_until(checkpoints or [])
    if disagree:
        return ChainReport(0, 0, disagree)
    heads: dict[str, Head] = dict(start or {})
    # checkpointed rows this walk covers (start heads are checked on their own below)
    expected: dict[int, tuple[str, str]] = (
        {} if start else {h.seq: (s, h.hash) for s, h in checkpointed_heads(checkpoints or [])}
    )
    reached = len(expected)
    count = 0
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
        seen_keyed = any(h.seq > legacy_until for h in heads.values())  # start heads past it were keyed
        if heads:
            found = dict(
                await conn.fetch(
                    "SELECT seq, hash FROM audit_log WHERE seq = ANY($1::bigint[])",
                    [h.seq for h in heads.values()],
                )
            )
            for h in sorted(heads.values(), key=lambda h: h.seq):
                if found.get(h.seq) != h.hash:
                    why = "is missing" if h.seq not in found else "was rewritten since it was checkpointed"
                    return ChainReport(0, h.seq, f"checkpointed row {h.seq} {why}")
        if start:
            rows = conn.cursor(
                _ROWS_AFTER_HEADS, list(heads), [h.pos for h in heads.values()], prefetch=batch
            )
        else:
            rows = conn.cursor("SELECT * FROM audit_log ORDER BY seq", prefetch=batch)
        async for r in rows:
            count += 1
            seq = r["seq"]
            stream_col = r.get("stream")  # None: a row from before 0025 (or a database before it)
            stream = MAIN_STREAM if stream_col is None else stream_col
            pos = seq if stream_col is None else r["stream_seq"]
            last = heads.get(stream)
            if pos != (last.pos + 1 if last else 1):
                after = last.seq if last else 0
                return ChainReport(
                    count,
                    after + 1,
                    f"row {after + 1} is missing (stream {stream}: row {seq} is at position {pos}, "
                    f"expected {last.pos + 1 if last else 1})",
                )
            prev = last.hash if last else GENESIS
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
                digest = keyed_row_hash(key, prev, seq, *content, stream_col, r.get("stream_seq"))
            elif seen_keyed:
                return ChainReport(count, seq, "an unkeyed row after a keyed one (downgraded row)")
            elif seq <= legacy_until and stream_col is None:
                digest = row_hash(prev, seq, *content)
            else:
                return ChainReport(
                    count,
                    seq,
                    f"an unkeyed row after the legacy range ({legacy_label(legacy_until)}) (downgraded row)",
                )
            if not hmac.compare_digest(digest, r["hash"]):
                return ChainReport(count, seq, "row content does not match its hash")
            if seq in expected and expected.pop(seq)[1] != r["hash"]:
                return ChainReport(
                    count, seq, f"row {seq} differs from the checkpoint taken of it (rewritten)"
                )
            heads[stream] = Head(pos, seq, r["hash"])
    newest = max(heads.values(), key=lambda h: h.seq, default=Head(0, 0, GENESIS))
    if expected:
        # A checkpointed row the walk never reached: its stream ends before it (the tail was deleted).
        def ends_at(lost: int) -> int:
            stream = expected[lost][0]
            return heads[stream].seq if stream in heads else 0

        lost = min(expected, key=lambda seq: (ends_at(seq), -seq))
        stream, end = expected[lost][0], ends_at(lost)
        if stream == MAIN_STREAM:
            where, gone = "the table", f"rows {end + 1}–{lost}"
        else:
            where, gone = f"stream {stream}", f"its rows after row {end}"
        return ChainReport(
            count,
            end + 1,
            f"{where} ends at row {end} but a checkpoint recorded row {lost}: "
            f"{gone} were deleted (the tail was truncated)",
            newest.seq,
            newest.hash,
        )
    return ChainReport(count, None, None, newest.seq, newest.hash, reached, legacy_until, heads)


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
    # v3 (from 0025): [position, seq, hash] of each stream whose head moved since the previous checkpoint
    # (all of them in a database's first); seq/hash above are the newest row of all streams
    heads: dict[str, list] | None = None

    def payload(self) -> bytes:
        if self.heads is not None:
            return _canonical(
                {
                    "v": 3,
                    "database": self.database,
                    "seq": self.seq,
                    "hash": self.hash,
                    "at": self.at,
                    "audit_key_id": self.audit_key_id,
                    "legacy_until": self.legacy_until,
                    "heads": self.heads,
                }
            ).encode()
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
