"""Bank and gateway schemes: each verifies its protocol's signature, yields the one BankCredit event and
answers in its own words. Importing this package registers every scheme (payments/banks/scheme.py)."""

from payments.banks.citypay_v1 import (
    HEADER_KEY_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
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
from payments.banks.event import (
    HTTP_STATUS_BY_REASON,
    SIGNATURE_REASONS,
    BankCredit,
    CallbackRejected,
)
from payments.banks.payos import PAYOS_WEBHOOK_ACK, parse_payos_webhook, payos_signature, verify_payos
from payments.banks.scheme import (
    SCHEMES,
    BankProfile,
    BankScheme,
    Booked,
    CallbackReply,
    IncomingCallback,
    NotSupported,
    scheme_named,
)
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
    "SCHEMES",
    "SIGNATURE_REASONS",
    "BankCredit",
    "BankProfile",
    "BankScheme",
    "Booked",
    "CallbackAnswer",
    "CallbackRejected",
    "CallbackReply",
    "IncomingCallback",
    "NotSupported",
    "VnpayRspCode",
    "load_bank_public_key",
    "parse_payos_webhook",
    "parse_v1_body",
    "parse_vnpay_ipn",
    "payos_signature",
    "scheme_named",
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
