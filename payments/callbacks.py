"""Bank callbacks: verify with the bank profile's scheme, store the raw callback, settle, answer.

Order matters: verification happens before anything is written (a rejected callback changes nothing and
leaves one security log line); an accepted callback is stored raw in the inbox and committed before
processing, so a failure while settling loses nothing (the bank retries; `reprocess_inbox` also picks it up).
Settlement and the inbox update commit together, and only then do we answer success. With group commits
(payments/group_commit.py, the default in a server) the raw callback is stored in its group's transaction,
with the settlement: a process that dies before that COMMIT has stored nothing and answered nothing, so the
bank retries; a credit that fails inside its group keeps its committed inbox row and is settled alone.

What "verified" includes besides the signature: the profile has an active key (an empty key would verify
anything), the booking time is near the callback's arrival, and the credited account is one the city holds
at that bank. A byte-identical replay adds no inbox row (the delivery is counted on the stored one); the same
transaction id with other content is a conflict for finance, and the first booking stands.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog

from core.db import database_unavailable
from core.keys import AppKeys
from core.pii import decrypt_bytes, encrypt_bytes, mask_account
from core.settings import Settings
from payments.banks import (
    BankCredit,
    BankProfile,
    BankScheme,
    Booked,
    CallbackRejected,
    CallbackReply,
    IncomingCallback,
    scheme_named,
)
from payments.banks.event import (
    MALFORMED,
    NO_ACTIVE_KEY,
    NOT_A_CREDIT,
    TOO_LARGE,
    UNKNOWN_ACCOUNT,
    UNKNOWN_BANK,
)
from payments.callback_directory import (
    CallbackDirectory,
    CallbackDirectoryCache,
    profiles_from_rows,
)
from payments.reference import find_reference_in_narrative
from payments.settlement import (
    DEFAULT_LATE_TOLERANCE,
    Settlement,
    SettlementGroup,
    first_outcome,
    settle_credit,
)

if TYPE_CHECKING:
    from payments.group_commit import GroupCommitter

security_log = structlog.get_logger("citypay.security")
log = structlog.get_logger("citypay.callbacks")
MAX_CALLBACK_BYTES = 64 * 1024
RAW_BODY_CONTEXT = "callback_inbox.raw_body"
QUERY_CONTEXT = "callback_inbox.query"
_REPLAY_CONTEXT = b"callback_inbox.body_hash"
# Headers worth keeping with the raw body: enough to re-verify later, nothing that authenticates us.
_KEPT_HEADERS = (
    "content-type",
    "x-citypay-timestamp",
    "x-citypay-key-id",
    "x-citypay-signature",
    "user-agent",
)
# The scheme of each bank seen by this process: only to shape the "retry" answer when the database is down.
_known_schemes: dict[str, str] = {}


@dataclass(frozen=True)
class CallbackPolicy:
    """The limits a callback is judged by (from Settings; the defaults are the documented ones)."""

    sanity_cap: int = 50_000_000_000  # đồng; above it a credit is held for finance, never revenue
    booking_window: timedelta = timedelta(hours=48)  # how old a booking may be when its callback arrives
    late_tolerance: timedelta = DEFAULT_LATE_TOLERANCE
    max_attempts: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> CallbackPolicy:
        return cls(
            sanity_cap=settings.inbound_sanity_cap,
            booking_window=timedelta(hours=settings.callback_booking_window_hours),
            late_tolerance=timedelta(seconds=settings.late_tolerance_s),
            max_attempts=settings.callback_max_attempts,
        )


DEFAULT_POLICY = CallbackPolicy()


async def load_bank_profile(conn: asyncpg.Connection, keys: AppKeys, code: str) -> BankProfile | None:
    """The profile and its active keys, read now (one query), so a retired key stops working at once. A
    serving process's callbacks read it from `payments.callback_directory` instead, kept as fresh."""
    rows = await conn.fetch(
        """SELECT p.*, k.key_id, k.kind, k.public_key_pem, k.secret_encrypted
             FROM bank_profiles p
             LEFT JOIN bank_keys k ON k.bank_code = p.code AND k.retired_at IS NULL
            WHERE p.code = $1 AND p.active
            ORDER BY k.id DESC""",
        code,
    )
    profile = profiles_from_rows(rows, keys).get(code)
    if profile is not None:
        _known_schemes[profile.code] = profile.scheme
    return profile


