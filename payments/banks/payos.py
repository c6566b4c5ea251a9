"""payOS webhook adapter: HMAC-SHA256 over the sorted `key=value&…` of `data`, parsing into a BankCredit.

Canonical form as payOS's SDKs build it (payos 1.x CryptoProvider.create_signature_from_object): keys
sorted, null and the strings "null"/"undefined" as empty, booleans as true/false, lists as compact JSON
with each object's keys sorted, no URL-encoding.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.keys import AppKeys
from core.money import LOCAL_TZ
from core.pii import mask_account
from payments.banks.event import (
    BAD_SIGNATURE,
    HTTP_STATUS_BY_REASON,
    MALFORMED,
    MALFORMED_JSON,
    MALFORMED_SIGNATURE,
    NO_ACTIVE_KEY,
    NOT_A_CREDIT,
    UNSUPPORTED_MEDIA_TYPE,
    BankCredit,
    CallbackRejected,
    storable_text,
)
from payments.banks.scheme import (
    RETRY_AFTER_S,
    BankProfile,
    BankScheme,
    Booked,
    CallbackReply,
    IncomingCallback,
    first_verified,
    register,
)

PAYOS_WEBHOOK_ACK = {"success": True}  # payOS only needs a 2xx; this is the body its documentation shows
_HEX64 = re.compile(r"[0-9A-Fa-f]{64}")
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_REFERENCE = re.compile(r"[\x21-\x7e]{1,64}")
_ACCOUNT = re.compile(r"[A-Za-z0-9]{1,19}")
MAX_AMOUNT = 9_999_999_999_999


def payos_data_string(data: Mapping[str, Any]) -> str:
    """The string payOS signs. Nested objects and floats are refused: payOS's SDKs disagree on them."""
    return "&".join(f"{key}={_value(key, data[key])}" for key in sorted(data))


def payos_signature(data: Mapping[str, Any], checksum_key: str) -> str:
    """Lower-case hex HMAC-SHA256 of payos_data_string(data) under the channel's checksum key."""
    message = payos_data_string(data).encode("utf-8")
    return hmac.new(checksum_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_payos(body: Mapping[str, Any], checksum_key: str) -> None:
    """Raise CallbackRejected unless body["signature"] signs body["data"]."""
    if not checksum_key:  # an empty key would make every forgery verify (uploads need MIN_SECRET_CHARS)
        raise CallbackRejected(NO_ACTIVE_KEY, "no usable checksum key")
    data, received = body.get("data"), body.get("signature")
    if not isinstance(data, dict):
        raise CallbackRejected(MALFORMED, "data must be an object", field="data")
    if not isinstance(received, str) or not _HEX64.fullmatch(received):
        raise CallbackRejected(MALFORMED_SIGNATURE, "64 hex digits expected", field="signature")
    try:
        expected = payos_signature(data, checksum_key)
    except ValueError as exc:
        raise CallbackRejected(MALFORMED, str(exc), field="data") from None
    if not hmac.compare_digest(expected, received.lower()):
        raise CallbackRejected(BAD_SIGNATURE, field="signature")


def parse_payos_webhook(body: Mapping[str, Any], *, bank_code: str, credited_bin: str) -> BankCredit:
    """A verified webhook as a credit. `credited_bin` comes from the bank profile: payOS sends no BIN.

    Raises NOT_A_CREDIT for a well-formed webhook whose data.code is not "00".
    """
    data = body.get("data")
    if not isinstance(data, dict):
        raise CallbackRejected(MALFORMED, "data must be an object", field="data")
    if data.get("code") != "00":
        raise CallbackRejected(NOT_A_CREDIT, "payment not successful", field="data.code")
    amount = data.get("amount")
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        raise CallbackRejected(MALFORMED, "đồng as a positive integer", field="data.amount")
    if data.get("currency", "VND") != "VND":
        raise CallbackRejected(MALFORMED, "currency must be VND", field="data.currency")
    description = data.get("description")
    if not isinstance(description, str):
        raise CallbackRejected(MALFORMED, "text expected", field="data.description")
    storable_text(description, field="data.description")
    return BankCredit(
        bank_code=bank_code,
        bank_txn_id=_str(data, "reference", _REFERENCE),
        credited_bin=credited_bin,
        credited_account=_str(data, "accountNumber", _ACCOUNT),
        amount=amount,
        currency="VND",
        booked_at=_date_time(data.get("transactionDateTime")),
        narrative=description,
        payer_name=_optional(data, "counterAccountName"),
        payer_account_masked=mask_account(_optional(data, "counterAccountNumber")),
    )


def _value(key: str, value: Any) -> str:
    if value is None or value in ("null", "undefined"):
        return ""
    if isinstance(value, bool):  # before int: bool is an int; JavaScript prints true/false
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, list):
        items = [dict(sorted(item.items())) if isinstance(item, dict) else item for item in value]
        return json.dumps(items, separators=(",", ":"), ensure_ascii=False)
    # JavaScript would print "[object Object]" or "1" for 1.0 where Python prints a dict or "1.0".
    raise ValueError(f"payOS data field {key!r} has an unsupported type {type(value).__name__}")


