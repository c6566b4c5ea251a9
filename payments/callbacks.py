"""Bank callbacks: verify with the bank profile's scheme, store the raw callback, settle, answer.

Order matters: verification happens before anything is written (a rejected callback changes nothing and
leaves one security log line); an accepted callback is stored raw in the inbox and committed before
processing, so a failure while settling loses nothing (the bank retries; `reprocess_inbox` also picks it up).
Settlement and the inbox update commit together, and only then do we answer success.

What "verified" includes besides the signature: the profile has an active key (an empty key would verify
anything), the booking time is near the callback's arrival, and the credited account is one the city holds
at that bank. A byte-identical replay adds no inbox row (the delivery is counted on the stored one); the same
transaction id with other content is a conflict for finance, and the first booking stands.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import structlog

from core.db import database_unavailable
from core.keys import AppKeys
from core.pii import decrypt_bytes, decrypt_pii, encrypt_bytes, mask_account
from core.settings import Settings
from payments.banks import (
    HTTP_STATUS_BY_REASON,
    PAYOS_WEBHOOK_ACK,
    BankCredit,
    CallbackAnswer,
    CallbackRejected,
    VnpayRspCode,
    load_bank_public_key,
    parse_payos_webhook,
    parse_v1_body,
    parse_vnpay_ipn,
    sign_answer,
    verify_payos,
    verify_v1,
    verify_vnpay,
    vnpay_ipn_answer,
)
from payments.banks.citypay_v1 import ACCEPTED, DUPLICATE, REJECTED, RETRY
from payments.banks.event import (
    MALFORMED,
    MALFORMED_JSON,
    NO_ACTIVE_KEY,
    NOT_A_CREDIT,
    SIGNATURE_REASONS,
    TEMPORARILY_UNAVAILABLE,
    TOO_LARGE,
    UNKNOWN_ACCOUNT,
    UNKNOWN_BANK,
    UNSUPPORTED_MEDIA_TYPE,
)
from payments.banks.vnpay import vnpay_hash_data
from payments.receipts import key_id as city_key_id
from payments.reference import find_reference_in_narrative
from payments.settlement import DEFAULT_LATE_TOLERANCE, Settlement, first_outcome, settle_credit

security_log = structlog.get_logger("citypay.security")
log = structlog.get_logger("citypay.callbacks")
MAX_CALLBACK_BYTES = 64 * 1024
RAW_BODY_CONTEXT = "callback_inbox.raw_body"
QUERY_CONTEXT = "callback_inbox.query"
SECRET_CONTEXT = "bank_key.secret"  # noqa: S105 (an AES-GCM context label)
_REPLAY_CONTEXT = b"callback_inbox.body_hash"
# Headers worth keeping with the raw body: enough to re-verify later, nothing that authenticates us.
_KEPT_HEADERS = (
    "content-type",
    "x-citypay-timestamp",
    "x-citypay-key-id",
    "x-citypay-signature",
    "user-agent",
)
# Where each scheme carries the booking time, so a refusal names the field the bank knows.
_BOOKING_FIELD = {"vnpay": "vnp_PayDate", "payos": "data.transactionDateTime"}
_RETRY_AFTER_S = 5
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


@dataclass
class BankProfile:
    code: str
    bin: str
    scheme: str
    tolerance_s: int
    credited_account: str | None
    merchant_code: str | None
    public_keys: dict[str, Any] = field(default_factory=dict)
    secrets: list[bytes] = field(default_factory=list)

    @property
    def has_active_key(self) -> bool:
        return bool(self.public_keys or self.secrets)


@dataclass(frozen=True)
class IncomingCallback:
    """One HTTP delivery at the callback URL, as received: nothing in it is trusted yet."""

    bank_code: str
    method: str
    content_type: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    query_string: str
    raw_body: bytes
    remote: str | None


@dataclass(frozen=True)
class CallbackReply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@functools.lru_cache(maxsize=256)
def _public_key(pem: str):
    """Parsing a PEM key costs more than the rest of a callback's checks; the text identifies the key."""
    return load_bank_public_key(pem.encode())


