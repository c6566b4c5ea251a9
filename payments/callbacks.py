"""Bank callbacks: verify with the bank profile's scheme, store the raw callback, settle, answer.

Order matters: verification happens before anything is written (a rejected callback changes nothing and
leaves one security log line); an accepted callback is stored raw in the inbox and committed before
processing, so a failure while settling loses nothing (the bank retries; `reprocess_inbox` also picks it up).
Settlement and the inbox update commit together, and only then do we answer success.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from core.keys import AppKeys
from core.pii import decrypt_bytes, decrypt_pii, encrypt_bytes
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
from payments.banks.citypay_v1 import ACCEPTED, DUPLICATE, REJECTED
from payments.banks.event import (
    MALFORMED,
    MALFORMED_JSON,
    NOT_A_CREDIT,
    SIGNATURE_REASONS,
    TOO_LARGE,
    UNKNOWN_BANK,
    UNSUPPORTED_MEDIA_TYPE,
)
from payments.receipts import key_id as city_key_id
from payments.settlement import Settlement, settle_credit

security_log = structlog.get_logger("citypay.security")
log = structlog.get_logger("citypay.callbacks")
MAX_CALLBACK_BYTES = 64 * 1024
RAW_BODY_CONTEXT = "callback_inbox.raw_body"
SECRET_CONTEXT = "bank_key.secret"  # noqa: S105 (an AES-GCM context label)
# Headers worth keeping with the raw body: enough to re-verify later, nothing that authenticates us.
_KEPT_HEADERS = (
    "content-type",
    "x-citypay-timestamp",
    "x-citypay-key-id",
    "x-citypay-signature",
    "user-agent",
)


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
    for k in rows:
        if k["key_id"] is None:
            continue
        if k["kind"] == "hmac":
            profile.secrets.append(decrypt_pii(keys, k["secret_encrypted"], context=SECRET_CONTEXT).encode())
        else:
            profile.public_keys[k["key_id"]] = _public_key(k["public_key_pem"])
    return profile


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
    if profile.scheme == "vnpay":
        params = dict(query)
        last: CallbackRejected | None = None
        for secret in profile.secrets or [b""]:  # two secrets may be active during rotation
            try:
                verify_vnpay(params, secret)
                last = None
                break
            except CallbackRejected as exc:
                last = exc
        if last is not None:
            raise last
        return parse_vnpay_ipn(
            params,
            bank_code=profile.code,
            tmn_code=profile.merchant_code or "",
            credited_bin=profile.bin,
            credited_account=profile.credited_account or "",
        )
    if content_type != "application/json":
        raise CallbackRejected(UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json")
    if profile.scheme == "payos":
        try:
            body = json.loads(raw_body)
        except ValueError:
            raise CallbackRejected(MALFORMED_JSON, "body is not JSON") from None
        if not isinstance(body, dict):
            raise CallbackRejected(MALFORMED, "body must be an object")
        last = None
        for secret in profile.secrets or [b""]:
            try:
                verify_payos(body, secret.decode())
                last = None
                break
            except CallbackRejected as exc:
                last = exc
        if last is not None:
            raise last
        return parse_payos_webhook(body, bank_code=profile.code, credited_bin=profile.bin)
    verify_v1(profile.public_keys, headers, raw_body, now, profile.tolerance_s)
    return parse_v1_body(raw_body, bank_code=profile.code)


async def _store_raw(
    pool: asyncpg.Pool,
    keys: AppKeys,
    profile: BankProfile,
    *,
    method: str,
    content_type: str,
    headers: Mapping[str, str],
    query: str,
    raw_body: bytes,
    bank_txn_id: str | None,
    status: str = "received",
) -> int:
    kept = {k: v for k, v in headers.items() if k.lower() in _KEPT_HEADERS}
    return await pool.fetchval(
        """INSERT INTO callback_inbox (bank_code, method, content_type, headers, query, raw_body, bank_txn_id,
               status, processed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $8 = 'ignored' THEN now() END) RETURNING id""",
        profile.code,
        method,
        content_type,
        kept,
        query,
        encrypt_bytes(keys, raw_body, context=RAW_BODY_CONTEXT),
        bank_txn_id,
        status,
    )


async def process_inbox_row(
    pool: asyncpg.Pool, keys: AppKeys, inbox_id: int, credit: BankCredit, now: datetime
) -> Settlement:
    """Settle and mark the inbox row processed, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        settlement = await settle_credit(conn, keys, credit, now=now)
        if settlement.duplicate:
            first_amount = await conn.fetchval(
                "SELECT amount FROM payments_received WHERE id = $1", settlement.payment_id
            )
            if first_amount != credit.amount:
                # Same bank transaction id, different content: keep the first booking, flag for finance.
                log.warning(
                    "duplicate_txn_with_different_amount",
                    bank_code=credit.bank_code,
                    bank_txn_id=credit.bank_txn_id,
                    first=first_amount,
                    now_claimed=credit.amount,
                )
        await conn.execute(
            """UPDATE callback_inbox SET status = 'processed', outcome = $2, payment_id = $3,
                   attempts = attempts + 1, processed_at = now(), last_error = NULL
             WHERE id = $1""",
            inbox_id,
            ("duplicate:" if settlement.duplicate else "") + settlement.outcome,
            settlement.payment_id,
        )
    return settlement


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
    if scheme == "vnpay":
        if rejected is not None:
            code = (
                VnpayRspCode.INVALID_SIGNATURE
                if rejected.reason in SIGNATURE_REASONS
                else VnpayRspCode.CONFIRM_SUCCESS
                if rejected.reason == NOT_A_CREDIT
                else VnpayRspCode.UNKNOWN_ERROR
            )
        elif failed:
            code = VnpayRspCode.UNKNOWN_ERROR
        else:
            assert settlement is not None
            code = (
                VnpayRspCode.ORDER_ALREADY_CONFIRMED
                if settlement.duplicate
                else {
                    "settled": VnpayRspCode.CONFIRM_SUCCESS,
                    "overpaid": VnpayRspCode.CONFIRM_SUCCESS,
                    "underpaid": VnpayRspCode.INVALID_AMOUNT,
                    "unknown_reference": VnpayRspCode.ORDER_NOT_FOUND,
                }.get(settlement.outcome, VnpayRspCode.ORDER_ALREADY_CONFIRMED)
            )
        return CallbackReply(200, json.dumps(vnpay_ipn_answer(code)).encode())
    if scheme == "payos":
        if rejected is not None and rejected.reason != NOT_A_CREDIT:
            body = {"success": False, "reason": rejected.reason, "field": rejected.field}
            return CallbackReply(HTTP_STATUS_BY_REASON.get(rejected.reason, 400), json.dumps(body).encode())
        if failed:
            return CallbackReply(
                503, json.dumps({"success": False, "reason": "retry"}).encode(), headers={"Retry-After": "5"}
            )
        return CallbackReply(200, json.dumps(PAYOS_WEBHOOK_ACK).encode())
    # citypay-bank-v1: every answer is signed with the city's key, rejections included.
    if failed:
        return CallbackReply(503, b'{"status":"retry"}', headers={"Retry-After": "5"})
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
    *,
    bank_code: str,
    method: str,
    content_type: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    query_string: str,
    raw_body: bytes,
    remote: str | None,
    now: datetime | None = None,
) -> CallbackReply:
    now = now or datetime.now(UTC)
    async with pool.acquire() as conn:
        profile = await load_bank_profile(conn, keys, bank_code)
    try:
        if profile is None:
            raise CallbackRejected(UNKNOWN_BANK, "no active bank profile with this code")
        if len(raw_body) > MAX_CALLBACK_BYTES:
            raise CallbackRejected(TOO_LARGE, f"at most {MAX_CALLBACK_BYTES} bytes")
        credit = _verify_and_parse(
            profile, content_type=content_type, headers=headers, query=query, raw_body=raw_body, now=now
        )
    except CallbackRejected as exc:
        if exc.reason == NOT_A_CREDIT and profile is not None:
            # A valid notice of a failed payment: kept for the record, books nothing.
            await _store_raw(
                pool,
                keys,
                profile,
                method=method,
                content_type=content_type,
                headers=headers,
                query=query_string,
                raw_body=raw_body,
                bank_txn_id=None,
                status="ignored",
            )
            return _answer(profile, keys, rejected=exc, now=now)
        # No secrets, no body: the reason, the field and who sent it.
        security_log.warning(
            "callback_rejected",
            bank_code=bank_code,
            reason=exc.reason,
            field=exc.field,
            remote=remote,
            body_bytes=len(raw_body),
        )
        reply = _answer(profile, keys, rejected=exc, now=now)
        if profile is None:
            return CallbackReply(404, reply.body, headers=reply.headers)
        return reply
    inbox_id = await _store_raw(
        pool,
        keys,
        profile,
        method=method,
        content_type=content_type,
        headers=headers,
        query=query_string,
        raw_body=raw_body,
        bank_txn_id=credit.bank_txn_id,
    )
    try:
        settlement = await process_inbox_row(pool, keys, inbox_id, credit, now)
    except Exception as exc:  # stays in the inbox as 'received'; the bank's retry or the sweeper finishes it
        log.exception("callback_processing_failed", inbox_id=inbox_id, bank_code=bank_code)
        await pool.execute(
            "UPDATE callback_inbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
            inbox_id,
            f"{type(exc).__name__}: {exc}"[:500],
        )
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
    pool: asyncpg.Pool, keys: AppKeys, *, older_than_s: int = 60, limit: int = 100
) -> int:
    """Finish callbacks stored but not processed (the process died, or settling failed). Re-verification is
    not needed: they were verified before being stored."""
    rows = await pool.fetch(
        """SELECT i.*, p.scheme FROM callback_inbox i JOIN bank_profiles p ON p.code = i.bank_code
            WHERE i.status = 'received' AND i.received_at < now() - make_interval(secs => $1)
            ORDER BY i.id LIMIT $2""",
        older_than_s,
        limit,
    )
    done = 0
    for row in rows:
        async with pool.acquire() as conn:
            profile = await load_bank_profile(conn, keys, row["bank_code"])
        if profile is None:
            continue
        try:
            credit = _reparse(profile, row, decrypt_bytes(keys, row["raw_body"], context=RAW_BODY_CONTEXT))
            await process_inbox_row(pool, keys, row["id"], credit, datetime.now(UTC))
            done += 1
        except Exception as exc:
            await pool.execute(
                "UPDATE callback_inbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
                row["id"],
                f"{type(exc).__name__}: {exc}"[:500],
            )
    return done


def _reparse(profile: BankProfile, row: asyncpg.Record, raw: bytes) -> BankCredit:
    from urllib.parse import parse_qsl

    if profile.scheme == "vnpay":
        return parse_vnpay_ipn(
            dict(parse_qsl(row["query"])),
            bank_code=profile.code,
            tmn_code=profile.merchant_code or "",
            credited_bin=profile.bin,
            credited_account=profile.credited_account or "",
        )
    if profile.scheme == "payos":
        return parse_payos_webhook(json.loads(raw), bank_code=profile.code, credited_bin=profile.bin)
    return parse_v1_body(raw, bank_code=profile.code)