def _str(data: Mapping[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise CallbackRejected(MALFORMED, f"must match {pattern.pattern}", field=f"data.{name}")
    return value


def _optional(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise CallbackRejected(MALFORMED, "text or null expected", field=f"data.{name}")
    return storable_text(value, field=f"data.{name}") if value else None


def _date_time(value: Any) -> datetime:
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value):
        raise CallbackRejected(MALFORMED, "YYYY-MM-DD HH:MM:SS expected", field="data.transactionDateTime")
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=LOCAL_TZ)  # payOS local time
    except ValueError:
        raise CallbackRejected(MALFORMED, "not a real date-time", field="data.transactionDateTime") from None


def _json_reply(status: int, body: Mapping[str, Any], **headers: str) -> CallbackReply:
    return CallbackReply(status, json.dumps(body).encode(), headers=dict(headers))


class PayOS(BankScheme):
    """payOS webhook: JSON with a signed `data` object; the profile names the credited account."""

    name = "payos"
    key_kind = "shared_secret"
    credits_profile_account = True
    booking_field = "data.transactionDateTime"

    def verify_and_parse(self, profile: BankProfile, incoming: IncomingCallback, now: datetime) -> BankCredit:
        if incoming.content_type != "application/json":
            raise CallbackRejected(UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json")
        body = _json_object(incoming.raw_body)
        first_verified(lambda secret: verify_payos(body, secret.decode()), profile.secrets)
        return parse_payos_webhook(body, bank_code=profile.code, credited_bin=profile.bin)

    def signed_content(self, incoming: IncomingCallback) -> bytes:
        # Top-level fields (code, desc, success) are not signed: they must not make a replay look new.
        body = _json_object(incoming.raw_body)
        data = json.dumps(body.get("data"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return (data + "\x00" + str(body.get("signature", "")).lower()).encode()

    def reparse(self, profile: BankProfile, raw_body: bytes, query_string: str) -> BankCredit:
        return parse_payos_webhook(_json_object(raw_body), bank_code=profile.code, credited_bin=profile.bin)

    def answer_booked(self, booked: Booked, keys: AppKeys, now: datetime) -> CallbackReply:
        return _json_reply(200, PAYOS_WEBHOOK_ACK)

    def answer_rejected(self, rejected: CallbackRejected, keys: AppKeys, now: datetime) -> CallbackReply:
        body = {"success": False, "reason": rejected.reason, "field": rejected.field}
        return _json_reply(HTTP_STATUS_BY_REASON.get(rejected.reason, 400), body)

    def answer_not_a_credit(self, keys: AppKeys, now: datetime) -> CallbackReply:
        return _json_reply(200, PAYOS_WEBHOOK_ACK)

    def answer_retry(self, keys: AppKeys, now: datetime) -> CallbackReply:
        return _json_reply(503, {"success": False, "reason": "retry"}, **{"Retry-After": str(RETRY_AFTER_S)})


def _json_object(raw_body: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw_body)
    except ValueError:
        raise CallbackRejected(MALFORMED_JSON, "body is not JSON") from None
    if not isinstance(body, dict):
        raise CallbackRejected(MALFORMED, "body must be an object")
    return body


register(PayOS())