async def load_bank_profile(conn: asyncpg.Connection, keys: AppKeys, code: str) -> BankProfile | None:
    """The profile and its active keys, read fresh on every callback (one query), so a retired key stops
    working at once."""
    rows = await conn.fetch(
        """SELECT p.*, k.key_id, k.kind, k.public_key_pem, k.secret_encrypted
             FROM bank_profiles p
             LEFT JOIN bank_keys k ON k.bank_code = p.code AND k.retired_at IS NULL
            WHERE p.code = $1 AND p.active
            ORDER BY k.id DESC""",
        code,
    )
    if not rows:
        return None
    row = rows[0]
    profile = BankProfile(
        row["code"],
        row["bin"],
        row["scheme"],
        row["tolerance_s"],
        row["credited_account"],
        row["merchant_code"],
    )
    _known_schemes[profile.code] = profile.scheme
    for k in rows:
        if k["key_id"] is None:
            continue
        if k["kind"] == "hmac":
            secret = decrypt_pii(keys, k["secret_encrypted"], context=SECRET_CONTEXT).encode()
            if secret:  # an empty secret is no key at all
                profile.secrets.append(secret)
        else:
            profile.public_keys[k["key_id"]] = _public_key(k["public_key_pem"])
    return profile


def _first_verified(verify, secrets: list[bytes]) -> None:
    """Two secrets may be active during rotation: the callback verifies if either one signed it."""
    last: CallbackRejected | None = None
    for secret in secrets:
        try:
            verify(secret)
            return
        except CallbackRejected as exc:
            last = exc
    raise last or CallbackRejected(NO_ACTIVE_KEY, "the profile has no active key")


