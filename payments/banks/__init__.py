"""Bank and gateway adapters: each verifies its protocol's signature and yields the one BankCredit event."""

from payments.banks.citypay_v1 import (
    HEADER_KEY_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    HTTP_STATUS_BY_REASON,
    MAX_BODY_BYTES,
    CallbackAnswer,
    load_bank_public_key,
    parse_v1_body,
    sign_answer,
    sign_v1,
    sign_v1_headers,
    signed_message,
    verify_answer,
    verify_v1,
)
from payments.banks.event import SIGNATURE_REASONS, BankCredit, CallbackRejected, mask_account
from payments.banks.payos import PAYOS_WEBHOOK_ACK, parse_payos_webhook, payos_signature, verify_payos
from payments.banks.vnpay import (
    VnpayRspCode,
    parse_vnpay_ipn,
    verify_vnpay,
    vnpay_ipn_answer,
    vnpay_signature,
)

__all__ = [
    "HEADER_KEY_ID",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "HTTP_STATUS_BY_REASON",
    "MAX_BODY_BYTES",
    "PAYOS_WEBHOOK_ACK",
    "SIGNATURE_REASONS",
    "BankCredit",
    "CallbackAnswer",
    "CallbackRejected",
    "VnpayRspCode",
    "load_bank_public_key",
    "mask_account",
    "parse_payos_webhook",
    "parse_v1_body",
    "parse_vnpay_ipn",
    "payos_signature",
    "sign_answer",
    "sign_v1",
    "sign_v1_headers",
    "signed_message",
    "verify_answer",
    "verify_payos",
    "verify_v1",
    "verify_vnpay",
    "vnpay_ipn_answer",
    "vnpay_signature",
]
