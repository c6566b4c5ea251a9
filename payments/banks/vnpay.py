"""VNPay IPN adapter (API 2.1.0): HMAC-SHA512 checksum, parsing into a BankCredit, VNPay's RspCode answers.

The checksum input is built exactly as VNPay's own Python sample (vnpay.py, validate_response) builds it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from urllib.parse import parse_qsl, quote_plus

from core.keys import AppKeys
from core.money import LOCAL_TZ
from payments.banks.event import (
    BAD_SIGNATURE,
    MALFORMED,
    MALFORMED_SIGNATURE,
    NO_ACTIVE_KEY,
    NOT_A_CREDIT,
    SIGNATURE_REASONS,
    BankCredit,
    CallbackRejected,
)
from payments.banks.scheme import (
    BankProfile,
    BankScheme,
    Booked,
    CallbackReply,
    IncomingCallback,
    first_verified,
    register,
)

HASH_FIELDS = frozenset({"vnp_SecureHash", "vnp_SecureHashType"})
_HEX128 = re.compile(r"[0-9A-Fa-f]{128}")
_AMOUNT = re.compile(r"[1-9][0-9]{0,14}")
_PAY_DATE = re.compile(r"[0-9]{14}")
_TXN_NO = re.compile(r"[1-9][0-9]{0,19}")
_TXN_REF = re.compile(r"[\x21-\x7e]{1,100}")


class VnpayRspCode(StrEnum):
    """The RspCode values VNPay defines for a merchant's answer to an IPN."""

    CONFIRM_SUCCESS = "00"
    ORDER_NOT_FOUND = "01"
    ORDER_ALREADY_CONFIRMED = "02"
    INVALID_AMOUNT = "04"
    INVALID_SIGNATURE = "97"
    UNKNOWN_ERROR = "99"


# Messages verbatim from VNPay's IPN sample (vnpay_php/vnpay_ipn.php, API 2.1.0), typos included. VNPay
# acts on RspCode only; the message is for people reading logs on either side.
_MESSAGES = {
    VnpayRspCode.CONFIRM_SUCCESS: "Confirm Success",
    VnpayRspCode.ORDER_NOT_FOUND: "Order not found",
    VnpayRspCode.ORDER_ALREADY_CONFIRMED: "Order already confirmed",
    VnpayRspCode.INVALID_AMOUNT: "invalid amount",
    VnpayRspCode.INVALID_SIGNATURE: "Invalid signature",
    VnpayRspCode.UNKNOWN_ERROR: "Unknow error",
}


def vnpay_ipn_answer(code: VnpayRspCode) -> dict[str, str]:
    """The JSON body VNPay expects back from the IPN URL (always with HTTP 200)."""
    return {"RspCode": code.value, "Message": _MESSAGES[code]}


def vnpay_hash_data(params: Mapping[str, str]) -> str:
    """Checksum input: vnp_* parameters but the hash fields, sorted by key, `key=quote_plus(value)`, "&"."""
    items = sorted((k, v) for k, v in params.items() if k.startswith("vnp_") and k not in HASH_FIELDS)
    return "&".join(f"{k}={quote_plus(v)}" for k, v in items)


def vnpay_signature(params: Mapping[str, str], secret: bytes) -> str:
    """Lower-case hex HMAC-SHA512 of vnpay_hash_data(params) under the merchant's hash secret."""
    return hmac.new(secret, vnpay_hash_data(params).encode("utf-8"), hashlib.sha512).hexdigest()


def verify_vnpay(params: Mapping[str, str], secret: bytes) -> None:
    """Raise CallbackRejected unless vnp_SecureHash is the checksum of the other vnp_* parameters."""
    if not secret:  # an empty key would make every forgery verify (uploads need MIN_SECRET_CHARS)
        raise CallbackRejected(NO_ACTIVE_KEY, "no usable hash secret")
    received = params.get("vnp_SecureHash", "")
    if not _HEX128.fullmatch(received):
        raise CallbackRejected(MALFORMED_SIGNATURE, "128 hex digits expected", field="vnp_SecureHash")
    if not hmac.compare_digest(vnpay_signature(params, secret), received.lower()):
        raise CallbackRejected(BAD_SIGNATURE, field="vnp_SecureHash")


