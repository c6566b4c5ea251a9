"""citypay-bank-v1, our own callback protocol (docs/bank-protocol.md): signatures over timestamp + "." + body,
strict body parsing, and our signed answers (pure functions, no I/O); and the one outbound call the scheme
offers so far, the daily statement download.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core import ed25519
from core.keys import AppKeys
from payments.banks.event import (
    BAD_SIGNATURE,
    HTTP_STATUS_BY_REASON,
    MALFORMED,
    MALFORMED_JSON,
    MALFORMED_SIGNATURE,
    MALFORMED_TIMESTAMP,
    MISSING_HEADER,
    STALE_TIMESTAMP,
    TEMPORARILY_UNAVAILABLE,
    UNKNOWN_KEY,
    UNSUPPORTED_MEDIA_TYPE,
    BankCredit,
    CallbackRejected,
)
from payments.banks.scheme import (
    RETRY_AFTER_S,
    BankProfile,
    BankScheme,
    Booked,
    CallbackReply,
    IncomingCallback,
    NotSupported,
    register,
)
from payments.receipts import key_id as city_key_id

PROTOCOL = "citypay-bank-v1"
HEADER_TIMESTAMP = "X-Citypay-Timestamp"
HEADER_KEY_ID = "X-Citypay-Key-Id"
HEADER_SIGNATURE = "X-Citypay-Signature"
TOLERANCE_S = 300
MAX_BODY_BYTES = 64 * 1024
RSA_MIN_BITS, RSA_MAX_BITS = 2048, 4096
# PSS parameters are fixed by the protocol, never negotiated: SHA-256, MGF1-SHA-256, salt = digest length.
RSA_PSS_SALT_LENGTH = 32
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=RSA_PSS_SALT_LENGTH)

PublicKey = Ed25519PublicKey | rsa.RSAPublicKey
PrivateKey = Ed25519PrivateKey | rsa.RSAPrivateKey

ACCEPTED, DUPLICATE, REJECTED, RETRY = "accepted", "duplicate", "rejected", "retry"
ANSWER_STATUSES = frozenset({ACCEPTED, DUPLICATE, REJECTED, RETRY})

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TXN_ID = re.compile(r"[\x21-\x7e]{1,64}")
_BIN = re.compile(r"[0-9]{6}")
_ACCOUNT = re.compile(r"[A-Za-z0-9]{1,19}")
_MASKED = re.compile(r"[A-Za-z0-9*]{1,34}")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")  # and lone surrogates, which UTF-8 cannot hold
MAX_AMOUNT = 9_999_999_999_999  # 13 digits, the VietQR amount limit
_MAX_SIGNATURE_B64 = 1024  # RSA-4096 is 684 characters
STATEMENT_TIMEOUT_S = 60.0
PAYOUT_TIMEOUT_S = 10.0
NAME_INQUIRY_TIMEOUT_S = 10.0


class StatementUnavailable(Exception):
    """The bank did not hand over the statement (an HTTP error, too large): try again later."""


_REQUIRED = (
    "bank_txn_id",
    "credited_bin",
    "credited_account",
    "amount",
    "currency",
    "booked_at",
    "narrative",
)
_OPTIONAL = ("payer_name", "payer_account_masked")


def load_bank_public_key(pem: bytes) -> PublicKey:
    """A bank's registered key (SubjectPublicKeyInfo PEM): Ed25519, or RSA of 2048–4096 bits used with PSS."""
    key = serialization.load_pem_public_key(pem)
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, rsa.RSAPublicKey) and RSA_MIN_BITS <= key.key_size <= RSA_MAX_BITS:
        return key
    raise ValueError("bank keys must be Ed25519 or RSA of 2048 to 4096 bits")


def signed_message(timestamp: str, raw_body: bytes) -> bytes:
    """The exact bytes signed: the timestamp header's ASCII digits, one ".", then the body as received."""
    return timestamp.encode("ascii") + b"." + raw_body