def _verify_and_parse(
    profile: BankProfile,
    *,
    content_type: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    raw_body: bytes,
    now: datetime,
) -> BankCredit:
    """The scheme's own checks; raises CallbackRejected. Nothing is parsed before the signature verifies."""
    if not profile.has_active_key:  # for every scheme, before any scheme code runs
        raise CallbackRejected(NO_ACTIVE_KEY, "the profile has no active key")
    if profile.scheme == "vnpay":
        params = dict(query)
        _first_verified(lambda secret: verify_vnpay(params, secret), profile.secrets)
        return _parse_vnpay(profile, params)
    if content_type != "application/json":
        raise CallbackRejected(UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json")
    if profile.scheme == "payos":
        try:
            body = json.loads(raw_body)
        except ValueError:
            raise CallbackRejected(MALFORMED_JSON, "body is not JSON") from None
        if not isinstance(body, dict):
            raise CallbackRejected(MALFORMED, "body must be an object")
        _first_verified(lambda secret: verify_payos(body, secret.decode()), profile.secrets)
        return parse_payos_webhook(body, bank_code=profile.code, credited_bin=profile.bin)
    if profile.scheme != "citypay-bank-v1":
        raise CallbackRejected(NO_ACTIVE_KEY, f"no verifier for scheme {profile.scheme!r}")
    verify_v1(profile.public_keys, headers, raw_body, now, profile.tolerance_s)
    return parse_v1_body(raw_body, bank_code=profile.code)


def _parse_vnpay(profile: BankProfile, params: Mapping[str, str]) -> BankCredit:
    return parse_vnpay_ipn(
        params,
        bank_code=profile.code,
        tmn_code=profile.merchant_code or "",
        credited_bin=profile.bin,
        credited_account=profile.credited_account or "",
    )


def check_booking_time(profile: BankProfile, credit: BankCredit, received_at: datetime, window: timedelta):
    """A booking must lie between `window` before the callback's arrival and the profile's clock tolerance
    after it. Extreme dates (year 1, year 9999, odd offsets) are refused here instead of overflowing later,
    and no callback can book into a far-away business day."""
    name = _BOOKING_FIELD.get(profile.scheme, "booked_at")
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


async def _check_credited_account(conn: asyncpg.Connection, profile: BankProfile, credit: BankCredit) -> None:
    """The credited account must be a city collection account held at this bank. Ledger accounts are never
    made from callback data; a credit to another city account goes to suspense in settlement."""
    known = credit.credited_bin == profile.bin and await conn.fetchval(
        "SELECT true FROM collection_accounts WHERE bin = $1 AND account_number = $2",
        credit.credited_bin,
        credit.credited_account,
    )
    if not known:
        field_name = (
            "credited_account" if profile.scheme == "citypay-bank-v1" else "bank_profile.credited_account"
        )
        raise CallbackRejected(UNKNOWN_ACCOUNT, "not a city account at this bank", field=field_name)


def _signed_content(scheme: str, incoming: IncomingCallback) -> bytes:
    """What the bank's signature covers, with the signature: replays are recognised by it, so parameters or
    fields outside the signature (VNPay's unsigned extras, payOS's top-level `desc`) cannot make a captured
    callback look new."""
    if scheme == "vnpay":
        params = dict(incoming.query)
        signature = params.get("vnp_SecureHash", "").lower()
        return (vnpay_hash_data(params) + "\x00" + signature).encode()
    if scheme == "payos":
        body = json.loads(incoming.raw_body)
        data = json.dumps(body["data"], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return (data + "\x00" + str(body["signature"]).lower()).encode()
    return incoming.raw_body  # citypay-bank-v1 signs the exact body


def _replay_hash(keys: AppKeys, scheme: str, incoming: IncomingCallback) -> str:
    # Keyed, so the stored hash confirms nothing about a guessed body.
    msg = _REPLAY_CONTEXT + b"\x00" + scheme.encode() + b"\x00" + _signed_content(scheme, incoming)
    return hmac.new(keys.lookup_key, msg, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class StoredCallback:
    id: int
    first_delivery: bool
    status: str


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
    method, query, raw_body = incoming.method, incoming.query_string, incoming.raw_body
    kept = {k: v for k, v in incoming.headers.items() if k.lower() in _KEPT_HEADERS}
    row = await conn.fetchrow(
        """INSERT INTO callback_inbox (bank_code, method, content_type, headers, query, query_encrypted,
               raw_body, bank_txn_id, status, processed_at, body_hash, next_attempt_at)
           VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, CASE WHEN $8 = 'ignored' THEN now() END, $9,
                   now() + interval '60 seconds')
           ON CONFLICT (bank_code, body_hash) DO UPDATE
               SET deliveries = callback_inbox.deliveries + 1, last_delivery_at = now()
           RETURNING id, deliveries = 1 AS first_delivery, status""",
        profile.code,
        method,
        incoming.content_type,
        kept,
        encrypt_bytes(keys, query.encode(), context=QUERY_CONTEXT) if query else None,
        encrypt_bytes(keys, raw_body, context=RAW_BODY_CONTEXT),
        bank_txn_id,
        status,
        _replay_hash(keys, profile.scheme, incoming),
    )
    return StoredCallback(row["id"], row["first_delivery"], row["status"])


def _differences(first: asyncpg.Record, credit: BankCredit) -> dict[str, dict[str, Any]]:
    """What a second report of the same transaction says differently (non-personal fields only)."""
    pairs = {
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
        settlement = await settle_credit(
            conn,
            keys,
            credit,
            now=now,
            sanity_cap=policy.sanity_cap,
            late_tolerance=policy.late_tolerance,
        )
        status = "processed"
        if settlement.duplicate:
            first = await conn.fetchrow(
                "SELECT * FROM payments_received WHERE id = $1", settlement.payment_id
            )
            differences = _differences(first, credit)
            if differences:
                # Same bank transaction id, different content: keep the first booking, show it to finance.
                status = "conflict"
                await conn.execute(
                    """INSERT INTO callback_conflicts
                           (bank_code, bank_txn_id, inbox_id, payment_id, differences)
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
        await conn.execute(
            """UPDATE callback_inbox SET status = $2, outcome = $3, payment_id = $4,
                   attempts = attempts + 1, processed_at = now(), last_error = NULL, next_attempt_at = NULL
             WHERE id = $1 AND status IN ('received', 'failed')""",
            inbox_id,
            status,
            ("duplicate:" if settlement.duplicate else "") + settlement.outcome,
            settlement.payment_id,
        )
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


def _vnpay_code(settlement: Settlement) -> VnpayRspCode:
    """VNPay's IPN rules, applied after booking: money we booked is never answered with an error."""
    if settlement.duplicate:
        return VnpayRspCode.ORDER_ALREADY_CONFIRMED
    return {
        "settled": VnpayRspCode.CONFIRM_SUCCESS,
        "overpaid": VnpayRspCode.CONFIRM_SUCCESS,
        "underpaid": VnpayRspCode.INVALID_AMOUNT,
        "over_cap": VnpayRspCode.INVALID_AMOUNT,
        "unknown_reference": VnpayRspCode.ORDER_NOT_FOUND,
    }.get(settlement.outcome, VnpayRspCode.ORDER_ALREADY_CONFIRMED)


def _retry_reply(scheme: str, keys: AppKeys, now: datetime) -> CallbackReply:
    """Nothing was stored: ask the bank to send it again, in its own protocol's words."""
    retry_after = {"Retry-After": str(_RETRY_AFTER_S)}
    if scheme == "vnpay":  # VNPay retries an IPN until it hears 00 or 02
        return CallbackReply(200, json.dumps(vnpay_ipn_answer(VnpayRspCode.UNKNOWN_ERROR)).encode())
    if scheme == "payos":
        return CallbackReply(
            503, json.dumps({"success": False, "reason": "retry"}).encode(), headers=retry_after
        )
    answer = CallbackAnswer(RETRY, reason=TEMPORARILY_UNAVAILABLE)
    headers, body = sign_answer(keys.signing_key, city_key_id(keys), answer, now=now)
    return CallbackReply(answer.http_status, body, headers={**headers, **retry_after})


def _answer(
    profile: BankProfile | None,
    keys: AppKeys,
    *,
    settlement: Settlement | None = None,
    rejected: CallbackRejected | None = None,
    failed: bool = False,
    now: datetime,
    credit: BankCredit | None = None,
) -> CallbackReply:
    scheme = profile.scheme if profile else "citypay-bank-v1"
    if failed:
        return _retry_reply(scheme, keys, now)
    if scheme == "vnpay":
        if rejected is not None:
            code = (
                VnpayRspCode.INVALID_SIGNATURE
                if rejected.reason in SIGNATURE_REASONS
                else VnpayRspCode.CONFIRM_SUCCESS
                if rejected.reason == NOT_A_CREDIT
                else VnpayRspCode.UNKNOWN_ERROR
            )
        else:
            assert settlement is not None
            code = _vnpay_code(settlement)
        return CallbackReply(200, json.dumps(vnpay_ipn_answer(code)).encode())
    if scheme == "payos":
        if rejected is not None and rejected.reason != NOT_A_CREDIT:
            body = {"success": False, "reason": rejected.reason, "field": rejected.field}
            return CallbackReply(HTTP_STATUS_BY_REASON.get(rejected.reason, 400), json.dumps(body).encode())
        return CallbackReply(200, json.dumps(PAYOS_WEBHOOK_ACK).encode())
    # citypay-bank-v1: every answer is signed with the city's key, rejections included.
    if rejected is not None and rejected.reason == NOT_A_CREDIT:
        answer = CallbackAnswer(ACCEPTED, bank_txn_id=credit.bank_txn_id if credit else None)
    elif rejected is not None:
        answer = CallbackAnswer(REJECTED, reason=rejected.reason, field=rejected.field)
    else:
        assert settlement is not None and credit is not None
        answer = CallbackAnswer(
            DUPLICATE if settlement.duplicate else ACCEPTED, bank_txn_id=credit.bank_txn_id
        )
    headers, body = sign_answer(keys.signing_key, city_key_id(keys), answer, now=now)
    return CallbackReply(answer.http_status, body, headers=headers)


async def handle_callback(
    pool: asyncpg.Pool,
    keys: AppKeys,
    incoming: IncomingCallback,
    *,
    now: datetime | None = None,
    policy: CallbackPolicy = DEFAULT_POLICY,
) -> CallbackReply:
    now = now or datetime.now(UTC)
    try:
        return await _handle(pool, keys, incoming, now=now, policy=policy)
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        # The pool logged the outage (once, not per request); the bank just hears "retry".
        return _retry_reply(_known_schemes.get(incoming.bank_code, "citypay-bank-v1"), keys, now)


async def _handle(
    pool: asyncpg.Pool, keys: AppKeys, incoming: IncomingCallback, *, now: datetime, policy: CallbackPolicy
) -> CallbackReply:
    bank_code, raw_body = incoming.bank_code, incoming.raw_body
    async with pool.acquire() as conn:
        profile = await load_bank_profile(conn, keys, bank_code)
        try:
            if profile is None:
                raise CallbackRejected(UNKNOWN_BANK, "no active bank profile with this code")
            if len(raw_body) > MAX_CALLBACK_BYTES:
                raise CallbackRejected(TOO_LARGE, f"at most {MAX_CALLBACK_BYTES} bytes")
            credit = _verify_and_parse(
                profile,
                content_type=incoming.content_type,
                headers=incoming.headers,
                query=incoming.query,
                raw_body=raw_body,
                now=now,
            )
            check_booking_time(profile, credit, now, policy.booking_window)
            await _check_credited_account(conn, profile, credit)
        except CallbackRejected as exc:
            if exc.reason == NOT_A_CREDIT and profile is not None:
                # A valid notice of a failed payment: kept for the record (once), books nothing.
                await _store_raw(conn, keys, profile, incoming, bank_txn_id=None, status="ignored")
                return _answer(profile, keys, rejected=exc, now=now)
            # No secrets, no body: the reason, the field and who sent it.
            security_log.warning(
                "callback_rejected",
                bank_code=bank_code,
                reason=exc.reason,
                field=exc.field,
                remote=incoming.remote,
                body_bytes=len(raw_body),
            )
            reply = _answer(profile, keys, rejected=exc, now=now)
            if profile is None:
                return CallbackReply(404, reply.body, headers=reply.headers)
            return reply
        stored = await _store_raw(conn, keys, profile, incoming, bank_txn_id=credit.bank_txn_id)
        if not stored.first_delivery and stored.status in ("processed", "conflict"):
            # A byte-identical replay of a finished callback: counted, answered with the first outcome.
            first = await first_outcome(conn, credit.bank_code, credit.bank_txn_id)
            if first is not None:
                return _answer(profile, keys, settlement=first, credit=credit, now=now)
    try:
        settlement = await process_inbox_row(pool, keys, stored.id, credit, now, policy)
    except Exception as exc:  # stays in the inbox as 'received'; the bank's retry or the sweeper finishes it
        if database_unavailable(exc):
            raise
        log.exception("callback_processing_failed", inbox_id=stored.id, bank_code=bank_code)
        await _record_failure(pool, stored.id, f"{type(exc).__name__}: {exc}", policy)
        return _answer(profile, keys, failed=True, now=now)
    log.info(
        "callback_settled",
        bank_code=bank_code,
        bank_txn_id=credit.bank_txn_id,
        outcome=settlement.outcome,
        duplicate=settlement.duplicate,
        amount=credit.amount,
    )
    return _answer(profile, keys, settlement=settlement, credit=credit, now=now)


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
    if profile.scheme == "vnpay":
        query = row["query"]
        if row["query_encrypted"]:
            query = decrypt_bytes(keys, row["query_encrypted"], context=QUERY_CONTEXT).decode()
        return _parse_vnpay(profile, dict(parse_qsl(query)))
    raw = decrypt_bytes(keys, row["raw_body"], context=RAW_BODY_CONTEXT)
    if profile.scheme == "payos":
        return parse_payos_webhook(json.loads(raw), bank_code=profile.code, credited_bin=profile.bin)
    return parse_v1_body(raw, bank_code=profile.code)
