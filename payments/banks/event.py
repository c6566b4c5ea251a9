"""The one internal event every bank adapter produces, and the one error every adapter raises.

Adapters are pure: they verify and parse; storing, matching and booking happen in the callback service.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# Machine reasons, stable strings for the security log and for our signed answers.
UNKNOWN_BANK = "unknown_bank"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
TOO_LARGE = "too_large"
MISSING_HEADER = "missing_header"
MALFORMED_TIMESTAMP = "malformed_timestamp"
STALE_TIMESTAMP = "stale_timestamp"
UNKNOWN_KEY = "unknown_key"
MALFORMED_SIGNATURE = "malformed_signature"
BAD_SIGNATURE = "bad_signature"
MALFORMED_JSON = "malformed_json"
MALFORMED = "malformed"
NOT_A_CREDIT = "not_a_credit"
MIN_SECRET_CHARS = 16  # shared HMAC secrets shorter than this are refused at upload and at verification
NO_ACTIVE_KEY = "no_active_key"  # the profile has no active key or secret: it accepts nothing
UNKNOWN_ACCOUNT = "unknown_account"  # the credited account is not one the city holds at this bank
TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"  # not processed now (database outage); retry
SIGNATURE_REASONS = frozenset(
    {
        MISSING_HEADER,
        MALFORMED_TIMESTAMP,
        STALE_TIMESTAMP,
        UNKNOWN_KEY,
        MALFORMED_SIGNATURE,
        BAD_SIGNATURE,
        NO_ACTIVE_KEY,
    }
)


# HTTP status of each rejection, as documented in docs/bank-protocol.md §8 (payOS answers use it too).
HTTP_STATUS_BY_REASON = {
    MALFORMED_JSON: 400,
    MISSING_HEADER: 401,
    MALFORMED_TIMESTAMP: 401,
    STALE_TIMESTAMP: 401,
    UNKNOWN_KEY: 401,
    MALFORMED_SIGNATURE: 401,
    BAD_SIGNATURE: 401,
    NO_ACTIVE_KEY: 401,
    UNKNOWN_BANK: 404,
    TOO_LARGE: 413,
    UNSUPPORTED_MEDIA_TYPE: 415,
    MALFORMED: 422,
    UNKNOWN_ACCOUNT: 422,
    TEMPORARILY_UNAVAILABLE: 503,
}


class CallbackRejected(Exception):
    """A callback we refuse. `reason` is one of the constants above; `field` names the offending input."""

    def __init__(self, reason: str, detail: str = "", *, field: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.field = field


def storable_text(value: str, *, field: str) -> str:
    """A bank's text as the database can keep it: no NUL, and no lone surrogate (a JSON "\\ud800" escape
    parses into one, and UTF-8 cannot encode it). Refused at the door, such a callback is a 422 with nothing
    stored; let through, it was stored in the inbox and then failed every settlement attempt."""
    if "\x00" in value or _SURROGATE.search(value):
        raise CallbackRejected(MALFORMED, "text with a NUL or a lone surrogate", field=field)
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class BankCredit:
    """The bank credited `credited_bin`/`credited_account` with `amount` đồng for `narrative`."""

    bank_code: str
    bank_txn_id: str
    credited_bin: str
    credited_account: str
    amount: int  # đồng, > 0
    currency: str  # always "VND"
    booked_at: datetime  # timezone-aware
    narrative: str
    payer_name: str | None
    payer_account_masked: str | None

    def __post_init__(self) -> None:
        # Adapters validate their own input; these guard the event itself against a buggy adapter.
        if type(self.amount) is not int or self.amount <= 0:
            raise ValueError("amount must be a positive int of đồng")
        if self.currency != "VND":
            raise ValueError("currency must be VND")
        if self.booked_at.utcoffset() is None:
            raise ValueError("booked_at must be timezone-aware")
        if not self.bank_txn_id:
            raise ValueError("bank_txn_id must not be empty")