def sign_v1(private_key: PrivateKey, timestamp: str, body: bytes) -> str:
    """Base64 (standard alphabet, padded) of the signature over signed_message(timestamp, body)."""
    message = signed_message(timestamp, body)
    if isinstance(private_key, Ed25519PrivateKey):
        signature = ed25519.sign(private_key, message)
    elif isinstance(private_key, rsa.RSAPrivateKey):
        signature = private_key.sign(message, _PSS, hashes.SHA256())
    else:
        raise TypeError(f"unsupported key type {type(private_key).__name__}")
    return base64.b64encode(signature).decode("ascii")


def sign_v1_headers(private_key: PrivateKey, key_id: str, body: bytes, *, now: datetime) -> dict[str, str]:
    """The three headers a sender attaches to `body` (the bank simulator and our answers use this)."""
    timestamp = str(int(_epoch(now)))
    return {
        HEADER_TIMESTAMP: timestamp,
        HEADER_KEY_ID: key_id,
        HEADER_SIGNATURE: sign_v1(private_key, timestamp, body),
    }


def verify_v1(
    public_keys: Mapping[str, PublicKey],
    headers: Mapping[str, str],
    raw_body: bytes,
    now: datetime,
    tolerance_s: int = TOLERANCE_S,
) -> None:
    """Raise CallbackRejected unless `raw_body` carries a fresh, valid signature by one of `public_keys`.

    `public_keys` are the sending bank's active keys only (at most two during rotation), by key id, so a key
    registered by another bank is unknown here. Checks run cheapest first; the body is never parsed.
    """
    timestamp = _header(headers, HEADER_TIMESTAMP)
    key_id = _header(headers, HEADER_KEY_ID)
    signature_b64 = _header(headers, HEADER_SIGNATURE)
    # A strict pattern, because int() would also accept "+1", " 1", "1_0" and Arabic-Indic digits.
    if not _TIMESTAMP.fullmatch(timestamp):
        raise CallbackRejected(MALFORMED_TIMESTAMP, "timestamp must be unix seconds", field=HEADER_TIMESTAMP)
    if abs(int(timestamp) - int(_epoch(now))) > tolerance_s:
        raise CallbackRejected(STALE_TIMESTAMP, f"outside ±{tolerance_s} s", field=HEADER_TIMESTAMP)
    key = public_keys.get(key_id) if _KEY_ID.fullmatch(key_id) else None
    if key is None:
        raise CallbackRejected(UNKNOWN_KEY, "no active key with this id", field=HEADER_KEY_ID)
    signature = _decode_signature(signature_b64)
    message = signed_message(timestamp, raw_body)
    try:
        if isinstance(key, Ed25519PublicKey):
            ed25519.verify(key, signature, message)
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, _PSS, hashes.SHA256())
        else:
            raise TypeError(f"unsupported key type {type(key).__name__}")
    except InvalidSignature:
        raise CallbackRejected(BAD_SIGNATURE, field=HEADER_SIGNATURE) from None