def _verify_and_parse(profile: BankProfile, incoming: IncomingCallback, now: datetime) -> BankCredit:
    """The scheme's own checks; raises CallbackRejected. Nothing is parsed before the signature verifies."""
    if not profile.has_active_key:  # for every scheme, before any scheme code runs
        raise CallbackRejected(NO_ACTIVE_KEY, "the profile has no active key")
    return scheme_named(profile.scheme).verify_and_parse(profile, incoming, now)


def check_booking_time(profile: BankProfile, credit: BankCredit, received_at: datetime, window: timedelta):
    """A booking must lie between `window` before the callback's arrival and the profile's clock tolerance
    after it. Extreme dates (year 1, year 9999, odd offsets) are refused here instead of overflowing later,
    and no callback can book into a far-away business day."""
    name = scheme_named(profile.scheme).booking_field
    booked = credit.booked_at
    if not 2000 <= booked.year <= 2100:
        raise CallbackRejected(MALFORMED, "booking time out of range", field=name)
    try:
        earliest = received_at - window
        latest = received_at + timedelta(seconds=profile.tolerance_s)
        inside = earliest <= booked <= latest
    except OverflowError:
        inside = False
    if not inside:
        raise CallbackRejected(
            MALFORMED,
            f"booking time must be within {window} before arrival, and not in the future",
            field=name,
        )


async def _check_credited_account(
    conn: asyncpg.Connection | None,
    profile: BankProfile,
    credit: BankCredit,
    directory: CallbackDirectory | None = None,
) -> None:
    """The credited account must be a city collection account held at this bank (asked of `directory` when
    there is one, else of the database through `conn`). Ledger accounts are never made from callback data; a
    credit to another city account goes to suspense in settlement."""
    known = credit.credited_bin == profile.bin
    if known and directory is not None:
        known = directory.holds(credit.credited_bin, credit.credited_account)
    elif known:
        assert conn is not None
        known = await conn.fetchval(
            "SELECT true FROM collection_accounts WHERE bin = $1 AND account_number = $2",
            credit.credited_bin,
            credit.credited_account,
        )
    if not known:
        field_name = scheme_named(profile.scheme).credited_account_field
        raise CallbackRejected(UNKNOWN_ACCOUNT, "not a city account at this bank", field=field_name)


