"""Money in and out. Other capabilities (parking, later reconciliation) use only what is exported here."""

from payments.ledger import Line, account_balance, post_entry
from payments.requests import (
    NewRequest,
    business_date_of,
    cancel_payment_request,
    issue_payment_request,
    payment_summary,
)

__all__ = [
    "Line",
    "NewRequest",
    "account_balance",
    "business_date_of",
    "cancel_payment_request",
    "issue_payment_request",
    "payment_summary",
    "post_entry",
]