def parse_v1_body(raw_body: bytes, *, bank_code: str) -> BankCredit:
    """Strictly parse a verified callback body; any deviation from the documented schema is rejected."""
    obj = _strict_json_object(raw_body)
    unknown = sorted(set(obj) - {*_REQUIRED, *_OPTIONAL})
    if unknown:
        raise CallbackRejected(MALFORMED, "unknown field", field=unknown[0])
    for name in _REQUIRED:
        if name not in obj:
            raise CallbackRejected(MALFORMED, "missing field", field=name)
    amount = obj["amount"]
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:  # type(): bool is an int, 1.0 is not
        raise CallbackRejected(MALFORMED, "amount must be a JSON integer of đồng > 0", field="amount")
    if obj["currency"] != "VND":
        raise CallbackRejected(MALFORMED, "currency must be VND", field="currency")
    return BankCredit(
        bank_code=bank_code,
        bank_txn_id=_match(obj, "bank_txn_id", _TXN_ID),
        credited_bin=_match(obj, "credited_bin", _BIN),
        credited_account=_match(obj, "credited_account", _ACCOUNT),
        amount=amount,
        currency="VND",
        booked_at=_rfc3339(obj, "booked_at"),
        narrative=_text(obj, "narrative", 500, nullable=False) or "",
        payer_name=_text(obj, "payer_name", 140, nullable=True) or None,
        payer_account_masked=_masked(obj.get("payer_account_masked")),
    )


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """Our answer: the bank's transaction id when accepted or duplicate, a reason when rejected or when the
    bank must retry (503, nothing was stored)."""

    status: str
    bank_txn_id: str | None = None
    reason: str | None = None
    field: str | None = None

    def __post_init__(self) -> None:
        if self.status not in ANSWER_STATUSES:
            raise ValueError(f"unknown answer status {self.status!r}")
        rejected = self.status in (REJECTED, RETRY)
        # A rejection echoes nothing from the request: its content is not something we vouch for.
        if rejected != (self.reason is not None) or rejected == (self.bank_txn_id is not None):
            raise ValueError("accepted/duplicate carry bank_txn_id; rejected/retry carry a reason instead")
        if self.field is not None and self.status != REJECTED:
            raise ValueError("only a rejection names a field")

    @property
    def http_status(self) -> int:
        return HTTP_STATUS_BY_REASON[self.reason] if self.reason else 200

    def body(self) -> bytes:
        doc = {
            "status": self.status,
            "bank_txn_id": self.bank_txn_id,
            "reason": self.reason,
            "field": self.field,
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("ascii")


def sign_answer(
    city_key: Ed25519PrivateKey, key_id: str, answer: CallbackAnswer, *, now: datetime
) -> tuple[dict[str, str], bytes]:
    """Headers and body of our answer, signed with the city's Ed25519 key in the same form as a callback."""
    body = answer.body()
    return sign_v1_headers(city_key, key_id, body, now=now), body


def verify_answer(
    city_keys: Mapping[str, Ed25519PublicKey],
    headers: Mapping[str, str],
    raw_body: bytes,
    now: datetime,
    tolerance_s: int = TOLERANCE_S,
) -> CallbackAnswer:
    """What a bank does with our answer: verify it against the city's published keys, then read it."""
    if not all(isinstance(k, Ed25519PublicKey) for k in city_keys.values()):
        raise TypeError("the city signs its answers with Ed25519 only")
    verify_v1(city_keys, headers, raw_body, now, tolerance_s)
    obj = _strict_json_object(raw_body)
    names = ("status", "bank_txn_id", "reason", "field")
    if set(obj) != set(names) or not all(obj[n] is None or isinstance(obj[n], str) for n in names):
        raise CallbackRejected(MALFORMED, "not a citypay-bank-v1 answer")
    try:
        return CallbackAnswer(**obj)
    except ValueError:
        raise CallbackRejected(MALFORMED, "not a citypay-bank-v1 answer") from None


def _epoch(now: datetime) -> float:
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.timestamp()


def _header(headers: Mapping[str, str], name: str) -> str:
    # Case-insensitive, and a repeated header is refused: two timestamps or two key ids would be ambiguous.
    values = [v for k, v in headers.items() if k.lower() == name.lower()]
    if len(values) != 1:
        raise CallbackRejected(MISSING_HEADER, "required exactly once", field=name)
    return values[0]


def _decode_signature(value: str) -> bytes:
    if len(value) > _MAX_SIGNATURE_B64:
        raise CallbackRejected(MALFORMED_SIGNATURE, "too long", field=HEADER_SIGNATURE)
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    # Canonical form only: b64decode tolerates stray padding ("AAAA=") that stricter decoders refuse.
    if not raw or base64.b64encode(raw).decode("ascii") != value:
        raise CallbackRejected(MALFORMED_SIGNATURE, "not canonical base64", field=HEADER_SIGNATURE)
    return raw


def _strict_json_object(raw_body: bytes) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            raise ValueError("duplicate key")
        return obj

    def no_constants(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    try:
        # Decode explicitly: json.loads(bytes) would also guess UTF-16/32, which the protocol does not allow.
        text = raw_body.decode("utf-8")
        obj = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CallbackRejected(MALFORMED_JSON, "body must be one UTF-8 JSON object") from None
    if not isinstance(obj, dict):
        raise CallbackRejected(MALFORMED_JSON, "body must be one UTF-8 JSON object")
    return obj


def _match(obj: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = obj[name]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise CallbackRejected(MALFORMED, f"must match {pattern.pattern}", field=name)
    return value


def _rfc3339(obj: dict[str, Any], name: str) -> datetime:
    value = obj[name]
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise CallbackRejected(MALFORMED, "RFC 3339 date-time with an offset", field=name)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise CallbackRejected(MALFORMED, "not a real date-time", field=name) from None


def _text(obj: dict[str, Any], name: str, max_len: int, *, nullable: bool) -> str | None:
    value = obj.get(name)
    if value is None and nullable:
        return None
    if not isinstance(value, str) or len(value) > max_len or _CONTROL.search(value):
        raise CallbackRejected(MALFORMED, f"text of at most {max_len} characters", field=name)
    return value


def _masked(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _MASKED.fullmatch(value) or "*" not in value:
        # We must not receive full payer account numbers: masking is the bank's job, and we check it was done.
        raise CallbackRejected(MALFORMED, "masked account, e.g. 0011****4567", field="payer_account_masked")
    return value


class CitypayBankV1(BankScheme):
    """Our own protocol: JSON body, Ed25519/RSA-PSS signatures over timestamp + "." + body, signed answers."""

    name = PROTOCOL
    key_kind = "public_key"

    def verify_and_parse(self, profile: BankProfile, incoming: IncomingCallback, now: datetime) -> BankCredit:
        if incoming.content_type != "application/json":
            raise CallbackRejected(UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json")
        verify_v1(profile.public_keys, incoming.headers, incoming.raw_body, now, profile.tolerance_s)
        return parse_v1_body(incoming.raw_body, bank_code=profile.code)

    def signed_content(self, incoming: IncomingCallback) -> bytes:
        return incoming.raw_body  # the exact body is signed

    def reparse(self, profile: BankProfile, raw_body: bytes, query_string: str) -> BankCredit:
        return parse_v1_body(raw_body, bank_code=profile.code)

    def _signed(self, answer: CallbackAnswer, keys: AppKeys, now: datetime, **headers: str) -> CallbackReply:
        # Every answer is signed with the city's key, rejections and "retry" included.
        signed_headers, body = sign_answer(keys.signing_key, city_key_id(keys), answer, now=now)
        return CallbackReply(answer.http_status, body, headers={**signed_headers, **headers})

    def answer_booked(self, booked: Booked, keys: AppKeys, now: datetime) -> CallbackReply:
        status = DUPLICATE if booked.duplicate else ACCEPTED
        return self._signed(CallbackAnswer(status, bank_txn_id=booked.bank_txn_id), keys, now)

    def answer_rejected(self, rejected: CallbackRejected, keys: AppKeys, now: datetime) -> CallbackReply:
        answer = CallbackAnswer(REJECTED, reason=rejected.reason, field=rejected.field)
        return self._signed(answer, keys, now)

    def answer_not_a_credit(self, keys: AppKeys, now: datetime) -> CallbackReply:
        # The protocol carries credits only (parse_v1_body never reports a failed payment); should a future
        # parser do so, the bank hears a signed, permanent refusal rather than an acceptance.
        answer = CallbackAnswer(REJECTED, reason=MALFORMED)
        return self._signed(answer, keys, now)

    def answer_retry(self, keys: AppKeys, now: datetime) -> CallbackReply:
        answer = CallbackAnswer(RETRY, reason=TEMPORARILY_UNAVAILABLE)
        return self._signed(answer, keys, now, **{"Retry-After": str(RETRY_AFTER_S)})

    async def download_statement(
        self, profile: BankProfile, account: str, day: date, *, base_url: str, max_bytes: int
    ) -> bytes:
        """The day's camt.053 of `account` from the bank's statement export (GET /sim/api/statements/…, as
        the simulated bank offers it), read in chunks up to `max_bytes`."""
        if not _ACCOUNT.fullmatch(account):
            raise ValueError(f"not an account number: {account!r}")
        url = f"{base_url.rstrip('/')}/sim/api/statements/{account}"
        params = {"date": day.isoformat(), "format": "camt053"}
        timeout = aiohttp.ClientTimeout(total=STATEMENT_TIMEOUT_S)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, params=params, allow_redirects=False) as resp,
        ):
            if resp.status != 200:
                detail = (await resp.content.read(500)).decode("utf-8", "replace")
                raise StatementUnavailable(
                    f"{profile.code}: HTTP {resp.status} for {account} on {day}: {detail}"
                )
            body = bytearray()
            async for chunk in resp.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > max_bytes:
                    raise StatementUnavailable(f"{profile.code}: the statement is over {max_bytes} bytes")
        return bytes(body)

    # Name inquiry: GET /sim/api/accounts/{bin}/{account}/name (the city's bank answers for its own accounts
    # and, as NAPAS does, for other banks'), optionally with the holder's CCCD to confirm.

    async def name_inquiry(
        self,
        profile: BankProfile,
        bin_: str,
        account: str,
        *,
        national_id: str | None = None,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = NAME_INQUIRY_TIMEOUT_S,
    ) -> dict[str, Any]:
        """{"status": "open", "name", "id_match"} (the holder's name as the bank holds it: upper case, no
        diacritics; id_match true/false when `national_id` was asked and the bank holds one, else None),
        {"status": "closed" | "blocked" | "deceased", "reason_code", "id_match"}, {"status": "not_found"},
        or {"status": "unknown", "error"} when no usable answer arrived (ask again later)."""
        if not _BIN.fullmatch(bin_) or not _ACCOUNT.fullmatch(account):
            raise ValueError("not a BIN and account number")
        url = f"{_payout_base(base_url)}/sim/api/accounts/{bin_}/{account}/name"
        params = {"national_id": national_id} if national_id is not None else None
        try:
            async with (
                _session(session, timeout_s) as http,
                http.get(
                    url,
                    params=params,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=timeout_s),
                ) as resp,
            ):
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return {"status": "unknown", "error": f"{type(exc).__name__}"}
        return _name_answer(status, body)

    # Payouts: POST /sim/api/payouts with the Idempotency-Key (the payout's end-to-end id), and the status
    # inquiry GET /sim/api/payouts/{key}. Answers are the bank's record reduced to what the payer needs.

    async def payout(
        self,
        profile: BankProfile,
        payout: Mapping[str, Any],
        idempotency_key: str,
        *,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = PAYOUT_TIMEOUT_S,
    ) -> dict[str, Any]:
        """Send one payout. {"status": "booked", "bank_txn_id", "booked_at"} or {"status": "rejected",
        "reason_code"}; {"status": "unknown"} when the answer did not arrive (a timeout, a 5xx, a broken
        connection): the bank may have booked it, so only a status inquiry may decide, never a new key."""
        url = f"{_payout_base(base_url)}/sim/api/payouts"
        headers = {"Idempotency-Key": idempotency_key}
        try:
            async with (
                _session(session, timeout_s) as http,
                http.post(
                    url,
                    json=dict(payout),
                    headers=headers,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=timeout_s),
                ) as resp,
            ):
                return await _payout_answer(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return {"status": "unknown", "error": f"{type(exc).__name__}: {exc}"[:300]}

    async def payout_status(
        self,
        profile: BankProfile,
        idempotency_key: str,
        *,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = PAYOUT_TIMEOUT_S,
    ) -> dict[str, Any]:
        """What the bank did with the payout sent under `idempotency_key`: booked / rejected as `payout`
        answers, {"status": "not_received"} (404: never received, safe to send again under the same key), or
        {"status": "unknown"} (no answer: ask again later)."""
        url = f"{_payout_base(base_url)}/sim/api/payouts/{quote(idempotency_key, safe='')}"
        try:
            async with (
                _session(session, timeout_s) as http,
                http.get(url, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp,
            ):
                if resp.status == 404:
                    return {"status": "not_received"}
                return await _payout_answer(resp)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return {"status": "unknown", "error": f"{type(exc).__name__}: {exc}"[:300]}


_REASON = re.compile(r"[A-Z]{2}[0-9]{2}")
_HOLDER_NAME = re.compile(r"[A-Za-z0-9 .&'-]{1,140}")


def _name_answer(status: int, body: Any) -> dict[str, Any]:
    """A name inquiry's answer, checked field by field (nothing else of the bank's body is passed on)."""
    if status == 404 and isinstance(body, dict) and body.get("reason_code") == "AC01":
        return {"status": "not_found", "reason_code": "AC01"}
    if status != 200 or not isinstance(body, dict):
        return {"status": "unknown", "error": f"HTTP {status}"}
    id_match = body.get("id_match")
    if id_match is not None and not isinstance(id_match, bool):
        return {"status": "unknown", "error": "id_match is not a boolean"}
    state = body.get("status")
    if state == "open":
        name = body.get("name")
        if not isinstance(name, str) or not _HOLDER_NAME.fullmatch(name):
            return {"status": "unknown", "error": "no readable holder name"}
        return {"status": "open", "name": name, "id_match": id_match}
    if state in ("closed", "blocked", "deceased"):
        code = body.get("reason_code")
        return {
            "status": state,
            "reason_code": code if isinstance(code, str) and _REASON.fullmatch(code) else None,
            "id_match": id_match,
        }
    return {"status": "unknown", "error": "unknown account status"}


def _payout_base(base_url: str | None) -> str:
    if not base_url:
        raise NotSupported("no address is configured for this bank's payout API (CITYPAY_BANKSIM_URL)")
    return base_url.rstrip("/")


@contextlib.asynccontextmanager
async def _session(
    session: aiohttp.ClientSession | None, timeout_s: float
) -> AsyncIterator[aiohttp.ClientSession]:
    """The caller's pooled session (keep-alive), or a short-lived one."""
    if session is not None:
        yield session
        return
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as own:
        yield own


async def _payout_answer(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    if resp.status >= 500 or resp.status in (408, 429):
        return {"status": "unknown", "error": f"HTTP {resp.status}"}
    try:
        body = await resp.json(content_type=None)
    except ValueError:
        body = None
    if resp.status == 200 and isinstance(body, dict) and body.get("status") == "booked":
        txn = body.get("bank_txn_id")
        if isinstance(txn, str) and _TXN_ID.fullmatch(txn):
            return {"status": "booked", "bank_txn_id": txn, "booked_at": body.get("booked_at")}
    if resp.status == 200 and isinstance(body, dict) and body.get("status") == "rejected":
        code = body.get("reason_code")
        if isinstance(code, str) and _REASON.fullmatch(code):
            return {"status": "rejected", "reason_code": code}
    # Anything else (a 4xx refusal of the request itself, a 409 for a key used with another body, an answer
    # we cannot read) was not a booking we can confirm: a person must look.
    detail = body.get("detail") if isinstance(body, dict) else None
    return {"status": "refused", "error": f"HTTP {resp.status}: {detail}"[:300]}


register(CitypayBankV1())