def _replay_hash(keys: AppKeys, scheme: BankScheme, incoming: IncomingCallback) -> str:
    """Replays are recognised by what the signature covers (the scheme says what that is), so fields outside
    it cannot make a captured callback look new. Keyed, so the stored hash confirms nothing about a guess."""
    msg = _REPLAY_CONTEXT + b"\x00" + scheme.name.encode() + b"\x00" + scheme.signed_content(incoming)
    return hmac.new(keys.lookup_key, msg, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class StoredCallback:
    id: int
    first_delivery: bool
    status: str


@dataclass(frozen=True)
class InboxRow:
    """A verified callback as the inbox stores it: encrypted, with its replay hash (computed by the handler,
    before any connection is needed)."""

    bank_code: str
    method: str
    content_type: str | None
    headers: dict[str, str]
    query_encrypted: str | None
    raw_body: str
    bank_txn_id: str | None
    body_hash: str


def inbox_row(
    keys: AppKeys, profile: BankProfile, incoming: IncomingCallback, *, bank_txn_id: str | None
) -> InboxRow:
    query, raw_body = incoming.query_string, incoming.raw_body
    return InboxRow(
        bank_code=profile.code,
        method=incoming.method,
        content_type=incoming.content_type,
        headers={k: v for k, v in incoming.headers.items() if k.lower() in _KEPT_HEADERS},
        query_encrypted=encrypt_bytes(keys, query.encode(), context=QUERY_CONTEXT) if query else None,
        raw_body=encrypt_bytes(keys, raw_body, context=RAW_BODY_CONTEXT),
        bank_txn_id=bank_txn_id,
        body_hash=_replay_hash(keys, scheme_named(profile.scheme), incoming),
    )


async def _store_raw(
    conn: asyncpg.Connection,
    keys: AppKeys,
    profile: BankProfile,
    incoming: IncomingCallback,
    *,
    bank_txn_id: str | None,
    status: str = "received",
) -> StoredCallback:
    """Store the callback encrypted, or count one more delivery on the stored byte-identical one."""
    row = inbox_row(keys, profile, incoming, bank_txn_id=bank_txn_id)
    stored = await conn.fetchrow(
        """INSERT INTO callback_inbox (bank_code, method, content_type, headers, query, query_encrypted,
               raw_body, bank_txn_id, status, processed_at, body_hash, next_attempt_at)
           VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, CASE WHEN $8 = 'ignored' THEN now() END, $9,
                   now() + interval '60 seconds')
           ON CONFLICT (bank_code, body_hash) DO UPDATE
               SET deliveries = callback_inbox.deliveries + 1, last_delivery_at = now()
           RETURNING id, deliveries = 1 AS first_delivery, status""",
        row.bank_code,
        row.method,
        row.content_type,
        row.headers,
        row.query_encrypted,
        row.raw_body,
        row.bank_txn_id,
        status,
        row.body_hash,
    )
    return StoredCallback(stored["id"], stored["first_delivery"], stored["status"])


def _differences(first: asyncpg.Record, credit: BankCredit) -> dict[str, dict[str, Any]]:
    """What a second report of the same transaction says differently (non-personal fields only)."""
    pairs: dict[str, tuple[Any, Any]] = {
        "amount": (first["amount"], credit.amount),
        "credited_bin": (first["credited_bin"], credit.credited_bin),
        "credited_account": (
            mask_account(first["credited_account"]),
            mask_account(credit.credited_account),
        ),
        "reference": (
            find_reference_in_narrative(first["narrative"]),
            find_reference_in_narrative(credit.narrative),
        ),
        "booked_at": (first["booked_at"].isoformat(), credit.booked_at.astimezone(UTC).isoformat()),
    }
    if first["credited_account"] != credit.credited_account:  # masks may hide a difference
        pairs["credited_account"] = (pairs["credited_account"][0], pairs["credited_account"][1] + " (≠)")
    if first["booked_at"] == credit.booked_at:
        del pairs["booked_at"]
    return {name: {"first": a, "now": b} for name, (a, b) in pairs.items() if a != b}


async def _inbox_status(
    conn: asyncpg.Connection, inbox_id: int, credit: BankCredit, settlement: Settlement
) -> str:
    """'processed', or 'conflict' when a repeat of a booked transaction says something else (the first
    booking stands; finance sees the difference)."""
    if not settlement.duplicate:
        return "processed"
    first = await conn.fetchrow("SELECT * FROM payments_received WHERE id = $1", settlement.payment_id)
    differences = _differences(first, credit)
    if not differences:
        return "processed"
    await conn.execute(
        """INSERT INTO callback_conflicts (bank_code, bank_txn_id, inbox_id, payment_id, differences)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (inbox_id) DO NOTHING""",
        credit.bank_code,
        credit.bank_txn_id,
        inbox_id,
        settlement.payment_id,
        differences,
    )
    log.warning(
        "callback_conflict",
        bank_code=credit.bank_code,
        bank_txn_id=credit.bank_txn_id,
        fields=sorted(differences),
    )
    return "conflict"


@dataclass(frozen=True)
class InboxOutcome:
    """What an inbox row becomes once its credit is settled."""

    inbox_id: int
    status: str  # processed | conflict
    outcome: str  # the settlement's outcome, "duplicate:" before it for a repeat
    payment_id: int


async def settle_inbox_credit(
    conn: asyncpg.Connection,
    keys: AppKeys,
    inbox_id: int,
    credit: BankCredit,
    now: datetime,
    policy: CallbackPolicy = DEFAULT_POLICY,
    group: SettlementGroup | None = None,
) -> tuple[Settlement, InboxOutcome]:
    """Settle a stored callback's credit in the caller's transaction and say what its inbox row becomes (the
    caller marks it, alone or with the rest of its group)."""
    settlement = await settle_credit(
        conn,
        keys,
        credit,
        now=now,
        sanity_cap=policy.sanity_cap,
        late_tolerance=policy.late_tolerance,
        group=group,
    )
    status = await _inbox_status(conn, inbox_id, credit, settlement)
    outcome = ("duplicate:" if settlement.duplicate else "") + settlement.outcome
    return settlement, InboxOutcome(inbox_id, status, outcome, settlement.payment_id)


async def mark_inbox_rows(conn: asyncpg.Connection, done: Sequence[InboxOutcome]) -> None:
    """Mark settled inbox rows in one statement. A row already finished (a concurrent replay got there first)
    is left as it is."""
    await conn.execute(
        """UPDATE callback_inbox i SET status = d.status, outcome = d.outcome, payment_id = d.payment_id,
               attempts = i.attempts + 1, processed_at = now(), last_error = NULL, next_attempt_at = NULL
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])
                  AS d(id, status, outcome, payment_id)
            WHERE i.id = d.id AND i.status IN ('received', 'failed')""",
        [d.inbox_id for d in done],
        [d.status for d in done],
        [d.outcome for d in done],
        [d.payment_id for d in done],
    )


async def process_inbox_row(
    pool: asyncpg.Pool,
    keys: AppKeys,
    inbox_id: int,
    credit: BankCredit,
    now: datetime,
    policy: CallbackPolicy = DEFAULT_POLICY,
) -> Settlement:
    """Settle and mark the inbox row processed, in one transaction. A row already finished (a concurrent
    replay got there first) is left as it is."""
    async with pool.acquire() as conn, conn.transaction():
        settlement, done = await settle_inbox_credit(conn, keys, inbox_id, credit, now, policy)
        await mark_inbox_rows(conn, [done])
    return settlement


async def _record_failure(
    pool: asyncpg.Pool, inbox_id: int, error: str, policy: CallbackPolicy, *, final: bool = False
) -> None:
    """One more failed attempt; after `max_attempts` (or a failure retrying cannot fix) the row becomes a
    visible exception for finance instead of being retried for ever."""
    # 10 s, 20 s, 40 s … up to an hour, ±20 % jitter so a batch of stuck rows does not retry in step.
    await pool.execute(
        """UPDATE callback_inbox SET attempts = attempts + 1, last_error = $2,
               status = CASE WHEN $4 OR attempts + 1 >= $3 THEN 'failed' ELSE status END,
               next_attempt_at = now() + make_interval(
                   secs => least(10 * power(2, attempts), 3600) * (0.8 + random() * 0.4))
         WHERE id = $1 AND status = 'received'""",
        inbox_id,
        error[:500],
        policy.max_attempts,
        final,
    )


def _scheme_of(profile: BankProfile | None) -> BankScheme:
    # An unknown bank is answered in our own protocol: we cannot know what the caller speaks.
    return scheme_named(profile.scheme if profile else "citypay-bank-v1")


def _booked(settlement: Settlement, credit: BankCredit) -> Booked:
    return Booked(settlement.outcome, settlement.duplicate, credit.bank_txn_id)


async def handle_callback(
    pool: asyncpg.Pool,
    keys: AppKeys,
    incoming: IncomingCallback,
    *,
    now: datetime | None = None,
    policy: CallbackPolicy = DEFAULT_POLICY,
    committer: GroupCommitter | None = None,
    directory_cache: CallbackDirectoryCache | None = None,
) -> CallbackReply:
    """Verify, then store and settle: in the process's group commit when there is one (`committer`), else in
    transactions of its own. Either way the answer is sent only once the credit is committed. The profile and
    the credited account are checked against the process's `directory_cache` while it may be used, else read
    from the database on this callback."""
    now = now or datetime.now(UTC)
    try:
        return await _handle(
            pool, keys, incoming, now=now, policy=policy, committer=committer, directory_cache=directory_cache
        )
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        # The pool logged the outage (once, not per request); the bank just hears "retry", in its own words.
        scheme = scheme_named(_known_schemes.get(incoming.bank_code, "citypay-bank-v1"))
        return scheme.answer_retry(keys, now)


async def _handle(
    pool: asyncpg.Pool,
    keys: AppKeys,
    incoming: IncomingCallback,
    *,
    now: datetime,
    policy: CallbackPolicy,
    committer: GroupCommitter | None,
    directory_cache: CallbackDirectoryCache | None = None,
) -> CallbackReply:
    bank_code, raw_body = incoming.bank_code, incoming.raw_body
    directory = await directory_cache.directory(pool, keys) if directory_cache is not None else None
    async with contextlib.AsyncExitStack() as held:
        # A connection only when something needs one: the checks without a directory, storing a notice or,
        # without a group committer, the callback.
        conn: asyncpg.Connection | None = None
        if directory is None:
            conn = await held.enter_async_context(pool.acquire())
            profile = await load_bank_profile(conn, keys, bank_code)
        else:
            profile = directory.profile(bank_code)
            if profile is not None:
                _known_schemes[profile.code] = profile.scheme
        try:
            if profile is None:
                raise CallbackRejected(UNKNOWN_BANK, "no active bank profile with this code")
            if len(raw_body) > MAX_CALLBACK_BYTES:
                raise CallbackRejected(TOO_LARGE, f"at most {MAX_CALLBACK_BYTES} bytes")
            credit = _verify_and_parse(profile, incoming, now)
            check_booking_time(profile, credit, now, policy.booking_window)
            await _check_credited_account(conn, profile, credit, directory)
        except CallbackRejected as exc:
            if exc.reason == NOT_A_CREDIT and profile is not None:
                # A valid notice of a failed payment: kept for the record (once), books nothing.
                conn = conn or await held.enter_async_context(pool.acquire())
                await _store_raw(conn, keys, profile, incoming, bank_txn_id=None, status="ignored")
                return _scheme_of(profile).answer_not_a_credit(keys, now)
            # No secrets, no body: the reason, the field and who sent it.
            security_log.warning(
                "callback_rejected",
                bank_code=bank_code,
                reason=exc.reason,
                field=exc.field,
                remote=incoming.remote,
                body_bytes=len(raw_body),
            )
            reply = _scheme_of(profile).answer_rejected(exc, keys, now)
            if profile is None:
                return CallbackReply(404, reply.body, headers=reply.headers)
            return reply
        if committer is None:
            conn = conn or await held.enter_async_context(pool.acquire())
            stored = await _store_verified(conn, keys, profile, incoming, credit)
    if committer is not None:  # the connection went back to the pool: the group commit has its own
        settlement = await committer.settle(profile, incoming, credit, now, policy)
    elif isinstance(stored, Settlement):
        settlement = stored
    else:
        settlement = await settle_stored(pool, keys, stored.id, credit, now, policy)
    if settlement is None:
        return _scheme_of(profile).answer_retry(keys, now)
    log.info(
        "callback_settled",
        bank_code=bank_code,
        bank_txn_id=credit.bank_txn_id,
        outcome=settlement.outcome,
        duplicate=settlement.duplicate,
        amount=credit.amount,
    )
    return _scheme_of(profile).answer_booked(_booked(settlement, credit), keys, now)


async def _store_verified(
    conn: asyncpg.Connection,
    keys: AppKeys,
    profile: BankProfile,
    incoming: IncomingCallback,
    credit: BankCredit,
) -> StoredCallback | Settlement:
    """Store the raw callback (committed at once); a byte-identical replay of a finished callback is counted
    and gives the first outcome instead."""
    stored = await _store_raw(conn, keys, profile, incoming, bank_txn_id=credit.bank_txn_id)
    if not stored.first_delivery and stored.status in ("processed", "conflict"):
        first = await first_outcome(conn, credit.bank_code, credit.bank_txn_id)
        if first is not None:
            return first
    return stored


async def store_and_settle(
    pool: asyncpg.Pool,
    keys: AppKeys,
    profile: BankProfile,
    incoming: IncomingCallback,
    credit: BankCredit,
    now: datetime,
    policy: CallbackPolicy,
) -> Settlement | None:
    """A verified credit on its own, as before group commits: store the raw callback, then settle it in its
    own transaction. None means "answer retry" (the row stays in the inbox for the bank's retry or the
    sweeper). Raises when the database is unavailable."""
    async with pool.acquire() as conn:
        stored = await _store_verified(conn, keys, profile, incoming, credit)
    if isinstance(stored, Settlement):
        return stored
    return await settle_stored(pool, keys, stored.id, credit, now, policy)


async def settle_stored(
    pool: asyncpg.Pool,
    keys: AppKeys,
    inbox_id: int,
    credit: BankCredit,
    now: datetime,
    policy: CallbackPolicy,
) -> Settlement | None:
    """Settle a stored callback in its own transaction; None (and one more failed attempt recorded) when it
    fails for any reason but an unavailable database."""
    try:
        return await process_inbox_row(pool, keys, inbox_id, credit, now, policy)
    except Exception as exc:  # stays in the inbox as 'received'; the bank's retry or the sweeper finishes it
        if database_unavailable(exc):
            raise
        log.exception("callback_processing_failed", inbox_id=inbox_id, bank_code=credit.bank_code)
        await _record_failure(pool, inbox_id, f"{type(exc).__name__}: {exc}", policy)
        return None


async def reprocess_inbox(
    pool: asyncpg.Pool,
    keys: AppKeys,
    *,
    now: datetime | None = None,
    limit: int = 100,
    policy: CallbackPolicy = DEFAULT_POLICY,
) -> int:
    """Finish callbacks stored but not processed (the process died, or settling failed). Re-verification is
    not needed: they were verified before being stored. A row is due at its `next_attempt_at` (a minute after
    arrival, then backing off after each failure), rows are taken in that order, and a row that keeps failing
    ends as 'failed' for finance, so a poison row never starves the others. Settlement is judged as of the
    row's arrival, not of now."""
    rows = await pool.fetch(
        """SELECT i.* FROM callback_inbox i
            WHERE i.status = 'received'
              AND coalesce(i.next_attempt_at, i.received_at + interval '60 seconds') <= $1
            ORDER BY i.next_attempt_at NULLS FIRST, i.id LIMIT $2""",
        now or datetime.now(UTC),
        limit,
    )
    done = 0
    for row in rows:
        async with pool.acquire() as conn:
            profile = await load_bank_profile(conn, keys, row["bank_code"])
        if profile is None:
            await _record_failure(pool, row["id"], "bank profile inactive", policy)
            continue
        try:
            credit = _reparse(profile, keys, row)
            check_booking_time(profile, credit, row["received_at"], policy.booking_window)
        except CallbackRejected as exc:  # stored before today's checks: retrying cannot fix it
            await _record_failure(pool, row["id"], f"{exc.reason}: {exc.field}", policy, final=True)
            continue
        try:
            await process_inbox_row(pool, keys, row["id"], credit, row["received_at"], policy)
            done += 1
        except Exception as exc:
            if database_unavailable(exc):
                raise
            await _record_failure(pool, row["id"], f"{type(exc).__name__}: {exc}", policy)
    return done


def _reparse(profile: BankProfile, keys: AppKeys, row: asyncpg.Record) -> BankCredit:
    query = row["query"]  # rows stored before migration 0005 kept it in clear
    if row["query_encrypted"]:
        query = decrypt_bytes(keys, row["query_encrypted"], context=QUERY_CONTEXT).decode()
    raw = decrypt_bytes(keys, row["raw_body"], context=RAW_BODY_CONTEXT)
    return scheme_named(profile.scheme).reparse(profile, raw, query)
