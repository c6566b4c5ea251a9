"""citypay-bank-v1 as a bank speaks it, written from docs/bank-protocol.md alone: sign a callback (§4–§5),
check citypay's signed answer (§8), and find the city's published answer-signing key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HEADER_TIMESTAMP = "X-Citypay-Timestamp"
HEADER_KEY_ID = "X-Citypay-Key-Id"
HEADER_SIGNATURE = "X-Citypay-Signature"

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def signed_message(timestamp: str, body: bytes) -> bytes:
    return timestamp.encode("ascii") + b"." + body


def sign_callback(
    key: Ed25519PrivateKey, key_id: str, body: bytes, *, now: float | None = None, corrupt: bool = False
) -> dict[str, str]:
    """Headers for one delivery attempt: a fresh timestamp and an Ed25519 signature over timestamp.body.

    `corrupt` flips one bit of the signature (the bad_signature fault): still 88 characters of canonical
    base64, so citypay gets as far as the signature check and answers 401 bad_signature.
    """
    timestamp = str(int(time.time() if now is None else now))
    signature = bytearray(key.sign(signed_message(timestamp, body)))
    if corrupt:
        signature[0] ^= 0x01
    return {
        "Content-Type": "application/json",
        HEADER_TIMESTAMP: timestamp,
        HEADER_KEY_ID: key_id,
        HEADER_SIGNATURE: base64.b64encode(bytes(signature)).decode("ascii"),
    }


def callback_body(
    *,
    bank_txn_id: str,
    credited_bin: str,
    credited_account: str,
    amount: int,
    booked_at: str,
    narrative: str,
    payer_name: str | None,
    payer_account_masked: str | None,
) -> bytes:
    """The §7 body: exactly these fields, amount a JSON integer, UTF-8, compact and fixed once made."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amount is int đồng")
    fields: dict[str, Any] = {
        "bank_txn_id": bank_txn_id,
        "credited_bin": credited_bin,
        "credited_account": credited_account,
        "amount": amount,
        "currency": "VND",
        "booked_at": booked_at,
        "narrative": narrative,
        "payer_name": payer_name,
        "payer_account_masked": payer_account_masked,
    }
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class AnswerCheck:
    acknowledged: bool  # delivered (§8): status 200, signed by an announced city key, accepted/duplicate
    signed: bool  # the signature verified (whatever the status)
    status: str | None  # accepted | duplicate | rejected, from a verified answer only
    reason: str | None
    problem: str | None  # why it is not acknowledged, for the attempt log


def _one_header(headers: Mapping[str, str], name: str) -> str | None:
    getall = getattr(headers, "getall", None)
    values = (
        getall(name, [])
        if getall is not None
        else [v for k, v in headers.items() if k.lower() == name.lower()]
    )
    return values[0] if len(values) == 1 else None