def parse_vnpay_ipn(
    params: Mapping[str, str], *, bank_code: str, tmn_code: str, credited_bin: str, credited_account: str
) -> BankCredit:
    """A verified IPN as a credit to the merchant account VNPay settles to (from the bank profile).

    Raises NOT_A_CREDIT for a well-formed IPN of a failed or pending payment: answered, never booked.
    """
    for name in ("vnp_TmnCode", "vnp_Amount", "vnp_PayDate", "vnp_TxnRef", "vnp_ResponseCode"):
        if name not in params:
            raise CallbackRejected(MALFORMED, "missing parameter", field=name)
    if params["vnp_TmnCode"] != tmn_code:
        raise CallbackRejected(MALFORMED, "IPN for another merchant", field="vnp_TmnCode")
    if params["vnp_ResponseCode"] != "00" or params.get("vnp_TransactionStatus") != "00":
        raise CallbackRejected(NOT_A_CREDIT, "payment not successful", field="vnp_ResponseCode")
    amount_x100 = params["vnp_Amount"]
    if not _AMOUNT.fullmatch(amount_x100) or int(amount_x100) % 100:
        # VNPay sends đồng × 100; a remainder would be a fraction of a đồng, which VND does not have.
        raise CallbackRejected(MALFORMED, "đồng × 100 expected", field="vnp_Amount")
    txn_no = params.get("vnp_TransactionNo", "")
    if not _TXN_NO.fullmatch(txn_no):
        raise CallbackRejected(MALFORMED, "VNPay transaction number expected", field="vnp_TransactionNo")
    txn_ref = params["vnp_TxnRef"]
    if not _TXN_REF.fullmatch(txn_ref):
        raise CallbackRejected(MALFORMED, "our payment reference expected", field="vnp_TxnRef")
    return BankCredit(
        bank_code=bank_code,
        bank_txn_id=txn_no,
        credited_bin=credited_bin,
        credited_account=credited_account,
        amount=int(amount_x100) // 100,
        currency="VND",
        booked_at=_pay_date(params["vnp_PayDate"]),
        narrative=txn_ref,  # we put our payment reference in vnp_TxnRef; matching reads it from the narrative
        payer_name=None,  # VNPay does not tell the merchant who paid
        payer_account_masked=None,
    )


def _pay_date(value: str) -> datetime:
    if not _PAY_DATE.fullmatch(value):
        raise CallbackRejected(MALFORMED, "yyyyMMddHHmmss expected", field="vnp_PayDate")
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=LOCAL_TZ)  # VNPay times are GMT+7
    except ValueError:
        raise CallbackRejected(MALFORMED, "not a real date-time", field="vnp_PayDate") from None


def _vnpay_reply(code: VnpayRspCode) -> CallbackReply:
    return CallbackReply(200, json.dumps(vnpay_ipn_answer(code)).encode())  # VNPay reads RspCode, always 200


class Vnpay(BankScheme):
    """VNPay IPN: a signed GET query; the profile names the merchant (vnp_TmnCode) and the credited account.
    VNPay retries an IPN until it hears 00 or 02, so money we booked is never answered with an error code."""

    name = "vnpay"
    key_kind = "shared_secret"
    credits_profile_account = True
    booking_field = "vnp_PayDate"

    def verify_and_parse(self, profile: BankProfile, incoming: IncomingCallback, now: datetime) -> BankCredit:
        params = dict(incoming.query)
        first_verified(lambda secret: verify_vnpay(params, secret), profile.secrets)
        return self._parse(profile, params)

    def _parse(self, profile: BankProfile, params: Mapping[str, str]) -> BankCredit:
        return parse_vnpay_ipn(
            params,
            bank_code=profile.code,
            tmn_code=profile.merchant_code or "",
            credited_bin=profile.bin,
            credited_account=profile.credited_account or "",
        )

    def signed_content(self, incoming: IncomingCallback) -> bytes:
        # Parameters outside vnp_* are not signed: they must not make a captured IPN look new.
        params = dict(incoming.query)
        return (vnpay_hash_data(params) + "\x00" + params.get("vnp_SecureHash", "").lower()).encode()

    def reparse(self, profile: BankProfile, raw_body: bytes, query_string: str) -> BankCredit:
        return self._parse(profile, dict(parse_qsl(query_string)))

    def answer_booked(self, booked: Booked, keys: AppKeys, now: datetime) -> CallbackReply:
        if booked.duplicate:
            return _vnpay_reply(VnpayRspCode.ORDER_ALREADY_CONFIRMED)
        return _vnpay_reply(
            {
                "settled": VnpayRspCode.CONFIRM_SUCCESS,
                "overpaid": VnpayRspCode.CONFIRM_SUCCESS,
                "underpaid": VnpayRspCode.INVALID_AMOUNT,
                "over_cap": VnpayRspCode.INVALID_AMOUNT,
                "unknown_reference": VnpayRspCode.ORDER_NOT_FOUND,
            }.get(booked.outcome, VnpayRspCode.ORDER_ALREADY_CONFIRMED)
        )

    def answer_rejected(self, rejected: CallbackRejected, keys: AppKeys, now: datetime) -> CallbackReply:
        if rejected.reason in SIGNATURE_REASONS:
            return _vnpay_reply(VnpayRspCode.INVALID_SIGNATURE)
        return _vnpay_reply(VnpayRspCode.UNKNOWN_ERROR)

    def answer_not_a_credit(self, keys: AppKeys, now: datetime) -> CallbackReply:
        return _vnpay_reply(VnpayRspCode.CONFIRM_SUCCESS)  # we took note of the failed payment

    def answer_retry(self, keys: AppKeys, now: datetime) -> CallbackReply:
        return _vnpay_reply(VnpayRspCode.UNKNOWN_ERROR)


register(Vnpay())
