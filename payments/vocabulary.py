"""Payments' vocabularies, each spelled once; tests/test_vocabularies.py checks each against the CHECK
constraint of the column that stores it."""

from __future__ import annotations

from enum import StrEnum


class RequestStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset({RequestStatus.PAID, RequestStatus.EXPIRED, RequestStatus.CANCELLED})


class RequestKind(StrEnum):
    SERVICE_FEE = "service_fee"
    PARKING = "parking"


class SettlementOutcome(StrEnum):
    """What became of one bank credit (payments_received.outcome)."""

    SETTLED = "settled"
    OVERPAID = "overpaid"
    UNDERPAID = "underpaid"
    LATE = "late"
    CANCELLED = "cancelled"
    ALREADY_PAID = "already_paid"
    UNKNOWN_REFERENCE = "unknown_reference"
    OVER_CAP = "over_cap"
    WRONG_ACCOUNT = "wrong_account"


# Outcomes that leave the money in suspense for finance: refund, or decide by hand.
PARKED_OUTCOMES = frozenset(
    {
        SettlementOutcome.LATE,
        SettlementOutcome.CANCELLED,
        SettlementOutcome.ALREADY_PAID,
        SettlementOutcome.UNKNOWN_REFERENCE,
        SettlementOutcome.OVER_CAP,
        SettlementOutcome.WRONG_ACCOUNT,
    }
)
# Outcomes whose money the city holds for somebody: the parked ones, and the excess of an over-payment.
REFUND_OUTCOMES = PARKED_OUTCOMES | {SettlementOutcome.OVERPAID}


class InboxStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    CONFLICT = "conflict"
    FAILED = "failed"


class KeyKind(StrEnum):
    """How a bank signs its callbacks (bank_keys.kind)."""

    ED25519 = "ed25519"
    RSA_PSS_SHA256 = "rsa-pss-sha256"
    HMAC = "hmac"