def _decode_signature(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    # Canonical encoding only: no extra padding, no non-zero spare bits.
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def check_answer(
    http_status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    city_keys: Mapping[str, Ed25519PublicKey],
    bank_txn_id: str,
    now: float | None = None,
    tolerance_s: int = 300,
) -> AnswerCheck:
    """Apply §8's checks to citypay's answer, in order, stopping at the first failure."""
    now = time.time() if now is None else now
    timestamp = _one_header(headers, HEADER_TIMESTAMP)
    key_id = _one_header(headers, HEADER_KEY_ID)
    signature_b64 = _one_header(headers, HEADER_SIGNATURE)

    def fail(problem: str, *, signed: bool = False, status: str | None = None, reason: str | None = None):
        return AnswerCheck(False, signed, status, reason, problem)

    if timestamp is None or key_id is None or signature_b64 is None:
        return fail(f"HTTP {http_status}: answer is not signed (a signature header is missing or repeated)")
    if not _TIMESTAMP.fullmatch(timestamp):
        return fail("answer timestamp is malformed")
    if abs(int(timestamp) - now) > tolerance_s:
        return fail(f"answer timestamp {timestamp} is more than {tolerance_s} s from our clock")
    key = city_keys.get(key_id) if _KEY_ID.fullmatch(key_id) else None
    if key is None:
        return fail(f"answer signed with key id {key_id!r}, which is not an announced city key")
    signature = _decode_signature(signature_b64)
    if signature is None:
        return fail("answer signature is not canonical base64")
    try:
        key.verify(signature, signed_message(timestamp, body))
    except InvalidSignature:
        return fail("answer signature does not verify with the city's key")
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return fail("signed answer is not JSON", signed=True)
    if not isinstance(answer, dict):
        return fail("signed answer is not a JSON object", signed=True)
    status, reason = answer.get("status"), answer.get("reason")
    status = status if isinstance(status, str) else None
    reason = reason if isinstance(reason, str) else None
    if http_status != 200:
        return fail(f"HTTP {http_status}: {status} ({reason})", signed=True, status=status, reason=reason)
    if status not in ("accepted", "duplicate"):
        return fail(f"answer status is {status!r}", signed=True, status=status, reason=reason)
    if answer.get("bank_txn_id") != bank_txn_id:
        return fail("answer names another bank_txn_id", signed=True, status=status, reason=reason)
    return AnswerCheck(True, True, status, reason, None)


# The city's published key -------------------------------------------------------------------------------


class CityKeyUnavailable(RuntimeError):
    pass


def parse_published_key(document: Any) -> dict[str, Ed25519PublicKey]:
    """{key id: key} from citypay's GET /api/v1/receipts/public-key answer, {"key_id": "…",
    "algorithm": "Ed25519", "public_key": "<raw 32 bytes, standard base64>", "public_key_pem": "…"}.
    The same key signs citypay's callback answers under the same key id."""
    if not isinstance(document, dict) or document.get("algorithm") != "Ed25519":
        return {}
    kid, b64 = document.get("key_id"), document.get("public_key")
    if not isinstance(kid, str) or not _KEY_ID.fullmatch(kid) or not isinstance(b64, str):
        return {}
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return {}
    return {kid: Ed25519PublicKey.from_public_bytes(raw)} if len(raw) == 32 else {}


class CityKeys:
    """The city's announced answer keys: fixed in the configuration, or fetched from citypay lazily and again
    when an answer names an unknown key id (at most once per `refetch_after_s`)."""

    def __init__(
        self, url: str, fixed: Mapping[str, Ed25519PublicKey] | None = None, refetch_after_s: float = 5.0
    ) -> None:
        self.url = url
        self.fixed = dict(fixed) if fixed is not None else None
        self._fetched: dict[str, Ed25519PublicKey] = {}
        self._fetched_at = 0.0
        self.refetch_after_s = refetch_after_s

    async def get(
        self, session: aiohttp.ClientSession, *, want: str | None = None
    ) -> dict[str, Ed25519PublicKey]:
        if self.fixed is not None:
            return self.fixed
        stale = time.monotonic() - self._fetched_at > self.refetch_after_s
        missing = not self._fetched or (want is not None and want not in self._fetched)
        if missing and stale:
            await self._fetch(session)
        if not self._fetched:
            raise CityKeyUnavailable(f"no city key could be read from {self.url}")
        return self._fetched

    async def _fetch(self, session: aiohttp.ClientSession) -> None:
        self._fetched_at = time.monotonic()
        try:
            async with session.get(self.url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
                if resp.status != 200:
                    raise CityKeyUnavailable(f"GET {self.url} answered {resp.status}")
                document = json.loads(await resp.read())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise CityKeyUnavailable(f"GET {self.url} failed: {exc!r}") from None
        keys = parse_published_key(document)
        if not keys:
            raise CityKeyUnavailable(f"GET {self.url} held no Ed25519 public key")
        self._fetched = keys
